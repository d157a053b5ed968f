"""CTranslate2 export of Transformer runs: the engine gives attnkit's outputs, scores and attention.

The reference is attnkit itself: its own greedy decoding and beam search for the outputs and
scores, and its teacher-forced per-layer, per-head cross-attention of each output
(:func:`attnkit.decoding.layer_maps`, a path that shares no code with the converter or the
engine) for the attention CTranslate2 returns.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import pytest
import torch

from attnkit.cli import main
from attnkit.config import load_config
from attnkit.decoding import DecodeOptionError, DecodeOptions, layer_maps
from attnkit.errors import ConfigError
from attnkit.export.ctranslate2 import METADATA_FILE, export_ctranslate2, require_ctranslate2, translate
from attnkit.models import FAMILIES
from attnkit.training import load_run
from attnkit.training.pipeline import train_run

ct2 = pytest.importorskip("ctranslate2", reason="ctranslate2 is not installed: pip install 'attnkit[ctranslate2]'")

REPO = Path(__file__).resolve().parents[2]
DATA = [
    "data.n_train=300",
    "data.n_dev=10",
    "data.n_test=24",
    "data.locales=[de_DE, en_US]",
    "train.batch_size=32",
    "train.threads=1",
    "train.warmup_steps=5",
    "train.lr=0.005",
    "train.precision=fp32",
]
# configs/bible-transformer.yaml's model (pre-LN, sinusoidal, 4 heads, 3 + 3 layers), narrower
BIBLE_SHAPED = ["model.d_model=32", "model.d_ff=64", "model.dropout=0.0"]
TOL = 1e-4


def _bible_model() -> list[str]:
    import yaml

    model = yaml.safe_load((REPO / "configs" / "bible-transformer.yaml").read_text())["model"]
    return [f"model.{k}={v}" for k, v in model.items() if k not in ("d_model", "d_ff", "dropout")]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """The Bible-config Transformer, narrowed, after a short training on the date task."""
    root = tmp_path_factory.mktemp("ct2") / "bible-shaped"
    overrides = [*DATA, "train.max_steps=60", "train.eval_every=60", *_bible_model(), *BIBLE_SHAPED]
    train_run(load_config(REPO / "configs" / "dates-transformer.yaml", overrides), root, progress=False)
    return root


def _test_inputs(run) -> list[tuple[str, str]]:
    return [(e.text, e.locale) for e in run.task.load_split(run.path, "test")]


def _compare(run, export: Path, sources, decode: DecodeOptions, layer: int, head: int | None) -> float:
    """Assert equal outputs and scores, source by source (locales differ); return the largest
    attention difference against attnkit's teacher-forced map of `layer` (head or mean)."""
    translator = ct2.Translator(str(export), intra_threads=1)
    worst = 0.0
    for text, locale in sources:
        options = {"locale": locale} if locale else {}
        ours = run.predict([text], options=options, decode=decode)[0]
        engine = translate(run, [text], options=options, decode=decode, translator=translator)[0]
        assert engine.output == ours.output and engine.out_ids == ours.out_ids, (text, ours.output, engine.output)
        assert engine.score == pytest.approx(ours.score, abs=TOL)
        cross = layer_maps(run.model, ours.src_ids, ours.out_ids).cross[layer]  # (Nh, To, Tk)
        reference = cross.mean(0) if head is None else cross[head]
        assert engine.weights is not None and engine.weights.shape == reference.shape
        worst = max(worst, float((engine.weights - reference).abs().max()))
    return worst


def test_bible_shaped_transformer_greedy_and_beam5_match(trained):
    run = load_run(trained)
    export = export_ctranslate2(run, trained / "ct2", align_layer=-2, align_head="1")
    sources = _test_inputs(run)
    # the date task's limit is the length of a date, where attnkit forces </s> (CTranslate2 cannot):
    # beam search agrees below the limit, so the limit here is above every output
    beam = DecodeOptions(beam_size=5, alpha=0.0, max_len=16)
    ours = [run.predict([t], options={"locale": loc}, decode=beam)[0] for t, loc in sources]
    assert all(len(t.out_ids) < 16 for t in ours)
    for decode in (DecodeOptions(), DecodeOptions(max_len=16), beam):
        assert _compare(run, export, sources, decode, layer=1, head=1) < TOL


def test_nbest_lists_match(trained):
    run = load_run(trained)
    export = export_ctranslate2(run, trained / "ct2-nbest")
    decode = DecodeOptions(beam_size=5, n_best=3, alpha=0.0, max_len=16)
    translator = ct2.Translator(str(export), intra_threads=1)
    for text, locale in _test_inputs(run)[:6]:
        ours = run.predict([text], options={"locale": locale}, decode=decode)[0].nbest
        engine = translate(run, [text], options={"locale": locale}, decode=decode, translator=translator)[0].nbest
        assert [h.out_ids for h in engine] == [h.out_ids for h in ours]
        assert [h.score for h in engine] == pytest.approx([h.score for h in ours], abs=TOL)


def test_alignment_choice_comes_from_alignment_json(trained, tmp_path):
    run = load_run(trained)
    (trained / "alignment.json").write_text(json.dumps({"choice": {"layer": -3, "head": 2}, "dev": {}}))
    try:
        export = export_ctranslate2(run, tmp_path / "chosen")
        overridden = export_ctranslate2(run, tmp_path / "overridden", align_head="mean")
    finally:
        (trained / "alignment.json").unlink()
    meta = json.loads((export / METADATA_FILE).read_text())
    assert meta["alignment"] == {"layer": 0, "head": 2, "from": "alignment.json"}
    meta = json.loads((overridden / METADATA_FILE).read_text())
    assert meta["alignment"] == {"layer": 0, "head": "mean", "from": "flags and alignment.json"}
    assert _compare(run, export, _test_inputs(run)[:6], DecodeOptions(), layer=0, head=2) < TOL


def _variant(run, **changes):
    """The run with another model section and a freshly built (random) model of it."""
    cfg = dataclasses.replace(run.config, model=dataclasses.replace(run.config.model, **changes))
    torch.manual_seed(0)
    model = FAMILIES.get("transformer").build(cfg.model, run.task.spec).eval()
    return dataclasses.replace(run, config=cfg, model=model)


VARIANTS = {
    "learned positions, post-LN": dict(positional="learned", norm="post"),
    "RoPE, grouped-query heads": dict(positional="rope", num_kv_heads=2),
    "RoPE, multi-query, GELU": dict(positional="rope", num_kv_heads=1, activation="gelu"),
    "no positions, tied, unscaled, SiLU": dict(
        positional="none", tie_embeddings=True, scale_embeddings=False, activation="silu"
    ),
    "sinusoidal halves, GELU (tanh)": dict(positional="sinusoidal-halves", activation="gelu_tanh"),
}


@pytest.mark.parametrize("name", list(VARIANTS))
def test_variants_greedy_match(trained, tmp_path, name):
    run = _variant(load_run(trained), **VARIANTS[name])
    head = 3  # with two or one key/value heads: moved to the front with its key/value head
    export = export_ctranslate2(run, tmp_path / "variant", align_layer=2, align_head=str(head))
    sources = _test_inputs(run)[:5]  # random weights: outputs run to the limit, </s> forced there
    assert _compare(run, export, sources, DecodeOptions(max_len=8), layer=2, head=head) < TOL


def test_unsupported_variants_get_one_line_errors(trained, tmp_path):
    run = load_run(trained)
    with pytest.raises(ConfigError, match="ALiBi") as alibi:
        export_ctranslate2(_variant(run, positional="alibi"), tmp_path / "a")
    with pytest.raises(ConfigError, match="suppress_pad") as pad:
        export_ctranslate2(_variant(run, suppress_pad=True), tmp_path / "b")
    for err in (alibi, pad):
        assert "\n" not in str(err.value)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_rnn_run_is_refused_by_the_cli(tmp_path, capsys):
    rnn = tmp_path / "rnn"
    overrides = [*DATA, "train.max_steps=1", "train.eval_every=1", "model.emb_dim=8", "model.hidden_dim=8"]
    train_run(
        load_config(REPO / "configs" / "dates-bahdanau.yaml", [*overrides, "model.attn_dim=8"]), rnn, progress=False
    )
    capsys.readouterr()
    assert main(["export", str(rnn), "--format", "ctranslate2"]) == 2
    err = capsys.readouterr().err.strip()
    assert "no CTranslate2 counterpart" in err and len(err.splitlines()) == 1
    assert not (rnn / "export").exists()


def test_translation_run_exports_its_subword_models(tmp_path):
    """A translation run (BPE subwords, SentencePiece models in the run folder): the export holds
    the models, and the engine decodes the same ids from the same pieces."""
    from tests.tasks.test_translation import write_corpus

    corpus = write_corpus(tmp_path / "corpus", n_train=200, n_dev=10, n_test=10)
    cfg_file = tmp_path / "cfg.yaml"
    cfg_file.write_text(
        f"data: {{task: translation, corpus: {corpus}, vocab_size: 60, max_source_len: 40, n_dev: 10}}\n"
        "model: {arch: transformer, d_model: 16, n_heads: 2, d_ff: 32, enc_layers: 1, dec_layers: 2}\n"
        "train: {max_steps: 2, batch_tokens: 400, eval_every: 2, threads: 1}\n",
        encoding="utf-8",
    )
    train_run(load_config(cfg_file), tmp_path / "run", progress=False)
    run = load_run(tmp_path / "run")
    export = export_ctranslate2(run)
    assert export == tmp_path / "run" / "export" / "ctranslate2"
    assert (export / "subwords.src.model").read_bytes() == (run.path / "subwords.src.model").read_bytes()
    assert (export / "subwords.tgt.model").is_file()
    sources = [(line, "") for line in ["Uno dos tres.", "Nueve.", "Cuatro cinco seis siete."]]
    assert _compare(run, export, sources, DecodeOptions(max_len=6), layer=-1, head=None) < TOL


def test_translate_engine_ctranslate2_gives_attnkit_output(trained, capsys):
    texts = ["3. Mai 1979", "12. Januar 2001", "1. März 1850"]
    assert main(["export", str(trained), "--format", "ctranslate2"]) == 0
    capsys.readouterr()
    outputs = {}
    for engine in ("attnkit", "ctranslate2"):
        assert main(["translate", "--model", str(trained), "--locale", "de_DE", "--engine", engine, *texts]) == 0
        outputs[engine] = capsys.readouterr().out.splitlines()
    assert outputs["ctranslate2"] == outputs["attnkit"] and len(outputs["attnkit"]) == 3
    # int8 weights: another folder, the same command line (outputs may differ from fp32)
    int8 = trained / "ct2-int8"
    assert main(["export", str(trained), "--format", "ctranslate2", "--quantization", "int8", "--out", str(int8)]) == 0
    assert json.loads((int8 / METADATA_FILE).read_text())["quantization"] == "int8"
    capsys.readouterr()
    argv = ["translate", "--model", str(trained), "--engine", "ctranslate2", "--export", str(int8), *texts]
    assert main(argv) == 0 and len(capsys.readouterr().out.splitlines()) == 3
    # an export of other weights is refused, naming the command that makes a new one
    (int8 / METADATA_FILE).write_text(json.dumps({"weights_sha256": "0" * 64}))
    assert main(argv) == 2
    assert "export again with `attnkit export" in capsys.readouterr().err
    # a GNMT length penalty has no CTranslate2 counterpart: a usage error naming the flag
    assert main(["translate", "--model", str(trained), "--engine", "ctranslate2", "--beam", "5", *texts]) == 2
    assert "--alpha" in capsys.readouterr().err


def test_engine_options_refuse_what_ctranslate2_cannot_follow(trained):
    run = load_run(trained)
    with pytest.raises(DecodeOptionError, match="coverage"):
        translate(run, ["3 May 1979"], decode=DecodeOptions(beam_size=2, alpha=0.0, beta=0.2), translator=object())


def test_missing_package_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ctranslate2", None)  # import ctranslate2 raises ImportError
    with pytest.raises(ConfigError, match=r"attnkit\[ctranslate2\]"):
        require_ctranslate2()
