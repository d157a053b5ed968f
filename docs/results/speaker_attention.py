"""What a speaker-id run's attention pooling looks at, over its test recordings (texts never heard
in training), and the picture of one of them.

    python docs/results/speaker_attention.py RUN OUT.png [--index I] [--silence-db 35]

Each test recording is predicted as `attnkit predict` predicts a WAV file. Each encoder position
(4 frames of 10 ms; its two 3 x 3 convolutions see frames 4j .. 4j + 6) is called silent when its
frames' mean energy is more than `--silence-db` dB below the recording's loudest frame, and voiced
when librosa's pYIN finds a pitch in most of those frames (fmin 60 Hz, fmax 600 Hz); the rest is
unvoiced sound (fricatives, bursts). Prints the share of positions of each kind against the share
of pooling weight they get (weight share / position share > 1: attention prefers them), the
Spearman correlation between a position's energy and its weight, how peaked the weights are
(their entropy over the uniform's), and accuracy per pitch and speed; draws test recording
`--index` (default: the first) with attnkit.viz.plot_prediction.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import librosa
import numpy as np
from scipy.stats import spearmanr

from attnkit.data.audio import read_audio
from attnkit.data.speech import SpeechCache, Utterance
from attnkit.tasks.spoken_words import speech_cache_dir
from attnkit.training.run import load_run
from attnkit.viz import plot_prediction, save_figure

FIELDS = ("text", "voice", "speed", "pitch", "snr_db", "noise_seed")
RATE, HOP, WINDOW = 16000, 160, 400  # the features' 16 kHz, 10 ms hop, 25 ms window


def frame_kinds(path: Path, silence_db: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per 10 ms frame of a recording (frame t = samples [t * HOP, t * HOP + WINDOW)): energy in dB,
    silent (bool), voiced (bool)."""
    y = read_audio(path, RATE)
    frames = librosa.util.frame(np.pad(y, (0, WINDOW)), frame_length=WINDOW, hop_length=HOP)
    n = 1 + (len(y) - WINDOW) // HOP
    energy = 10 * np.log10(np.mean(frames[:, :n] ** 2, axis=0) + 1e-12)
    _, voiced, _ = librosa.pyin(
        np.pad(y, (0, 2 * WINDOW)), fmin=60, fmax=600, sr=RATE, frame_length=640, hop_length=HOP, center=False
    )
    return energy, energy < energy.max() - silence_db, np.asarray(voiced[:n], dtype=bool)


def positions(values: np.ndarray, n_positions: int) -> np.ndarray:
    """Mean of per-frame values over each encoder position's receptive field (frames 4j .. 4j + 6)."""
    return np.array([values[4 * j : 4 * j + 7].mean() for j in range(n_positions)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run")
    ap.add_argument("out")
    ap.add_argument("--index", type=int, default=0, help="test recording to draw (from 0)")
    ap.add_argument("--silence-db", type=float, default=35.0)
    args = ap.parse_args()
    run = load_run(args.run)
    cache = SpeechCache(speech_cache_dir(run.task.config.cache))
    rows = json.loads((Path(args.run) / "dataset.json").read_text(encoding="utf-8"))["splits"]["test"]
    paths = cache.ensure(Utterance(**{k: r[k] for k in FIELDS}) for r in rows)
    share = {"silent": [0.0, 0.0], "voiced": [0.0, 0.0], "unvoiced": [0.0, 0.0]}  # [positions, weight]
    rhos, entropies, right, hits = [], [], 0, defaultdict(list)
    for start in range(0, len(rows), 64):
        preds = run.task.predict(run.model, [str(p) for p in paths[start : start + 64]])
        for row, path, pred in zip(rows[start : start + 64], paths[start : start + 64], preds):
            w = np.asarray(pred.pool_weights, dtype=np.float64)
            energy, silent, voiced = frame_kinds(path, args.silence_db)
            pos_silent = positions(silent.astype(float), len(w)) > 0.5
            pos_voiced = ~pos_silent & (positions(voiced.astype(float), len(w)) > 0.5)
            kinds = {"silent": pos_silent, "voiced": pos_voiced, "unvoiced": ~pos_silent & ~pos_voiced}
            for name, where in kinds.items():
                share[name][0] += where.mean() / len(rows)
                share[name][1] += w[where].sum() / len(rows)
            rhos.append(spearmanr(positions(energy, len(w)), w).statistic)
            entropies.append(-(w * np.log(w + 1e-12)).sum() / np.log(len(w)))
            hit = pred.output == row["voice"]
            right += hit
            hits[f"pitch {row['pitch']}"].append(hit)
            hits[f"speed {row['speed']}"].append(hit)
    print(f"{len(rows)} test recordings, {right} right")
    for name, (positions_share, weight_share) in share.items():
        print(f"{name:>9}: {positions_share:.1%} of positions, {weight_share:.1%} of pooling weight "
              f"(ratio {weight_share / max(positions_share, 1e-9):.2f})")  # fmt: skip
    print(f"Spearman(energy, weight) per recording: median {np.nanmedian(rhos):.2f}")
    print(f"entropy of the weights / log T': median {np.median(entropies):.3f} (1 = uniform)")
    for key, values in sorted(hits.items()):
        print(f"accuracy at {key}: {np.mean(values):.2%}")
    row = rows[args.index]
    pred = run.task.predict(run.model, [str(paths[args.index])])[0]
    top = ", ".join(f"{pred.classes[k]} {pred.probabilities[k]:.1%}" for k in np.argsort(pred.probabilities)[::-1][:3])
    title = f'{row["voice"]} (pitch {row["pitch"]}, {row["speed"]} wpm): "{row["text"]}" -> {top}'
    save_figure(plot_prediction(pred, title=title), args.out)
    print(f"{args.out}: {title}")


if __name__ == "__main__":
    main()
