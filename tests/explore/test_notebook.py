"""``attnkit.notebook.show``: the explorer's view of one prediction as one self-contained page.

Without a browser: the page loads nothing (a Content-Security-Policy forbidding every request, no
URL but the SVG namespace, no link or script from elsewhere), ``_repr_html_`` is that page in an
``<iframe srcdoc>`` and ``save`` writes it. In the real browser (Debian's chromium, headless, from
``file://``, no server): the saved page of a tiny Transformer's beam search draws its three
hypotheses (the outputs of ``run.predict``), the source and output tokens, and the attention
heatmap whose cells have the colour of the mean over heads of ``run.predict``'s weights (the
page's colour scale written out here: white (247, 251, 255) to dark blue (8, 48, 107), linear in
the weight); its layer x head maps are there offline; the ``_repr_html_`` iframe draws the same;
a graph node's neighbourhood (another kind, drawn by the explorer's own drawing code) draws too,
and stays drawn, with a note, when the page asks the model again; no page logs an error.
"""

from __future__ import annotations

import html
import re
import time

import numpy as np
import pytest

import attnkit
from attnkit.errors import InputError
from attnkit.notebook import CSP

from .browser import needs_browser, start_browser
from .views import train_karate

TEXT, OPTIONS = "3. Mai 1979", {"locale": "de_DE"}
LOW, HIGH = np.array([247, 251, 255]), np.array([8, 48, 107])


@pytest.fixture(scope="module")
def transformer(tiny_runs):
    return attnkit.load_run(tiny_runs["transformer"])


@pytest.fixture(scope="module")
def view(transformer):
    return attnkit.notebook.show(transformer, TEXT, options=OPTIONS, beam_size=3, n_best=3)


def test_the_page_loads_nothing_and_shows_in_an_iframe(view, tmp_path):
    page = view.html
    assert f'<meta http-equiv="Content-Security-Policy" content="{CSP}">' in page
    assert "default-src 'none'" in CSP and "connect-src" not in CSP  # fetch falls under default-src: none
    assert set(re.findall(r"https?://[^\s\"'`<>)]+", page)) <= {"http://www.w3.org/2000/svg"}  # a namespace only
    assert not re.findall(r"""(?:src|href)\s*=\s*["'](?!data:|#|\$\{)""", page)  # ${...}: a toDataURL in a JS template
    assert "@import" not in page and not re.search(r"url\((?!\s*[\"']?data:)", page)
    assert view.prediction["kind"] == "seq2seq" and len(view.prediction["hypotheses"]) == 3
    frame = view._repr_html_()
    assert frame.startswith("<iframe srcdoc=")
    assert html.unescape(re.match(r'<iframe srcdoc="([^"]*)"', frame).group(1)) == page
    assert view.save(tmp_path / "view.html").read_text(encoding="utf-8") == page


def test_one_line_errors(transformer, tiny_runs):
    with pytest.raises(InputError, match="locale") as err:
        attnkit.notebook.show(transformer, TEXT, options={"locale": "xx_XX"})
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="n_best"):
        attnkit.notebook.show(tiny_runs["bahdanau"], TEXT, options=OPTIONS, beam_size=2, n_best=3)


def _wait(driver, script, timeout=30.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for: {script}")


def _check_drawn(driver, transformer):
    """The beam's hypotheses, tokens and heatmap as run.predict gives them."""
    _wait(driver, "return document.body.dataset.notebook === 'drawn'")
    (best,) = transformer.predict(TEXT, options=OPTIONS, beam_size=3, n_best=3)
    shown = driver.execute_script(
        "return [Array.from(document.querySelectorAll('.hyp .output')).map((e) => e.textContent),"
        " Array.from(document.querySelectorAll('.src-tokens .tok')).map((e) => e.textContent),"
        " Array.from(document.querySelectorAll('.out-tokens .tok')).map((e) => e.textContent),"
        " document.querySelector('.panel .error').textContent]"
    )
    assert shown == [[h.output for h in best.nbest], best.src_tokens, best.out_tokens, ""]
    left, top, cell, rows, cols, pixels = driver.execute_script(
        "const c = document.querySelector('canvas.heatmap'), d = c.dataset;"
        "return [+d.left, +d.top, +d.cell, +d.rows, +d.cols,"
        " Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data), c.width]"
    )[:6]
    weights = best.weights.double().mean(0).numpy()  # (To, Tk): the page's default, the mean of the heads
    assert (rows, cols) == weights.shape == (len(best.out_tokens), len(best.src_tokens))
    width = left + cols * cell + 4
    image = np.array(pixels, dtype=np.int64).reshape(-1, width, 4)
    for r in range(rows):
        for c in range(cols):
            y, x = top + r * cell + cell // 2, left + c * cell + cell // 2
            expected = np.round(LOW + (HIGH - LOW) * np.clip(weights[r, c], 0, 1))
            assert np.abs(image[y, x, :3] - expected).max() <= 1, (r, c)


@pytest.mark.browser
@needs_browser
def test_the_saved_page_and_the_iframe_draw_the_explorers_view_offline(view, transformer, tiny_runs, tmp_path):
    saved = view.save(tmp_path / "view.html")
    framed = tmp_path / "framed.html"
    framed.write_text(f"<!doctype html><html><body><p>a notebook cell</p>{view._repr_html_()}</body></html>")
    graph_view = attnkit.notebook.show(train_karate(tmp_path), "0")
    graph = graph_view.save(tmp_path / "graph.html")
    driver = start_browser(1200, 900)
    try:
        driver.get(saved.as_uri())
        _check_drawn(driver, transformer)
        # the layer x head maps travel in the page: a click on another map needs no server
        driver.execute_script("explore.select(arguments[0], {kind: 'cross', layer: -1, head: '0'})", view_key(view))
        n_layers, n_heads = 2, 2  # the tiny Transformer of tests/explore/conftest.py
        assert _wait(driver, "return document.querySelectorAll('.grid canvas.thumb').length") == n_layers * (
            n_heads + 1
        )
        assert driver.execute_script("return document.querySelector('canvas.heatmap').dataset.kind") == "cross"
        assert [e for e in driver.get_log("browser") if e["level"] == "SEVERE"] == []

        driver.get(framed.as_uri())
        driver.switch_to.frame(driver.find_element("css selector", "iframe"))
        _check_drawn(driver, transformer)
        driver.switch_to.default_content()
        height = driver.execute_script("return document.querySelector('iframe').getBoundingClientRect().height")
        assert height > 300  # fitted to the drawing
        assert [e for e in driver.get_log("browser") if e["level"] == "SEVERE"] == []

        driver.get(graph.as_uri())
        _wait(driver, "return document.body.dataset.notebook === 'drawn'")
        drawn = driver.execute_script(
            "const b = document.querySelector('.body[data-kind=\"graph-neighbourhood\"]');"
            "const c = b && b.querySelector('canvas');"
            "return c ? [c.width, c.height, document.querySelector('.out-output').textContent] : null"
        )
        assert drawn is not None and drawn[0] > 0 and drawn[1] > 0
        assert drawn[2] == graph_view.prediction["output"]
        # asking the model again (a click on a neighbour does): the view stays, and a note says why
        driver.execute_script("return explore.submit()")
        note = _wait(driver, "const n = document.getElementById('attnkit-notebook-note'); return n && n.textContent")
        assert "holds one prediction" in note
        assert driver.execute_script("return document.querySelectorAll('.body canvas').length") > 0
        assert [e for e in driver.get_log("browser") if e["level"] == "SEVERE"] == []
    finally:
        driver.quit()


def view_key(view) -> str:
    return view.prediction["run"]
