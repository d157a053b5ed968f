"""DecodeOptions: every bad value is refused at construction with one line naming the field."""

import dataclasses
import math

import pytest

from attnkit.decoding import DecodeOptionError, DecodeOptions, option_fields
from attnkit.schema import short_repr

BAD = [
    ("beam_size", 0),
    ("beam_size", 2.5),
    ("beam_size", True),
    ("beam_size", "5"),
    ("n_best", 0),
    ("alpha", -0.1),
    ("alpha", math.nan),
    ("alpha", math.inf),
    ("alpha", "0.6"),
    ("beta", -1.0),
    ("stop", "soon"),
    ("max_len", 0),
    ("precision", "fp16"),
    ("batch_size", 0),
    ("batch_tokens", 0),
    ("batch_tokens", -5),
    # upper bounds (issue 26): --beam 100000 took 27 s and 2.1 GB for one date
    ("beam_size", 1025),
    ("beam_size", 100000),
    ("beam_size", 2**70),
    ("max_len", 4097),
    ("batch_size", 65537),
    ("batch_tokens", 10**12),
    ("alpha", 1e6),
    ("beta", 10.5),
    ("beta", math.nan),
]


def test_the_largest_values_in_range_are_taken():
    options = DecodeOptions(beam_size=1024, n_best=1024, max_len=4096, batch_size=65536, alpha=10.0, beta=10.0)
    assert options.beam_size == 1024 and options.batch_tokens == 8000
    assert DecodeOptions(batch_tokens=10_000_000).batch_tokens == 10_000_000


@pytest.mark.parametrize("field,value", BAD)
def test_each_bad_value_is_one_line_naming_its_field(field, value):
    with pytest.raises(DecodeOptionError) as err:
        DecodeOptions(**{field: value})
    message = str(err.value)
    assert "\n" not in message and message.startswith(field) and err.value.field == field
    assert short_repr(value) in message


def test_n_best_over_the_beam_and_unknown_names():
    with pytest.raises(DecodeOptionError, match=r"n_best \(3\) must be <= beam_size \(2\)") as err:
        DecodeOptions(beam_size=2, n_best=3)
    assert err.value.field == "n_best"
    with pytest.raises(DecodeOptionError, match="unknown decoding option 'beams'; valid: beam_size,") as err:
        DecodeOptions.from_mapping({"beams": 2})
    assert err.value.field == "beams"
    assert isinstance(err.value, ValueError)


def test_good_values_replace_and_changed():
    options = DecodeOptions.from_mapping({"beam_size": 4, "n_best": 2, "max_len": 7, "batch_tokens": None})
    assert options.changed() == {"beam_size": 4, "n_best": 2, "max_len": 7, "batch_tokens": None}
    with pytest.raises(DecodeOptionError, match="beam_size"):
        options.replace(beam_size=0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.beam_size = 3  # type: ignore[misc]


def test_every_field_has_a_flag_and_help():
    flags = [f.metadata["flag"] for f in option_fields()]
    assert len(set(flags)) == len(flags) and all(flag.startswith("--") for flag in flags)
    assert all(f.metadata["help"] for f in option_fields())
