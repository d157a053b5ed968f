"""The tagging view in the explorer: ``/views/tagging.js`` is served, a predict answer carries the
words, their tags and every layer's and head's attention, and in a real browser the page draws the
table of words and tags, the most-attended word of each and the chosen layer's heatmap."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from attnkit.cli import main
from attnkit.explore import RunRegistry, create_app
from attnkit.explore.payload import read_matrix
from attnkit.models import FAMILIES
from attnkit.viz.tagging import SCRIPT

from ..explore.browser import live_server, missing, start_browser
from .test_tagging import greek_config

pytestmark = pytest.mark.skipif(
    "tagger-transformer" not in FAMILIES.names(), reason="needs the tagger families (branch tag-models)"
)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("tagging-view")
    cfg = greek_config(root)
    raw = yaml.safe_load(cfg.read_text(encoding="utf-8"))
    raw["model"] = {"arch": "tagger-transformer", "word_dim": 8, "char_dim": 8, "d_model": 16, "n_heads": 2, "d_ff": 16}
    raw["train"] = {"batch_size": 2, "max_steps": 2, "eval_every": 2}
    cfg.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    assert main(["train", str(cfg), "--out", str(root / "run"), "--no-progress"]) == 0
    return root / "run"


def test_the_explorer_serves_the_script_and_the_tags_with_every_layer(run):
    client = create_app(RunRegistry.load([run])).test_client()
    script = client.get("/views/tagging.js")
    assert script.status_code == 200 and script.get_data(as_text=True) == SCRIPT.read_text(encoding="utf-8")
    res = client.post("/api/runs/run/predict", json={"input": "λύω ἀγαθός τε", "options": {"layer": "0"}})
    assert res.status_code == 200, res.json
    body = res.json
    assert (body["kind"], body["script"]) == ("tagging", "/views/tagging.js")
    view = body["view"]
    assert view["words"] == ["λύω", "ἀγαθός", "τε"] and set(view["tags"]) == {"pos", "morph"}
    assert view["unseen"] == [False, True, True] and view["layer"] == 0
    weights = read_matrix(view["weights"])
    assert weights.shape == (2, 2, 3, 3)  # (L, Nh, T, T): the transformer's defaults of 2 layers, 2 heads here
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-5)


@pytest.mark.browser
@pytest.mark.skipif(missing() is not None, reason=missing() or "")
def test_the_page_draws_the_words_tags_and_attention(run):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    driver = start_browser(1200, 900)
    try:
        with live_server(create_app(RunRegistry.load([run]))) as url:
            driver.get(url)
            wait = WebDriverWait(driver, 60, poll_frequency=0.05)
            wait.until(lambda d: d.execute_script("return document.body.dataset.ready"))
            driver.execute_script("document.getElementById('input').value = arguments[0]", "λύω ἀγαθός τε")
            driver.find_element(By.ID, "go").click()
            wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".panel table.tagging-table tr"))
            rows = driver.find_elements(By.CSS_SELECTOR, ".panel table.tagging-table tr")
            assert len(rows) == 4  # the header and three words
            cells = [c.text for c in rows[2].find_elements(By.TAG_NAME, "td")]
            assert cells[0] == "ἀγαθός *" and len(cells) == 4 and cells[3].split()[0] in ("λύω", "τε")
            heat = driver.find_element(By.CSS_SELECTOR, ".panel canvas.tagging-heatmap")
            assert int(heat.get_attribute("width")) > 0
            Select(driver.find_element(By.CSS_SELECTOR, ".tagging-layer")).select_by_value("0")
            Select(driver.find_element(By.CSS_SELECTOR, ".tagging-head")).select_by_value("1")
            assert len(driver.find_elements(By.CSS_SELECTOR, ".panel table.tagging-table tr")) == 4
            severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
            assert not severe, severe
    finally:
        driver.quit()
