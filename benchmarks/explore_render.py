"""``attnkit explore`` in a real browser: the time from request to rendered heatmap, measured in
the page, for a Bible verse on a Transformer and for a 500-token passage; and the page's
screenshots for the docs.

    python benchmarks/explore_render.py --verse-run runs/bench-transformer
    python benchmarks/explore_render.py --verse-run runs/bench-transformer --repeats 5 --json out.json
    python benchmarks/explore_render.py --verse-run runs/bench-transformer \\
        --screenshots docs/images --dates-runs runs/compare-2/dates-bahdanau runs/compare/dates-sparsemax

Each case serves the runs with :func:`attnkit.explore.create_app` on loopback, opens the page in
Debian's chromium (headless, through chromedriver), sets the input and submits it as the page's
own button does. The page times it with ``performance.now()``: from just before its ``fetch`` of
``/api/runs/KEY/predict`` to the second animation frame after the heatmap, the token rows and the
layer x head grid were drawn (so the browser has painted them). Printed per case: the median of
``--repeats`` submissions after one warm-up of the total, of the server's own time (decoding,
layer maps, JSON) and of the page's drawing, with the matrix size.

The passage run, unless ``--passage-run`` names one, is a small Transformer trained here for a
few hundred steps on a toy Spanish -> English digit-word corpus with ``data.max_source_len`` 600
(about a minute on one core); the passage is ``--passage-tokens`` subword tokens of digit words.
Its output is as long as that model makes it (up to 2 n + 10 tokens), printed with the timings.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from tests.explore.browser import live_server, missing, start_browser  # noqa: E402

from attnkit.config import load_config  # noqa: E402
from attnkit.explore import RunRegistry, create_app  # noqa: E402
from attnkit.training import load_run  # noqa: E402
from attnkit.training.pipeline import train_run  # noqa: E402

VERSE = "En el principio crió Dios los cielos y la tierra."  # Genesis 1:1, Reina-Valera 1909
ES = ["cero", "uno", "dos", "tres", "cuatro", "cinco", "seis", "siete", "ocho", "nueve"]
EN = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def toy_passage_run(folder: Path) -> Path:
    """Train the small passage Transformer (see the module docstring) into `folder`/passage."""
    rng = random.Random(0)
    corpus = folder / "corpus"
    corpus.mkdir(parents=True)
    for split, n in (("train", 2000), ("dev", 40), ("test", 40)):
        src, tgt = [], []
        for _ in range(n):
            digits = [rng.randrange(10) for _ in range(rng.randint(1, 40))]
            src.append(" ".join(ES[d] for d in digits) + ".")
            tgt.append(" ".join(EN[d] for d in digits) + ".")
        (corpus / f"{split}.src").write_text("\n".join(src) + "\n", encoding="utf-8")
        (corpus / f"{split}.tgt").write_text("\n".join(tgt) + "\n", encoding="utf-8")
    cfg = folder / "passage.yaml"
    cfg.write_text(
        f"""
data: {{task: translation, corpus: {corpus}, vocab_size: 60, max_source_len: 600, n_dev: 40}}
model: {{arch: transformer, d_model: 32, n_heads: 4, enc_layers: 2, dec_layers: 2, d_ff: 64, dropout: 0.0}}
train: {{max_steps: 300, batch_tokens: 3000, lr: 0.003, eval_every: 300, patience: 5, threads: 1,
         schedule: inverse-sqrt, warmup_steps: 50}}
""",
        encoding="utf-8",
    )
    train_run(load_config(cfg), folder / "passage", progress=False)
    return folder / "passage"


def passage(task, n_tokens: int) -> str:
    """Digit words whose subword encoding is exactly `n_tokens` tokens (or the nearest below)."""
    rng = random.Random(1)
    words: list[str] = []
    while len(task.source_tokens(" ".join(words + ["x"]))) <= n_tokens:
        words.append(ES[rng.randrange(10)])
    while len(task.source_tokens(" ".join(words))) > n_tokens:
        words.pop()
    return " ".join(words)


def submit(driver, key: str, text: str, options: dict, beam: int, timeout: float = 600) -> dict:
    """Tick only run `key`, set the input and submit; the page's timing of that submission."""
    from selenium.webdriver.support.ui import WebDriverWait

    driver.set_script_timeout(timeout)
    before = driver.execute_script("return explore.state.timings.length")
    driver.execute_script(
        """
        const [key, text, options, beam] = arguments;
        document.querySelectorAll('#runs input').forEach(c => { if (c.checked !== (c.value === key)) c.click(); });
        document.getElementById('input').value = text;
        for (const [k, v] of Object.entries(options)) document.querySelector(`#options [data-option="${k}"]`).value = v;
        document.getElementById('beam').value = beam; document.getElementById('nbest').value = beam;
        explore.submit();""",
        key,
        text,
        options,
        beam,
    )
    WebDriverWait(driver, timeout, poll_frequency=0.05).until(
        lambda d: d.execute_script("return explore.state.timings.length") > before
    )
    error = driver.execute_script(f"return document.querySelector('.panel[data-run=\"{key}\"] .error').textContent")
    if error:
        raise SystemExit(f"{key}: the page shows an error: {error}")
    return driver.execute_script("return explore.state.timings[explore.state.timings.length - 1]")


def measure(driver, key, text, options, beam, repeats) -> dict:
    submit(driver, key, text, options, beam)  # warm-up
    runs = [submit(driver, key, text, options, beam) for _ in range(repeats)]
    med = {name: statistics.median(r[name] for r in runs) for name in ("total_ms", "server_ms", "render_ms")}
    if all("layers_ms" in r for r in runs):
        med["layers_ms"] = statistics.median(r["layers_ms"] for r in runs)
    view = driver.execute_script(
        f"const v = explore.view('{key}'); return [v.matrix.shape, "
        f"document.querySelector('.panel[data-run=\"{key}\"] .note').textContent]"
    )
    return {**med, "shape": view[0], "note": view[1], "repeats": repeats, "beam": beam}


def shoot(driver, path: Path, css: str = "body") -> None:
    from selenium.webdriver.common.by import By

    time.sleep(0.2)
    if css != "body":
        driver.find_element(By.CSS_SELECTOR, css).screenshot(str(path))
    else:
        driver.save_screenshot(str(path))
    print(f"wrote {path}", file=sys.stderr)


def screenshots(
    driver,
    url,
    out: Path,
    verse_key: str | None,
    date_keys: list[str],
    registry,
    passage_key: str,
    passage_text: str,
    graph_key: str | None = None,
) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    out.mkdir(parents=True, exist_ok=True)
    if date_keys:
        examples = registry[date_keys[0]].examples()
        example = next((e for e in examples if e.locale == "de_DE"), examples[0])
        driver.set_window_size(1500, 1000)
        driver.get(url)
        _wait_ready(driver)
        driver.execute_script(
            """
            const [keys, text, locale] = arguments;
            document.querySelectorAll('#runs input')
                .forEach(c => { if (c.checked !== keys.includes(c.value)) c.click(); });
            document.getElementById('input').value = text;
            const loc = document.querySelector('#options [data-option="locale"]'); if (loc) loc.value = locale;
            document.getElementById('beam').value = 3; document.getElementById('nbest').value = 3;
            explore.submit();""",
            date_keys,
            example.text,
            example.locale,
        )
        time.sleep(0.5)
        _wait_renders(driver, 1)
        canvas = driver.find_element(By.CSS_SELECTOR, f'.panel[data-run="{date_keys[0]}"] canvas.heatmap')
        d = {k: float(canvas.get_attribute(f"data-{k}")) for k in ("left", "top", "cell")}
        ActionChains(driver).move_to_element_with_offset(
            canvas,
            int(d["left"] + 3.5 * d["cell"] - canvas.size["width"] / 2),
            int(d["top"] + 1.5 * d["cell"] - canvas.size["height"] / 2),
        ).perform()
        shoot(driver, out / "explore-dates-side-by-side.png")
    if verse_key:
        driver.set_window_size(1100, 1400)
        driver.get(url)
        _wait_ready(driver)
        submit(driver, verse_key, VERSE, {}, 4)
        driver.execute_script(f"explore.select('{verse_key}', {{kind: 'cross', layer: -1, head: 'mean'}})")
        shoot(driver, out / "explore-transformer-grid.png", f'.panel[data-run="{verse_key}"]')
        driver.execute_script(f"explore.select('{verse_key}', {{kind: 'encoder_self', layer: 0, head: '1'}})")
        shoot(driver, out / "explore-transformer-encoder-self.png", f'.panel[data-run="{verse_key}"]')
    driver.set_window_size(1400, 1000)
    driver.get(url)
    _wait_ready(driver)
    submit(driver, passage_key, passage_text, {}, 1)
    driver.execute_script(f"explore.select('{passage_key}', {{rowScale: true}})")
    canvas = driver.find_element(By.CSS_SELECTOR, f'.panel[data-run="{passage_key}"] canvas.heatmap')
    d = {k: float(canvas.get_attribute(f"data-{k}")) for k in ("left", "top", "cell")}
    ActionChains(driver).move_to_element_with_offset(
        canvas,
        int(d["left"] + 40.5 * d["cell"] - canvas.size["width"] / 2),
        int(d["top"] + 5.5 * d["cell"] - canvas.size["height"] / 2),
    ).perform()
    shoot(driver, out / "explore-passage-500.png")
    if graph_key:
        driver.set_window_size(1200, 800)
        driver.get(url)
        _wait_ready(driver)
        submit(driver, graph_key, registry[graph_key].run.task.graph.names[5], {}, 1)
        shoot(driver, out / "explore-graph-neighbourhood.png")


def _wait_renders(driver, n):
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 120, poll_frequency=0.05).until(
        lambda d: int(d.execute_script("return Number(document.body.dataset.renders || 0)")) >= n
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--verse-run", help="a trained Transformer translation run (e.g. runs/bench-transformer)")
    parser.add_argument("--verse", default=VERSE, help="the verse to translate (default: Genesis 1:1, RV 1909)")
    parser.add_argument(
        "--passage-run",
        help="a translation run whose data.max_source_len is >= --passage-tokens (default: train a small one here)",
    )
    parser.add_argument("--passage-tokens", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--beams", default="1,4", help="beam sizes for the verse (default: %(default)s)")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--screenshots", metavar="DIR", help="write docs screenshots (explore-*.png) into DIR")
    parser.add_argument("--dates-runs", nargs="*", default=[], help="date runs shown side by side in a screenshot")
    parser.add_argument("--graph-run", help="a node-classification run (e.g. runs/graphs/gat-s2) for a screenshot")
    args = parser.parse_args(argv)
    if missing():
        raise SystemExit(f"no browser: {missing()}")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        passage_run = Path(args.passage_run) if args.passage_run else toy_passage_run(Path(tmp))
        paths = [p for p in [args.verse_run, str(passage_run), *args.dates_runs, args.graph_run] if p]
        registry = RunRegistry.load(paths)
        keys = registry.keys()
        verse_key = keys[0] if args.verse_run else None
        passage_key = keys[1 if args.verse_run else 0]
        text = passage(load_run(passage_run).task, args.passage_tokens)
        results = []
        with live_server(create_app(registry)) as url:
            driver = start_browser(1400, 1000)
            try:
                driver.get(url)
                _wait_ready(driver)
                if verse_key:
                    for beam in [int(b) for b in args.beams.split(",")]:
                        results.append(
                            {
                                "case": "Bible verse, Transformer",
                                "run": verse_key,
                                **measure(driver, verse_key, args.verse, {}, beam, args.repeats),
                            }
                        )
                results.append(
                    {
                        "case": f"{args.passage_tokens}-token passage",
                        "run": passage_key,
                        **measure(driver, passage_key, text, {}, 1, args.repeats),
                    }
                )
                if args.screenshots:
                    first_date = 2 if verse_key else 1
                    screenshots(
                        driver,
                        url,
                        Path(args.screenshots),
                        verse_key,
                        keys[first_date : first_date + len(args.dates_runs)],
                        registry,
                        passage_key,
                        text,
                        keys[-1] if args.graph_run else None,
                    )
            finally:
                driver.quit()
    print(
        "| case | run | beam | matrix (To x Tk) | request -> rendered heatmap, ms | server ms | drawing ms "
        "| -> layer x head grid rendered, ms |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in results:
        layers = f"{r['layers_ms']:.0f}" if "layers_ms" in r else "n/a"
        print(
            f"| {r['case']} | {r['run']} | {r['beam']} | {r['shape'][0]} x {r['shape'][1]} | "
            f"{r['total_ms']:.0f} | {r['server_ms']:.0f} | {r['render_ms']:.0f} | {layers} |"
        )
        if r["note"]:
            print(f"  ({r['run']}: {r['note']})", file=sys.stderr)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1), encoding="utf-8")
    return 0


def _wait_ready(driver):
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 60, poll_frequency=0.05).until(
        lambda d: d.execute_script("return document.body.dataset.ready")
    )


if __name__ == "__main__":
    sys.exit(main())
