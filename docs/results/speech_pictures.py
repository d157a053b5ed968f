"""Attention pictures of trained speech runs on their test split (voices never heard in training).

    python docs/results/speech_pictures.py RUN OUT.png [--first 60] [--pick right|wrong] [--index I]

Spoken dates: each output character's alignment over the spectrogram (time in seconds); spoken
words: the attention pooling and the last layer's self-attention over the frames. Predicts the
first `--first` test recordings from the speech cache, as `attnkit predict` does for any WAV
file, and draws the first whose output is right (or wrong, with --pick wrong) with
attnkit.viz.plot_prediction; prints what was said and written. ``--index I`` draws test recording I
(from 0) whatever the output, so several runs can be drawn on the same recording.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from attnkit.data.speech import SpeechCache, Utterance
from attnkit.tasks.spoken_words import speech_cache_dir
from attnkit.training.run import load_run
from attnkit.viz import plot_prediction, save_figure

FIELDS = ("text", "voice", "speed", "pitch", "snr_db", "noise_seed")


def test_rows(run_dir: Path) -> list[tuple[dict, str]]:
    """(how it was spoken, the right output) of each test recording of a speech run."""
    split = run_dir / "data" / "test.jsonl"
    if split.is_file():  # spoken dates
        rows = [json.loads(line) for line in split.read_text(encoding="utf-8").splitlines() if line.strip()]
        return [(r["utterance"], r["date"]["target"]) for r in rows]
    rows = json.loads((run_dir / "dataset.json").read_text(encoding="utf-8"))["splits"]["test"]  # spoken words
    return [(r, r["text"]) for r in rows]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run")
    ap.add_argument("out")
    ap.add_argument("--first", type=int, default=60)
    ap.add_argument("--pick", choices=("right", "wrong"), default="right")
    ap.add_argument("--index", type=int, help="draw this test recording (from 0), right or wrong")
    args = ap.parse_args()
    run = load_run(args.run)
    cache = SpeechCache(speech_cache_dir(run.task.config.cache))
    rows = test_rows(run.path)
    if args.index is not None and not 0 <= args.index < len(rows):
        raise SystemExit(f"--index {args.index}: the test split has {len(rows)} recordings; give 0 to {len(rows) - 1}")
    for spoken, target in [rows[args.index]] if args.index is not None else rows[: args.first]:
        utterance = Utterance(**{k: spoken[k] for k in FIELDS})
        pred = run.task.predict(run.model, [str(cache.ensure([utterance])[0])])[0]
        if args.index is not None or (pred.output == target) == (args.pick == "right"):
            title = f'{utterance.voice}: "{utterance.text}" -> {pred.output} (true {target})'
            save_figure(plot_prediction(pred, title=title), args.out)
            print(f"{args.out}: {title}")
            return
    print(f"no {args.pick} output among the first {args.first} test recordings")


if __name__ == "__main__":
    main()
