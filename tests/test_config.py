"""Strict config loading: unknown keys, wrong types, bad ranges and names are one-line errors."""

import pytest

from attnkit.config import ConfigError, RunConfig, load_config, parse_overrides, save_config


def test_defaults_are_valid_and_round_trip(tmp_path):
    cfg = load_config()
    assert cfg == RunConfig()
    save_config(cfg, tmp_path / "c.yaml")
    assert load_config(tmp_path / "c.yaml") == cfg


def test_overrides_apply_and_are_typed(tmp_path):
    cfg = load_config(
        None, ["model.hidden_dim=128", "train.lr=1e-3", "data.locales=[de_DE]", "model.bidirectional=false"]
    )
    assert cfg.model.hidden_dim == 128 and cfg.train.lr == 0.001
    assert cfg.data.locales == ("de_DE",) and cfg.model.bidirectional is False
    assert parse_overrides(["a.b.c=1"]) == {"a": {"b": {"c": 1}}}


@pytest.mark.parametrize(
    "override, message",
    [
        (
            "model.hiden_dim=3",
            "unknown config key 'model.hiden_dim' for model.arch=rnn; valid keys here: arch, attention",
        ),
        ("modle.hidden_dim=3", "unknown config section 'modle'; valid sections: data, model, train"),
        ("model.hidden_dim=3.5", "model.hidden_dim must be an integer"),
        ("model.hidden_dim=0", "model.hidden_dim must be >= 1"),
        ("model.bidirectional=2", "model.bidirectional must be true or false"),
        (
            "model.attention=luong",
            "unknown attention 'luong'; choose one of: none, bahdanau, bahdanau-coverage, luong-dot",
        ),
        ("model.cell=rnn", "unknown cell 'rnn'; choose one of: gru, lstm"),
        ("model.dropout=1.5", "model.dropout must lie in [0, 1)"),
        ("model.attention=luong-dot", "set model.bidirectional=false"),
        ("train.lr=-1", "train.lr must be > 0"),
        ("data.task=poems", "unknown task 'poems'; choose one of: dates, translation, bible-sections"),
        ("data.locales=de_DE", "data.locales must be a list"),
        ("hidden_dim=3", "must look like section.key=value"),
        ("model.n_heads=8", "model.n_heads does not apply to model.arch=rnn; remove it"),
        (
            "model.arch=capsule",
            "unknown model family 'capsule'; choose one of: rnn, transformer, han, cnn, vit, gat, gcn, mlp",
        ),
        ("model.arch=han", "model.arch=han cannot model data.task=dates; choose one of: rnn, transformer"),
        (
            "data.corpus=x",
            "data.corpus does not apply to data.task=dates; remove it "
            "(it is an option of data.task=translation/aligned-translation)",
        ),
        ("model.input_feeding=false", "model.input_feeding does not apply to model.attention=bahdanau"),
        ("model.local_window=3", "model.local_window does not apply to model.attention=bahdanau"),
        ("train.schedule=noam", "unknown 'noam'; choose one of: cosine, inverse-sqrt, constant"),
        ("train.label_smoothing=1", "train.label_smoothing must lie in [0, 1)"),
        ("model.init=xavier", "model.init: unknown 'xavier'; choose one of: torch, paper"),
    ],
)
def test_bad_values_name_the_key(override, message):
    with pytest.raises(ConfigError) as err:
        load_config(None, [override])
    assert message in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["model.d_model=100", "model.n_heads=3"], "must be divisible by model.n_heads=3"),
        (["model.num_kv_heads=3"], "model.num_kv_heads=3 must divide model.n_heads=4"),
        (
            ["model.positional=sine"],
            "unknown 'sine'; choose one of: sinusoidal, sinusoidal-halves, learned, rope, alibi, none",
        ),
        (["model.norm=sandwich"], "choose one of: pre, post"),
        (["model.hidden_dim=32"], "model.hidden_dim does not apply to model.arch=transformer"),
        (["model.init=paper"], "model.init does not apply to model.arch=transformer"),
        (["model.d_model=24", "model.n_heads=8"], "rope needs an even head width"),
        (["train.schedule=inverse-sqrt", "train.warmup_steps=0"], "train.warmup_steps must be >= 0 (>= 1"),
    ],
)
def test_transformer_config_errors(overrides, message):
    base = ["model.arch=transformer"] + (["model.positional=rope"] if "rope" in message else [])
    with pytest.raises(ConfigError) as err:
        load_config(None, base + overrides)
    assert message in str(err.value)


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(tmp_path / "bad.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_config(tmp_path / "list.yaml")


def test_shipped_configs_load():
    from pathlib import Path

    configs = sorted((Path(__file__).resolve().parents[1] / "configs").glob("dates-*.yaml"))
    names = {load_config(c).model.attention for c in configs if load_config(c).model.arch == "rnn"}
    assert names == {
        "none",
        "bahdanau",
        "bahdanau-coverage",
        "luong-dot",
        "luong-general",
        "luong-concat",
        "luong-local-m",
        "luong-local-p",
        "luong-stacked",
        "location-aware",
    }
    assert load_config(configs[0].parent / "dates-transformer.yaml").model.arch == "transformer"


def test_the_demo_transformer_recipe_is_the_shipped_config():
    from dataclasses import replace
    from pathlib import Path

    from attnkit.cli.demo import TRANSFORMER

    shipped = load_config(Path(__file__).resolve().parents[1] / "configs" / "dates-transformer.yaml")
    recipe = load_config(None, TRANSFORMER)
    assert replace(recipe, data=shipped.data) == shipped


def test_an_ignored_option_is_an_error_and_left_out_of_the_resolved_config(tmp_path):
    with pytest.raises(ConfigError, match="model.attn_dim does not apply to model.attention=luong-general"):
        load_config(None, ["model.attention=luong-general", "model.attn_dim=128"])
    cfg = load_config(None, ["model.attention=luong-general", "model.input_feeding=false"])
    save_config(cfg, tmp_path / "c.yaml")
    text = (tmp_path / "c.yaml").read_text()
    assert "input_feeding: false" in text and "attn_dim" not in text and "local_window" not in text
    assert load_config(tmp_path / "c.yaml") == cfg


OLD_RUN_CONFIG = """\
data: {task: translation, n_train: 40000, n_dev: 500, n_test: 2000, locales: [en_US, en_GB, fr_FR, de_DE, es_ES,
  it_IT, pt_BR, nl_NL, ru_RU, zh_CN, ja_JP], max_source_len: 100, seed: 1234, corpus: corpora/x, subword: bpe,
  vocab_size: 8000, joint_vocab: false}
model: {arch: transformer, attention: bahdanau, cell: gru, emb_dim: 32, hidden_dim: 64, bidirectional: true,
  attn_dim: 64, input_feeding: true, normaliser: softmax, local_window: 10, enc_layers: 3, dropout: 0.1,
  d_model: 256, n_heads: 4, num_kv_heads: 0, dec_layers: 3, d_ff: 1024, norm: pre, positional: sinusoidal,
  tie_embeddings: false}
train: {max_steps: 100}
"""


def test_a_run_config_of_attnkit_0_1_is_converted_on_reading(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(OLD_RUN_CONFIG)
    with pytest.raises(ConfigError, match="does not apply"):  # not silently accepted as a new config
        load_config(path)
    cfg = load_config(path, legacy=True)
    assert cfg.data.task == "translation" and cfg.data.n_dev == 500 and cfg.data.corpus == "corpora/x"
    assert cfg.model.arch == "transformer" and cfg.model.d_model == 256 and cfg.model.enc_layers == 3
    assert not hasattr(cfg.model, "hidden_dim")
    old = OLD_RUN_CONFIG.replace("hidden_dim: 64", "hidden_dim: 96")  # a foreign field that was set
    path.write_text(old)
    with pytest.raises(ConfigError, match="model.hidden_dim does not apply to model.arch=transformer"):
        load_config(path, legacy=True)


def _spoken_dates_config(tmp_path, name, data_extra, model_extra):
    import yaml

    raw = {
        "data": {"task": "spoken-dates", "n_train": 10, **data_extra},
        "model": {"arch": "rnn", "attention": "bahdanau", "emb_dim": 4, "hidden_dim": 6, **model_extra},
        "train": {"max_steps": 5},
    }
    path = tmp_path / name
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


@pytest.mark.parametrize("legacy", [False, True])
def test_data_frontend_of_old_configs_moves_to_the_model_section(tmp_path, caplog, legacy):
    import logging

    import torch

    from attnkit.config import family_of
    from attnkit.models import SpeechSeq2SeqSpec
    from attnkit.models.speech_seq2seq import ConvListener

    old = _spoken_dates_config(tmp_path, "old.yaml", {"frontend": "conv"}, {})
    new = _spoken_dates_config(tmp_path, "new.yaml", {}, {"frontend": "conv"})
    with caplog.at_level(logging.WARNING, logger="attnkit.config"):
        old_cfg = load_config(old, legacy=legacy)
    notices = [r.getMessage() for r in caplog.records if r.name == "attnkit.config"]
    assert len(notices) == 1 and "data.frontend is now model.frontend" in notices[0] and "\n" not in notices[0]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="attnkit.config"):
        new_cfg = load_config(new)
    assert not [r for r in caplog.records if r.name == "attnkit.config"]
    assert old_cfg == new_cfg and old_cfg.model.frontend == "conv" and "frontend" not in old_cfg.to_dict()["data"]
    assert old_cfg.to_dict()["model"]["frontend"] == "conv"
    spec = SpeechSeq2SeqSpec(1, 9, 40, n_mels=80)
    models = []
    for cfg in (old_cfg, new_cfg):
        torch.manual_seed(0)
        models.append(family_of(cfg).build(cfg.model, spec))
    assert isinstance(models[0].encoder, ConvListener)
    assert models[0].state_dict().keys() == models[1].state_dict().keys()
    for a, b in zip(models[0].state_dict().values(), models[1].state_dict().values()):
        torch.testing.assert_close(a, b)


def test_an_old_default_frontend_for_a_model_without_one_is_dropped_quietly(tmp_path, caplog):
    import logging

    path = _spoken_dates_config(tmp_path, "tf.yaml", {"frontend": "pyramid"}, {})
    text = path.read_text(encoding="utf-8").replace("arch: rnn", "arch: transformer")
    text = "\n".join(
        line for line in text.splitlines() if not line.strip().startswith(("attention", "emb_dim", "hidden_dim"))
    )
    path.write_text(text, encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="attnkit.config"):
        cfg = load_config(path)
    assert cfg.model.arch == "transformer" and not [r for r in caplog.records if r.name == "attnkit.config"]
    with caplog.at_level(logging.WARNING, logger="attnkit.config"):
        load_config(path, ["data.frontend=conv"])  # a non-default value had no effect either: said once
    assert "data.frontend='conv' is ignored" in caplog.records[-1].getMessage()
