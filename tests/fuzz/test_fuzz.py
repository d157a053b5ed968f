"""Property-based fuzzing of attnkit's inputs (issue 26): configs and ``--set`` values, the flags of
every command (in this process through ``attnkit.cli.main``, and a few as subprocesses under a
memory limit), and bad media files (decompression bombs, truncated or corrupt PNGs and WAVs, NaN
samples, 1 Hz recordings, zero-length files).

Every case must succeed or fail with a non-zero exit and attnkit's one-line error (never a
traceback), leave its inputs unchanged (hashes before and after), write no file outside the
outputs folder it was given (or the run folder), and finish in bounded time and memory.

Sizes: the default run makes :data:`DEFAULT` cases (under a minute in all); ``-m slow`` runs
:data:`SLOW` cases, 10,000 in all. ``ATTNKIT_FUZZ_SCALE`` multiplies both (e.g. 0.1 for a quick
look, 10 for a long night).
"""

from __future__ import annotations

import dataclasses
import math
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attnkit.config import RunConfig, TrainConfig, load_config
from attnkit.data.audio import features_of_file
from attnkit.data.images import read_image
from attnkit.errors import ConfigError, InputError
from attnkit.models import FAMILIES
from attnkit.tasks import TASKS

from ..bad_media import bad_images, bad_wavs, png, wav, write
from .conftest import MEMORY_PER_CASE_MB, REPO, Outcome, assert_clean, digest, listing, peak_mb, run_cli

SCALE = float(os.environ.get("ATTNKIT_FUZZ_SCALE", "1"))
#: cases per category in the default run (under a minute in all) and in the slow run (10,000)
DEFAULT = {"config": 60, "set": 60, "media": 40, "cli": 30, "subprocess": 2}
SLOW = {"config": 2500, "set": 2500, "media": 2000, "cli": 2900, "subprocess": 100}
DATES = REPO / "configs" / "dates-bahdanau.yaml"


def _settings(n: int):
    return settings(
        max_examples=max(1, round(n * SCALE)), deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )


# ---------------------------------------------------------------- values

NUMBERS = [
    "0", "1", "2", "5", "-1", "-5", "64", "65", "1025", "0.5", "-0.0", "1e-9", "nan", "NaN", "inf", "-inf", "1e309",
    str(2**63), str(2**70), "9" * 60, "abc", "", " ", "0x10", "1_000", "½",
]  # fmt: skip
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["dates", "rnn", "transformer", "bahdanau", "softmax", "en_US", "cosine", "bf16"]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def _fields(cls) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)] if dataclasses.is_dataclass(cls) else []


DATA_KEYS = sorted({k for e in TASKS for k in _fields(TASKS.get(e.name).config_class)})
MODEL_KEYS = sorted({k for e in FAMILIES for k in _fields(FAMILIES.get(e.name).config_class)})
TRAIN_KEYS = _fields(TrainConfig)
KEYS = {"data": DATA_KEYS, "model": MODEL_KEYS, "train": TRAIN_KEYS}


@st.composite
def config_dicts(draw) -> dict:
    raw: dict = {}
    for section, keys in KEYS.items():
        if draw(st.booleans()):
            names = draw(st.lists(st.sampled_from(keys) | st.text(max_size=6), max_size=5))
            raw[section] = {n: draw(VALUES) for n in names}
            if section == "data" and draw(st.booleans()):
                raw[section]["task"] = draw(st.sampled_from(TASKS.names()))
            if section == "model" and draw(st.booleans()):
                raw[section]["arch"] = draw(st.sampled_from(FAMILIES.names()))
    if draw(st.integers(0, 9)) == 0:
        raw[draw(st.text(max_size=6))] = draw(VALUES)
    return raw


@st.composite
def overrides(draw) -> str:
    section = draw(st.sampled_from(["data", "model", "train", "x"]))
    key = draw(st.sampled_from(KEYS.get(section, ["y"])) | st.text(max_size=6))
    value = draw(st.sampled_from(NUMBERS) | st.text(max_size=20) | st.sampled_from(["[1, 2]", "{a: 1}", "[", "&a x"]))
    return draw(st.sampled_from([f"{section}.{key}={value}", f"{section}.{key}", f"{key}={value}", value]))


def _check_config(load) -> None:
    start, peak = time.perf_counter(), peak_mb()
    try:
        cfg = load()
        assert isinstance(cfg, RunConfig)
    except ConfigError as err:
        message = str(err)
        assert message and "\n" not in message and len(message) < 2000, message
    assert time.perf_counter() - start < 10
    assert peak_mb() - peak < MEMORY_PER_CASE_MB


# ---------------------------------------------------------------- configs and --set


def _fuzz_configs(tmp_path: Path, n: int) -> None:
    path = tmp_path / "fuzzed.yaml"

    @_settings(n)
    @given(raw=config_dicts() | st.text(max_size=200).map(lambda t: {"__text__": t}))
    def case(raw):
        text = raw["__text__"] if "__text__" in raw else yaml.safe_dump(raw, allow_unicode=True)
        path.write_text(text, encoding="utf-8")
        _check_config(lambda: load_config(path))

    case()


def _fuzz_sets(n: int) -> None:
    @_settings(n)
    @given(sets=st.lists(overrides(), min_size=1, max_size=4))
    def case(sets):
        _check_config(lambda: load_config(DATES, sets))

    case()


def test_fuzz_configs(tmp_path):
    _fuzz_configs(tmp_path, DEFAULT["config"])


def test_fuzz_overrides():
    _fuzz_sets(DEFAULT["set"])


# ---------------------------------------------------------------- media


@st.composite
def media(draw) -> tuple[str, bytes]:
    kind = draw(st.sampled_from(["png", "wav"]))
    if kind == "png":
        w, h = draw(st.integers(0, 70000)), draw(st.integers(0, 70000))
        good = png(min(w, 64) or 1, min(h, 64) or 1) if draw(st.booleans()) else png(w or 1, h or 1, rows=1)
        data = bytearray(good)
    else:
        import numpy as np

        rate = draw(st.sampled_from([1, 8, 999, 1000, 8000, 16000, 44100, 2**31 - 1]))
        n = draw(st.integers(0, 4000))
        samples = np.full(n, draw(st.floats(allow_nan=True, allow_infinity=True, width=32)), dtype=np.float32)
        data = bytearray(wav(samples, rate))
    cut = draw(st.integers(0, len(data)))
    if draw(st.booleans()):
        data = data[:cut]
    for _ in range(draw(st.integers(0, 4))):
        if data:
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return kind, bytes(data)


def _fuzz_media(tmp_path: Path, n: int) -> None:
    @_settings(n)
    @given(item=media())
    def case(item):
        kind, data = item
        path = tmp_path / f"fuzzed.{kind}"
        path.write_bytes(data)
        start, peak = time.perf_counter(), peak_mb()
        try:
            if kind == "png":
                read_image(path, (28, 28))
            else:
                features_of_file(path, max_seconds=12.0)
        except InputError as err:
            assert "\n" not in str(err) and str(path) in str(err), str(err)
        assert time.perf_counter() - start < 10
        assert peak_mb() - peak < MEMORY_PER_CASE_MB
        assert path.read_bytes() == data  # the input is unchanged

    case()


def test_fuzz_media(tmp_path):
    _fuzz_media(tmp_path, DEFAULT["media"])


def test_the_bad_media_corpus(tmp_path):
    for name, path in write(tmp_path, {**bad_images(), **bad_wavs()}).items():
        data = path.read_bytes()
        with pytest.raises(InputError) as err:
            read_image(path, (28, 28)) if name.endswith(".png") else features_of_file(path, max_seconds=12.0)
        assert "\n" not in str(err.value) and path.read_bytes() == data


# ---------------------------------------------------------------- the commands


class Sandbox:
    """A folder with inputs (media, texts, configs), a copy of the tiny run and an outputs folder."""

    def __init__(self, root: Path, run: Path, transformer: Path | None = None) -> None:
        self.root = root
        self.inputs = write(root / "inputs", {**bad_images(), **bad_wavs()})
        (root / "inputs" / "dates.txt").write_text("3 May 1979\n5/3/79\n\n" + "x" * 300 + "\n")
        (root / "inputs" / "pairs.txt").write_text("a b c\nd e\n")
        (root / "inputs" / "empty.yaml").write_text("")
        (root / "inputs" / "broken.yaml").write_text("data: [\n")
        (root / "inputs" / "dates.yaml").write_text(DATES.read_text())
        self.run = root / "run"
        shutil.copytree(run, self.run)
        self.transformer = root / "transformer"
        if transformer is not None:
            shutil.copytree(transformer, self.transformer)
        self.outputs = root / "outputs"
        self.outputs.mkdir()

    def paths(self) -> list[str]:
        names = ["dates.txt", "pairs.txt", "empty.yaml", "broken.yaml", "dates.yaml", *self.inputs]
        return [
            str(self.run),
            str(self.transformer),
            str(self.root / "inputs" / "missing.txt"),
            str(self.root / "inputs"),
            *[str(self.root / "inputs" / n) for n in names],
        ]

    def output_paths(self) -> list[str]:
        return [
            *[str(self.outputs / f"out.{ext}") for ext in ("png", "svg", "pdf", "txt", "xyz", "", "PNG")],
            str(self.outputs / "missing" / "out.png"),
            str(self.outputs),
            str(self.root / "inputs" / "dates.txt"),  # an input: refused
            str(self.root / "inputs" / "bomb-9000.png"),
        ]


NUMERIC = {
    "--beam", "--n-best", "--alpha", "--coverage-penalty", "--max-len", "--batch-size", "--batch-tokens",
    "--seed", "--jobs", "--plot-line", "--layer", "--head", "--threshold", "--attention-heads",
}  # fmt: skip
CHOICES = {
    "--beam-stop": ["heuristic", "exact"],
    "--precision": ["fp32", "bf16"],
    "--split": ["train", "dev", "test"],
    "--device": ["cpu", "auto", "cuda", "cuda:7", "tpu", "mps"],
    "--locale": ["en_US", "de_DE", "xx_XX", "zh_CN"],
    "--method": ["argmax", "threshold", "itermax", "x"],
    "--symmetrisation": ["grow-diag-final-and", "intersection", "union", "x"],
    "--pool": ["mean", "max", "sum", "x"],
}
INPUTS = {"--model", "--input", "--target", "--gold", "--links", "--source", "--reverse", "--config", "--resume"}
OUTPUTS = {"--attention-plot", "--attention-grid", "--output", "--plot", "--confusion-plot", "--out", "--report"}
SWITCHES = {"--json", "--detailed", "--overwrite", "--no-progress", "--transformer", "--choose", "--force"}
COMMAND_FLAGS = {
    "predict": ["--model", "--option", "--attention-plot", "--json", "--attention-heads", "--beam", "--n-best",
                "--alpha", "--coverage-penalty", "--beam-stop", "--max-len", "--precision", "--batch-size",
                "--batch-tokens", "--seed", "--device"],
    "translate": ["--model", "--locale", "--attention-grid", "--attention-plot", "--json", "--beam", "--n-best",
                  "--alpha", "--max-len", "--batch-size", "--batch-tokens", "--seed", "--device"],
    "evaluate": ["--model", "--split", "--beam", "--alpha", "--beam-stop", "--max-len", "--batch-size", "--detailed",
                 "--json", "--confusion-plot", "--gold", "--layer", "--head", "--method", "--seed", "--device"],
    "align": ["--model", "--input", "--target", "--output", "--plot", "--plot-line", "--gold", "--layer", "--head",
              "--method", "--threshold", "--pool", "--reverse", "--symmetrisation", "--seed"],
    "train": ["--out", "--set", "--resume", "--overwrite", "--no-progress", "--seed", "--device"],
    "demo": ["--config", "--set", "--transformer", "--jobs", "--seed"],
    "compare": ["--set", "--jobs", "--example", "--locale", "--seed"],
    "list": [],
    "data": ["--force", "--seed"],
    "study": ["--seed"],
}  # fmt: skip
#: flags appended last to commands that would otherwise train or build for minutes: each makes
#: the command stop at a check before any work (the cases still exercise every other flag's check)
STOPS = {
    "train": ["--set", "data.n_train=0"],
    "demo": ["--out", "missing/demo"],
    "compare": ["--out", "missing/compare"],
    "data": ["--out", "missing/corpus"],
    "study": ["--out", "missing/study"],
}


@st.composite
def argvs(draw, box: Sandbox) -> list[str]:
    command = draw(st.sampled_from(sorted(COMMAND_FLAGS)))
    argv = [command]
    if command == "list":
        argv += draw(st.lists(st.sampled_from(["scores", "tasks", "families", "x", ""]), max_size=2))
        return argv
    flags = draw(st.lists(st.sampled_from(COMMAND_FLAGS[command]), max_size=5)) if COMMAND_FLAGS[command] else []
    if command in ("predict", "translate", "evaluate", "align") and draw(st.integers(0, 4)):
        flags = ["--model", *flags]
    for flag in flags:
        argv.append(flag)
        if flag in NUMERIC:
            argv.append(draw(st.sampled_from(NUMBERS)))
        elif flag in CHOICES:
            argv.append(draw(st.sampled_from([*CHOICES[flag], "", "nan"])))
        elif flag == "--model":
            argv.append(draw(st.sampled_from([str(box.run), str(box.transformer)] * 2 + box.paths())))
        elif flag in INPUTS:
            argv.append(draw(st.sampled_from(box.paths())))
        elif flag in OUTPUTS:
            argv.append(draw(st.sampled_from(box.output_paths())))
        elif flag == "--set":
            argv.append(draw(overrides()))
        elif flag == "--option":
            argv.append(draw(st.sampled_from(["locale=de_DE", "locale=xx", "x=1", "=", "locale"])))
        elif flag in ("--example",):
            argv.append(draw(st.text(max_size=30)))
        elif flag not in SWITCHES:
            argv.append(draw(st.sampled_from(NUMBERS)))
    texts = st.sampled_from(["3 May 1979", "", "x" * 300, "ünïcödé", "-", "--", *box.paths()])
    if command in ("predict", "translate"):
        argv += ["--", *draw(st.lists(texts, max_size=3))] if draw(st.booleans()) else []
    elif command == "train":
        argv.insert(1, draw(st.sampled_from(box.paths())))
    elif command == "compare":
        argv[1:1] = draw(st.lists(st.sampled_from(box.paths()), min_size=1, max_size=3))
    elif command == "data":
        argv[1:1] = [draw(st.sampled_from(["bible", "alignments", "x"]))]
    elif command == "study":
        argv[1:1] = [draw(st.sampled_from(["length", "han", "vision", "x"]))]
    if command == "train" and "--resume" in argv:
        return argv  # a resume of the finished tiny run changes nothing; anything else is refused
    return argv + STOPS.get(command, [])


def _watched(box: Sandbox) -> dict[str, str]:
    return {
        **{f"inputs/{k}": v for k, v in digest(box.root / "inputs").items()},
        **{f"run/{k}": v for k, v in digest(box.run).items()},
        **{f"transformer/{k}": v for k, v in digest(box.transformer).items()},
    }


def _outputs_only(box: Sandbox, argv: list[str]) -> set[str]:
    """The watched files `argv` names only as outputs (after an output flag), never elsewhere."""
    outputs = {v for flag, v in zip(argv, argv[1:]) if flag in OUTPUTS}
    elsewhere = {v for i, v in enumerate(argv) if i == 0 or argv[i - 1] not in OUTPUTS}
    return {f"inputs/{Path(v).name}" for v in outputs - elsewhere if Path(v).parent == box.root / "inputs"}


def _check_case(box: Sandbox, argv: list[str]) -> None:
    before, files = _watched(box), listing(box.root)
    peak = peak_mb()
    outcome = run_cli(argv, box.root)
    assert_clean(outcome, argv)
    assert peak_mb() - peak < MEMORY_PER_CASE_MB, argv
    after = _watched(box)
    written = _outputs_only(box, argv)  # files the command was told to write, that it does not read
    changed = [k for k in before if after.get(k) != before[k] and k not in written]
    assert not changed, f"inputs changed: {changed}; argv={argv!r}"
    new = {f for f in listing(box.root) - files if not f.startswith("outputs") and not f.startswith("run/plots")}
    assert not new, f"files written outside the outputs folder: {sorted(new)[:5]}; argv={argv!r}"
    for p in box.outputs.iterdir():
        shutil.rmtree(p) if p.is_dir() else p.unlink()


def _fuzz_cli(tmp_path: Path, runs: dict[str, Path], n: int) -> None:
    box = Sandbox(tmp_path / "box", runs["bahdanau"], runs["transformer"])

    @_settings(n)
    @given(data=st.data())
    def case(data):
        _check_case(box, data.draw(argvs(box)))

    case()


def test_fuzz_commands(tmp_path, tiny_runs):
    _fuzz_cli(tmp_path, tiny_runs, DEFAULT["cli"])


def test_fixed_bad_commands(tmp_path, tiny_runs):
    """The cases of the issue, each once: values and media that were tracebacks or accepted."""
    box = Sandbox(tmp_path / "box", tiny_runs["bahdanau"], tiny_runs["transformer"])
    run, inputs = str(box.run), box.root / "inputs"
    cases = [
        ["translate", "--model", run, "--alpha", "nan", "3 May 1979"],
        ["translate", "--model", run, "--coverage-penalty", "nan", "3 May 1979"],
        ["translate", "--model", run, "--beam", "100000", "3 May 1979"],
        ["translate", "--model", run, "--batch-size", "0", "3 May 1979"],
        ["translate", "--model", run, "--batch-tokens", "-5", "3 May 1979"],
        ["translate", "--model", run, "--seed", str(2**70), "3 May 1979"],
        ["predict", "--model", run, str(inputs / "dates.txt"), "--attention-plot", str(inputs / "dates.txt")],
        ["predict", "--model", run, "3 May 1979", "--attention-plot", str(box.outputs / "x.xyz")],
        ["align", "--model", run, "--input", str(inputs / "pairs.txt"), "--output", str(inputs / "pairs.txt")],
        ["train", str(inputs / "empty.yaml"), "--out", str(box.outputs / "run")],
        ["train", str(inputs / "dates.yaml"), "--set", "data.n_train=1000000000000", "--out", str(box.outputs / "r")],
        ["train", str(inputs / "dates.yaml"), "--out", "/nonexistent/attnkit/run"],
        ["train", "--resume", run],
        ["demo", "--jobs", "0"],
        ["translate", "--model", str(box.transformer), "--max-len", "4096", "3 May 1979"],
    ]
    for argv in cases:
        _check_case(box, argv)


# ---------------------------------------------------------------- as subprocesses


def _limit_memory() -> None:  # in the child: a cap on its address space, so a runaway case fails fast
    resource.setrlimit(resource.RLIMIT_AS, (8 * 2**30, 8 * 2**30))


def _fuzz_subprocess(tmp_path: Path, runs: dict[str, Path], n: int) -> None:
    box = Sandbox(tmp_path / "box", runs["bahdanau"], runs["transformer"])
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}

    @_settings(n)
    @given(data=st.data())
    def case(data):
        argv = data.draw(argvs(box))
        before = _watched(box)
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "attnkit.cli", *argv],
            capture_output=True,
            text=True,
            cwd=box.root,
            env=env,
            timeout=120,
            preexec_fn=_limit_memory,
            stdin=subprocess.DEVNULL,
        )
        assert proc.returncode >= 0, f"killed by signal {-proc.returncode}; argv={argv!r}"
        assert time.perf_counter() - start < 90, argv  # the imports included
        assert_clean(Outcome(proc.returncode, proc.stdout, proc.stderr, 0.0), argv)
        assert _watched(box) == before, argv
        for p in box.outputs.iterdir():
            shutil.rmtree(p) if p.is_dir() else p.unlink()

    case()


def test_fuzz_subprocesses(tmp_path, tiny_runs):
    _fuzz_subprocess(tmp_path, tiny_runs, DEFAULT["subprocess"])


# ---------------------------------------------------------------- the long run


@pytest.mark.slow
def test_fuzz_long(tmp_path, tiny_runs):
    """10,000 cases (:data:`SLOW`): configs, --set values, media, commands, subprocesses."""
    assert math.isclose(sum(SLOW.values()), 10_000)
    _fuzz_configs(tmp_path, SLOW["config"])
    _fuzz_sets(SLOW["set"])
    _fuzz_media(tmp_path, SLOW["media"])
    _fuzz_cli(tmp_path / "cli", tiny_runs, SLOW["cli"])
    _fuzz_subprocess(tmp_path / "sub", tiny_runs, SLOW["subprocess"])
