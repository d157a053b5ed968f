"""Corpus BLEU/chrF through sacrebleu, checked against the BLEU and chrF formulas written out, and length buckets."""

from __future__ import annotations

import math
from collections import Counter

import pytest
import sacrebleu

from attnkit.evaluation import LENGTH_BUCKETS, BucketScore, bleu_by_length, corpus_scores, format_scores_table

# Lowercase words, single spaces, no punctuation: sacrebleu's 13a tokeniser leaves them as they are.
HYPS = ["the cat sat on the mat", "a quick brown fox jumps over the dog", "there is a book on the table"]
REFS = ["the cat sat on the red mat", "the quick brown fox jumps over the lazy dog", "there is a book on the table"]


def _ngrams(words: list[str], n: int) -> Counter:
    return Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))


def reference_bleu(hyps: list[str], refs: list[str], max_n: int = 4) -> float:
    """Corpus BLEU [Papineni02] with one reference, no smoothing, 0-100."""
    matches, totals = [0] * max_n, [0] * max_n
    c = r = 0
    for hyp, ref in zip(hyps, refs):
        h, rf = hyp.split(), ref.split()
        c, r = c + len(h), r + len(rf)
        for n in range(1, max_n + 1):
            hyp_counts, ref_counts = _ngrams(h, n), _ngrams(rf, n)
            matches[n - 1] += sum(min(k, ref_counts[g]) for g, k in hyp_counts.items())  # clipped counts
            totals[n - 1] += sum(hyp_counts.values())
    assert all(m > 0 for m in matches), "choose sentences where smoothing does not matter"
    log_mean = sum(math.log(m / t) for m, t in zip(matches, totals)) / max_n  # geometric mean of p_n
    bp = 1.0 if c > r else math.exp(1 - r / c)  # brevity penalty
    return 100 * bp * math.exp(log_mean)


def test_bleu_matches_papineni_formula():
    scores = corpus_scores(HYPS, REFS)
    assert scores.sys_len < scores.ref_len and scores.brevity_penalty < 1  # BP is exercised
    assert scores.bleu == pytest.approx(reference_bleu(HYPS, REFS), abs=1e-6)
    assert scores.n == 3 and len(scores.precisions) == 4
    assert (scores.sys_len, scores.ref_len) == (21, 23)
    assert scores.brevity_penalty == pytest.approx(math.exp(1 - 23 / 21), abs=1e-9)


def test_bleu_formula_on_subsets():
    for k in range(1, len(HYPS)):
        # every subset still has a matching 4-gram, so smoothing never applies
        assert corpus_scores(HYPS[k:], REFS[k:]).bleu == pytest.approx(reference_bleu(HYPS[k:], REFS[k:]), abs=1e-6)


def test_identical_output_scores_100():
    scores = corpus_scores(REFS, REFS)
    assert scores.bleu == pytest.approx(100.0)
    assert scores.chrf == pytest.approx(100.0)
    assert scores.brevity_penalty == 1.0
    assert scores.precisions == pytest.approx((100.0,) * 4)


def reference_chrf(hyps: list[str], refs: list[str], max_n: int = 6, beta: float = 2.0) -> float:
    """Corpus chrF [Popovic15] as sacrebleu 2 defines it (CHRF() defaults), 0-100.

    Whitespace is removed before counting (n-grams run across word boundaries); per order n the
    clipped matches and the hypothesis and reference n-gram counts are summed over the corpus (a
    sentence whose reference has no n-gram of order n adds no hypothesis n-grams either); the
    precisions and recalls are averaged over the orders where both totals are > 0, and
    chrF = (1 + beta^2) P R / (beta^2 P + R).
    """
    n_hyp, n_ref, n_match = [0] * max_n, [0] * max_n, [0] * max_n
    for hyp, ref in zip(hyps, refs):
        h, r = "".join(hyp.split()), "".join(ref.split())
        for n in range(1, max_n + 1):
            hc = Counter(h[i : i + n] for i in range(len(h) - n + 1))
            rc = Counter(r[i : i + n] for i in range(len(r) - n + 1))
            n_hyp[n - 1] += sum(hc.values()) if rc else 0
            n_ref[n - 1] += sum(rc.values())
            n_match[n - 1] += sum(min(k, rc[g]) for g, k in hc.items())
    orders = [i for i in range(max_n) if n_hyp[i] > 0 and n_ref[i] > 0]
    if not orders:
        return 0.0
    p = sum(n_match[i] / n_hyp[i] for i in orders) / len(orders)
    r = sum(n_match[i] / n_ref[i] for i in orders) / len(orders)
    return 100 * (1 + beta**2) * p * r / (beta**2 * p + r) if p + r else 0.0


def test_chrf_by_hand_on_a_tiny_example():
    # "ab c" -> "abc" against "abd" (spaces are dropped):
    #   1-grams: a b c vs a b d -> 2 matches of 3 and 3: P1 = R1 = 2/3
    #   2-grams: ab bc vs ab bd -> 1 of 2 and 2:         P2 = R2 = 1/2
    #   3-grams: abc vs abd     -> 0 of 1 and 1:         P3 = R3 = 0
    #   4- to 6-grams: none, so they do not count:       P = R = (2/3 + 1/2 + 0) / 3 = 7/18
    #   chrF2 = (1 + 4) P R / (4 P + R) = 7/18
    assert corpus_scores(["ab c"], ["abd"]).chrf == pytest.approx(100 * 7 / 18)


@pytest.mark.parametrize(
    ("hyps", "refs"),
    [
        (HYPS, REFS),
        (HYPS[:1], REFS[:1]),
        # tabs and repeated spaces; case matters; a hypothesis with nothing in common; a reference
        # shorter than most orders (its sentence adds no hypothesis n-grams of those orders)
        (
            ["The  cat\tsat on the mat", "xyz", "ok then", "aaaa aaaa"],
            ["the cat sat on the red mat", "nothing like it", "ok", "aaa"],
        ),
    ],
)
def test_chrf_matches_the_chrf_formula(hyps, refs):
    assert corpus_scores(hyps, refs).chrf == pytest.approx(reference_chrf(hyps, refs), abs=1e-9)
    assert 0 < reference_chrf(hyps, refs) < 100


def test_signatures_name_tokeniser_and_version():
    scores = corpus_scores(HYPS, REFS)
    assert "tok:13a" in scores.bleu_signature
    assert "smooth:exp" in scores.bleu_signature
    assert "nrefs:1" in scores.bleu_signature
    assert f"version:{sacrebleu.__version__}" in scores.bleu_signature
    assert "nc:6" in scores.chrf_signature
    assert f"version:{sacrebleu.__version__}" in scores.chrf_signature


@pytest.mark.parametrize(("hyps", "refs"), [(["a b"], ["a b", "c d"]), ([], []), (["a b", "c"], ["a b"])])
def test_bad_lengths_raise(hyps, refs):
    with pytest.raises(ValueError, match="equally many"):
        corpus_scores(hyps, refs)


def test_token_lists_raise_type_error():
    with pytest.raises(TypeError, match="detokenised"):
        corpus_scores([["a", "b"]], ["a b"])


def _source(n_words: int) -> str:
    return " ".join(f"w{i}" for i in range(n_words))


def test_buckets_split_exactly_at_boundaries():
    lengths = [1, 10, 11, 20, 60, 61, 200]
    sources = [_source(n) for n in lengths]
    hyps = [HYPS[i % 3] for i in range(len(lengths))]
    refs = [REFS[i % 3] for i in range(len(lengths))]
    buckets = bleu_by_length(sources, hyps, refs)
    assert [b.label for b in buckets] == ["1-10", "11-20", "21-30", "31-40", "41-60", "61+"]
    assert [b.n for b in buckets] == [2, 2, 0, 0, 1, 2]
    assert [(b.lo, b.hi) for b in buckets] == list(LENGTH_BUCKETS)
    for b in buckets:
        assert (b.bleu is None) == (b.chrf is None) == (b.n == 0)


def test_bucket_scores_equal_corpus_scores_of_subset():
    sources = [_source(5), _source(15), _source(8), _source(70), _source(12), _source(3)]
    hyps = HYPS * 2
    refs = REFS * 2
    buckets = {b.label: b for b in bleu_by_length(sources, hyps, refs)}
    for label, idx in (("1-10", [0, 2, 5]), ("11-20", [1, 4]), ("61+", [3])):
        subset = corpus_scores([hyps[i] for i in idx], [refs[i] for i in idx])
        assert buckets[label].n == len(idx)
        assert buckets[label].bleu == pytest.approx(subset.bleu)
        assert buckets[label].chrf == pytest.approx(subset.chrf)
    # pooled n-gram statistics, not a mean of sentence BLEU
    sentence_mean = sum(corpus_scores([hyps[i]], [refs[i]]).bleu for i in (0, 2, 5)) / 3
    assert buckets["1-10"].bleu != pytest.approx(sentence_mean)


def test_sources_are_counted_in_whitespace_words():
    buckets = bleu_by_length(["  many   spaced\twords\n here  "], ["a b"], ["a b"], buckets=((4, 4),))
    assert buckets[0].n == 1


def test_empty_source_falls_in_no_default_bucket():
    buckets = bleu_by_length(["", "one two"], HYPS[:2], REFS[:2])
    assert sum(b.n for b in buckets) == 1


def test_custom_buckets():
    buckets = bleu_by_length([_source(3), _source(7)], HYPS[:2], REFS[:2], buckets=((1, 5), (6, None)))
    assert [(b.label, b.n) for b in buckets] == [("1-5", 1), ("6+", 1)]


def test_bucket_errors():
    with pytest.raises(ValueError, match="one source per reference"):
        bleu_by_length(["a"], HYPS[:2], REFS[:2])
    with pytest.raises(ValueError, match="equally many"):
        bleu_by_length([], [], [])
    with pytest.raises(ValueError, match="lo <= hi"):
        bleu_by_length(["a"], ["a"], ["a"], buckets=((5, 2),))


def test_markdown_table():
    buckets = [
        BucketScore(label="1-10", lo=1, hi=10, n=3, bleu=12.345, chrf=40.0),
        BucketScore(label="61+", lo=61, hi=None, n=0, bleu=None, chrf=None),
    ]
    assert format_scores_table(buckets).splitlines() == [
        "| source words | sentences | BLEU | chrF |",
        "| --- | ---: | ---: | ---: |",
        "| 1-10 | 3 | 12.35 | 40.00 |",
        "| 61+ | 0 | – | – |",
    ]
    assert "| 12.3 |" in format_scores_table(buckets, digits=1)
