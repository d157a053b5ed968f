"""``attnkit predict --json``: one JSON object per input (JSON lines) with the input, the
prediction's kind and output, and all of its attention with the tokens it refers to; for a
Transformer every layer's and head's maps too, the same as a teacher-forced pass gives."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from attnkit.cli import main
from attnkit.decoding import layer_maps
from attnkit.training import load_run

INPUTS = ["3. Mai 1979", "12.10.2001"]


@pytest.fixture()
def runs(tiny_runs) -> dict[str, Path]:
    """The explorer tests' tiny Bahdanau and Transformer date runs (one session fixture, trained once)."""
    return tiny_runs


def records(run: Path, capsys) -> list[dict]:
    capsys.readouterr()
    assert main(["predict", "--model", str(run), "--option", "locale=de_DE", "--json", *INPUTS]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(INPUTS)
    return [json.loads(line) for line in lines]


def array(m: dict) -> np.ndarray:
    return np.asarray(m["data"], dtype=np.float64).reshape(m["shape"])


@pytest.mark.parametrize("name", ["bahdanau", "transformer"])
def test_each_line_is_the_prediction_with_its_attention(runs, name, capsys):
    run = load_run(runs[name])
    preds = run.task.predict(run.model, INPUTS, options={"locale": "de_DE"})
    for text, pred, record in zip(INPUTS, preds, records(runs[name], capsys)):
        assert (record["input"], record["kind"], record["output"]) == (text, "text-alignment", pred.output)
        assert record["src_tokens"] == pred.src_tokens and record["out_tokens"] == pred.out_tokens
        weights = array(record["weights"])
        np.testing.assert_allclose(weights, pred.weights.numpy(), atol=1e-5)
        to, tk = len(pred.out_tokens), len(pred.src_tokens)
        assert weights.shape == ((2, to, tk) if name == "transformer" else (to, tk))
        assert ("layers" in record) == (name == "transformer")


def test_a_transformer_line_has_every_layer_and_head(runs, capsys):
    run = load_run(runs["transformer"])
    preds = run.task.predict(run.model, INPUTS, options={"locale": "de_DE"})
    for pred, record in zip(preds, records(runs["transformer"], capsys)):
        to, tk = len(pred.out_tokens), len(pred.src_tokens)
        layers = {k: array(v) for k, v in record["layers"].items()}
        assert layers["cross"].shape == (2, 2, to, tk) and layers["encoder_self"].shape == (2, 2, tk, tk)
        assert layers["decoder_self"].shape == (2, 2, to, to)
        maps = layer_maps(run.model, pred.src_ids, pred.out_ids)
        np.testing.assert_allclose(layers["cross"], maps.cross.numpy(), atol=1e-5)
        np.testing.assert_allclose(layers["encoder_self"].sum(-1), 1.0, atol=1e-4)  # rows of weights


def test_json_and_a_bad_input_print_nothing(runs, capsys):
    capsys.readouterr()
    assert main(["predict", "--model", str(runs["bahdanau"]), "--json", "3. Mai 1979", "x" * 500]) == 1
    assert capsys.readouterr().out == ""
