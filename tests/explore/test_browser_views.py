"""The explorer's pictures in a real browser (Debian's chromium, headless): an uploaded image's
attention drawn over the picture (pixels checked against matplotlib's colormap blended over the
grey picture), a click on a pixel asking for that query pixel's non-local map, a spatial
transformer's frame; a node's neighbourhood drawn as a node-link picture, its top-k and a click
on a neighbour recentring it. The expected numbers come from the API through Flask's test client."""

from __future__ import annotations

import base64
import io
from urllib.parse import quote

import numpy as np
import pytest

from attnkit.explore import RunRegistry, create_app
from attnkit.explore.payload import read_matrix

from .browser import live_server, needs_browser, start_browser
from .views import b64, test_image_png, train_image_runs, train_karate

pytestmark = [pytest.mark.browser, needs_browser]


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser-views")
    runs = train_image_runs(root, ["nl-stn"])
    registry = RunRegistry.load([runs["nl-stn"], train_karate(root)])
    png = root / "upload.png"
    png.write_bytes(test_image_png(runs["nl-stn"]))
    app = create_app(registry)
    with live_server(app) as url:
        driver = start_browser(1300, 1000)
        try:
            yield driver, url, app.test_client(), png
        finally:
            driver.quit()


def wait(driver, script, timeout=30):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(lambda d: d.execute_script(script))


def answers(driver, key):
    return int(
        driver.execute_script(
            f"return Number(document.querySelector('.panel[data-run=\"{key}\"]').dataset.answers || 0)"
        )
    )


def canvas_pixels(driver, canvas) -> np.ndarray:
    """The canvas' pixels, (height, width, 4) uint8."""
    w, h, data = driver.execute_script(
        "const c = arguments[0]; return [c.width, c.height, "
        "Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)]",
        canvas,
    )
    return np.array(data, dtype=np.uint8).reshape(h, w, 4)


def matrix(m):
    return read_matrix(m).astype(float)


def click(driver, canvas, x, y, hover_only=False):
    """Click (or only hover) the canvas at its pixel (x, y) (canvas pixels, whatever its size on the page)."""
    from selenium.webdriver.common.action_chains import ActionChains

    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", canvas)
    sx, sy = (
        canvas.size["width"] / int(canvas.get_attribute("width")),
        canvas.size["height"] / int(canvas.get_attribute("height")),
    )
    actions = ActionChains(driver).move_to_element_with_offset(
        canvas, int(x * sx - canvas.size["width"] / 2), int(y * sy - canvas.size["height"] / 2)
    )
    (actions if hover_only else actions.click()).perform()


def upload(driver, url, png):
    from selenium.webdriver.common.by import By

    driver.get(url + "?runs=nl-stn")
    wait(driver, "return document.body.dataset.ready")
    driver.find_element(By.ID, "image").send_keys(str(png))
    driver.find_element(By.ID, "go").click()
    wait(driver, "return Number(document.body.dataset.renders || 0) >= 1")
    return driver.find_element(By.CSS_SELECTOR, '.panel[data-run="nl-stn"] canvas.overlay')


def check_overlay(pixels, scale, view, heat_map):
    """The canvas at the hottest and the coldest cell of `heat_map` shows matplotlib's jet of
    the cell's weight / max, half over the grey picture (alpha 0.5)."""
    from matplotlib import colormaps

    image, heat = matrix(view["image"]), matrix(heat_map["heat"])
    (H, W), (h, w) = image.shape, heat.shape
    for r, c in (np.unravel_index(heat.argmax(), heat.shape), np.unravel_index(heat.argmin(), heat.shape)):
        y, x = int((r + 0.5) * H * scale / h), int((c + 0.5) * W * scale / w)
        grey = np.round(255 * image[y // scale, x // scale])
        colour = np.array(colormaps["jet"](heat[r, c] / heat_map["max"])[:3]) * 255
        expected = 0.5 * colour + 0.5 * grey
        got = pixels[y, x, :3].astype(float)
        assert np.abs(got - expected).max() <= 10, (r, c, got, expected)
        assert not (got[0] == got[1] == got[2])  # coloured, not the bare grey picture


def test_an_uploaded_image_shows_its_attention_over_the_picture(page):
    from selenium.webdriver.common.by import By

    driver, url, client, png = page
    canvas = upload(driver, url, png)
    body = client.post("/api/runs/nl-stn/predict", json={"image": b64(png.read_bytes())}).json
    view = body["view"]
    scale = int(canvas.get_attribute("data-scale"))
    H, W = view["image"]["shape"]
    assert (int(canvas.get_attribute("width")), int(canvas.get_attribute("height"))) == (W * scale, H * scale)
    chosen = canvas.get_attribute("data-map")
    assert chosen == view["maps"][0]["name"] == "non-local: mean weight received"
    check_overlay(canvas_pixels(driver, canvas), scale, view, view["maps"][0])
    link = driver.find_element(By.CSS_SELECTOR, '.panel[data-run="nl-stn"] a.picture-png')
    link.click()  # the picture as PNG, the canvas' size
    assert link.get_attribute("download") == "nl-stn-overlay.png"
    from PIL import Image

    picture = Image.open(io.BytesIO(base64.b64decode(link.get_attribute("href").split(",", 1)[1])))
    assert picture.size == (W * scale, H * scale)
    names = [
        o.text for o in driver.find_elements(By.CSS_SELECTOR, '.panel[data-run="nl-stn"] select.overlay-map option')
    ]
    assert names == [m["name"] for m in view["maps"]]
    severe = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    assert not severe, severe
    # the spatial transformer: its input with the sampled frame in red, beside its output
    frame = canvas_pixels(driver, driver.find_element(By.CSS_SELECTOR, '.panel[data-run="nl-stn"] canvas.stn-input'))
    red = (frame[..., 0] > 180) & (frame[..., 1] < 80) & (frame[..., 2] < 80)  # a grey picture has none
    assert red.sum() > W * scale  # at least a side's length of frame (a frame near the border is partly cut off)
    corners = (np.array(view["stn"]["outline"]) + 0.5) * scale  # input pixels -> canvas pixels
    ys, xs = np.nonzero(red)
    points = np.stack([xs + 0.5, ys + 0.5], 1)
    distance = np.full(len(points), np.inf)
    for a, b in zip(corners, np.roll(corners, -1, 0)):  # each red pixel lies on the frame's outline
        t = np.clip(((points - a) @ (b - a)) / ((b - a) @ (b - a)), 0, 1)
        distance = np.minimum(distance, np.linalg.norm(points - (a + t[:, None] * (b - a)), axis=1))
    assert distance.max() <= 2.5
    out = driver.find_element(By.CSS_SELECTOR, '.panel[data-run="nl-stn"] canvas.stn-output')
    h, w = view["stn"]["rectified"]["shape"]
    assert (
        int(out.get_attribute("width")) % w == 0
        and int(out.get_attribute("height")) // int(out.get_attribute("width")) == h // w
    )


def test_clicking_a_pixel_asks_for_that_query_pixel(page):
    driver, url, client, png = page
    canvas = upload(driver, url, png)
    grid = client.post("/api/runs/nl-stn/predict", json={"image": b64(png.read_bytes())}).json["view"]["query"]["grid"]
    scale, H, W = (int(canvas.get_attribute(f"data-{k}")) for k in ("scale", "height", "width"))
    before = answers(driver, "nl-stn")
    r, c = 3, 5
    x, y = (c + 0.5) * W * scale / grid[1], (r + 0.5) * H * scale / grid[0]
    click(driver, canvas, x, y)
    wait(
        driver, f"return Number(document.querySelector('.panel[data-run=\"nl-stn\"]').dataset.answers || 0) > {before}"
    )
    last = driver.execute_script("return explore.state.requests[explore.state.requests.length - 1]")
    assert last["run"] == "nl-stn" and last["options"]["query"] == f"{r},{c}" and last["image"]  # the same image again
    canvas = driver.find_element("css selector", '.panel[data-run="nl-stn"] canvas.overlay')
    assert canvas.get_attribute("data-map") == f"non-local: query pixel ({r}, {c})"  # the query map stays chosen
    view = client.post(
        "/api/runs/nl-stn/predict", json={"image": b64(png.read_bytes()), "options": {"query": f"{r},{c}"}}
    ).json["view"]
    pixels = canvas_pixels(driver, canvas)
    (query_map,) = [m for m in view["maps"] if m["query"]]
    heat = matrix(query_map["heat"])
    hot = np.unravel_index(heat.argmax(), heat.shape)
    if abs(hot[0] - r) > 1 or abs(hot[1] - c) > 1:  # not under the cross
        check_overlay(pixels, scale, view, query_map)
    assert pixels[int(y), int(x), :3].max() < 60  # the black cross marks the query pixel
    click(driver, canvas, x, y, hover_only=True)  # the readout: the weight under the pointer
    readout = driver.find_element("css selector", '.panel[data-run="nl-stn"] .overlay-readout').text
    prefix = f"cell ({r}, {c}) of {heat.shape[0]} x {heat.shape[1]}: weight "
    assert readout.startswith(prefix) and float(readout[len(prefix) :]) == pytest.approx(heat[r, c], rel=2e-3)


def test_a_node_neighbourhood_is_drawn_and_a_click_recentres_it(page):
    driver, url, client, _ = page
    node = "33"  # the club's members are named by number; 33 has the most friends
    nb = client.post("/api/runs/karate/predict", json={"input": node}).json["view"]
    driver.get(url + f"?runs=karate&input={quote(node)}&go=1")
    wait(driver, "return Number(document.body.dataset.renders || 0) >= 1")
    canvas = driver.find_element("css selector", '.panel[data-run="karate"] canvas.neighbourhood')
    k = len(nb["neighbours"])
    weights = matrix(nb["layers"][-1]).mean(1)  # the default view: last layer, mean of the heads
    order = sorted(range(k), key=lambda j: (-weights[j], j))[:16]
    drawn = driver.execute_script("return arguments[0]._drawn.map(d => [d.name, d.weight, d.x, d.y])", canvas)
    assert [d[0] for d in drawn] == [nb["neighbours"][j] for j in order]
    assert [d[1] for d in drawn] == pytest.approx([weights[j] for j in order], abs=1e-5)
    assert (canvas.get_attribute("data-total"), canvas.get_attribute("data-rest")) == (str(k), str(k - len(order)))
    pixels = canvas_pixels(driver, canvas)
    cx, cy = int(canvas.get_attribute("width")) // 2, 280 + 6
    assert tuple(pixels[cy, cx, :3]) == (0xC0, 0x39, 0x2B)  # the centre node
    x, y = (drawn[0][2] + cx) / 2, (drawn[0][3] + cy) / 2  # halfway along the strongest edge: the darkest shade
    assert np.abs(pixels[int(y), int(x), :3].astype(int) - (8, 48, 107)).max() <= 30
    # top k: the rest is counted, not drawn
    driver.execute_script(
        "const t = document.querySelector('.panel[data-run=\"karate\"] .nb-top'); t.value = 3; "
        "t.dispatchEvent(new Event('change'))"
    )
    assert (canvas.get_attribute("data-shown"), canvas.get_attribute("data-rest")) == ("3", str(k - 3))

    target = next(
        d
        for d in driver.execute_script("return arguments[0]._drawn.map(d => [d.name, d.x, d.y])", canvas)
        if d[0] != node
    )
    before = answers(driver, "karate")
    click(driver, canvas, target[1], target[2])
    wait(
        driver, f"return Number(document.querySelector('.panel[data-run=\"karate\"]').dataset.answers || 0) > {before}"
    )
    assert driver.execute_script("return explore.state.requests[explore.state.requests.length - 1].input") == target[0]
    canvas = driver.find_element("css selector", '.panel[data-run="karate"] canvas.neighbourhood')
    assert canvas.get_attribute("data-node") == target[0]
    new = client.post("/api/runs/karate/predict", json={"input": target[0]}).json["view"]
    assert canvas.get_attribute("data-total") == str(len(new["neighbours"]))
    assert driver.find_element("id", "input").get_attribute("value") == target[0]
