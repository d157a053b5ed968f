"""build_model: the config's RNN options reach Seq2Seq, and one the decoder would ignore is a
one-line ConfigError instead of being dropped."""

from pathlib import Path

import pytest
import torch

from attnkit.config import ConfigError, load_config
from attnkit.models import Seq2SeqSpec, SpeechSeq2SeqSpec
from attnkit.training.run import build_model

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


class TASK:  # build_model needs only the task's model spec
    spec = Seq2SeqSpec(20, 15, 64)


class SPEECH_TASK:
    spec = SpeechSeq2SeqSpec(1, 15, 64, n_mels=80)


def _build(*overrides):
    torch.manual_seed(0)
    return build_model(load_config(None, ["model.emb_dim=8", "model.hidden_dim=12", *overrides]), TASK)


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_rnn_config_builds(path):
    cfg = load_config(path)
    if cfg.model.arch == "rnn":
        task = SPEECH_TASK if cfg.data.task == "spoken-dates" else TASK
        assert build_model(cfg, task).attention_name == cfg.model.attention


@pytest.mark.parametrize(
    "overrides, option",
    [
        (["model.attention=bahdanau", "model.input_feeding=false"], "input_feeding"),
        (["model.attention=luong-general", "model.attn_dim=32"], "attn_dim"),
        (["model.attention=none", "model.attn_dim=32"], "attn_dim"),
        (["model.attention=luong-local-m", "model.attn_dim=32"], "attn_dim"),
        (["model.attention=luong-stacked", "model.dec_layers=2", "model.attn_dim=32"], "attn_dim"),
    ],
)
def test_an_option_the_decoder_ignores_is_a_config_error(overrides, option):
    with pytest.raises(ConfigError) as err:  # refused when the config is loaded, before any model exists
        _build(*overrides)
    message = str(err.value)
    attention = overrides[0].split("=")[1]
    assert "\n" not in message
    assert message.startswith(f"model.{option} does not apply to model.attention={attention}")
    assert "remove it" in message


def test_defaults_of_options_the_decoder_does_not_take_are_not_passed():
    model = _build("model.attention=luong-general")  # attn_dim, local_window, dec_layers at defaults
    assert model.attention_name == "luong-general"


def test_options_the_decoder_takes_are_passed():
    local = _build(
        "model.attention=luong-local-p", "model.local_window=3", "model.attn_dim=5", "model.input_feeding=false"
    )
    assert local.decoder.attention.window == 3 and local.decoder.attention.position_proj.out_features == 5
    assert not local.decoder.input_feeding
    assert _build("model.normaliser=sparsemax").decoder.attention.normaliser.name == "sparsemax"
    assert _build("model.attention=luong-stacked", "model.dec_layers=3").decoder.layers == 3


def test_init_reaches_the_model():
    paper = _build("model.init=paper").decoder.attention
    assert torch.count_nonzero(paper.energy) == 0 and paper.query_proj.weight.abs().max() < 0.01
    torch_init = _build().decoder.attention
    assert torch.count_nonzero(torch_init.energy) == torch_init.energy.numel()
