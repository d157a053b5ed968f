"""HierarchicalAttentionNetwork: attention weights, padding invariance, gradients and a toy task."""

from __future__ import annotations

import random

import pytest
import torch
import torch.nn.functional as F

from attnkit.models.han import HANOutput, HierarchicalAttentionNetwork

F64 = torch.float64
VOCAB, TRIGGER = 30, 1  # id 0 is padding, 1 the trigger word, 2..29 ordinary words

DOCS = [  # three documents of 2, 3 and 1 sentences
    [[2, 3, 4], [5, 6]],
    [[7], [8, 9, 10, 11], [12, 13]],
    [[14, 15, 16, 17, 18]],
]


def _batch(docs, *, s: int | None = None, w: int | None = None, pad: int = 0):
    """Pad documents (lists of sentences of word ids) to (B, S, W) with `pad`; S, W at least the longest."""
    s = max(s or 0, max(len(d) for d in docs))
    w = max(w or 0, max(len(sent) for d in docs for sent in d))
    tokens = torch.full((len(docs), s, w), pad, dtype=torch.long)
    lengths = torch.zeros(len(docs), s, dtype=torch.long)
    for b, doc in enumerate(docs):
        for i, sent in enumerate(doc):
            tokens[b, i, : len(sent)] = torch.tensor(sent)
            lengths[b, i] = len(sent)
    return tokens, lengths, torch.tensor([len(d) for d in docs])


def _model(**kw) -> HierarchicalAttentionNetwork:
    return HierarchicalAttentionNetwork(VOCAB, 3, emb_dim=8, hidden_dim=6, attn_dim=5, **kw).double().eval()


def test_output_shapes_and_weight_sums():
    tokens, lengths, n_sent = _batch(DOCS, s=4, w=6)
    out = _model()(tokens, lengths, n_sent)
    assert isinstance(out, HANOutput)
    assert out.logits.shape == (3, 3) and out.word_weights.shape == (3, 4, 6) and out.sentence_weights.shape == (3, 4)
    word_real = torch.arange(6) < lengths.unsqueeze(-1)  # (B, S, W)
    sent_real = torch.arange(4) < n_sent.unsqueeze(-1)  # (B, S)
    assert torch.all(out.word_weights[~word_real] == 0)  # padding words and padding sentences
    assert torch.all(out.sentence_weights[~sent_real] == 0)
    torch.testing.assert_close(out.word_weights.sum(-1)[sent_real], torch.ones(int(sent_real.sum()), dtype=F64))
    torch.testing.assert_close(out.word_weights.sum(-1)[~sent_real], torch.zeros(int((~sent_real).sum()), dtype=F64))
    torch.testing.assert_close(out.sentence_weights.sum(-1), torch.ones(3, dtype=F64))
    assert (out.word_weights >= 0).all() and (out.sentence_weights >= 0).all()


def test_padding_does_not_change_logits():
    model = _model()
    tight = model(*_batch(DOCS))
    padded = model(*_batch(DOCS, s=6, w=9, pad=0))
    other_pad = model(*_batch(DOCS, s=6, w=9, pad=29))  # a real word id as filler
    for out in (padded, other_pad):
        torch.testing.assert_close(out.logits, tight.logits)
        torch.testing.assert_close(out.sentence_weights[:, :3], tight.sentence_weights)
        torch.testing.assert_close(out.word_weights[:, :3, :5], tight.word_weights)


def test_batch_equals_one_document_at_a_time():
    model = _model()
    batched = model(*_batch(DOCS, s=4, w=7))
    for b, doc in enumerate(DOCS):
        single = model(*_batch([doc]))
        s, w = single.word_weights.shape[1:]
        torch.testing.assert_close(batched.logits[b], single.logits[0])
        torch.testing.assert_close(batched.sentence_weights[b, :s], single.sentence_weights[0])
        torch.testing.assert_close(batched.word_weights[b, :s, :w], single.word_weights[0])


def test_every_parameter_gets_a_finite_gradient():
    model = _model().train()
    out = model(*_batch(DOCS, s=4, w=6))
    F.cross_entropy(out.logits, torch.tensor([0, 1, 2])).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_dropout_has_an_effect_only_in_training():
    model = _model(dropout=0.5)
    batch = _batch(DOCS)
    torch.testing.assert_close(model(*batch).logits, model(*batch).logits)  # eval: deterministic
    model.train()
    assert not torch.allclose(model(*batch).logits, model(*batch).logits)


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda t, ln, n: (t[0], ln[0], n[:1]), "tokens must be"),
        (lambda t, ln, n: (t, ln[:, :2], n), "sentence_lengths must be"),
        (lambda t, ln, n: (t, ln, n[:2]), "sentence_lengths must be"),
        (lambda t, ln, n: (t, ln.float(), n), "integer"),
        (lambda t, ln, n: (t, ln, torch.tensor([2, 3, 0])), "n_sentences must lie"),
        (lambda t, ln, n: (t, ln, torch.tensor([2, 4, 1])), "n_sentences must lie"),
        (lambda t, ln, n: (t, torch.where(ln == 5, 6, ln), n), "sentence_lengths must lie"),
        (lambda t, ln, n: (t, ln, torch.tensor([1, 3, 1])), "padding sentences"),
        (lambda t, ln, n: (t, torch.where(ln == 1, 0, ln), n), "padding sentences"),
    ],
)
def test_rejects_inconsistent_inputs(change, match):
    tokens, lengths, n_sent = _batch(DOCS)  # (3, 3, 5)
    with pytest.raises(ValueError, match=match):
        _model()(*change(tokens, lengths, n_sent))


# --- a toy task: is the trigger word anywhere in the document? ------------------------------


def _toy_docs(n: int, seed: int):
    """`n` documents of 3-6 sentences of 3-8 ordinary words; every second one gets the trigger word
    in one random sentence. Returns (docs, labels, index of the trigger sentence or -1)."""
    rng = random.Random(seed)
    docs, labels, where = [], [], []
    for k in range(n):
        doc = [[rng.randrange(2, VOCAB) for _ in range(rng.randint(3, 8))] for _ in range(rng.randint(3, 6))]
        label = k % 2
        i = rng.randrange(len(doc)) if label else -1
        if label:
            doc[i][rng.randrange(len(doc[i]))] = TRIGGER
        docs.append(doc), labels.append(label), where.append(i)
    return docs, torch.tensor(labels), torch.tensor(where)


def test_learns_trigger_word_and_attends_to_its_sentence():
    torch.manual_seed(0)
    # widths keep every activation under PyTorch's 32768-element parallel grain, so the ~2 s run
    # does not depend on how busy the machine's other cores are
    model = HierarchicalAttentionNetwork(VOCAB, 2, emb_dim=16, hidden_dim=12, attn_dim=16)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    train_docs, train_labels, _ = _toy_docs(32 * 40, seed=1)
    for step in range(200):
        k = step % 40
        batch = _batch(train_docs[32 * k : 32 * (k + 1)])
        loss = F.cross_entropy(model(*batch).logits, train_labels[32 * k : 32 * (k + 1)])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    test_docs, test_labels, where = _toy_docs(200, seed=2)
    tokens, lengths, n_sent = _batch(test_docs)
    with torch.no_grad():
        out = model(tokens, lengths, n_sent)
    accuracy = (out.logits.argmax(-1) == test_labels).float().mean().item()
    assert accuracy >= 0.9
    positive = test_labels == 1
    hits = (out.sentence_weights[positive].argmax(-1) == where[positive]).float().mean().item()
    assert hits >= 0.8
    docs = torch.nonzero(positive).squeeze(-1)
    trigger_sentence = tokens[docs, where[docs]]  # (P, W)
    trigger_position = (trigger_sentence == TRIGGER).int().argmax(-1)  # (P,)
    word_hits = (out.word_weights[docs, where[docs]].argmax(-1) == trigger_position).float().mean().item()
    assert word_hits >= 0.8
