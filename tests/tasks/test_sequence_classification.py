"""What the long-sequence classification tasks share (attnkit.tasks.sequence_classification):
token-budget batches for evaluation, one-sentence batches, the lined picture of a long sequence."""

from __future__ import annotations

import torch

from attnkit.tasks.sequence_classification import LINE_TOKENS, collate_sequences, length_batches, lined_prediction


def test_length_batches_cover_every_sequence_once_within_the_budget():
    lengths = [5, 300, 17, 2000, 40, 40, 999, 1, 2500]
    batches = length_batches(lengths, 1000)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for b in batches:
        longest = max(lengths[i] for i in b)
        assert len(b) * longest <= 1000 or len(b) == 1  # a sequence over the budget goes alone
    assert [len(b) for b in batches if any(lengths[i] > 1000 for i in b)] == [1, 1]


def test_collate_pads_one_sentence_per_sequence():
    batch = collate_sequences([([4, 5, 6], 2), ([7], 0)], pad_id=0)
    assert batch.tokens.tolist() == [[[4, 5, 6]], [[7, 0, 0]]]
    assert batch.sentence_lengths.tolist() == [[3], [1]]
    assert batch.n_sentences.tolist() == [1, 1] and batch.labels.tolist() == [2, 0]


def test_lined_prediction_keeps_every_weight_in_reading_order():
    tokens = [f"t{i}" for i in range(2 * LINE_TOKENS + 5)]
    weights = torch.softmax(torch.randn(len(tokens), generator=torch.Generator().manual_seed(0)), 0)
    pred = lined_prediction(tokens, torch.tensor([0.1, 0.7, 0.2]), weights, ["a", "b", "c"])
    assert pred.output == "b" and pred.probability == torch.tensor(0.7).item()
    assert [len(line) for line in pred.sentences] == [LINE_TOKENS, LINE_TOKENS, 5]
    assert sum(pred.sentences, []) == tokens
    torch.testing.assert_close(pred.word_weights.reshape(-1)[: len(tokens)], weights)
    assert float(pred.word_weights.reshape(-1)[len(tokens) :].abs().sum()) == 0.0
    torch.testing.assert_close(pred.sentence_weights, pred.word_weights.sum(-1))


def test_the_picture_of_a_2000_token_sequence_is_capped():
    from attnkit.viz import plot_prediction

    tokens = ["7"] * 2000  # 84 lines of 24
    pred = lined_prediction(tokens, torch.tensor([0.5, 0.5]), torch.full((2000,), 1 / 2000), ["a", "b"])
    fig = plot_prediction(pred)
    assert fig.get_size_inches()[1] <= 0.42 * 81 + 0.8 + 1e-6  # 80 lines and the note, not 84
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "… 4 more sentences not drawn" in texts
    assert len(pred.sentences) == 84  # the prediction (and its JSON) keeps every token
