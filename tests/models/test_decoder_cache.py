"""The Transformer's decoding state: beams sharing one key/value buffer per sentence behave
exactly like separate, reordered per-row caches, for every positional encoding."""

import pytest
import torch

from attnkit.models import TransformerSeq2Seq, TransformerState
from attnkit.models.state import select_rows
from attnkit.nn import POSITIONAL


def _model(**kw):
    torch.manual_seed(0)
    args = dict(d_model=16, n_heads=4, enc_layers=1, dec_layers=2, d_ff=32, dropout=0.0)
    args.update(kw)
    return TransformerSeq2Seq(20, 15, **args).double().eval()


@pytest.mark.parametrize("positional", POSITIONAL.names())
@pytest.mark.parametrize("num_kv_heads", [None, 2])
def test_shared_beam_buffers_equal_reordered_row_caches(positional, num_kv_heads):
    """Reference: k rows per sentence with their own memory copy and a k = 1 state whose rows
    are reordered by index_select, as plain beam search does."""
    model, k = _model(positional=positional, num_kv_heads=num_kv_heads), 3
    src, lengths = torch.tensor([[4, 5, 6, 7, 8], [9, 10, 0, 0, 0]]), torch.tensor([5, 2])
    memory = model.encode(src, lengths)
    expanded = select_rows(memory, torch.arange(2).repeat_interleave(k))
    folded = model.fold_beams(memory, k)
    ref_state, state = model.init_state(expanded), model.init_state(folded)
    assert state.beams == k and ref_state.beams == 1
    g = torch.Generator().manual_seed(3)
    for step in range(20):  # past the initial capacity: the buffers grow
        tokens = torch.randint(4, 15, (2 * k,), generator=g)
        ref_lp, ref_state, ref_w = model.step(tokens, ref_state, expanded)
        lp, state, w = model.step(tokens, state, folded)
        torch.testing.assert_close(lp, ref_lp)
        torch.testing.assert_close(w, ref_w)
        parents = torch.randint(0, k, (2, k), generator=g) + torch.arange(2)[:, None] * k  # within sentence
        ref_state, state = ref_state.select(parents.view(-1)), state.select(parents.view(-1))
    assert state.position == 20 and state.capacity >= 20


def test_dropping_a_sentence_keeps_the_others():
    model, k = _model(), 2
    src, lengths = torch.tensor([[4, 5, 6], [7, 8, 9], [10, 11, 0]]), torch.tensor([3, 3, 2])
    memory = model.fold_beams(model.encode(src, lengths), k)
    state = model.init_state(memory)
    tokens = torch.tensor([4, 5, 6, 7, 8, 9])
    _, state, _ = model.step(tokens, state, memory)
    keep = torch.tensor([0, 1, 4, 5])  # sentences 0 and 2
    small = select_rows(memory, torch.tensor([0, 2]))
    lp, _, _ = model.step(tokens[keep], state.select(keep), small)
    _, _, _ = model.step(tokens, state, memory)  # (the state is consumed: build the reference anew)
    ref_state = model.init_state(memory)
    _, ref_state, _ = model.step(tokens, ref_state, memory)
    ref_lp, _, _ = model.step(tokens, ref_state, memory)
    torch.testing.assert_close(lp, ref_lp[keep])


def test_rows_must_come_in_groups_of_one_sentence():
    model = _model()
    memory = model.fold_beams(model.encode(torch.tensor([[4, 5], [6, 7]]), torch.tensor([2, 2])), 2)
    state = model.init_state(memory)
    with pytest.raises(ValueError, match="groups of 2"):
        state.select(torch.tensor([0, 2, 1, 3]))
    with pytest.raises(ValueError, match="groups of 2"):
        state.select(torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="one position per step"):
        model._decode(torch.tensor([[4, 5]] * 4), memory, state, need_weights=False)


def test_empty_state_shapes():
    state = TransformerState.empty(2, 3, 1, 4, 8, torch.zeros(1), capacity=5)
    assert state.cached(1).keys.shape == (3, 4, 0, 8) and state.ancestry is None and state.capacity == 5
