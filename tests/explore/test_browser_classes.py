"""The explorer's per-task page in a real browser (issue 31, item 7): class names with their
probabilities for an image, a recording, a graph node and a document; a HAN document's words in
its heatmap; colour scales on the heatmaps; only the controls a run can use (no beam boxes for
tasks that do not decode). The expected numbers come from the API through Flask's test client."""

from __future__ import annotations

from urllib.parse import quote

import numpy as np
import pytest

from attnkit.config import load_config
from attnkit.explore import RunRegistry, create_app
from attnkit.explore.payload import read_matrix
from attnkit.training.pipeline import train_run

from .browser import live_server, needs_browser, start_browser
from .conftest import REPO
from .speech import COMMON, SPEECH_RUNS, needs_espeak, speak
from .views import b64, test_image_png, train_image_runs, train_karate

pytestmark = [pytest.mark.browser, needs_browser]

HAN = ["data.max_verses=4", "data.max_words=12", "model.emb_dim=8", "model.hidden_dim=8", "model.attn_dim=8"]
TINY = ["train.max_steps=2", "train.eval_every=2", "train.threads=1"]


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    needs_espeak()
    root = tmp_path_factory.mktemp("browser-classes")
    runs = train_image_runs(root, ["nl-stn"])
    train_run(load_config(REPO / "configs" / "bible-sections-han.yaml", [*HAN, *TINY]), root / "han", progress=False)
    words = [*SPEECH_RUNS["words"], f"data.cache={root / 'cache'}", *COMMON]
    train_run(load_config(None, words), root / "words", progress=False)
    registry = RunRegistry.load([runs["nl-stn"], train_karate(root), root / "han", root / "words"])
    png, wav = root / "upload.png", root / "two.wav"
    png.write_bytes(test_image_png(runs["nl-stn"]))
    speak(wav, "two")
    app = create_app(registry)
    with live_server(app) as url:
        driver = start_browser(1300, 1000)
        try:
            yield driver, url, app.test_client(), png, wav
        finally:
            driver.quit()


def _wait(driver, script, timeout=30):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(lambda d: d.execute_script(script))


def _load(driver, url, query):
    driver.get(url + query)
    _wait(driver, "return document.body.dataset.ready")


def _submit(driver):
    before = int(driver.execute_script("return Number(document.body.dataset.renders || 0)"))
    driver.find_element("id", "go").click()
    _wait(driver, f"return Number(document.body.dataset.renders || 0) > {before}")


def _shown_classes(driver, key):
    """[(class name, probability), ...] as the panel lists them, and its error text."""
    rows = driver.execute_script(
        f"return Array.from(document.querySelectorAll('.panel[data-run=\"{key}\"] .class-row'))"
        ".map(r => [r.querySelector('.class-name').textContent, Number(r.dataset.probability),"
        " r.querySelector('.class-p').textContent])"
    )
    error = driver.execute_script(f"return document.querySelector('.panel[data-run=\"{key}\"] .error').textContent")
    return rows, error


def _legends(driver, key):
    """[label, min, max] of each colour scale in the panel."""
    return driver.execute_script(
        f"return Array.from(document.querySelectorAll('.panel[data-run=\"{key}\"] .legend'))"
        ".map(l => [l.dataset.label, l.dataset.min, l.dataset.max])"
    )


def _visible(driver, element_id):
    return driver.find_element("id", element_id).is_displayed()


def _check_top_classes(rows, answer):
    """The panel's rows are the answer's classes by probability, the most probable first."""
    probs = answer["fields"]["probabilities"]
    names = answer["classes"]
    assert len(names) == len(probs) > 1
    order = sorted(range(len(probs)), key=lambda i: -probs[i])[: len(rows)]
    assert [r[0] for r in rows] == [names[i] for i in order]
    assert [r[1] for r in rows] == pytest.approx([probs[i] for i in order], abs=1e-6)
    assert rows[0][2] == f"{100 * probs[order[0]]:.1f}%"
    assert rows[0][0] == answer["output"]


def test_an_image_shows_class_names_with_probabilities_a_colour_scale_and_no_beam_boxes(page):
    driver, url, client, png, _ = page
    _load(driver, url, "?runs=nl-stn")
    assert _visible(driver, "image-label") and not _visible(driver, "input-label")
    assert not _visible(driver, "beam-label") and not _visible(driver, "nbest-label")
    assert not _visible(driver, "examples-label")
    driver.find_element("id", "image").send_keys(str(png))
    _submit(driver)
    answer = client.post("/api/runs/nl-stn/predict", json={"image": b64(png.read_bytes())}).json
    rows, error = _shown_classes(driver, "nl-stn")
    assert not error and len(rows) == 5  # the top 5 of Fashion-MNIST's 10 classes
    _check_top_classes(rows, answer)
    assert "T-shirt/top" in answer["classes"]
    legend = driver.find_element("css selector", '.panel[data-run="nl-stn"] .overlay-legend .legend')
    assert float(legend.get_attribute("data-min")) == 0.0
    chosen = answer["view"]["maps"][0]
    assert float(legend.get_attribute("data-max")) == pytest.approx(chosen["max"], rel=1e-6)
    dumped = driver.execute_script(
        "const f = document.querySelector('.panel[data-run=\"nl-stn\"] .fields'); return f ? f.textContent : ''"
    )
    assert "probabilities" not in dumped  # listed with their names, not dumped as raw numbers
    fill = driver.execute_script(
        "const r = document.querySelector('.panel[data-run=\"nl-stn\"] .class-row');"
        "return r.querySelector('.class-fill').getBoundingClientRect().width"
        " / r.querySelector('.class-bar').clientWidth"
    )
    assert fill == pytest.approx(rows[0][1], abs=0.02)  # the bar is as long as the probability


def test_a_recording_shows_class_names_with_probabilities(page):
    driver, url, client, _, wav = page
    _load(driver, url, "?runs=words")
    assert _visible(driver, "audio-label") and not _visible(driver, "beam-label")
    driver.find_element("id", "audio").send_keys(str(wav))
    _submit(driver)
    answer = client.post("/api/runs/words/predict", json={"audio": b64(wav.read_bytes())}).json
    rows, error = _shown_classes(driver, "words")
    assert not error and [r[0] for r in rows] == sorted(
        answer["classes"], key=lambda c: -dict(zip(answer["classes"], answer["fields"]["probabilities"]))[c]
    )
    _check_top_classes(rows, answer)
    assert set(answer["classes"]) == {"one", "two"}
    spectrogram, attention = _legends(driver, "words")
    assert spectrogram == ["log-mel energy (the recording's min to max)", "0", "1"]
    assert attention[:2] == ["self-attention weight", "0"]
    assert float(attention[2]) == pytest.approx(float(read_matrix(answer["view"]["self"]).max()), rel=1e-6)


def test_a_graph_node_shows_its_class_name_and_probability(page):
    driver, url, client, _, _ = page
    _load(driver, url, f"?runs=karate&input={quote('33')}&go=1")
    _wait(driver, "return Number(document.body.dataset.renders || 0) >= 1")
    assert _visible(driver, "input-label") and not _visible(driver, "beam-label")
    answer = client.post("/api/runs/karate/predict", json={"input": "33"}).json
    rows, error = _shown_classes(driver, "karate")
    assert not error and len(rows) == len(answer["classes"]) == 2  # a node carries every class's probability
    _check_top_classes(rows, answer)
    assert rows[0][1] == pytest.approx(answer["fields"]["probability"], abs=1e-6)
    assert _legends(driver, "karate") == [["edge weight / the largest shown", "0", "1"]]


def test_a_han_document_shows_its_words_in_the_heatmap_and_its_section(page):
    driver, url, client, _, _ = page
    text = "In the beginning God created the heavens and the earth. And God said, Let there be light."
    _load(driver, url, f"?runs=han&input={quote(text)}&go=1")
    _wait(driver, "return Number(document.body.dataset.renders || 0) >= 1")
    answer = client.post("/api/runs/han/predict", json={"input": text}).json
    view = answer["view"]
    words, sentences = read_matrix(view["word_weights"]), read_matrix(view["sentence_weights"])
    shown = driver.execute_script(
        "return Array.from(document.querySelectorAll('.panel[data-run=\"han\"] .doc-sentence')).map(s =>"
        " Array.from(s.querySelectorAll('.doc-word')).map(w => [w.textContent, Number(w.dataset.weight)]))"
    )
    assert [[w for w, _ in s] for s in shown] == view["sentences"]  # every word, in its cell
    for s, sentence in enumerate(shown):
        assert [x for _, x in sentence] == pytest.approx(words[s, : len(sentence)].tolist(), abs=1e-6)
    weights = driver.execute_script(
        "return Array.from(document.querySelectorAll('.panel[data-run=\"han\"] .doc-weight')).map(w => w.textContent)"
    )
    assert weights == [f"{x:.2f}" for x in sentences]
    # the darkest word cell is the heaviest word: shades follow the weights
    shades = driver.execute_script(
        "return Array.from(document.querySelectorAll('.panel[data-run=\"han\"] .doc-word'))"
        ".map(w => getComputedStyle(w).backgroundColor.match(/\\d+/g).slice(0, 3).map(Number))"
    )
    flat = [x for s in shown for _, x in s]
    assert int(np.argmin([sum(c) for c in shades])) == int(np.argmax(flat))
    labels = driver.execute_script(
        "return Array.from(document.querySelectorAll('.panel[data-run=\"han\"] .legend')).map(l => l.dataset.label)"
    )
    assert labels[:2] == ["sentence weight", "word weight (within its sentence)"]
    rows, error = _shown_classes(driver, "han")
    assert not error
    _check_top_classes(rows, answer)
    assert not _visible(driver, "beam-label")
