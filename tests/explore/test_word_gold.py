"""Gold word links of an aligned-translation run on the explorer: a test example answers with its
reference force-decoded and the gold links as boxes on every piece cell of each linked word pair,
checked against the corpus' own Pharaoh file and pieces grouped into words here; the reference's
weights against the layers route (another code path); in a real browser the boxes are drawn on
the reference's matrix only."""

from __future__ import annotations

import numpy as np
import pytest

from attnkit.explore import RunRegistry, create_app
from attnkit.explore.payload import read_matrix

from .aligned import train_aligned_run
from .browser import live_server, needs_browser, start_browser


@pytest.fixture(scope="module")
def aligned(tmp_path_factory):
    root = tmp_path_factory.mktemp("explore-aligned")
    run = train_aligned_run(root)
    return RunRegistry.load([run]), root / "corpus"


def words_of(pieces):
    """Word index per piece, a new word at each "▁" (written here, not the library's)."""
    out, n = [], -1
    for p in pieces:
        if p.startswith("\u2581"):
            n += 1
        out.append(max(n, 0))
    return out


def gold_of(corpus, k):
    line = (corpus / "test.gold.pharaoh").read_text(encoding="utf-8").splitlines()[k]
    return {tuple(map(int, pair.split("-"))) for pair in line.split()}


def test_a_test_example_gets_its_reference_and_gold_boxes(aligned):
    registry, corpus = aligned
    client = create_app(registry).test_client()
    assert client.get("/api/runs/aligned").get_json()["gold"] is True
    sources = (corpus / "test.src").read_text(encoding="utf-8").splitlines()
    targets = (corpus / "test.tgt").read_text(encoding="utf-8").splitlines()
    task = registry["aligned"].run.task
    for k in (0, 3):
        res = client.post("/api/runs/aligned/predict", json={"input": sources[k], "beam_size": 2}).get_json()
        assert res["gold_hypothesis"] == "reference"
        names = [h["name"] for h in res["hypotheses"]]
        assert names == ["beam 1", "beam 2", "reference"]  # one decoding, then the reference
        ref = res["hypotheses"][-1]
        src, tgt = task.src_subwords.encode(sources[k]), task.tgt_subwords.encode(targets[k])
        assert ref["output"] == targets[k] and ref["out_tokens"] == tgt and res["src_tokens"] == src
        assert any(len(w) > 1 for w in tgt) or len(tgt) > len(targets[k].split())  # subword pieces, not words
        sw, tw = words_of(src), words_of(tgt)
        expected = {
            (r, c)
            for i, j in gold_of(corpus, k)
            for r in range(len(tgt))
            for c in range(len(src))
            if tw[r] == j and sw[c] == i
        }
        boxed = {(r, c) for r, s, e in res["gold"] for c in range(s, e)}
        assert boxed == expected and expected
        assert all(e == s + 1 for _, s, e in res["gold"])  # one box per piece cell
        # the reference's weights are the teacher-forced cross-attention of the last decoder layer
        layers = client.post("/api/runs/aligned/layers", json={"input": sources[k], "out_tokens": tgt}).get_json()
        cross = read_matrix(layers["layers"]["cross"])
        weights = read_matrix(ref["weights"])
        assert weights.shape == (2, len(tgt), len(src))
        np.testing.assert_allclose(weights, cross[-1, :, : len(tgt)], atol=2e-5)


def test_other_inputs_have_no_reference(aligned):
    registry, _ = aligned
    client = create_app(registry).test_client()
    res = client.post("/api/runs/aligned/predict", json={"input": "uno dos tres"}).get_json()
    assert res["gold"] is None and res["gold_hypothesis"] is None
    assert [h["name"] for h in res["hypotheses"]] == ["greedy"]


@pytest.mark.browser
@needs_browser
def test_picking_a_test_example_draws_the_gold_boxes_on_the_reference(aligned):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    registry, corpus = aligned
    app = create_app(registry)
    with live_server(app) as url:
        driver = start_browser(1300, 900)
        try:
            driver.get(url)
            WebDriverWait(driver, 30).until(lambda d: d.execute_script("return document.body.dataset.ready"))
            WebDriverWait(driver, 10).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#examples option")) > 2)
            Select(driver.find_element(By.ID, "examples")).select_by_index(2)  # the second test example
            driver.find_element(By.ID, "go").click()
            WebDriverWait(driver, 30).until(
                lambda d: d.execute_script("return Number(document.body.dataset.renders || 0) >= 1")
            )
            text = driver.find_element(By.ID, "input").get_attribute("value")
            expected = app.test_client().post("/api/runs/aligned/predict", json={"input": text}).get_json()["gold"]
            view = driver.execute_script("return explore.view('aligned')")
            assert view["hypothesis"] == "reference" and view["gold"] == expected and expected
            assert "gold word links" in driver.find_element(By.CSS_SELECTOR, '.panel[data-run="aligned"] .note').text
            canvas = driver.find_element(By.CSS_SELECTOR, '.panel[data-run="aligned"] canvas.heatmap')

            def orange():
                w, h, data = driver.execute_script(
                    "const c = arguments[0]; return [c.width, c.height, "
                    "Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)]",
                    canvas,
                )
                px = np.array(data, dtype=int).reshape(h, w, 4)[..., :3]
                return (
                    np.abs(px - [230, 149, 0]).sum(-1) < 40,
                    int(canvas.get_attribute("data-left")),
                    int(canvas.get_attribute("data-top")),
                    int(canvas.get_attribute("data-cell")),
                )

            mask, left, top, cell = orange()
            for r, s, _ in expected:  # the middle of each box's top edge is orange
                assert mask[top + r * cell, left + int((s + 0.5) * cell)], (r, s)
            driver.execute_script("explore.select('aligned', {hyp: 0})")  # the greedy output: not its words' links
            assert driver.execute_script("return explore.view('aligned').gold") is None
            assert not orange()[0].any()
        finally:
            driver.quit()
