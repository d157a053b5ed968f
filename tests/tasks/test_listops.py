"""The ListOps task (attnkit.data.listops, attnkit.tasks.listops): the evaluator against hand-worked
trees and against Python's own evaluation of generated ones, the generator's grammar and bounds,
determinism by seed, one-line errors, and a tiny train / evaluate / predict through the CLI."""

from __future__ import annotations

import json
import random
import statistics
from pathlib import Path

import numpy as np
import pytest

from attnkit.cli import main
from attnkit.config import load_config
from attnkit.data.listops import OPERATORS, ListOpsError, evaluate_tokens, generate_splits, generate_tree, nesting_depth
from attnkit.errors import ConfigError
from attnkit.models import FAMILIES
from attnkit.models.specs import DocumentSpec
from attnkit.tasks.listops import ListOpsConfig, ListOpsTask

# (sequence, value worked out by hand, nesting depth)
HAND_WORKED = [
    ("7", 7, 0),
    ("[MAX 2 9 [MIN 4 7 ] 0 ]", 9, 2),  # max(2, 9, 4, 0)
    ("[MIN 8 [MAX 3 5 ] 6 ]", 5, 2),  # min(8, 5, 6)
    ("[SM 5 6 7 ]", 8, 1),  # 18 mod 10
    ("[MED 1 9 4 ]", 4, 1),  # 1 4 9
    ("[MED 1 2 ]", 1, 1),  # (1 + 2) / 2 = 1.5, rounded down
    ("[MED 3 8 1 6 ]", 4, 1),  # 1 3 6 8: (3 + 6) / 2 = 4.5 -> 4
    ("[MIN [MAX 1 2 ] [SM 9 9 ] ]", 2, 2),  # min(2, 18 mod 10 = 8)
    ("[SM [MED 0 9 ] [MAX [MIN 3 5 ] 1 ] 4 ]", 1, 3),  # 4 + max(3, 1) + 4 = 11 -> 1
    ("[MAX [MAX [MAX [MAX 0 1 ] 2 ] 3 ] 0 ]", 3, 4),
]


def python_value(tokens: list[str]) -> int:
    """The value by Python itself: the tokens as a Python expression, evaluated; MED as LRA
    computes it (``int(np.median(args))``), SM as ``sum % 10``."""
    words = {"[MAX": "max(", "[MIN": "min(", "[MED": "med(", "[SM": "sm(", "]": "),"}
    expression = "".join(words.get(t, t + ",") for t in tokens)
    functions = {"max": max, "min": min, "med": lambda *a: int(np.median(a)), "sm": lambda *a: sum(a) % 10}
    return eval(expression, {"__builtins__": {}}, functions)[0]  # noqa: S307 (our own tokens only)


def arities(tokens: list[str]) -> list[int]:
    """Arguments of every operation, read with a stack of counters (independent of the evaluator)."""
    open_counts: list[int] = []
    out: list[int] = []
    for t in tokens:
        if t in OPERATORS:
            if open_counts:
                open_counts[-1] += 1
            open_counts.append(0)
        elif t == "]":
            out.append(open_counts.pop())
        elif open_counts:
            open_counts[-1] += 1
    return out


@pytest.mark.parametrize("text,value,depth", HAND_WORKED)
def test_evaluator_and_depth_on_hand_worked_trees(text, value, depth):
    assert evaluate_tokens(text.split()) == value
    assert python_value(text.split()) == value  # the reference agrees with the hand
    assert nesting_depth(text.split()) == depth


@pytest.mark.parametrize(
    "text,problem",
    [
        ("[MAX 2 9", "left open"),
        ("[MAX ]", "closes no operation"),
        ("]", "closes no operation"),
        ("[MAX 2 9 ] 3", "follows a complete tree"),
        ("[MAX 2 x ]", "not a ListOps token"),
        ("", "no"),
    ],
)
def test_evaluator_rejects_what_is_not_one_tree(text, problem):
    with pytest.raises(ListOpsError, match=problem) as err:
        evaluate_tokens(text.split())
    assert "\n" not in str(err.value)


def test_generated_trees_follow_the_grammar_and_python_agrees_on_their_values():
    rng = random.Random(3)
    trees = [generate_tree(rng, max_depth=6, max_args=4) for _ in range(300)]
    for tokens in trees:
        assert evaluate_tokens(tokens) == python_value(tokens)
        assert all(2 <= k <= 4 for k in arities(tokens))
        assert nesting_depth(tokens) <= 5  # max_depth - 1 levels of operations
    operations = [t for tokens in trees for t in tokens if t in OPERATORS]
    assert set(operations) == set(OPERATORS)  # every operator drawn
    # LRA's rule: the root is an operation with probability VALUE_P = 0.25
    share = sum(len(t) > 1 for t in trees) / len(trees)
    assert 0.18 < share < 0.32


def test_a_tree_past_max_length_is_abandoned():
    rng = random.Random(0)
    for _ in range(200):
        tokens = generate_tree(rng, max_depth=8, max_args=6, max_length=30)
        assert len(tokens) <= 30


def test_splits_respect_bounds_are_distinct_and_labelled_by_python():
    splits = generate_splits(
        seed=5, sizes=[("train", 40), ("dev", 10), ("test", 10)], min_length=20, max_length=150, max_depth=7, max_args=5
    )
    assert [len(splits[s]) for s in ("train", "dev", "test")] == [40, 10, 10]
    every = [e for s in splits.values() for e in s]
    assert all(20 <= len(e.tokens) <= 150 for e in every)
    assert len({e.tokens for e in every}) == 60  # no sequence twice, so none in two splits
    for e in every:
        assert e.label == python_value(list(e.tokens))
        assert e.depth == nesting_depth(e.tokens) <= 6
        assert all(2 <= k <= 5 for k in arities(list(e.tokens)))


def test_generation_is_determined_by_the_seed():
    kwargs = dict(sizes=[("train", 8), ("dev", 2), ("test", 2)], min_length=10, max_length=80, max_depth=6, max_args=4)
    a, b, c = generate_splits(seed=1, **kwargs), generate_splits(seed=1, **kwargs), generate_splits(seed=2, **kwargs)
    assert a == b
    assert a != c


def test_lra_parameters_give_lengths_in_bounds():
    splits = generate_splits(
        seed=0,
        sizes=[("train", 6), ("dev", 1), ("test", 1)],
        min_length=500,
        max_length=2000,
        max_depth=10,
        max_args=10,
    )
    lengths = [len(e.tokens) for s in splits.values() for e in s]
    assert all(500 <= n <= 2000 for n in lengths)
    assert statistics.median(lengths) > 500


@pytest.mark.parametrize(
    "override,message",
    [
        ({"max_args": 1}, "data.max_args must be >= 2"),
        ({"max_depth": 1}, "data.max_depth must lie in 2..100"),
        ({"max_depth": 2**80}, "data.max_depth must lie in 2..100"),
        ({"min_length": 300, "max_length": 200}, "data.max_length (200) must be >= data.min_length (300)"),
        # largest tree: an operation of 3 operations of 3 digits each, 2 + 3 * (2 + 3) = 17 tokens
        ({"max_depth": 3, "max_args": 3, "min_length": 20, "max_length": 30}, "have at most 17 tokens"),
        ({"train_size": 0}, "data.train_size must be >= 1"),
    ],
)
def test_bad_options_are_one_line_errors(override, message):
    with pytest.raises(ConfigError) as err:
        ListOpsConfig(**override).check()
    assert message in str(err.value) and "\n" not in str(err.value)


def tiny_config(tmp_path):
    """A config file of :data:`TINY`."""
    sections: dict[str, dict[str, str]] = {}
    for kv in TINY + [f"data.cache={tmp_path / 'cache'}"]:
        key, value = kv.split("=", 1)
        section, name = key.split(".")
        sections.setdefault(section, {})[name] = value
    path = tmp_path / "listops.yaml"
    path.write_text("".join(f"{s}:\n" + "".join(f"  {k}: {v}\n" for k, v in d.items()) for s, d in sections.items()))
    return str(path)


def test_bad_option_through_the_cli_is_one_line(tmp_path, capsys):
    code = main(["train", tiny_config(tmp_path), "--set", "data.max_args=1", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip()
    assert code != 0 and "data.max_args must be >= 2" in err and len(err.splitlines()) == 1


def test_split_files_come_back_from_the_cache_or_are_generated_again(tmp_path):
    cfg = ListOpsConfig(train_size=12, dev_size=3, test_size=3, min_length=10, max_length=60, cache=str(tmp_path / "c"))
    _, splits = ListOpsTask.build(cfg, tmp_path / "run")
    assert ListOpsTask.load_split(tmp_path / "run", "dev") == splits["dev"]
    for file in (tmp_path / "c").glob("*/*.jsonl"):
        file.unlink()  # an emptied cache: the data are a function of the parameters
    assert ListOpsTask.load_split(tmp_path / "run", "test") == splits["test"]
    meta = json.loads((tmp_path / "run" / "dataset.json").read_text())
    assert meta["counts"] == {"train": 12, "dev": 3, "test": 3}
    assert 10 <= meta["tokens"]["min"] <= meta["tokens"]["max"] <= 60


TINY = [
    "data.task=listops",
    "data.train_size=48",
    "data.dev_size=8",
    "data.test_size=8",
    "data.min_length=10",
    "data.max_length=80",
    "data.max_depth=6",
    "data.max_args=4",
    "model.arch=encoder-classifier",
    "model.word_dim=16",
    "model.d_model=16",
    "model.n_heads=2",
    "model.layers=1",
    "model.d_ff=32",
    "model.max_words=80",
    "model.attention_kernel=window",
    "model.attention_window=4",
    "train.batch_size=8",
    "train.max_steps=4",
    "train.eval_every=2",
    "train.threads=1",
]


def test_train_evaluate_predict_through_the_cli_with_a_window_kernel(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", tiny_config(tmp_path), "--out", str(run)]) == 0
    assert (run / "model.safetensors").is_file()
    capsys.readouterr()
    assert main(["evaluate", "--model", str(run), "--detailed"]) == 0
    out = capsys.readouterr().out
    assert "accuracy by nesting depth:" in out and "accuracy by length (tokens):" in out
    assert main(["predict", "--model", str(run), "--json", "[MAX 2 9 [MIN 4 7 ] 0 ]"]) == 0
    answer = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert answer["kind"] == "document" and answer["output"] in list("0123456789")
    assert answer["sentences"] == [["[MAX", "2", "9", "[MIN", "4", "7", "]", "0", "]"]]
    assert sum(answer["word_weights"]["data"]) == pytest.approx(1.0, abs=1e-4)
    assert main(["predict", "--model", str(run), "--attention-plot", str(tmp_path / "a.png"), "[SM 1 2 ]"]) == 0
    assert (tmp_path / "a.png").stat().st_size > 0
    capsys.readouterr()
    assert main(["predict", "--model", str(run), "[MAX 2 9"]) != 0
    err = capsys.readouterr().err.strip()
    assert "input 1" in err and "left open" in err and len(err.splitlines()) == 1


CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.mark.parametrize("name", ["dense", "window", "linear", "performer", "nystrom", "gru"])
@pytest.mark.parametrize("task", ["listops", "bible-chapters"])
def test_study_configs_load_and_build(task, name):
    cfg = load_config(CONFIGS / f"{task}-{name}.yaml")
    assert cfg.data.task == task
    spec = ListOpsTask(cfg.data).spec if task == "listops" else DocumentSpec(1000, 8, 0)
    model = FAMILIES.get(cfg.model.arch).build(cfg.model, spec)
    if name == "gru":
        assert cfg.model.arch == "han"
    else:
        assert cfg.model.attention_kernel == name
        reach = cfg.data.max_length if task == "listops" else cfg.data.max_tokens
        assert cfg.model.max_words >= reach  # no token is cut by the model
    assert sum(p.numel() for p in model.parameters()) > 0
