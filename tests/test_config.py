"""Strict config loading: unknown keys, wrong types, bad ranges and names are one-line errors."""

import pytest

from attnkit.config import ConfigError, RunConfig, load_config, parse_overrides, save_config


def test_defaults_are_valid_and_round_trip(tmp_path):
    cfg = load_config()
    assert cfg == RunConfig()
    save_config(cfg, tmp_path / "c.yaml")
    assert load_config(tmp_path / "c.yaml") == cfg


def test_overrides_apply_and_are_typed(tmp_path):
    cfg = load_config(None, ["model.hidden_dim=128", "train.lr=1e-3", "data.locales=[de_DE]",
                             "model.bidirectional=false"])
    assert cfg.model.hidden_dim == 128 and cfg.train.lr == 0.001
    assert cfg.data.locales == ("de_DE",) and cfg.model.bidirectional is False
    assert parse_overrides(["a.b.c=1"]) == {"a": {"b": {"c": 1}}}


@pytest.mark.parametrize("override, message", [
    ("model.hiden_dim=3", "unknown config key 'model.hiden_dim'; valid keys here: arch, attention"),
    ("modle.hidden_dim=3", "unknown config key 'modle'; valid keys here: data, model, train"),
    ("model.hidden_dim=3.5", "model.hidden_dim must be an integer"),
    ("model.hidden_dim=0", "model.hidden_dim must be >= 1"),
    ("model.bidirectional=2", "model.bidirectional must be true or false"),
    ("model.attention=luong", "unknown attention 'luong'; choose one of: none, bahdanau, bahdanau-coverage, luong-dot"),
    ("model.cell=rnn", "unknown cell 'rnn'; choose one of: gru, lstm"),
    ("model.dropout=1.5", "model.dropout must lie in [0, 1)"),
    ("model.attention=luong-dot", "set model.bidirectional=false"),
    ("train.lr=-1", "train.lr must be > 0"),
    ("data.task=poems", "unknown task 'poems'; choose one of: dates"),
    ("data.locales=de_DE", "data.locales must be a list"),
    ("hidden_dim=3", "must look like section.key=value"),
    ("model.n_heads=8", "model.n_heads does not apply to model.arch=rnn; remove it"),
    ("model.arch=cnn", "unknown architecture 'cnn'; choose one of: rnn, transformer"),
    ("train.schedule=noam", "unknown 'noam'; choose one of: cosine, inverse-sqrt, constant"),
    ("train.label_smoothing=1", "train.label_smoothing must lie in [0, 1)"),
    ("model.init=xavier", "model.init: unknown 'xavier'; choose one of: torch, paper"),
])

def test_bad_values_name_the_key(override, message):
    with pytest.raises(ConfigError) as err:
        load_config(None, [override])
    assert message in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("overrides, message", [
    (["model.d_model=100", "model.n_heads=3"], "must be divisible by model.n_heads=3"),
    (["model.num_kv_heads=3"], "model.num_kv_heads=3 must divide model.n_heads=4"),
    (["model.positional=sine"], "unknown 'sine'; choose one of: sinusoidal, learned, rope, alibi, none"),
    (["model.norm=sandwich"], "choose one of: pre, post"),
    (["model.hidden_dim=32"], "model.hidden_dim does not apply to model.arch=transformer"),
    (["model.init=paper"], "model.init does not apply to model.arch=transformer"),
    (["model.d_model=24", "model.n_heads=8"], "rope needs an even head width"),
    (["train.schedule=inverse-sqrt", "train.warmup_steps=0"], "train.warmup_steps must be >= 0 (>= 1"),
])
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
    assert names == {"none", "bahdanau", "bahdanau-coverage", "luong-dot", "luong-general", "luong-concat",
                     "luong-local-m", "luong-local-p", "luong-stacked"}
    assert load_config(configs[0].parent / "dates-transformer.yaml").model.arch == "transformer"


def test_the_demo_transformer_recipe_is_the_shipped_config():
    from dataclasses import replace
    from pathlib import Path

    from attnkit.cli.demo import TRANSFORMER

    shipped = load_config(Path(__file__).resolve().parents[1] / "configs" / "dates-transformer.yaml")
    recipe = load_config(None, TRANSFORMER)
    assert replace(recipe, data=shipped.data) == shipped
