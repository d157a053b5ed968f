"""Screenshots of ``attnkit explore``'s pictures for the docs, taken by the browser tests' chromium:
an image's attention drawn over the picture (runs side by side on one uploaded image: CBAM gates,
a non-local block's map of a clicked query pixel, ViT rollout, a spatial transformer's frame) and
a graph node's neighbourhood; a WAV recording uploaded to speech runs side by side (spectrogram and
the attention over time, one output token hovered).

    python benchmarks/explore_pictures.py --out docs/images \\
        --image-runs runs/vision/canvas-cnn-cbam-s1 runs/vision/canvas-cnn-nonlocal-s1 \\
                     runs/vision/canvas-vit-s1 runs/vision/canvas-stn-cnn-s1 \\
        --graph-run runs/graphs/gat-s1 --node librust-bindgen-dev --test-index 3

The uploaded image is test example ``--test-index`` of the first image run, written as a PNG (what
a user would upload); the query pixel (``--query ROW,COL`` in the non-local map's grid) is picked
by a click on the picture, as a user would. Writes explore-image-overlay.png and
explore-graph-neighbourhood.png into ``--out``; with ``--speech-runs`` (spoken-words and/or
spoken-dates runs) also explore-speech.png, after uploading ``--speech-text`` spoken by espeak-ng
in ``--speech-voice`` and hovering output token ``--hover`` of the last run:

    python benchmarks/explore_pictures.py --out docs/images --speech-runs runs/spoken-words runs/spoken-dates
"""

from __future__ import annotations

import argparse
import io
import logging
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from tests.explore.browser import live_server, missing, start_browser  # noqa: E402

from attnkit.explore import RunRegistry, create_app  # noqa: E402


def _wait(driver, script, timeout=120):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(lambda d: d.execute_script(script))


def _click(driver, canvas, x, y):
    from selenium.webdriver.common.action_chains import ActionChains

    sx = canvas.size["width"] / int(canvas.get_attribute("width"))
    sy = canvas.size["height"] / int(canvas.get_attribute("height"))
    ActionChains(driver).move_to_element_with_offset(
        canvas, int(x * sx - canvas.size["width"] / 2), int(y * sy - canvas.size["height"] / 2)
    ).click().perform()


def image_shot(driver, url, keys, png: Path, query, out: Path) -> None:
    from selenium.webdriver.common.by import By

    driver.set_window_size(1800, 1250)
    driver.get(url + "?runs=" + ",".join(keys))
    _wait(driver, "return document.body.dataset.ready")
    driver.find_element(By.ID, "image").send_keys(str(png))
    driver.find_element(By.ID, "go").click()
    _wait(driver, "return Number(document.body.dataset.renders || 0) >= 1")
    for key in keys:  # click the query pixel where a run has a non-local map
        canvas = driver.find_element(By.CSS_SELECTOR, f'.panel[data-run="{key}"] canvas.overlay')
        if "queryable" not in canvas.get_attribute("class"):
            continue
        grid = driver.execute_script(f"return explore.state.panels.get('{key}').result.overlay.query.grid")
        s, H, W = (int(canvas.get_attribute(f"data-{k}")) for k in ("scale", "height", "width"))
        before = driver.execute_script(f"return document.querySelector('.panel[data-run=\"{key}\"]').dataset.answers")
        _click(driver, canvas, (query[1] + 0.5) * W * s / grid[1], (query[0] + 0.5) * H * s / grid[0])
        _wait(driver, f"return document.querySelector('.panel[data-run=\"{key}\"]').dataset.answers != '{before}'")
    time.sleep(0.3)
    driver.save_screenshot(str(out))
    print(f"wrote {out}", file=sys.stderr)


def graph_shot(driver, url, key, node, out: Path) -> None:
    from urllib.parse import quote

    driver.set_window_size(1000, 1100)
    driver.get(url + f"?runs={key}&input={quote(node)}&go=1")
    _wait(driver, "return Number(document.body.dataset.renders || 0) >= 1")
    time.sleep(0.3)
    driver.save_screenshot(str(out))
    print(f"wrote {out}", file=sys.stderr)


def speech_shot(driver, url, keys, wav: Path, hover: int, out: Path) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    driver.set_window_size(1400, 900)
    driver.get(url + "?runs=" + ",".join(keys))
    _wait(driver, "return document.body.dataset.ready")
    driver.find_element(By.ID, "audio").send_keys(str(wav))
    driver.find_element(By.ID, "go").click()
    _wait(driver, "return Number(document.body.dataset.renders || 0) >= 1")
    tokens = driver.find_elements(By.CSS_SELECTOR, f'.panel[data-run="{keys[-1]}"] .speech-tokens .tok')
    if tokens:
        ActionChains(driver).move_to_element(tokens[min(hover, len(tokens) - 1)]).perform()
    time.sleep(0.3)
    driver.save_screenshot(str(out))
    print(f"wrote {out}", file=sys.stderr)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", required=True, help="folder of the screenshots")
    parser.add_argument("--image-runs", nargs="*", default=[], help="image runs shown side by side")
    parser.add_argument("--test-index", type=int, default=0, help="test example of the first image run to upload")
    parser.add_argument("--query", default="4,9", help="query pixel ROW,COL to click (default: %(default)s)")
    parser.add_argument("--graph-run", help="a node-classification run")
    parser.add_argument("--node", help="the node to show (default: the graph's first)")
    parser.add_argument("--speech-runs", nargs="*", default=[], help="speech runs shown side by side")
    parser.add_argument("--speech-text", default="March 3, 1979", help="what espeak-ng says (default: %(default)s)")
    parser.add_argument("--speech-voice", default="en+m7", help="its espeak-ng voice (default: %(default)s)")
    parser.add_argument("--hover", type=int, default=3, help="output token of the last speech run to hover")
    args = parser.parse_args(argv)
    if missing():
        raise SystemExit(f"no browser: {missing()}")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    registry = RunRegistry.load([*args.image_runs, *([args.graph_run] if args.graph_run else []), *args.speech_runs])
    keys = registry.keys()
    with live_server(create_app(registry)) as url, tempfile.TemporaryDirectory() as tmp:
        driver = start_browser(1400, 1000)
        try:
            if args.image_runs:
                from PIL import Image

                first = registry[keys[0]].run
                example = first.task.load_split(first.path, "test")[args.test_index]
                png = Path(tmp) / "upload.png"
                buffer = io.BytesIO()
                Image.fromarray(example.image.numpy()).save(buffer, "PNG")
                png.write_bytes(buffer.getvalue())
                query = [int(v) for v in args.query.split(",")]
                image_shot(driver, url, keys[: len(args.image_runs)], png, query, out / "explore-image-overlay.png")
            if args.graph_run:
                key = keys[len(args.image_runs)]
                node = args.node or registry[key].run.task.graph.names[0]
                graph_shot(driver, url, key, node, out / "explore-graph-neighbourhood.png")
            if args.speech_runs:
                import subprocess

                wav = Path(tmp) / "recording.wav"
                subprocess.run(["espeak-ng", "-v", args.speech_voice, "-w", str(wav), args.speech_text], check=True)
                speech_shot(driver, url, keys[-len(args.speech_runs) :], wav, args.hover, out / "explore-speech.png")
        finally:
            driver.quit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
