"""``--option explain=NAME`` on imported encoders and language models: the prediction carries the
explanation, computed from the same weights it shows. The references are written here from the
paper's rule (rollout [Abnar20]: rownorm(0.5 W + 0.5 I) multiplied over the layers, W the head
mean of the prediction's own weights), never from the explanation code."""

from __future__ import annotations

import json

import numpy as np
import pytest

from attnkit.cli import main
from attnkit.errors import InputError
from attnkit.training import load_run

from .conftest import SENTENCES

pytest.importorskip("transformers", reason="transformers builds the tiny checkpoints (pip install transformers)")


def _rollout(weights: np.ndarray) -> np.ndarray:
    """(L, Nh, T, T) -> (T, T), Abnar & Zuidema Eq. for attention rollout, as loops over layers."""
    t = weights.shape[-1]
    out = np.eye(t)
    for layer in weights.astype(np.float64):
        a = 0.5 * layer.mean(0) + 0.5 * np.eye(t)
        a = a / a.sum(-1, keepdims=True)
        out = a @ out
    return out


@pytest.mark.parametrize("kind", ["bert", "roberta-cls", "gpt2"])
def test_explain_rollout_is_the_rollout_of_the_predictions_own_weights(kind, imported):
    run = load_run(imported[kind])
    (pred,) = run.task.predict(run.model, [SENTENCES[0]], options={"explain": "rollout"})
    assert set(pred.explanations) == {"rollout"}
    np.testing.assert_allclose(pred.explanations["rollout"], _rollout(pred.weights), atol=1e-5)
    (plain,) = run.task.predict(run.model, [SENTENCES[0]])
    assert plain.explanations == {}


@pytest.mark.parametrize("kind", ["bert", "bert-cls", "gpt2"])
@pytest.mark.parametrize("name", ["norm", "alti", "grad", "flow"])
def test_every_explanation_gives_a_finite_map_over_the_tokens(kind, name, imported):
    run = load_run(imported[kind])
    (pred,) = run.task.predict(run.model, [SENTENCES[1]], options={"explain": name})
    t = len(pred.tokens)
    m = pred.explanations[name]
    assert m.shape == (t, t) and np.isfinite(m).all() and (m >= -1e-6).all()
    if pred.causal:  # a token is explained by itself and earlier ones only
        assert np.abs(np.triu(m, 1)).max() < 1e-6


def test_an_unknown_explanation_is_one_line(imported, capsys):
    code = main(["predict", "--model", str(imported["bert"]), SENTENCES[0], "--option", "explain=magic"])
    err = capsys.readouterr().err.strip()
    assert code != 0 and "magic" in err and "\n" not in err


def test_predict_json_carries_the_explanation(imported, capsys):
    assert main(["predict", "--model", str(imported["bert"]), SENTENCES[0], "--option", "explain=norm", "--json"]) == 0
    record = json.loads(capsys.readouterr().out.splitlines()[0])
    assert set(record["explanations"]) == {"norm"}
    run = load_run(imported["bert"])
    with pytest.raises(InputError):
        run.task.predict(run.model, [SENTENCES[0]], options={"explain": "magic"})
