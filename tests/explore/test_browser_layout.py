"""The explorer's layout with long sentences (issue 31, item 7: it scrolled sideways with the Bible
run): the page never scrolls sideways, long text wraps and a wide matrix scrolls inside its own
frame; heatmaps carry a colour scale; a decoding run gets its beam boxes; layers and heads are
numbered from 0 as in the CLI. Real chromium, a narrow window, two runs side by side."""

from __future__ import annotations

import pytest

from attnkit.config import load_config
from attnkit.explore import RunRegistry, create_app
from attnkit.training.pipeline import train_run

from ..tasks.test_aligned_translation import write_aligned_corpus
from .browser import live_server, needs_browser, start_browser
from .conftest import DATA, REPO, TRANSFORMER

pytestmark = [pytest.mark.browser, needs_browser]


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser-layout")
    corpus = write_aligned_corpus(root / "corpus", n_train=100, n_dev=4, n_test=6, seed=1, max_digits=70)
    long_run = [
        "data.task=aligned-translation",
        f"data.corpus={corpus}",
        "data.vocab_size=40",
        "data.max_source_len=400",
        "model.arch=transformer",
        "model.d_model=16",
        "model.n_heads=2",
        "model.enc_layers=1",
        "model.dec_layers=1",
        "model.d_ff=32",
        "train.max_steps=2",
        "train.eval_every=2",
        "train.batch_size=32",
        "train.threads=1",
        "train.warmup_steps=1",
    ]
    train_run(load_config(None, long_run), root / "long", progress=False)
    dates = load_config(REPO / "configs" / "dates-transformer.yaml", [*DATA, *TRANSFORMER])
    train_run(dates, root / "dates", progress=False)
    app = create_app(RunRegistry.load([root / "long", root / "dates"]))
    with live_server(app) as url:
        driver = start_browser(1000, 900)
        try:
            yield driver, url
        finally:
            driver.quit()


def _wait(driver, script, timeout=60):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(lambda d: d.execute_script(script))


OVERFLOW = """
const page = document.documentElement;
const wide = Array.from(document.querySelectorAll('.panel, #controls, header'))
  .filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.dataset.run || e.id || e.tagName);
return [page.scrollWidth - page.clientWidth, wide];
"""


def test_long_sentences_never_scroll_the_page_sideways(page):
    from selenium.webdriver.support.ui import Select

    driver, url = page
    driver.get(url + "?runs=long,dates")
    _wait(driver, "return document.body.dataset.ready")
    _wait(driver, "return document.querySelectorAll('#examples option').length > 2")
    assert driver.find_element("id", "beam-label").is_displayed()  # the runs decode: beam and n-best
    assert driver.find_element("id", "nbest-label").is_displayed()
    # the longest test example (dozens of words) in the examples list already
    assert driver.execute_script(OVERFLOW) == [0, []]
    options = driver.execute_script("return Array.from(document.querySelectorAll('#examples option')).map(o => o.text)")
    longest = max(range(1, len(options)), key=lambda i: len(options[i]))
    assert len(options[longest].split()) > 40
    Select(driver.find_element("id", "examples")).select_by_index(longest)
    driver.find_element("id", "beam").clear()
    driver.find_element("id", "beam").send_keys("2")
    driver.find_element("id", "go").click()
    _wait(driver, "return Number(document.body.dataset.renders || 0) >= 1")
    _wait(driver, "return document.querySelector('.panel[data-run=\"long\"]').dataset.layers === 'done'")
    assert driver.execute_script(OVERFLOW) == [0, []]
    rights = driver.execute_script(
        "return Array.from(document.querySelectorAll('.panel')).map(p => p.getBoundingClientRect().right)"
    )
    assert len(rights) == 2 and all(right <= 1000 for right in rights)
    # a matrix wider than its panel would scroll inside its own frame, not the page
    frame = driver.find_element("css selector", '.panel[data-run="long"] .matrix-wrap')
    assert driver.execute_script("return getComputedStyle(arguments[0]).overflowX", frame) == "auto"


def test_heatmaps_have_a_colour_scale_and_layers_count_from_zero(page):
    driver, url = page
    driver.get(url + "?runs=dates&input=3.%20Mai%201979&go=1")
    _wait(driver, "return Number(document.body.dataset.renders || 0) >= 1")
    _wait(driver, "return document.querySelector('.panel[data-run=\"dates\"]').dataset.layers === 'done'")
    legend = driver.find_element("css selector", '.panel[data-run="dates"] .heatmap-legend .legend')
    assert (legend.get_attribute("data-min"), legend.get_attribute("data-max")) == ("0", "1")
    assert legend.get_attribute("data-label") == "attention weight"
    ends = [e.text for e in legend.find_elements("css selector", ".legend-ends span")]
    assert ends == ["0", "0.5", "1"]
    bar = legend.find_element("css selector", "canvas.legend-bar")
    left, right = driver.execute_script(
        "const c = arguments[0], d = c.getContext('2d'); "
        "return [Array.from(d.getImageData(0, 5, 1, 1).data), Array.from(d.getImageData(c.width - 1, 5, 1, 1).data)]",
        bar,
    )
    assert left[:3] == [247, 251, 255] and right[:3] == [8, 48, 107]  # the heatmap's own colours at 0 and 1
    driver.find_element("css selector", '.panel[data-run="dates"] .row-scale').click()
    legend = driver.find_element("css selector", '.panel[data-run="dates"] .heatmap-legend .legend')
    assert legend.get_attribute("data-label") == "weight / the largest of its row"
    driver.execute_script("explore.select('dates', {kind: 'cross', layer: -1, head: '1'})")
    layers = driver.execute_script(
        "return Array.from(document.querySelectorAll('.panel[data-run=\"dates\"] select.layer option'))"
        ".map(o => o.text)"
    )
    assert layers == ["layer 0", "layer 1"]  # as the CLI's --layer and the PNG grid titles
    heads = driver.execute_script(
        "return Array.from(document.querySelectorAll('.panel[data-run=\"dates\"] select.head option')).map(o => o.text)"
    )
    assert heads == ["mean of heads", "head 0", "head 1"]
    titles = driver.execute_script(
        "return Array.from(document.querySelectorAll('.panel[data-run=\"dates\"] .grid canvas')).map(c => c.title)"
    )
    assert "layer 1, head 1" in titles and "layer 0, mean of heads" in titles
    assert not any(t.startswith("layer 2") for t in titles)
