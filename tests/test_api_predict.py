"""The Python API: ``attnkit.load_run(path)`` (imported lazily: ``import attnkit`` loads no torch)
and ``run.predict(inputs, options=..., decode=..., **decode_kwargs)``, the call ``attnkit
predict`` makes. On a tiny trained date model: ``n_best=3`` gives beam search's three best
hypotheses, each scored by the sum of its log-probabilities, checked by teacher forcing written
out here; every DecodeOptions field reaches the decoder; the CLI prints the same hypotheses. A run
that does not decode (a graph classifier) refuses decoding options in one line, and an input
option passed as a decoding keyword is named as such.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import attnkit
from attnkit.cli import main
from attnkit.config import load_config
from attnkit.data import Vocab
from attnkit.decoding import DecodeOptionError, DecodeOptions, Translation
from attnkit.errors import InputError
from attnkit.training.pipeline import train_run

REPO = Path(__file__).resolve().parents[1]
TINY_DATES = [
    "data.n_train=200",
    "data.n_dev=20",
    "data.n_test=20",
    "data.locales=[de_DE, en_US]",
    "train.max_steps=30",
    "train.eval_every=30",
    "train.batch_size=32",
    "train.threads=1",
    "model.emb_dim=8",
    "model.hidden_dim=12",
    "model.attn_dim=12",
]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("api-runs")
    train_run(load_config(REPO / "configs" / "dates-bahdanau.yaml", TINY_DATES), root / "dates", progress=False)
    karate = ["train.max_steps=3", "train.eval_every=3", "train.threads=1"]
    train_run(load_config(REPO / "configs" / "karate-gat.yaml", karate), root / "karate", progress=False)
    return {"dates": root / "dates", "karate": root / "karate"}


def test_import_attnkit_stays_light_and_load_run_is_the_training_one():
    code = "import sys, attnkit; print('torch' in sys.modules, sorted(set(attnkit.__all__) - set(dir(attnkit))))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "[]"]
    from attnkit.training import Run, load_run

    assert attnkit.load_run is load_run and attnkit.Run is Run and attnkit.DecodeOptions is DecodeOptions
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        attnkit.nope  # noqa: B018


def _teacher_forced_log_prob(model, src_ids, out_ids) -> float:
    """log p(output, </s> | source), summed over the output by teacher forcing (float64)."""
    out = [*out_ids, Vocab.eos_id]
    tgt_in = torch.tensor([[Vocab.bos_id, *out[:-1]]])
    with torch.no_grad():
        logits = model(torch.tensor([list(src_ids)]), torch.tensor([len(src_ids)]), tgt_in).logits[0]
    return torch.log_softmax(logits.double(), -1).gather(1, torch.tensor(out)[:, None]).sum().item()


def test_n_best_gives_beam_searchs_best_hypotheses_scored_by_their_log_probability(runs, capsys):
    run = attnkit.load_run(runs["dates"])
    (pred,) = run.predict("3. Mai 1979", options={"locale": "de_DE"}, n_best=3, alpha=0.0)
    assert isinstance(pred, Translation) and pred.kind == "text-alignment"
    hyps = pred.nbest
    assert len(hyps) == 3 and len({h.output for h in hyps}) == 3 and pred.output == hyps[0].output
    scores = [h.score for h in hyps]
    assert scores == sorted(scores, reverse=True)  # alpha 0: ranked by log-probability
    for h in hyps:
        assert h.score == pytest.approx(_teacher_forced_log_prob(run.model, h.src_ids, h.out_ids), abs=1e-4)
        assert h.weights.shape == (len(h.out_tokens), len(h.src_tokens))
        torch.testing.assert_close(h.weights.sum(-1), torch.ones(len(h.out_tokens)))  # rows of attention
    # the same options as an object; the CLI prints the same list (it calls run.predict)
    (again,) = run.predict(["3. Mai 1979"], options={"locale": "de_DE"}, decode=DecodeOptions(3, 3, alpha=0.0))
    assert [h.output for h in again.nbest] == [h.output for h in hyps]
    capsys.readouterr()
    argv = ["predict", "--model", str(runs["dates"]), "--option", "locale=de_DE", "--beam", "3", "--n-best", "3"]
    assert main([*argv, "--alpha", "0", "3. Mai 1979"]) == 0
    lines = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    assert [(int(r), float(s), o) for r, s, o in lines] == [
        (i, pytest.approx(h.score, abs=1e-4), h.output) for i, h in enumerate(hyps, 1)
    ]
    # greedy by default: no n-best list
    (greedy,) = run.predict("3. Mai 1979", options={"locale": "de_DE"})
    assert greedy.nbest == () and greedy.score == pytest.approx(
        _teacher_forced_log_prob(run.model, greedy.src_ids, greedy.out_ids), abs=1e-4
    )


def test_every_decoding_option_reaches_the_decoder(runs):
    run = attnkit.load_run(runs["dates"])
    every = dict(
        beam_size=4,
        n_best=2,
        alpha=0.3,
        length_norm="power",
        beta=0.2,
        stop="exact",
        max_len=3,
        precision="bf16",
        batch_size=2,
        batch_tokens=100,
        check_every=2,
        kv_cache="static",
        compile_step="off",  # compiling takes minutes; tests/decoding/test_speed_options.py covers it
        quantize="none",  # int8 refuses bf16; covered there too
    )
    assert set(every) == {f.name for f in dataclasses.fields(DecodeOptions)}  # every field
    inputs = ["3. Mai 1979", "17. Juli 2001", "1. Januar 1990"]
    got = run.predict(inputs, options={"locale": "de_DE"}, **every)
    ref = run.task.predict(run.model, inputs, options={"locale": "de_DE"}, decode=DecodeOptions(**every))
    listed = [[(h.output, h.score) for h in p.nbest] for p in got]
    assert listed == [[(h.output, h.score) for h in p.nbest] for p in ref]
    assert all(len(h.out_ids) <= 3 for p in got for h in p.nbest)  # max_len=3 outputs
    assert all(len(p.nbest) == 2 for p in got)
    # a DecodeOptions object with keyword changes on top
    (one,) = run.predict("3. Mai 1979", options={"locale": "de_DE"}, decode=DecodeOptions(**every), max_len=None)
    assert len(one.nbest) == 2 and len(one.out_ids) > 3


def test_one_line_errors(runs):
    dates, karate = attnkit.load_run(runs["dates"]), attnkit.load_run(runs["karate"])
    node = karate.task.graph.names[0]
    (pred,) = karate.predict(node)
    assert pred.kind == "graph-neighbourhood" and pred.output in karate.task.classes
    with pytest.raises(DecodeOptionError, match=r"does not decode, so it takes no decoding options \(beam_size, n_"):
        karate.predict(node, n_best=3)
    with pytest.raises(DecodeOptionError, match="does not decode"):
        karate.predict(node, decode=DecodeOptions(beam_size=2))
    with pytest.raises(DecodeOptionError, match=r"locale is an input option of task dates.*options=\{'locale'"):
        dates.predict("3. Mai 1979", locale="de_DE")
    with pytest.raises(DecodeOptionError, match="unknown decoding option 'beam'; valid: alpha, batch_size"):
        dates.predict("3. Mai 1979", beam=3)
    with pytest.raises(DecodeOptionError, match=r"n_best \(4\) must be <= beam_size \(2\)"):
        dates.predict("3. Mai 1979", beam_size=2, n_best=4)
    with pytest.raises(InputError, match="locale"):
        dates.predict("3. Mai 1979", options={"locale": "xx_XX"})
    for err in (DecodeOptionError("x"), InputError("x")):
        assert isinstance(err, ValueError)
