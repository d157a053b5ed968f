"""Every view exports PNG, SVG and JSON in the explorer, and a spoken date's per-head alignment is
one select away, in a real browser: a tiny Transformer on spoken dates (2 heads), a WAV spoken by
espeak-ng uploaded; the head select redraws the alignment rows with that head's weights (pixels
checked against the API's numbers: white 0 to black 1), and the view's PNG / SVG / JSON exports
carry the picture and the answer's arrays."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from attnkit.config import load_config
from attnkit.explore import RunRegistry, create_app
from attnkit.explore.payload import read_matrix
from attnkit.training.pipeline import train_run

from .browser import live_server, needs_browser, start_browser
from .speech import COMMON, SPEECH_RUNS, needs_espeak, speak

pytestmark = [pytest.mark.browser, needs_browser]

TRANSFORMER = [
    "model.arch=transformer",
    "model.d_model=16",
    "model.n_heads=2",
    "model.enc_layers=1",
    "model.dec_layers=1",
    "model.d_ff=32",
    "train.warmup_steps=1",
]


@pytest.fixture(scope="module")
def dates(tmp_path_factory):
    needs_espeak()
    root = tmp_path_factory.mktemp("exports")
    data = [o for o in SPEECH_RUNS["dates"] if o.startswith("data.")]
    train_run(load_config(None, [*data, *TRANSFORMER, f"data.cache={root / 'cache'}", *COMMON]), root / "dates")
    wav = root / "date.wav"
    speak(wav, "May third, nineteen seventy nine")
    return root / "dates", wav


def _blob(driver, link) -> str:
    return driver.execute_async_script(
        "const done = arguments[1]; fetch(arguments[0].href).then((r) => r.text()).then(done)", link
    )


def test_head_select_and_exports_of_a_spoken_date(dates):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    run, wav = dates
    app = create_app(RunRegistry.load([run]))
    expected = app.test_client().post(
        "/api/runs/dates/predict", json={"audio": base64.b64encode(wav.read_bytes()).decode()}
    )
    assert expected.status_code == 200, expected.get_json()
    view = expected.get_json()["view"]
    heads = read_matrix(view["heads"]).astype(float)  # (Nh, To, Tk)
    assert heads.shape[0] == 2
    with live_server(app) as url:
        driver = start_browser(1300, 1000)
        try:
            driver.get(url)
            WebDriverWait(driver, 30).until(lambda d: d.execute_script("return document.body.dataset.ready"))
            driver.find_element(By.ID, "audio").send_keys(str(wav))
            driver.find_element(By.ID, "go").click()
            WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".panel canvas.speech"))
            canvas = driver.find_element(By.CSS_SELECTOR, ".panel canvas.speech")
            select = Select(driver.find_element(By.CSS_SELECTOR, ".panel select.speech-head"))
            assert [o.get_attribute("value") for o in select.options] == ["mean", "0", "1"]
            select.select_by_value("1")
            assert canvas.get_attribute("data-head") == "1"
            w, h = int(canvas.get_attribute("width")), int(canvas.get_attribute("height"))
            px = np.array(
                driver.execute_script(
                    "const c = arguments[0]; "
                    "return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)",
                    canvas,
                ),
                dtype=np.uint8,
            ).reshape(h, w, 4)
            left, span = int(canvas.get_attribute("data-left")), float(canvas.get_attribute("data-seconds"))
            top, rh = int(canvas.get_attribute("data-rows-top")), int(canvas.get_attribute("data-row-height"))
            plot = w - left - 8
            n_out, n_pos = heads.shape[1:]
            checked = 0
            for r in range(n_out):
                for j in range(n_pos):
                    x0 = left + j * view["position_seconds"] / span * plot
                    x1 = left + (j + 1) * view["position_seconds"] / span * plot
                    if x1 - x0 < 3:
                        continue
                    grey = px[top + r * rh + rh // 2, int((x0 + x1) / 2), 0]
                    assert abs(int(grey) - round(255 * (1 - heads[1, r, j]))) <= 2, (r, j)
                    checked += 1
            assert checked > 10
            # exports: the picture as PNG and SVG, the answer as JSON
            panel = driver.find_element(By.CSS_SELECTOR, ".panel")
            link = panel.find_element(By.CSS_SELECTOR, ".exports .export-link")
            panel.find_element(By.CSS_SELECTOR, ".exports .export-png").click()
            assert link.get_attribute("href").startswith("data:image/png;base64,")
            assert link.get_attribute("download") == "dates-spectrogram-alignment.png"
            panel.find_element(By.CSS_SELECTOR, ".exports .export-svg").click()
            svg = _blob(driver, link)
            assert svg.startswith("<svg") and f'width="{w}"' in svg and "data:image/png;base64," in svg
            panel.find_element(By.CSS_SELECTOR, ".exports .export-json").click()
            exported = json.loads(_blob(driver, link))
            assert exported["kind"] == "spectrogram-alignment" and exported["output"] == expected.get_json()["output"]
            got = np.reshape(exported["view"]["heads"]["data"], exported["view"]["heads"]["shape"])
            np.testing.assert_allclose(got, heads, rtol=1e-6)
            assert exported["view"]["tokens"] == view["tokens"]
            severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
            assert not severe, severe
        finally:
            driver.quit()
