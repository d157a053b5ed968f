"""Beam bookkeeping (attnkit.decoding.beam_state): the ancestry table marks exactly each
hypothesis' prefix, and a Transformer whose beams share one key/value buffer per sentence, driven
by BeamStates, equals per-row caches reordered row by row, for every positional encoding, also
when sentences leave the batch."""

import pytest
import torch

from attnkit.decoding.beam_state import BeamAncestry, BeamStates, select_rows
from attnkit.models import Seq2Seq, TransformerSeq2Seq
from attnkit.nn import POSITIONAL


def _model(**kw):
    torch.manual_seed(0)
    args = dict(d_model=16, n_heads=4, enc_layers=1, dec_layers=2, d_ff=32, dropout=0.0)
    args.update(kw)
    return TransformerSeq2Seq(20, 15, **args).double().eval()


class _PerRowCaches(torch.nn.Module):
    """The Transformer without ``fold_beams``: memory copied k times, k = 1 caches reordered by rows."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def init_state(self, memory):
        return self.model.init_state(memory)

    def step(self, prev, state, memory):
        return self.model.step(prev, state, memory)


def test_the_table_marks_each_hypothesis_prefix():
    """Two sentences, k = 2, capacity 1 (so the table grows): after the reorders below, row j of
    a sentence sees, at each position, the slot of its ancestor there, and nothing else."""
    ancestry = BeamAncestry(2, 2, capacity=1, device="cpu")
    steps = [torch.tensor([[1, 1], [0, 1]]), torch.tensor([[1, 0], [1, 1]]), None]
    lineage = [[[0, 1], [0, 1]]]  # lineage[t][s][j]: the slot at position t that row j descends from
    for t, parents in enumerate(steps):
        table = ancestry.open(t)
        assert table.shape == (2, 2, 2 * ancestry.capacity) and ancestry.capacity > t
        for s in range(2):
            for j in range(2):
                want = torch.zeros(table.shape[-1], dtype=torch.bool)
                for p in range(t + 1):
                    want[p * 2 + lineage[p][s][j]] = True
                assert torch.equal(table[s, j], want), (t, s, j)
        if parents is not None:
            ancestry.reorder(parents)
            # the new row j takes its parent's lineage, and its own slot at t + 1 is slot j
            lineage = [[[lineage[p][s][int(parents[s, j])] for j in range(2)] for s in range(2)] for p in range(t + 1)]
            lineage.append([[0, 1], [0, 1]])
    ancestry.keep(torch.tensor([1]))
    assert ancestry.table.shape[0] == 1
    with pytest.raises(ValueError, match="parents must be"):
        ancestry.reorder(torch.zeros(2, 2, dtype=torch.long))


@pytest.mark.parametrize("positional", POSITIONAL.names())
@pytest.mark.parametrize("num_kv_heads", [None, 2])
def test_shared_beam_buffers_equal_reordered_row_caches(positional, num_kv_heads):
    """Reference: k rows per sentence with their own memory copy and a k = 1 state whose rows
    are reordered by index_select, as plain beam search does."""
    model, k = _model(positional=positional, num_kv_heads=num_kv_heads), 3
    src, lengths = torch.tensor([[4, 5, 6, 7, 8], [9, 10, 0, 0, 0]]), torch.tensor([5, 2])
    memory = model.encode(src, lengths)
    shared, rows = BeamStates(model, memory, 2, k, "cpu"), BeamStates(_PerRowCaches(model), memory, 2, k, "cpu")
    assert shared.state.beams == k and rows.state.beams == 1 and shared.memory.annotations.shape[0] == 2
    g = torch.Generator().manual_seed(3)
    for step in range(20):  # past the initial capacity: the buffers and the table grow
        tokens = torch.randint(4, 15, (2 * k,), generator=g)
        ref_lp, ref_w = rows.step(tokens, step)
        lp, w = shared.step(tokens, step)
        torch.testing.assert_close(lp, ref_lp)
        torch.testing.assert_close(w, ref_w)
        parents = torch.randint(0, k, (2, k), generator=g) + torch.arange(2)[:, None] * k  # within sentence
        rows.advance(parents.view(-1))
        shared.advance(parents.view(-1))
    assert shared.state.position == 20 and shared.state.capacity >= 20 and shared.ancestry.capacity >= 20


@pytest.mark.parametrize("per_row", [False, True])
def test_dropping_a_sentence_keeps_the_others(per_row):
    model, k = _model(), 2
    decoder = _PerRowCaches(model) if per_row else model
    src, lengths = torch.tensor([[4, 5, 6], [7, 8, 9], [10, 11, 0]]), torch.tensor([3, 3, 2])
    memory = model.encode(src, lengths)
    tokens = torch.tensor([4, 5, 6, 7, 8, 9])
    parents = torch.tensor([1, 1, 2, 3, 5, 4])
    beams, ref = BeamStates(decoder, memory, 3, k, "cpu"), BeamStates(decoder, memory, 3, k, "cpu")
    for b in (beams, ref):
        b.step(tokens, 0)
    keep = torch.tensor([0, 1, 4, 5])  # sentences 0 and 2
    beams.advance(parents[keep], stay=torch.tensor([0, 2]))
    ref.advance(parents)
    lp, w = beams.step(tokens[keep], 1)
    ref_lp, ref_w = ref.step(tokens, 1)
    torch.testing.assert_close(lp, ref_lp[keep])
    torch.testing.assert_close(w, ref_w[keep])
    if not per_row:
        with pytest.raises(ValueError, match="rows per kept sentence"):
            beams.advance(torch.tensor([0, 1, 2]))


def test_rnn_states_are_reordered_by_rows():
    torch.manual_seed(0)
    model = Seq2Seq(12, 9, attention="bahdanau", emb_dim=8, hidden_dim=16).double().eval()
    src, lengths = torch.tensor([[4, 5, 6], [7, 8, 0]]), torch.tensor([3, 2])
    beams = BeamStates(model, model.encode(src, lengths), 2, 2, "cpu")
    assert not beams.folded and beams.ancestry is None and beams.memory.annotations.shape[0] == 4
    beams.step(torch.tensor([4, 5, 6, 7]), 0)
    before = beams.state
    beams.advance(torch.tensor([1, 1, 3, 2]))
    torch.testing.assert_close(beams.state.hidden, before.hidden[[1, 1, 3, 2]])
    assert beams.state.position == before.position


def test_select_rows_indexes_every_tensor_of_nested_tuples():
    x = (torch.arange(3), None, 7, (torch.arange(6).view(3, 2),))
    out = select_rows(x, torch.tensor([2, 0]))
    assert out[0].tolist() == [2, 0] and out[1] is None and out[2] == 7 and out[3][0].tolist() == [[4, 5], [0, 1]]
