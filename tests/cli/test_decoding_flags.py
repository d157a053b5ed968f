"""The CLI's decoding flags are made from DecodeOptions' fields, and one function turns them into
DecodeOptions, checked against what the run declares."""

import argparse
import dataclasses
from pathlib import Path
from types import SimpleNamespace

import pytest

from attnkit.capabilities import ModelCapabilities, RunCapabilities, TaskCapabilities
from attnkit.cli import common, evaluate, predict, translate
from attnkit.cli.common import UserError, add_decoding_arguments, decode_options
from attnkit.decoding import DecodeOptions, option_fields
from attnkit.decoding.options import _opt

# the flags of attnkit 0.1, with their help's default as it was printed
OLD = {
    "--beam": "(default: 1)",
    "--alpha": "(default: 0.6)",
    "--coverage-penalty": "(default: 0)",
    "--beam-stop": "(default: heuristic)",
    "--precision": "(default: fp32)",
    "--batch-size": "(default: 512)",
    "--batch-tokens": "(default: 8000)",
}


def _parser(module) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    return parser


def _actions(parser):
    return {a.option_strings[0]: a for a in parser._actions if a.option_strings}


@pytest.mark.parametrize("module", [predict, translate, evaluate])
def test_every_field_is_a_flag_with_its_metadata(module):
    actions = _actions(_parser(module))
    for f in option_fields():
        flag = f.metadata["flag"]
        if module is evaluate and f.name == "n_best":
            assert flag not in actions  # evaluate scores the best hypothesis only
            continue
        action = actions[flag]
        assert action.default is None and f.metadata["help"] in action.help
        assert tuple(action.choices or ()) == f.metadata["choices"] and action.metavar == f.metadata["metavar"]
        if flag in OLD:
            assert action.help.endswith(OLD[flag])
    assert {"--n-best", "--max-len"} <= set(actions) or module is evaluate


def _run(decodes=True, attention=True):
    caps = RunCapabilities(TaskCapabilities(decodes=decodes), ModelCapabilities(decodes=decodes, attention=attention))
    return SimpleNamespace(path=Path("runs/x"), capabilities=caps)


def _args(*argv):
    return _parser(translate).parse_args(["--model", "runs/x", *argv])


def test_decode_options_from_the_given_flags():
    assert decode_options(_args(), _run()) is None  # nothing given: the task's defaults
    got = decode_options(
        _args(
            "--beam",
            "4",
            "--n-best",
            "2",
            "--alpha",
            "0",
            "--beam-stop",
            "exact",
            "--max-len",
            "9",
            "--batch-tokens",
            "100",
        ),
        _run(),
    )
    assert got == DecodeOptions(beam_size=4, n_best=2, alpha=0.0, stop="exact", max_len=9, batch_tokens=100)


@pytest.mark.parametrize(
    "argv,flag",
    [
        (["--beam", "0"], "--beam"),
        (["--n-best", "3"], "--n-best"),
        (["--alpha", "-1"], "--alpha"),
        (["--max-len", "0"], "--max-len"),
        (["--batch-size", "0"], "--batch-size"),
    ],
)
def test_a_bad_value_is_a_one_line_usage_error_naming_the_flag(argv, flag):
    with pytest.raises(UserError) as err:
        decode_options(_args(*argv), _run())
    assert err.value.code == 2 and str(err.value).startswith(f"{flag}: ") and "\n" not in str(err.value)


def test_a_run_that_does_not_decode_or_attend_refuses_from_its_capabilities():
    with pytest.raises(UserError, match="does not decode, so it takes no --beam, --alpha") as err:
        decode_options(_args("--beam", "2", "--alpha", "1"), _run(decodes=False))
    assert err.value.code == 2
    with pytest.raises(UserError, match="no attention, so no coverage penalty"):
        decode_options(_args("--beam", "2", "--coverage-penalty", "0.2"), _run(attention=False))
    assert decode_options(_args("--coverage-penalty", "0.2", "--beam", "2"), _run()).beta == 0.2


def test_a_new_field_is_a_new_flag(monkeypatch):
    @dataclasses.dataclass(frozen=True)
    class Wider(DecodeOptions):
        temperature: float = _opt(1.0, "--temperature", "divide the logits by this", metavar="T")

    monkeypatch.setattr(common, "option_fields", lambda: dataclasses.fields(Wider))
    monkeypatch.setattr(common, "DecodeOptions", Wider)
    parser = argparse.ArgumentParser()
    add_decoding_arguments(parser)
    action = _actions(parser)["--temperature"]
    assert action.type is float and action.help == "divide the logits by this (default: 1)"
    assert decode_options(parser.parse_args(["--temperature", "0.5"]), _run()) == Wider(temperature=0.5)
