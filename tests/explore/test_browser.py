"""The page in a real browser (Debian's chromium through chromedriver, headless, offline): load
it, submit an input, read the rendered output tokens, hover a cell and a token, export PNG, SVG
and JSON, switch a head and a layer map, and show two runs side by side. What the page shows is
checked against the API's numbers, read through Flask's test client."""

from __future__ import annotations

import base64
import io
import json

import pytest
import torch

from attnkit.explore import create_app
from attnkit.explore.payload import read_matrix

from .browser import live_server, needs_browser, start_browser

pytestmark = [pytest.mark.browser, needs_browser]

DATE, LOCALE = "3. Mai 1979", "de_DE"


@pytest.fixture(scope="module")
def page(registry):
    app = create_app(registry)
    with live_server(app) as url:
        driver = start_browser()
        try:
            yield driver, url, app.test_client()
        finally:
            driver.quit()


@pytest.fixture()
def both(page):
    """The page showing both runs side by side on DATE (submitted once per module), views reset."""
    driver, url, client = page
    if driver.execute_script("return document.body.dataset.shown") != "both":
        show(driver, url, ["bahdanau", "transformer"])
        driver.execute_script("document.body.dataset.shown = 'both'")
    for key in ("bahdanau", "transformer"):
        driver.execute_script(
            f"explore.select('{key}', {{hyp: 0, kind: 'alignment', layer: -1, head: 'mean', rowScale: false}})"
        )
    return page


def wait(driver, script, timeout=30):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(lambda d: d.execute_script(script))


def show(driver, url, runs, text=DATE, locale=LOCALE, beam=3):
    """On the page (opened once), tick exactly `runs`, type `text`, pick the locale and submit."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    if not driver.current_url.startswith(url):
        driver.get(url)
        wait(driver, "return document.body.dataset.ready")
    for tick in driver.find_elements(By.CSS_SELECTOR, "#runs input[type=checkbox]"):
        if tick.is_selected() != (tick.get_attribute("value") in runs):
            tick.click()
    box = driver.find_element(By.ID, "input")
    box.clear()
    box.send_keys(text)
    Select(driver.find_element(By.CSS_SELECTOR, '#options [data-option="locale"]')).select_by_value(locale)
    beam_box = driver.find_element(By.ID, "beam")
    beam_box.clear()
    beam_box.send_keys(str(beam))
    driver.execute_script("delete document.body.dataset.shown")
    before = driver.execute_script("return Number(document.body.dataset.renders || 0)")
    driver.find_element(By.ID, "go").click()
    wait(driver, f"return Number(document.body.dataset.renders || 0) > {before}")  # layer maps loaded too


def api(client, key, text=DATE, locale=LOCALE, beam=3):
    body = client.post(
        f"/api/runs/{key}/predict",
        json={"input": text, "options": {"locale": locale}, "beam_size": beam, "n_best": beam},
    ).json
    return body


def tensor(m):
    return torch.from_numpy(read_matrix(m).copy()).double()


def texts(driver, css):
    from selenium.webdriver.common.by import By

    return [e.text for e in driver.find_elements(By.CSS_SELECTOR, css)]


def test_the_page_loads_only_its_own_files(page):
    driver, url, _ = page
    driver.get(url)
    wait(driver, "return document.body.dataset.ready")
    resources = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert resources and all(name.startswith(url) for name in resources), resources
    assert texts(driver, "#runs label") == ["bahdanau (bahdanau)", "transformer (transformer)"]
    severe = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    assert not severe, severe


def test_submit_renders_the_beams_nbest(both):
    driver, url, client = both
    expected = api(client, "bahdanau")
    assert texts(driver, '.panel[data-run="bahdanau"] .out-tokens .tok') == expected["hypotheses"][0]["out_tokens"]
    assert texts(driver, '.panel[data-run="bahdanau"] .src-tokens .tok') == expected["src_tokens"]
    outputs = texts(driver, '.panel[data-run="bahdanau"] .hyp .output')
    assert outputs == [h["output"] for h in expected["hypotheses"]] and len(outputs) == 3  # one decoding, beam 3


def test_hovering_a_cell_lights_up_the_source_token_it_attends_to_and_back(both):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    driver, url, client = both
    key = "transformer"
    weights = tensor(api(client, key)["hypotheses"][0]["weights"]).mean(0)  # (To, Tk), the mean of the heads
    canvas = driver.find_element(By.CSS_SELECTOR, f'.panel[data-run="{key}"] canvas.heatmap')
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", canvas)
    geo = {k: float(canvas.get_attribute(f"data-{k}")) for k in ("left", "top", "cell")}
    size = canvas.size
    for row in (0, 3, weights.shape[0] - 1):
        col = 1
        dx = geo["left"] + (col + 0.5) * geo["cell"] - size["width"] / 2
        dy = geo["top"] + (row + 0.5) * geo["cell"] - size["height"] / 2
        ActionChains(driver).move_to_element_with_offset(canvas, int(dx), int(dy)).perform()
        top = driver.find_element(By.CSS_SELECTOR, f'.panel[data-run="{key}"] .src-tokens .tok.top')
        assert int(top.get_attribute("data-i")) == int(weights[row].argmax())
        hovered = driver.find_element(By.CSS_SELECTOR, f'.panel[data-run="{key}"] .out-tokens .tok.hover')
        assert int(hovered.get_attribute("data-i")) == row
    source = driver.find_elements(By.CSS_SELECTOR, f'.panel[data-run="{key}"] .src-tokens .tok')[4]
    ActionChains(driver).move_to_element(source).perform()  # the reverse: which outputs look at source token 4
    top = driver.find_element(By.CSS_SELECTOR, f'.panel[data-run="{key}"] .out-tokens .tok.top')
    assert int(top.get_attribute("data-i")) == int(weights[:, 4].argmax())


def test_exports_png_svg_and_json_of_the_current_view(both):
    from PIL import Image
    from selenium.webdriver.common.by import By

    driver, url, client = both
    key = "bahdanau"
    panel = f'.panel[data-run="{key}"]'
    canvas = driver.find_element(By.CSS_SELECTOR, f"{panel} canvas.heatmap")
    width, height = (int(canvas.get_attribute(a)) for a in ("width", "height"))
    expected = api(client, key)["hypotheses"][0]
    to, tk = tensor(expected["weights"]).shape
    cell = int(canvas.get_attribute("data-cell"))
    assert width >= tk * cell and height >= to * cell

    driver.find_element(By.CSS_SELECTOR, f"{panel} .export-png").click()
    link = driver.find_element(By.CSS_SELECTOR, f"{panel} .export-link")
    href = link.get_attribute("href")
    assert href.startswith("data:image/png;base64,") and link.get_attribute("download") == f"{key}-attention.png"
    png = base64.b64decode(href.split(",", 1)[1])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert Image.open(io.BytesIO(png)).size == (width, height)

    read = (
        "const done = arguments[arguments.length - 1]; "
        "fetch(arguments[0]).then(r => r.text()).then(done, e => done('fetch failed: ' + e))"
    )
    driver.find_element(By.CSS_SELECTOR, f"{panel} .export-svg").click()
    svg = driver.execute_async_script(read, link.get_attribute("href"))
    assert svg.startswith("<svg") and svg.count("<rect") == 1 + to * tk  # the background and one per cell
    driver.find_element(By.CSS_SELECTOR, f"{panel} .export-json").click()
    numbers = json.loads(driver.execute_async_script(read, link.get_attribute("href")))
    assert numbers["rows"] == expected["out_tokens"] and numbers["columns"] == api(client, key)["src_tokens"]
    torch.testing.assert_close(
        torch.tensor(numbers["weights"], dtype=torch.float64), tensor(expected["weights"]), atol=1e-6, rtol=0
    )


def test_switching_heads_and_layer_maps(both):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver, url, client = both
    key = "transformer"
    panel = f'.panel[data-run="{key}"]'
    body = api(client, key)
    per_head = tensor(body["hypotheses"][0]["weights"])  # (Nh, To, Tk)

    def shown():
        script = f"const v = explore.view('{key}'); return [v.matrix.shape, Array.from(v.matrix.data)]"
        return torch.tensor(driver.execute_script(script)[1], dtype=torch.float64).view(per_head.shape[1:])

    torch.testing.assert_close(shown(), per_head.mean(0), atol=1e-5, rtol=0)
    canvas = driver.find_element(By.CSS_SELECTOR, f"{panel} canvas.heatmap")
    r, c = divmod(int((per_head[1] - per_head.mean(0)).abs().argmax()), per_head.shape[2])
    pixel = (
        "const c = arguments[0], d = c.dataset, x = +d.left + (arguments[2] + 0.5) * d.cell, "
        "y = +d.top + (arguments[1] + 0.5) * d.cell; "
        "return Array.from(c.getContext('2d').getImageData(x, y, 1, 1).data)"
    )
    before = driver.execute_script(pixel, canvas, r, c)
    Select(driver.find_element(By.CSS_SELECTOR, f"{panel} select.head")).select_by_value("1")
    assert canvas.get_attribute("data-head") == "1"
    torch.testing.assert_close(shown(), per_head[1], atol=1e-5, rtol=0)
    assert driver.execute_script(pixel, canvas, r, c) != before  # the cell where head 1 differs most was redrawn

    Select(driver.find_element(By.CSS_SELECTOR, f"{panel} select.kind")).select_by_value("encoder_self")
    thumbs = driver.find_elements(By.CSS_SELECTOR, f"{panel} .grid canvas.thumb")
    assert len(thumbs) == 2 * (2 + 1)  # layers x (mean + 2 heads)
    driver.find_element(By.CSS_SELECTOR, f'{panel} .grid canvas.thumb[data-layer="0"][data-head="0"]').click()
    selected = tuple(canvas.get_attribute(name) for name in ("data-kind", "data-layer", "data-head"))
    assert selected == ("encoder_self", "0", "0")
    encoder = tensor(body["layers"]["encoder_self"])[0, 0]
    got = driver.execute_script(f"const v = explore.view('{key}'); return Array.from(v.matrix.data)")
    torch.testing.assert_close(torch.tensor(got, dtype=torch.float64).view(encoder.shape), encoder, atol=1e-5, rtol=0)


def test_a_beam_hypothesis_shows_its_own_layer_maps(both):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver, url, client = both
    key, panel = "transformer", '.panel[data-run="transformer"]'
    body = api(client, key)
    beam2 = body["hypotheses"][1]
    driver.find_element(By.CSS_SELECTOR, f'{panel} .hyp[data-index="1"]').click()
    Select(driver.find_element(By.CSS_SELECTOR, f"{panel} select.kind")).select_by_value("cross")
    wait(
        driver,
        f"return document.querySelector('{panel}').dataset.layers === 'done' && explore.view('{key}').kind === 'cross'",
    )
    assert texts(driver, f"{panel} .out-tokens .tok") == beam2["out_tokens"]
    got = driver.execute_script(
        f"const v = explore.view('{key}'); return [v.layer, v.hypothesis, Array.from(v.matrix.data)]"
    )
    layers = client.post(
        f"/api/runs/{key}/layers",
        json={"input": DATE, "options": {"locale": LOCALE}, "out_tokens": beam2["out_tokens"]},
    ).json["layers"]
    expected = tensor(layers["cross"])
    assert got[:2] == [expected.shape[0] - 1, "beam 2"]
    torch.testing.assert_close(
        torch.tensor(got[2], dtype=torch.float64).view(expected.shape[2:]), expected[-1].mean(0), atol=1e-5, rtol=0
    )


def test_two_runs_side_by_side_on_the_same_input(both):
    from selenium.webdriver.common.by import By

    driver, url, client = both
    boxes = [driver.find_element(By.CSS_SELECTOR, f'.panel[data-run="{k}"]').rect for k in ("bahdanau", "transformer")]
    assert abs(boxes[0]["y"] - boxes[1]["y"]) < 2 and boxes[1]["x"] >= boxes[0]["x"] + boxes[0]["width"] - 1
    for key in ("bahdanau", "transformer"):
        shown = texts(driver, f'.panel[data-run="{key}"] .out-tokens .tok')
        assert shown == api(client, key)["hypotheses"][0]["out_tokens"]


def test_a_test_example_shows_its_gold_links_and_a_bad_input_its_error(page, registry):
    from selenium.webdriver.common.by import By

    driver, url, client = page
    example = registry["bahdanau"].examples()[0]
    show(driver, url, ["bahdanau"], text=example.text, locale=example.locale)
    panel = '.panel[data-run="bahdanau"]'
    assert "gold links" in driver.find_element(By.CSS_SELECTOR, f"{panel} .note").text
    gold = driver.execute_script("return explore.view('bahdanau').gold")
    assert gold == api(client, "bahdanau", example.text, example.locale)["gold"] and gold
    show(driver, url, ["bahdanau"], text="x" * 65)
    assert "at most 64" in driver.find_element(By.CSS_SELECTOR, f"{panel} .error").text


# uploaded images and graph nodes in the page: tests/explore/test_browser_views.py
