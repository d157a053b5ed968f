"""A task and a model family defined here, outside attnkit, run train -> evaluate -> predict through
``attnkit.cli.main`` with no change to attnkit: the plug-in interfaces are the whole contract.

The toy task: strings of 8 digits; is there a 7 in it? The toy family: embeddings, attention
pooling (attnkit.nn.AttentionPooling) and a linear classifier; the pooled weights should land on
the 7s. The task declares its capabilities and its predictions their kind (a text alignment: one
output token over the digits), so ``--attention-plot`` and ``--json`` work through attnkit's own
view of that kind; a task and family that declare nothing still train, evaluate and predict, with
the defaults.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from attnkit.capabilities import InputKind, ModelCapabilities, RunCapabilities, TaskCapabilities
from attnkit.cli import main
from attnkit.errors import ConfigError, InputError
from attnkit.models import FAMILIES, ModelSpec
from attnkit.nn import AttentionPooling
from attnkit.predictions import TEXT_ALIGNMENT
from attnkit.tasks import TASKS, PrimaryMetric
from attnkit.training import load_run


@dataclass(frozen=True)
class SevensConfig:
    task: str = "sevens"
    n_train: int = 600
    length: int = 8
    seed: int = 0

    def check(self) -> None:
        if self.n_train < 10:
            raise ConfigError(f"data.n_train must be >= 10, got {self.n_train}")


@dataclass(frozen=True)
class DigitsSpec(ModelSpec):
    n_symbols: int
    n_classes: int


@dataclass
class BareGuess:
    """A prediction that declares no kind."""

    output: str
    weights: list


@dataclass
class Guess:
    """The answer as one output token over the digits, with the pooling weights: a text alignment."""

    kind: ClassVar[str] = TEXT_ALIGNMENT
    output: str
    src_tokens: list[str]
    out_tokens: list[str]
    weights: torch.Tensor  # (1, T)


class BareSevensTask:
    """The task declaring nothing beyond the plug-in methods."""

    name = "sevens"
    config_class = SevensConfig
    default_family = "toy-pool"
    metric = PrimaryMetric("accuracy", higher_is_better=True, best_possible=1.0)
    loss_unit = "strings"
    spec_class = DigitsSpec
    spec = DigitsSpec(10, 2)

    @classmethod
    def build(cls, cfg, run_dir):
        rng = random.Random(cfg.seed)

        def one():
            s = "".join(rng.choice("012345689") for _ in range(cfg.length))
            if rng.random() < 0.5:
                i = rng.randrange(cfg.length)
                s = s[:i] + "7" + s[i + 1 :]
            return s

        splits = {
            "train": [one() for _ in range(cfg.n_train)],
            "dev": [one() for _ in range(100)],
            "test": [one() for _ in range(200)],
        }
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

    @staticmethod
    def encode(examples):
        return [([int(c) for c in s], int("7" in s)) for s in examples]

    @staticmethod
    def lengths(item):
        return len(item[0]), 1

    @staticmethod
    def loss_weight(item):
        return 1

    @staticmethod
    def collate(items):
        return torch.tensor([x for x, _ in items]), torch.tensor([y for _, y in items])

    @staticmethod
    def loss(model, batch, ctx):
        x, y = batch
        logits, _ = model(x)
        return F.cross_entropy(logits, y, reduction="sum")

    def evaluate(self, model, examples, **options):
        x, y = self.collate(self.encode(examples))
        with torch.no_grad():
            logits, weights = model(x)
        return {"accuracy": float((logits.argmax(-1) == y).float().mean()), "n": len(examples)}, list(weights)

    def report(self, metrics, *, detailed=False):
        return [f"accuracy: {metrics['accuracy']:.2%}"]

    def predict(self, model, inputs, *, options={}, **decoding):
        if options or decoding:
            raise InputError("the sevens task takes no options")
        for i, s in enumerate(inputs, 1):
            if not s.isdigit():
                raise InputError(f"input {i} is not a string of digits")
        with torch.no_grad():
            out = [model(torch.tensor([[int(c) for c in s]])) for s in inputs]
        return [self.guess("yes" if logits.argmax() == 1 else "no", s, w[0]) for s, (logits, w) in zip(inputs, out)]

    @staticmethod
    def guess(output, text, weights):
        return BareGuess(output, weights.tolist())


class SevensTask(BareSevensTask):
    """The task with its declarations: text input, two classes, predictions of a kind."""

    @property
    def capabilities(self) -> TaskCapabilities:
        return TaskCapabilities(InputKind.TEXT, classes=("no", "yes"))

    @staticmethod
    def guess(output, text, weights):
        return Guess(output, list(text), [output], weights.unsqueeze(0))


@dataclass(frozen=True)
class PoolConfig:
    arch: str = "toy-pool"
    dim: int = 16

    def check(self) -> None:
        if self.dim < 1:
            raise ConfigError("model.dim must be >= 1")


class ToyPool(nn.Module):
    def __init__(self, n_symbols, dim, n_classes):
        super().__init__()
        self.embed = nn.Embedding(n_symbols, dim)
        self.pool = AttentionPooling(dim, dim)
        self.out = nn.Linear(dim, n_classes)

    def forward(self, x):
        pooled = self.pool(self.embed(x))
        return self.out(pooled.context), pooled.weights


class BarePoolFamily:
    """The family declaring nothing beyond build and label."""

    name = "toy-pool"
    config_class = PoolConfig
    spec_class = DigitsSpec

    @classmethod
    def build(cls, cfg, spec):
        return ToyPool(spec.n_symbols, cfg.dim, spec.n_classes)

    @classmethod
    def label(cls, cfg):
        return "toy-pool"


class PoolFamily(BarePoolFamily):
    """The family with its declaration: no decoder, attention (pooling)."""

    @classmethod
    def capabilities(cls, cfg, spec=None) -> ModelCapabilities:
        return ModelCapabilities(decodes=False, attention=True)


@pytest.fixture
def plugins():
    TASKS.register("sevens", SevensTask, "is there a 7 in the string (test plug-in)")
    FAMILIES.register("toy-pool", PoolFamily, "embeddings + attention pooling (test plug-in)")
    yield
    TASKS.unregister("sevens")
    FAMILIES.unregister("toy-pool")


def test_an_outside_task_and_family_train_evaluate_and_predict_through_the_cli(plugins, tmp_path, capsys):
    config = tmp_path / "sevens.yaml"
    config.write_text(
        "data: {task: sevens}\nmodel: {dim: 16}\n"
        "train: {max_steps: 300, batch_size: 32, lr: 0.01, eval_every: 50, patience: 3, threads: 1}\n"
    )
    run = tmp_path / "run"
    assert main(["train", str(config), "--out", str(run), "--no-progress", "--device", "cpu"]) == 0
    for name in ("config.yaml", "model.safetensors", "metrics.jsonl", "trainer_state.json"):
        assert (run / name).is_file(), name
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert all("dev_accuracy" in r and r["score"] == r["dev_accuracy"] and r["strings_per_s"] > 0 for r in records)
    capsys.readouterr()
    assert main(["evaluate", "--model", str(run), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    test = SevensTask.load_split(run, "test")
    assert metrics["n"] == len(test) == 200 and metrics["accuracy"] >= 0.95
    assert main(["predict", "--model", str(run), "12345680", "12745680", "77777777"]) == 0
    assert capsys.readouterr().out.split() == ["no", "yes", "yes"]
    assert main(["predict", "--model", str(run), "12x"]) == 1
    assert "not a string of digits" in capsys.readouterr().err
    # declared: the run's capabilities are the task's and the family's
    assert load_run(run).capabilities == RunCapabilities(
        TaskCapabilities(InputKind.TEXT, classes=("no", "yes")), ModelCapabilities(decodes=False, attention=True)
    )
    # the prediction's kind picks attnkit's view: the alignment of the answer over the digits
    png = tmp_path / "guess.png"
    assert main(["predict", "--model", str(run), "12745680", "--attention-plot", str(png)]) == 0
    assert png.read_bytes()[:4] == b"\x89PNG"
    capsys.readouterr()
    assert main(["predict", "--model", str(run), "--json", "12745680"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert (record["input"], record["kind"], record["output"]) == ("12745680", "text-alignment", "yes")
    assert record["src_tokens"] == list("12745680") and record["out_tokens"] == ["yes"]
    weights = torch.tensor(record["weights"]["data"]).view(*record["weights"]["shape"])
    assert weights.shape == (1, 8) and weights[0].argmax() == 2  # the pooled weight is on the 7
    # an option the family does not know is an error naming the key
    config.write_text("data: {task: sevens}\nmodel: {dim: 16, heads: 2}\n")
    assert main(["train", str(config), "--out", str(tmp_path / "bad"), "--no-progress"]) == 2
    assert "unknown config key 'model.heads' for model.arch=toy-pool" in capsys.readouterr().err
    # a family that cannot model the task is refused at load time
    config.write_text("data: {task: sevens}\nmodel: {arch: rnn}\n")
    assert main(["train", str(config), "--out", str(tmp_path / "bad"), "--no-progress"]) == 2
    assert "model.arch=rnn cannot model data.task=sevens; choose one of: toy-pool" in capsys.readouterr().err


@pytest.fixture
def bare_plugins():
    TASKS.register("sevens", BareSevensTask, "is there a 7 in the string (test plug-in declaring nothing)")
    FAMILIES.register("toy-pool", BarePoolFamily, "attention pooling (test plug-in declaring nothing)")
    yield
    TASKS.unregister("sevens")
    FAMILIES.unregister("toy-pool")


def test_a_plug_in_that_declares_nothing_gets_the_defaults(bare_plugins, tmp_path, capsys):
    config = tmp_path / "sevens.yaml"
    config.write_text(
        "data: {task: sevens, n_train: 200}\nmodel: {dim: 8}\n"
        "train: {max_steps: 20, batch_size: 32, eval_every: 10, threads: 1}\n"
    )
    run = tmp_path / "run"
    assert main(["train", str(config), "--out", str(run), "--no-progress", "--device", "cpu"]) == 0
    assert main(["evaluate", "--model", str(run), "--json"]) == 0
    capsys.readouterr()
    assert main(["predict", "--model", str(run), "12345680"]) == 0
    assert capsys.readouterr().out.strip() in ("yes", "no")
    caps = load_run(run).capabilities
    assert caps.task == TaskCapabilities() and not caps.decodes and caps.model.attention
    # a prediction without a kind has no view: a one-line error, not a traceback
    assert main(["predict", "--model", str(run), "--json", "12345680"]) == 1
    assert "BareGuess declares no kind" in capsys.readouterr().err
    assert main(["predict", "--model", str(run), "12345680", "--attention-plot", str(tmp_path / "x.png")]) == 1
    assert "BareGuess declares no kind" in capsys.readouterr().err
    assert main(["evaluate", "--model", str(run), "--confusion-plot", str(tmp_path / "c.png")]) == 2
    assert "not a classification task" in capsys.readouterr().err
