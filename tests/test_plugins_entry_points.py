"""Plug-ins from an installed package, by entry point: a tiny distribution (a module and its
``*.dist-info`` with ``entry_points.txt``, as pip installs it) is put on ``sys.path``, and without
any import or registration by the test ``attnkit list`` shows its task and model family,
``attnkit train / evaluate / predict`` run them through ``attnkit.cli.main``, the explorer serves
the run, and its prediction kind is drawn by the view it registers (group ``attnkit.views``). A
broken plug-in (an import that fails, a class under another name) is one warning line naming the
entry point and its distribution, and one error line when it is asked for, never a traceback;
attnkit's own tasks keep working beside it.
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest

from attnkit.cli import main
from attnkit.explore import RunRegistry, create_app
from attnkit.models import FAMILIES
from attnkit.tasks import TASKS
from attnkit.viz import VIEWS

MODULE = "attnkit_test_digits_plugin"

# The plug-in package: a task (is there a 7 in a string of digits?), a family (embeddings +
# attention pooling) and a view of its own prediction kind. It registers nothing itself.
SOURCE = '''
"""A test plug-in package for attnkit."""

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import nn

from attnkit.capabilities import InputKind, ModelCapabilities, TaskCapabilities
from attnkit.errors import ConfigError, InputError
from attnkit.models import ModelSpec
from attnkit.nn import AttentionPooling
from attnkit.tasks import PrimaryMetric
from attnkit.viz.views import View


@dataclass(frozen=True)
class DigitsConfig:
    task: str = "ep-sevens"
    n_train: int = 200
    seed: int = 0

    def check(self):
        if self.n_train < 10:
            raise ConfigError(f"data.n_train must be >= 10, got {self.n_train}")


@dataclass(frozen=True)
class DigitsSpec(ModelSpec):
    n_symbols: int
    n_classes: int


@dataclass
class DigitsGuess:
    kind: ClassVar[str] = "ep-digits"
    output: str
    digits: list
    weights: torch.Tensor  # (T,)


class SevensTask:
    """Is there a 7 in a string of 8 digits (entry-point test plug-in)."""

    name, config_class, default_family = "ep-sevens", DigitsConfig, "ep-pool"
    metric = PrimaryMetric("accuracy", higher_is_better=True, best_possible=1.0)
    loss_unit, spec_class, spec = "strings", DigitsSpec, DigitsSpec(10, 2)
    capabilities = TaskCapabilities(InputKind.TEXT, classes=("no", "yes"))

    @classmethod
    def build(cls, cfg, run_dir):
        rng = random.Random(cfg.seed)

        def one():
            s = "".join(rng.choice("012345689") for _ in range(8))
            i = rng.randrange(8)
            return s[:i] + "7" + s[i + 1 :] if rng.random() < 0.5 else s

        splits = {"train": [one() for _ in range(cfg.n_train)], "dev": [one() for _ in range(50)],
                  "test": [one() for _ in range(50)]}
        (Path(run_dir) / "data").mkdir(parents=True, exist_ok=True)
        for split, rows in splits.items():
            (Path(run_dir) / "data" / f"{split}.json").write_text(json.dumps(rows))
        return cls(), splits

    @classmethod
    def load(cls, cfg, run_dir):
        return cls()

    @classmethod
    def load_split(cls, run_dir, split):
        return json.loads((Path(run_dir) / "data" / f"{split}.json").read_text())

    encode = staticmethod(lambda examples: [([int(c) for c in s], int("7" in s)) for s in examples])
    lengths = staticmethod(lambda item: (len(item[0]), 1))
    loss_weight = staticmethod(lambda item: 1)
    collate = staticmethod(lambda items: (torch.tensor([x for x, _ in items]), torch.tensor([y for _, y in items])))

    @staticmethod
    def loss(model, batch, ctx):
        x, y = batch
        return F.cross_entropy(model(x)[0], y, reduction="sum")

    def evaluate(self, model, examples, *, decode=None):
        x, y = self.collate(self.encode(examples))
        with torch.no_grad():
            logits, weights = model(x)
        return {"accuracy": float((logits.argmax(-1) == y).float().mean()), "n": len(examples)}, list(weights)

    def report(self, metrics, *, detailed=False):
        return [f"accuracy: {metrics['accuracy']:.2%}"]

    def predict(self, model, inputs, *, options={}, decode=None):
        if any(not s.isdigit() for s in inputs):
            raise InputError("give strings of digits")
        with torch.no_grad():
            out = [model(torch.tensor([[int(c) for c in s]])) for s in inputs]
        return [DigitsGuess("yes" if y.argmax() == 1 else "no", list(s), w[0]) for s, (y, w) in zip(inputs, out)]


@dataclass(frozen=True)
class PoolConfig:
    arch: str = "ep-pool"
    dim: int = 8

    def check(self):
        if self.dim < 1:
            raise ConfigError("model.dim must be >= 1")


class ToyPool(nn.Module):
    def __init__(self, n_symbols, dim, n_classes):
        super().__init__()
        self.embed, self.pool = nn.Embedding(n_symbols, dim), AttentionPooling(dim, dim)
        self.out = nn.Linear(dim, n_classes)

    def forward(self, x):
        pooled = self.pool(self.embed(x))
        return self.out(pooled.context), pooled.weights


class PoolFamily:
    """Embeddings and attention pooling (entry-point test plug-in)."""

    name, config_class, spec_class = "ep-pool", PoolConfig, DigitsSpec
    build = classmethod(lambda cls, cfg, spec: ToyPool(spec.n_symbols, cfg.dim, spec.n_classes))
    label = classmethod(lambda cls, cfg: "ep-pool")
    capabilities = classmethod(lambda cls, cfg, spec=None: ModelCapabilities(decodes=False, attention=True))


def _plot(guess, title, heads):
    fig = Figure(figsize=(4, 1))
    fig.add_subplot().imshow(guess.weights[None].numpy())
    return fig


DIGITS_VIEW = View("ep-digits", plot=_plot,
                   to_json=lambda guess, budget: {"digits": guess.digits, "weights": budget.matrix(guess.weights)},
                   carries=frozenset({"digits", "weights"}))


class Misnamed(SevensTask):
    name = "something-else"
'''


def install(root: Path, dist: str, module_source: str | None, entry_points: str) -> None:
    """What ``pip install`` leaves in site-packages: the module and ``DIST-0.1.dist-info``."""
    if module_source is not None:
        (root / f"{MODULE}.py").write_text(module_source)
    info = root / f"{dist.replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """The plug-in distribution on sys.path; afterwards gone from sys.path, sys.modules and the registries."""
    site = tmp_path / "site"
    site.mkdir()
    install(
        site,
        "attnkit-digits",
        SOURCE,
        f"""
        [attnkit.tasks]
        ep-sevens = {MODULE}:SevensTask

        [attnkit.families]
        ep-pool = {MODULE}:PoolFamily

        [attnkit.views]
        ep-digits = {MODULE}:DIGITS_VIEW
        """,
    )
    monkeypatch.syspath_prepend(str(site))
    yield site
    monkeypatch.undo()  # sys.path as before: the next look-up drops the plug-ins
    sys.modules.pop(MODULE, None)
    assert "ep-sevens" not in TASKS and "ep-pool" not in FAMILIES and "ep-digits" not in VIEWS


def test_an_installed_package_plugs_in_a_task_a_family_and_a_view_by_entry_point(installed, tmp_path, capsys):
    assert MODULE not in sys.modules  # nothing imported it
    assert main(["list", "tasks"]) == 0
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.split()[:1] == ["ep-sevens"])
    assert "Is there a 7 in a string of 8 digits" in line and "plug-in of attnkit-digits 0.1" in line
    assert main(["list", "families"]) == 0
    assert "ep-pool" in capsys.readouterr().out

    config = tmp_path / "digits.yaml"
    config.write_text(
        "data: {task: ep-sevens}\ntrain: {max_steps: 60, batch_size: 32, lr: 0.02, eval_every: 30, threads: 1}\n"
    )
    run = tmp_path / "run"
    assert main(["train", str(config), "--out", str(run), "--no-progress", "--device", "cpu"]) == 0
    assert (run / "model.safetensors").is_file()
    assert "arch: ep-pool" in (run / "config.yaml").read_text()  # the task's default family, by its entry point
    capsys.readouterr()
    assert main(["evaluate", "--model", str(run), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n"] == 50
    # the prediction's own kind is served by the view the package registered
    assert main(["predict", "--model", str(run), "--json", "12745680"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["kind"] == "ep-digits" and record["digits"] == list("12745680")
    assert record["weights"]["shape"] == [8]
    assert sum(record["weights"]["data"]) == pytest.approx(1.0, abs=1e-4)  # pooling weights over the digits
    png = tmp_path / "digits.png"
    assert main(["predict", "--model", str(run), "12745680", "--attention-plot", str(png)]) == 0
    assert png.read_bytes()[:4] == b"\x89PNG"
    # attnkit explore serves the run: its task, and its prediction in its view's JSON
    client = create_app(RunRegistry.load([run])).test_client()
    assert client.get("/api/runs").get_json()["runs"][0]["task"] == "ep-sevens"
    answer = client.post("/api/runs/run/predict", json={"input": "12745680"}).get_json()
    assert answer["kind"] == "ep-digits" and answer["view"]["digits"] == list("12745680")


def test_a_broken_plug_in_is_one_line_naming_its_entry_point_and_distribution(tmp_path, monkeypatch, capsys):
    site = tmp_path / "site"
    site.mkdir()
    install(site, "attnkit-broken", None, "[attnkit.tasks]\nep-broken = attnkit_no_such_module:Task\n")
    install(site, "attnkit-misnamed", SOURCE, f"[attnkit.tasks]\nep-misnamed = {MODULE}:Misnamed\n")
    monkeypatch.syspath_prepend(str(site))
    try:
        assert main(["list", "tasks"]) == 0
        captured = capsys.readouterr()
        assert "dates" in captured.out and "ep-broken" not in captured.out and "ep-misnamed" not in captured.out
        warnings = [line for line in captured.err.splitlines() if "plug-in" in line]
        assert len(warnings) == 2, captured.err
        broken = next(line for line in warnings if "ep-broken" in line)
        assert "'ep-broken = attnkit_no_such_module:Task'" in broken and "distribution attnkit-broken 0.1" in broken
        assert "ModuleNotFoundError" in broken and "fix or uninstall attnkit-broken 0.1" in broken
        misnamed = next(line for line in warnings if "ep-misnamed" in line)
        assert "class Misnamed named 'something-else', not 'ep-misnamed'" in misnamed
        assert "Traceback" not in captured.err

        # asking for it is a one-line error with the same words; attnkit's own tasks still work
        config = tmp_path / "broken.yaml"
        config.write_text("data: {task: ep-broken}\n")
        assert main(["train", str(config), "--out", str(tmp_path / "run"), "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("attnkit train: error: data.task: task plug-in 'ep-broken")
        assert "distribution attnkit-broken 0.1" in err and "ModuleNotFoundError" in err
        assert TASKS.get("dates").name == "dates"
        assert set(TASKS.broken()) == {"ep-broken", "ep-misnamed"}
    finally:
        monkeypatch.undo()
        sys.modules.pop(MODULE, None)
    assert TASKS.broken() == {}  # uninstalled: forgotten
