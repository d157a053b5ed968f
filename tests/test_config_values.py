"""Config values that are mistakes get one bounded line (issue 26): non-finite floats, integers
beyond 64 bits, and messages that never format a huge value whole."""

from __future__ import annotations

import time

import pytest
import yaml

from attnkit.config import load_config
from attnkit.errors import ConfigError
from attnkit.schema import MAX_CONFIG_INT, short_repr


@pytest.mark.parametrize(
    "override",
    ["train.lr=.inf", "train.lr=.nan", "train.clip_norm=.nan", "train.max_minutes=.nan", "train.lr_min=-.inf"],
)
def test_non_finite_floats_are_refused(override):
    with pytest.raises(ConfigError, match="finite number"):
        load_config(None, [override])


@pytest.mark.parametrize("override", ["train.seed=" + str(2**70), "train.max_steps=" + "9" * 5000])
def test_integers_beyond_64_bits_are_refused_with_a_short_message(override):
    with pytest.raises(ConfigError) as info:
        load_config(None, [override])
    message = str(info.value)
    assert ("at most" in message or "integer" in message) and len(message) < 200 and "\n" not in message


def test_largest_config_integer_is_accepted():
    cfg = load_config(None, [f"train.seed={MAX_CONFIG_INT}"])
    assert cfg.train.seed == MAX_CONFIG_INT


def test_billion_laughs_config_fails_fast_with_one_line(tmp_path):
    # nine levels of nine aliases: 9**9 strings if formatted whole (the old message took a minute and GBs)
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        refs = ",".join(f"*a{i - 1}" for _ in range(9))
        lines.append(f"a{i}: &a{i} [{refs}]")
    lines.append("train:\n  lr: *a9")
    path = tmp_path / "laughs.yaml"
    path.write_text("\n".join(lines) + "\n")
    start = time.perf_counter()
    with pytest.raises(ConfigError) as info:
        load_config(str(path), [])
    assert time.perf_counter() - start < 5
    assert len(str(info.value)) < 300 and "\n" not in str(info.value)


def test_short_repr_is_bounded():
    nested = "x"
    for _ in range(12):
        nested = [nested] * 9
    assert len(short_repr(nested)) < 120
    assert len(short_repr("y" * 10**6)) < 80
    assert "digits" in short_repr(10**5000)
    assert short_repr(3) == "3" and short_repr("abc") == "'abc'"


def test_unknown_section_name_is_bounded(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"z" * 100_000: 1}))
    with pytest.raises(ConfigError) as info:
        load_config(str(path), [])
    assert len(str(info.value)) < 200


def test_a_5000_digit_integer_in_a_config_file_is_one_line(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  seed: " + "7" * 5000 + "\n")
    with pytest.raises(ConfigError, match="4,300 digits"):
        load_config(str(path), [])
