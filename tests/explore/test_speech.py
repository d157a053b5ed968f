"""Recordings on the explorer: a WAV uploaded to a spoken-words and a spoken-dates run (tiny runs
spoken by espeak-ng), the speech view of the answer checked against the task's own ``predict`` and
the features read independently of the explorer; bad uploads get JSON errors; in a real browser
the spectrogram canvas draws and hovering an output token highlights its row."""

from __future__ import annotations

import base64
import glob
import os
import tempfile

import numpy as np
import pytest

from attnkit.data.audio import features_of_file
from attnkit.explore import Limits, RunRegistry, create_app
from attnkit.explore.payload import read_matrix

from .browser import live_server, needs_browser, start_browser
from .speech import speak, train_speech_runs


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    root = tmp_path_factory.mktemp("explore-speech")
    runs = train_speech_runs(root)
    registry = RunRegistry.load([runs["words"], runs["dates"]])
    wav = root / "two.wav"
    speak(wav, "two")
    return registry, wav


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def matrix(m):
    return read_matrix(m).astype(float)


def post(client, key, **body):
    return client.post(f"/api/runs/{key}/predict", json=body)


def test_runs_say_they_take_audio(speech):
    registry, _ = speech
    runs = create_app(registry).test_client().get("/api/runs").get_json()["runs"]
    assert [(r["task"], r["input"]) for r in runs] == [("spoken-words", "audio"), ("spoken-dates", "audio")]


def test_spoken_word_view_is_the_tasks_prediction(speech):
    registry, wav = speech
    res = post(create_app(registry).test_client(), "words", audio="data:audio/wav;base64," + b64(wav.read_bytes()))
    assert res.status_code == 200, res.get_json()
    body = res.get_json()
    sp = body["view"]
    task, model = registry["words"].run.task, registry["words"].run.model
    pred = task.predict(model, [str(wav)])[0]
    assert body["output"] == pred.output and body["input"] == "uploaded recording"
    frames = features_of_file(wav, task.config.features)  # read here, not through the explorer
    np.testing.assert_allclose(matrix(sp["frames"]), frames, atol=1e-5)
    assert sp["frame_seconds"] == pytest.approx(0.01) and sp["seconds"] == pytest.approx(len(frames) * 0.01)
    assert sp["position_seconds"] == pytest.approx(0.04)
    pool = matrix(sp["pool"])
    np.testing.assert_allclose(pool, pred.pool_weights, atol=1e-5)
    assert pool.sum() == pytest.approx(1, abs=1e-4)
    self_weights = matrix(sp["self"])
    assert self_weights.shape == (len(pool), len(pool))
    np.testing.assert_allclose(self_weights, pred.self_weights, atol=1e-5)
    np.testing.assert_allclose(self_weights.sum(1), 1, atol=1e-4)
    assert sp["tokens"] is None and sp["weights"] is None
    assert "frames" not in body["fields"] and "pool_weights" not in body["fields"]  # no array travels twice
    assert body["fields"]["probability"] == pytest.approx(pred.probability, abs=1e-6)


def test_spoken_date_view_is_the_tasks_alignment(speech):
    registry, wav = speech
    body = post(create_app(registry).test_client(), "dates", audio=b64(wav.read_bytes())).get_json()
    sp = body["view"]
    task, model = registry["dates"].run.task, registry["dates"].run.model
    pred = task.predict(model, [str(wav)])[0]
    assert body["output"] == pred.output and sp["tokens"] == pred.out_tokens and sp["tokens"][-1] == "</s>"
    weights = pred.weights.numpy()
    expected = weights.mean(0) if weights.ndim == 3 else weights
    got = matrix(sp["weights"])
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert got.shape[0] == len(sp["tokens"])
    np.testing.assert_allclose(got.sum(1), 1, atol=1e-4)  # each output token's weights over time
    assert sp["position_seconds"] == pytest.approx(0.01 * model.frames_per_position)
    assert got.shape[1] * sp["position_seconds"] <= sp["seconds"] + 2 * sp["position_seconds"]
    assert sp["pool"] is None and sp["self"] is None


def test_bad_uploads_get_json_errors_and_the_file_is_deleted(speech, tmp_path):
    registry, wav = speech
    client = create_app(registry).test_client()
    before = set(glob.glob(os.path.join(tempfile.gettempdir(), "attnkit-explore-*")))
    res = post(client, "words", audio=b64(b"%PDF-1.4 not a recording"))
    assert res.status_code == 400 and "not a sound file" in res.get_json()["error"]
    res = post(client, "words", audio=b64(b"RIFF" + bytes(200)))  # starts like a WAV, is not one
    error = res.get_json()["error"]
    assert res.status_code == 400 and "the uploaded recording" in error and "attnkit-explore-" not in error
    assert post(client, "words", audio="not base64!").status_code == 400
    res = post(client, "words", input="two")
    assert res.status_code == 400 and "upload a WAV file" in res.get_json()["error"]
    res = post(client, "words", audio=b64(wav.read_bytes()), image=b64(b"x"))
    assert res.status_code == 400 and "not both" in res.get_json()["error"]
    small = create_app(registry, limits=Limits(max_audio_bytes=1000)).test_client()
    res = post(small, "dates", audio=b64(wav.read_bytes()))
    assert res.status_code == 400 and "at most 1000" in res.get_json()["error"]
    res = post(
        create_app(registry, limits=Limits(max_body_bytes=2000)).test_client(), "dates", audio=b64(wav.read_bytes())
    )
    assert res.status_code == 413 and "shorter recording" in res.get_json()["error"]
    assert post(client, "words", audio=b64(wav.read_bytes())).status_code == 200
    assert set(glob.glob(os.path.join(tempfile.gettempdir(), "attnkit-explore-*"))) <= before


@pytest.mark.browser
@needs_browser
def test_upload_a_wav_draws_the_spectrogram_and_hover_highlights_a_row(speech):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    registry, wav = speech
    app = create_app(registry)
    with live_server(app) as url:
        driver = start_browser(1300, 1000)
        try:
            driver.get(url + "?runs=words,dates")
            WebDriverWait(driver, 30).until(lambda d: d.execute_script("return document.body.dataset.ready"))
            assert driver.find_element(By.ID, "audio-label").is_displayed()
            driver.find_element(By.ID, "audio").send_keys(str(wav))
            driver.find_element(By.ID, "go").click()
            WebDriverWait(driver, 30).until(
                lambda d: d.execute_script("return Number(document.body.dataset.renders || 0) >= 1")
            )
            expected = (
                app.test_client().post("/api/runs/dates/predict", json={"audio": b64(wav.read_bytes())}).get_json()
            )
            for key in ("words", "dates"):
                canvas = driver.find_element(By.CSS_SELECTOR, f'.panel[data-run="{key}"] canvas.speech')
                px = canvas_pixels(driver, canvas)
                left = int(canvas.get_attribute("data-left"))
                spectrogram = px[8:110, left + 2 : -10, :3].reshape(-1, 3)
                assert len(np.unique(spectrogram, axis=0)) > 20, key  # not blank: many magma colours
                assert (spectrogram.max(1) > 40).mean() > 0.05 and (spectrogram.min(1) < 220).mean() > 0.5
            # hover output token 2 of the date: its row is outlined in orange, the others are not
            panel = driver.find_element(By.CSS_SELECTOR, '.panel[data-run="dates"]')
            tokens = panel.find_elements(By.CSS_SELECTOR, ".speech-tokens .tok")
            assert [t.text for t in tokens] == [t if t != " " else "\u2423" for t in expected["view"]["tokens"]]
            canvas = panel.find_element(By.CSS_SELECTOR, "canvas.speech")
            before = canvas_pixels(driver, canvas)
            ActionChains(driver).move_to_element(tokens[2]).perform()
            WebDriverWait(driver, 10).until(lambda d: canvas.get_attribute("data-row") == "2")
            after = canvas_pixels(driver, canvas)
            top, h = int(canvas.get_attribute("data-rows-top")), int(canvas.get_attribute("data-row-height"))
            edge = after[top + 2 * h, left + 20 : left + 200, :3].astype(int)
            assert (np.abs(edge - [230, 149, 0]).sum(1) < 60).mean() > 0.8  # the orange outline of row 2
            other = after[top + 5 * h, left + 20 : left + 200, :3].astype(int)
            assert (np.abs(other - [230, 149, 0]).sum(1) < 60).mean() < 0.2
            assert (before != after).any() and "hover" in tokens[2].get_attribute("class")
            assert "output 2" in panel.find_element(By.CSS_SELECTOR, ".speech-readout").text
            # the word's self-attention rows answer the pointer on the canvas itself
            words = driver.find_element(By.CSS_SELECTOR, '.panel[data-run="words"] canvas.speech')
            top, h = int(words.get_attribute("data-rows-top")), int(words.get_attribute("data-row-height"))
            driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", words)
            sx = words.size["width"] / int(words.get_attribute("width"))
            sy = words.size["height"] / int(words.get_attribute("height"))
            y = top + 3 * h + h / 2
            ActionChains(driver).move_to_element_with_offset(
                words, int(100 * sx - words.size["width"] / 2), int(y * sy - words.size["height"] / 2)
            ).perform()
            WebDriverWait(driver, 10).until(lambda d: words.get_attribute("data-row") == "3")
        finally:
            driver.quit()


def canvas_pixels(driver, canvas) -> np.ndarray:
    w, h, data = driver.execute_script(
        "const c = arguments[0]; return [c.width, c.height, Array.from("
        "c.getContext('2d').getImageData(0, 0, c.width, c.height).data)]",
        canvas,
    )
    return np.array(data, dtype=np.uint8).reshape(h, w, 4)
