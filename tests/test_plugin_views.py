"""A new prediction kind, registered from outside attnkit with its view (a Python picture, its JSON
and the page's drawing code), and a task and a family that emit it: ``attnkit predict
--attention-plot`` draws it with the registered picture, ``--json`` prints the registered JSON,
and the explorer's API serves both the JSON (under its kind) and the script, with no change to
attnkit's source. Only attnkit's public API is used; everything registered here is unregistered
after.

The task is the sevens task of test_plugins.py (is there a 7 in a string of 8 digits?); its
predictions are bars: one attention-pooling weight per digit.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from attnkit.capabilities import InputKind, ModelCapabilities, TaskCapabilities
from attnkit.cli import main
from attnkit.errors import InputError
from attnkit.explore import RunRegistry, create_app
from attnkit.explore.payload import read_matrix
from attnkit.models import FAMILIES
from attnkit.predictions import BUILTIN_KINDS
from attnkit.tasks import TASKS
from attnkit.training import load_run
from attnkit.viz import VIEWS, View

from .explore.browser import live_server, missing, start_browser
from .test_plugins import PoolFamily, SevensTask

KIND = "digit-bars"
SCRIPT = """"use strict";
// the page's drawer of a digit-bars prediction: one bar per digit, as wide as its weight
attnkitViews["digit-bars"] = (box, view, ctx) => {
  const weights = view.bars.data;
  const rows = view.digits.map((d, i) => {
    const bar = ctx.el("div", { class: "digit-bar", "data-digit": d, text: `${d} ${weights[i].toFixed(3)}` });
    bar.style.width = `${Math.round(200 * weights[i])}px`; // CSSOM: the page's CSP allows no inline style
    return bar;
  });
  box.append(ctx.el("div", { class: "digit-bars", "data-n": rows.length }, ...rows));
};
"""
FIGSIZE = (2.4, 1.6)  # inches; at save_figure's 150 dpi a 360 x 240 PNG


@dataclass
class DigitBars:
    """One string's answer and its pooling weight per digit."""

    kind: ClassVar[str] = KIND
    output: str
    digits: list[str]
    weights: list[float]


PLOTTED: list[tuple[DigitBars, str | None]] = []


def plot_bars(prediction: DigitBars, title: str | None, heads) -> Figure:
    PLOTTED.append((prediction, title))
    fig = Figure(figsize=FIGSIZE)
    ax = fig.subplots()
    ax.bar(range(len(prediction.digits)), prediction.weights)
    ax.set_xticks(range(len(prediction.digits)), prediction.digits)
    ax.set_title(title or "", fontsize=6)
    return fig


def bars_json(prediction: DigitBars, budget) -> dict:
    return {"digits": prediction.digits, "bars": budget.matrix(np.asarray(prediction.weights))}


class BarsTask(SevensTask):
    name = "sevens-bars"
    default_family = "toy-pool-bars"

    @property
    def capabilities(self) -> TaskCapabilities:
        return TaskCapabilities(InputKind.TEXT, classes=("no", "yes"), max_source_len=8)

    def predict(self, model, inputs, *, options={}, decode=None):
        if options:
            raise InputError("the sevens task takes no options")
        for i, s in enumerate(inputs, 1):
            if not s.isdigit():
                raise InputError(f"input {i} is not a string of digits")
        with torch.no_grad():
            out = [model(torch.tensor([[int(c) for c in s]])) for s in inputs]
        return [
            DigitBars("yes" if logits.argmax() == 1 else "no", list(s), w[0].tolist())
            for s, (logits, w) in zip(inputs, out)
        ]


class BarsFamily(PoolFamily):
    name = "toy-pool-bars"

    @classmethod
    def capabilities(cls, cfg, spec=None) -> ModelCapabilities:
        return ModelCapabilities(decodes=False, attention=True)

    @classmethod
    def label(cls, cfg):
        return "toy-pool-bars"


@pytest.fixture(scope="module")
def plugins():
    VIEWS.register(
        KIND,
        View(KIND, plot=plot_bars, to_json=bars_json, script=SCRIPT, carries=frozenset({"digits", "weights"})),
        "a weight per digit (test plug-in)",
    )
    TASKS.register("sevens-bars", BarsTask, "sevens with a bar per digit (test plug-in)")
    FAMILIES.register("toy-pool-bars", BarsFamily, "attention pooling (test plug-in)")
    yield
    VIEWS.unregister(KIND)
    TASKS.unregister("sevens-bars")
    FAMILIES.unregister("toy-pool-bars")


@pytest.fixture(scope="module")
def run(plugins, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("bars")
    config = root / "bars.yaml"
    config.write_text(
        "data: {task: sevens-bars, n_train: 300}\nmodel: {dim: 8}\n"
        "train: {max_steps: 40, batch_size: 32, lr: 0.01, eval_every: 20, patience: 3, threads: 1}\n"
    )
    assert main(["train", str(config), "--out", str(root / "run"), "--no-progress", "--device", "cpu"]) == 0
    return root / "run"


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_the_kind_is_new_and_the_run_declares_what_it_can_do(run):
    assert KIND not in BUILTIN_KINDS
    loaded = load_run(run)
    assert loaded.capabilities.task.classes == ("no", "yes") and not loaded.capabilities.decodes
    assert loaded.capabilities.model == ModelCapabilities(decodes=False, attention=True)


def test_predict_draws_it_with_the_registered_picture(run, tmp_path, capsys):
    PLOTTED.clear()
    png = tmp_path / "bars.png"
    assert main(["predict", "--model", str(run), "12745680", "--attention-plot", str(png)]) == 0
    output = capsys.readouterr().out.strip()
    assert output in ("yes", "no")
    assert len(PLOTTED) == 1 and isinstance(PLOTTED[0][0], DigitBars)
    assert PLOTTED[0][0].digits == list("12745680") and PLOTTED[0][1] == f"12745680 → {output}"
    assert png_size(png) == (round(FIGSIZE[0] * 150), round(FIGSIZE[1] * 150))  # the registered figure's size
    # two inputs: two pictures, each by the registered plot
    two = ["predict", "--model", str(run), "11111111", "77777777", "--attention-plot", str(tmp_path / "b.png")]
    assert main(two) == 0
    assert len(PLOTTED) == 3 and (tmp_path / "b-1.png").is_file() and (tmp_path / "b-2.png").is_file()


def test_predict_json_prints_the_registered_json(run, capsys):
    capsys.readouterr()
    assert main(["predict", "--model", str(run), "--json", "12745680", "11111111"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    records = [json.loads(line) for line in lines]
    task, model = load_run(run).task, load_run(run).model
    for text, record in zip(["12745680", "11111111"], records):
        (pred,) = task.predict(model, [text])
        assert set(record) == {"input", "kind", "output", "digits", "bars"}
        assert (record["input"], record["kind"], record["output"], record["digits"]) == (
            text,
            KIND,
            pred.output,
            list(text),
        )
        assert record["bars"]["shape"] == [8]
        np.testing.assert_allclose(record["bars"]["data"], pred.weights, atol=1e-5)
        assert sum(record["bars"]["data"]) == pytest.approx(1.0, abs=1e-4)  # pooling weights


def test_the_explorer_serves_its_json_and_its_script(run):
    client = create_app(RunRegistry.load([run])).test_client()
    meta = client.get("/api/runs/run").json
    assert meta["input"] == "text" and not meta["decodes"] and meta["task"] == "sevens-bars"
    body = client.post("/api/runs/run/predict", json={"input": "12745680"}).json
    served = load_run(run)
    (pred,) = served.task.predict(served.model, ["12745680"])
    assert body["kind"] == KIND and body["output"] == pred.output and body["input"] == "12745680"
    assert body["view"]["digits"] == list("12745680")
    np.testing.assert_allclose(read_matrix(body["view"]["bars"]).ravel(), pred.weights, atol=1e-5)
    assert body["script"] == f"/views/{KIND}.js" and body["fields"] == {}  # the view carries the rest
    script = client.get(f"/views/{KIND}.js")
    assert script.status_code == 200 and script.get_data(as_text=True) == SCRIPT
    assert script.mimetype == "text/javascript" and "script-src 'self'" in script.headers["Content-Security-Policy"]
    # only registered kinds with a script of their own
    assert client.get("/views/text-alignment.js").status_code == 404
    assert client.get("/views/no-such-kind.js").status_code == 404


@pytest.mark.skipif(missing() is not None, reason=missing() or "")
def test_the_page_loads_the_script_and_draws_with_it(run):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver = start_browser()
    try:
        with live_server(create_app(RunRegistry.load([run]))) as url:
            driver.get(url)
            WebDriverWait(driver, 20).until(lambda d: d.execute_script("return document.body.dataset.ready"))
            box = driver.find_element(By.ID, "input")
            box.clear()
            box.send_keys("12745680")
            driver.find_element(By.ID, "go").click()
            WebDriverWait(driver, 20).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".panel .digit-bars"))
            bars = driver.find_elements(By.CSS_SELECTOR, ".panel .digit-bars .digit-bar")
            assert [b.get_attribute("data-digit") for b in bars] == list("12745680")
            scripts = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
            assert url + f"views/{KIND}.js" in scripts and all(s.startswith(url) for s in scripts)
            severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
            assert not severe, severe
    finally:
        driver.quit()
