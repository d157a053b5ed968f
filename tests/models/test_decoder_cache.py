"""The Transformer's decoding state: k beams sharing one key/value buffer per sentence, each
attending through the slot mask it is given (``step(..., visible=)``), behave exactly like k
separate per-row caches, for every positional encoding. Beam reordering (the ancestry table) is
decoding's and is tested in tests/decoding/test_beam_state.py."""

import pytest
import torch

from attnkit.models import TransformerSeq2Seq, TransformerState
from attnkit.nn import POSITIONAL


def _model(**kw):
    torch.manual_seed(0)
    args = dict(d_model=16, n_heads=4, enc_layers=1, dec_layers=2, d_ff=32, dropout=0.0)
    args.update(kw)
    return TransformerSeq2Seq(20, 15, **args).double().eval()


def _own_slots(sentences, k, capacity):
    """visible (S, k, C * k): row j sees slot s * k + j at every position s (no reordering)."""
    return torch.eye(k, dtype=torch.bool).repeat(1, capacity).expand(sentences, -1, -1)


@pytest.mark.parametrize("positional", POSITIONAL.names())
@pytest.mark.parametrize("num_kv_heads", [None, 2])
@pytest.mark.parametrize("k", [1, 3])
def test_shared_buffers_with_own_slot_masks_equal_row_caches(positional, num_kv_heads, k):
    """Reference: k copies of each memory row and a k = 1 state, attending causally. At k = 1 a
    given mask must equal the causal path."""
    model = _model(positional=positional, num_kv_heads=num_kv_heads)
    src, lengths = torch.tensor([[4, 5, 6, 7, 8], [9, 10, 0, 0, 0]]), torch.tensor([5, 2])
    memory = model.encode(src, lengths)
    expanded = memory._replace(
        annotations=memory.annotations.repeat_interleave(k, 0),
        mask=memory.mask.repeat_interleave(k, 0),
        cross=tuple(type(c)(*(x.repeat_interleave(k, 0) for x in c)) for c in memory.cross),
    )
    folded = model.fold_beams(memory, k)
    ref_state, state = model.init_state(expanded), model.init_state(folded)
    assert state.beams == k and ref_state.beams == 1 and state.caches[0].keys.shape[0] == 2
    g = torch.Generator().manual_seed(3)
    visible = _own_slots(2, k, 40)
    for step in range(20):  # past the initial capacity (Tk + 8): the buffers grow
        tokens = torch.randint(4, 15, (2 * k,), generator=g)
        ref_lp, ref_state, ref_w = model.step(tokens, ref_state, expanded)
        lp, state, w = model.step(tokens, state, folded, visible=visible)
        torch.testing.assert_close(lp, ref_lp)
        torch.testing.assert_close(w, ref_w)
    assert state.position == 20 and state.capacity >= 20


def test_select_keeps_batch_rows():
    """select keeps rows of the buffers: decoder rows at k = 1, whole sentences at k > 1."""
    model = _model()
    src, lengths = torch.tensor([[4, 5, 6], [7, 8, 9], [10, 11, 0]]), torch.tensor([3, 3, 2])
    for k in (1, 2):
        memory = model.fold_beams(model.encode(src, lengths), k)
        visible = None if k == 1 else _own_slots(3, k, 11)
        _, state, _ = model.step(torch.arange(4, 4 + 3 * k), model.init_state(memory), memory, visible=visible)
        picked = state.select(torch.tensor([2, 0]))
        torch.testing.assert_close(picked.cached(1).keys, state.cached(1).keys[[2, 0]])
        assert picked.position == 1 and picked.beams == k and picked.cached(0).keys.shape[2] == k


def test_a_shared_state_needs_a_slot_mask_of_the_right_shape():
    model = _model()
    memory = model.fold_beams(model.encode(torch.tensor([[4, 5], [6, 7]]), torch.tensor([2, 2])), 2)
    state = model.init_state(memory)
    tokens = torch.tensor([4, 5, 6, 7])
    with pytest.raises(ValueError, match="pass visible"):
        model.step(tokens, state, memory)
    for shape in ((2, 2, 1), (1, 2, 20), (2, 1, 20), (2, 2)):
        with pytest.raises(ValueError, match="visible must be"):
            model.step(tokens, state, memory, visible=torch.ones(shape, dtype=torch.bool))
    with pytest.raises(ValueError, match="one position per step"):
        model._decode(torch.tensor([[4, 5]] * 4), memory, state, need_weights=False, visible=_own_slots(2, 2, 4))


def test_empty_state_shapes():
    state = TransformerState.empty(2, 3, 1, 4, 8, torch.zeros(1), capacity=5)
    assert state.cached(1).keys.shape == (3, 4, 0, 8) and state.position == 0 and state.capacity == 5
    assert TransformerState.empty(1, 3, 2, 4, 8, torch.zeros(1), capacity=5).caches[0].keys.shape == (3, 4, 10, 8)
