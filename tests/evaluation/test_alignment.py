"""Pharaoh files, AER [Och03] and symmetrisation [Koehn05] against examples worked by hand."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attnkit.evaluation.alignment import (
    alignment_error_rate,
    format_pharaoh,
    grow_diag_final_and,
    parse_pharaoh,
    read_pharaoh,
    symmetrise,
    write_pharaoh,
)

links = st.sets(st.tuples(st.integers(0, 6), st.integers(0, 6)), max_size=20)


def test_pharaoh_round_trip(tmp_path):
    rng = random.Random(0)
    gold = [{(rng.randrange(30), rng.randrange(40)) for _ in range(rng.randrange(0, 25))} for _ in range(50)]
    gold[3] = set()  # an empty line: a sentence without links
    write_pharaoh(tmp_path / "gold.pharaoh", gold)
    assert read_pharaoh(tmp_path / "gold.pharaoh") == gold
    lines = (tmp_path / "gold.pharaoh").read_text().split("\n")
    assert len(lines) == 51 and lines[3] == "" and lines[-1] == ""


def test_pharaoh_format_and_possible_links(tmp_path):
    assert format_pharaoh({(2, 1), (0, 3), (0, 0)}) == "0-0 0-3 2-1"
    sure, possible = parse_pharaoh("0-0 1?2 3-1")
    assert sure == {(0, 0), (3, 1)} and possible == {(0, 0), (1, 2), (3, 1)}
    (tmp_path / "g").write_text("0-0 1?1\n\n2-2\n")
    s, p = read_pharaoh(tmp_path / "g", with_possible=True)
    assert s == [{(0, 0)}, set(), {(2, 2)}] and p == [{(0, 0), (1, 1)}, set(), {(2, 2)}]


@pytest.mark.parametrize("bad", ["0-x", "1", "a-b", "-1-2", "3-"])
def test_pharaoh_rejects_malformed_links(bad, tmp_path):
    (tmp_path / "bad").write_text(f"0-0\n{bad}\n")
    with pytest.raises(ValueError, match=r"bad:2: .* is not a link"):
        read_pharaoh(tmp_path / "bad")


def test_aer_of_gold_against_itself_and_empty():
    gold = [{(0, 0), (1, 2), (2, 1)}, {(0, 1)}, set()]
    same = alignment_error_rate(gold, gold)
    assert (same.aer, same.precision, same.recall) == (0.0, 1.0, 1.0)
    empty = alignment_error_rate([set(), set(), set()], gold)
    assert (empty.aer, empty.recall, empty.n_predicted) == (1.0, 0.0, 0)


def test_aer_hand_computed_with_sure_and_possible():
    # sentence 1: S = {00, 11, 21}, P = S + {22}, A = {00, 22, 12}: |A∩S| = 1, |A∩P| = 2
    # sentence 2: S = P = {01}, A = {01}:                                |A∩S| = 1, |A∩P| = 1
    # totals |A| = 4, |S| = 4: AER = 1 - (2 + 3) / 8, precision 3/4, recall 2/4
    sure = [{(0, 0), (1, 1), (2, 1)}, {(0, 1)}]
    possible = [{(0, 0), (1, 1), (2, 1), (2, 2)}, {(0, 1)}]
    predicted = [{(0, 0), (2, 2), (1, 2)}, {(0, 1)}]
    score = alignment_error_rate(predicted, sure, possible)
    assert score.aer == pytest.approx(0.375) and score.precision == pytest.approx(0.75)
    assert score.recall == pytest.approx(0.5) and (score.n_predicted, score.n_sure, score.n_possible) == (4, 4, 5)
    only_first = alignment_error_rate(predicted[:1], sure[:1], possible[:1])
    assert only_first.aer == pytest.approx(0.5)  # 1 - (1 + 2) / (3 + 3)
    assert alignment_error_rate(predicted, sure).aer == pytest.approx(1 - (2 + 2) / 8)  # P = S


def test_aer_needs_one_alignment_per_sentence():
    with pytest.raises(ValueError, match="one alignment per sentence"):
        alignment_error_rate([set()], [set(), set()])


@settings(max_examples=60, deadline=None)
@given(a=links, s=links)
def test_aer_when_possible_equals_sure_is_one_minus_f1(a, s):
    score = alignment_error_rate([a], [s])
    if a and s:
        p, r = len(a & s) / len(a), len(a & s) / len(s)
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        assert score.aer == pytest.approx(1 - f1)
    assert 0.0 <= score.aer <= 1.0


def test_grow_diag_final_and_hand_worked():
    # 4 source words f, 4 target words e; links are (f, e).
    forward = {(0, 0), (1, 1), (3, 2)}
    reverse = {(0, 0), (0, 1), (3, 3)}
    # intersection {00}. GROW-DIAG at e0 f0: neighbour (e+1, f) = (f0, e1) is in the union and e1
    # is unaligned: add 0-1; neighbour (e+1, f+1) = (f1, e1) is in the union, f1 unaligned: add
    # 1-1. No other union point touches a link (3-2 and 3-3 are far). FINAL-AND forward: 3-2, f3
    # and e2 both unaligned: add. FINAL-AND reverse: 3-3, f3 is now aligned: not added.
    assert grow_diag_final_and(forward, reverse, 4, 4) == {(0, 0), (0, 1), (1, 1), (3, 2)}
    assert symmetrise(forward, reverse, "grow-diag-final-and") == {(0, 0), (0, 1), (1, 1), (3, 2)}
    assert symmetrise(forward, reverse, "intersection") == {(0, 0)}
    assert symmetrise(forward, reverse, "union") == {(0, 0), (0, 1), (1, 1), (3, 2), (3, 3)}


def test_grow_diag_does_not_add_neighbours_whose_words_are_both_aligned():
    # intersection {00, 11}; union point 1-0 neighbours 0-0, but f1 and e0 are both aligned already.
    forward, reverse = {(0, 0), (1, 1), (1, 0)}, {(0, 0), (1, 1)}
    assert grow_diag_final_and(forward, reverse, 2, 2) == {(0, 0), (1, 1)}
    with pytest.raises(ValueError, match="unknown symmetrisation"):
        symmetrise(forward, reverse, "grow")


@settings(max_examples=60, deadline=None)
@given(f=links, r=links)
def test_grow_diag_final_and_lies_between_intersection_and_union(f, r):
    gdfa = symmetrise(f, r, "grow-diag-final-and", n_source=7, n_target=7)
    assert f & r <= gdfa <= f | r
