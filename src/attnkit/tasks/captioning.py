"""Image captioning of Fashion-MNIST scenes (``scenes-caption``): 2-4 real items on an 84 x 84
canvas -> a caption naming them in reading order with their relations
(:mod:`attnkit.data.scenes`), for Show, Attend and Tell [Xu15] (model family
``show-attend-tell``).

Data. Train scenes take their items from the 60,000 Fashion-MNIST training images; dev and
test scenes from two disjoint halves (a seeded permutation) of the 10,000 test images, so no
source image is shared between splits. Each split has its own seed. The run folder holds
``dataset.json`` (the config, the sha256 of the source files and of every split's pixels, the
training pixels' mean and standard deviation, the longest caption), ``vocab.json`` (the caption
words of the training split) and ``data/{split}.json`` (every scene's items: class, source
index, box; and its caption). Loading a split redraws the pixels from the source files and
checks them against the recorded sha256.

Input to the model: pixels / 255, minus the training mean, over the training standard
deviation, (B, 1, 84, 84) float32. Loss: the summed cross-entropy of the caption words and
``</s>`` (teacher forcing), plus the model's doubly stochastic penalty (soft attention, [Xu15]
Eq. 14) and, for sampled hard attention, the model's REINFORCE terms with the moving-average
baseline and entropy bonus of ``model.reinforce_weight`` / ``entropy_weight`` / ``baseline_decay``
([Xu15] Sec. 4.1; :mod:`attnkit.models.reinforce`).

Evaluation decodes greedily or with beam search (:mod:`attnkit.decoding`) and reports BLEU-1..4
and exact match (:func:`attnkit.evaluation.caption_scores`), and for models with attention the
localisation of the item words: the k-th item a generated caption names is matched with the
k-th item of the scene in reading order; when it names that item's class, each of its noun
words is scored by :func:`attnkit.evaluation.attention_in_box` on the attention of the step
that emitted it (``localisation_accuracy``: the peak inside the box; ``attention_in_box``: the
mass inside), beside the chance levels of those same boxes.

References:
    [Xu15] K. Xu et al. Show, Attend and Tell: Neural Image Caption Generation with Visual
    Attention. ICML 2015. arXiv:1502.03044.
    [Xiao17] H. Xiao, K. Rasul, R. Vollgraf. Fashion-MNIST. arXiv:1708.07747, 2017.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar, Mapping, NamedTuple, Sequence, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..capabilities import InputKind, TaskCapabilities
from ..data import Vocab, fashion_mnist, pad
from ..data import scenes as scene_data
from ..data.images import read_image
from ..decoding import DecodeOptions, beam_search, greedy_decode
from ..errors import ConfigError, InputError
from ..evaluation import attention_in_box, box_chance, caption_scores
from ..io import atomic_write_text
from ..models.captioner import ShowAttendTell
from ..models.reinforce import SamplesAttention
from ..models.specs import CaptionSpec
from ..predictions import CAPTION
from ..schema import check_positive
from .base import LossContext, PrimaryMetric
from .images import INVERT

__all__ = ["ScenesCaptionConfig", "CaptionExample", "CaptionBatch", "CaptionPrediction", "ScenesCaptionTask"]


#: the most scenes a caption config may ask for per split: each is drawn and kept as pixels
#: (7 KB at the default 84 x 84), so a million take minutes to draw and 7 GB to hold
MAX_SCENES = 1_000_000


@dataclass(frozen=True)
class ScenesCaptionConfig:
    """``data.task: scenes-caption``: how many scenes, and how they are drawn.

    Attributes:
        root: folder of the Fashion-MNIST IDX files; "" = ``$ATTNKIT_FASHION_MNIST`` or Debian's.
        seed: seed of the splits (train uses seed + 1, dev seed + 2, test seed + 3).
        n_train, n_dev, n_test: scenes per split.
        size, n_min, n_max, side_min, side_max, gap: :class:`attnkit.data.scenes.SceneParams`.
    """

    task: str = "scenes-caption"
    root: str = ""
    seed: int = 1234
    n_train: int = 20000
    n_dev: int = 500
    n_test: int = 1000
    size: int = 84
    n_min: int = 2
    n_max: int = 4
    side_min: int = 20
    side_max: int = 36
    gap: int = 2

    def params(self) -> scene_data.SceneParams:
        return scene_data.SceneParams(self.size, self.n_min, self.n_max, self.side_min, self.side_max, self.gap)

    def check(self) -> None:
        check_positive(self, "n_train", "n_dev", "n_test", section="data")
        for name in ("n_train", "n_dev", "n_test"):
            if getattr(self, name) > MAX_SCENES:
                raise ConfigError(
                    f"data.{name} must be at most {MAX_SCENES:,} scenes, got {getattr(self, name):,}; ask for fewer"
                )
        try:
            self.params().check()
        except ConfigError as err:
            raise ConfigError(f"data: {err}") from None


@dataclass(frozen=True)
class CaptionExample:
    """One scene: its pixels, (H, W) uint8, and its items and caption."""

    image: Tensor
    scene: scene_data.Scene


class CaptionBatch(NamedTuple):
    images: Tensor  # (B, 1, H, W) float32, normalised
    tgt_in: Tensor  # (B, Tq) <s> y_1 .. y_n, padded
    tgt_out: Tensor  # (B, Tq) y_1 .. y_n </s>, padded


@dataclass
class CaptionPrediction:
    """A generated caption with the attention of every word.

    Attributes:
        output: the caption.
        image: the picture as the model saw it, (H, W) in [0, 1].
        words: the generated tokens, then ``</s>`` (To).
        word_maps: attention of the step that emitted each word, (To, h, w) over the annotation
            grid, each summing to 1 (one-hot for hard attention); None without attention.
        score: the sum of the log-probabilities of the words and ``</s>``.
    """

    kind: ClassVar[str] = CAPTION

    output: str
    image: np.ndarray
    words: list[str]
    word_maps: np.ndarray | None
    score: float


def _digest(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def _source(cfg: ScenesCaptionConfig, split: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        return fashion_mnist.load_fashion_mnist(split, root=cfg.root or None)
    except InputError as err:
        raise ConfigError(str(err)) from None


@dataclass
class ScenesCaptionTask:
    """Captioning of Fashion-MNIST scenes as a task plug-in (see the module docstring). Primary
    metric: BLEU-4 (exact match breaks ties)."""

    config: ScenesCaptionConfig
    vocab: Vocab
    mean: float
    std: float
    max_target_len: int

    name = "scenes-caption"
    config_class = ScenesCaptionConfig
    default_family = "show-attend-tell"
    metric = PrimaryMetric("bleu_4", higher_is_better=True, best_possible=100.0, tie_break="exact_match")
    loss_unit = "target tokens"
    spec_class = CaptionSpec

    @property
    def capabilities(self) -> TaskCapabilities:
        """An image file in (option ``invert``), a caption decoded word by word."""
        return TaskCapabilities(InputKind.IMAGE, (INVERT,), decodes=True)

    @property
    def spec(self) -> CaptionSpec:
        return CaptionSpec(1, self.config.size, self.config.size, len(self.vocab), Vocab.pad_id)

    # --- data and the run folder -------------------------------------------------------------
    @staticmethod
    def pools(cfg: ScenesCaptionConfig, n_train_images: int, n_test_images: int) -> dict[str, np.ndarray]:
        """The source images each split may use: all training images for train; two disjoint
        halves of a seeded permutation of the test images for dev and test."""
        held_out = np.random.default_rng(cfg.seed).permutation(n_test_images)
        half = n_test_images // 2
        return {"train": np.arange(n_train_images), "dev": np.sort(held_out[:half]), "test": np.sort(held_out[half:])}

    @classmethod
    def build(cls, cfg: ScenesCaptionConfig, run_dir: str | Path) -> tuple["ScenesCaptionTask", dict[str, list]]:
        """Draw the three splits, learn the vocabulary and pixel statistics from train, and
        write everything into `run_dir` (module docstring).

        Raises:
            attnkit.errors.ConfigError: if Fashion-MNIST is not installed or the layout
                parameters cannot be met.
        """
        sources = {"train": _source(cfg, "train"), "test": _source(cfg, "test")}
        pools = cls.pools(cfg, len(sources["train"][1]), len(sources["test"][1]))
        run_dir = Path(run_dir)
        splits, meta = {}, {}
        for k, (split, n) in enumerate((("train", cfg.n_train), ("dev", cfg.n_dev), ("test", cfg.n_test)), 1):
            images, labels = sources["train" if split == "train" else "test"]
            scenes = scene_data.make_scenes(n, labels, pools[split], seed=cfg.seed + k, params=cfg.params())
            pixels = scene_data.render_scenes(scenes, images, cfg.size)
            splits[split] = [CaptionExample(torch.from_numpy(p), s) for p, s in zip(pixels, scenes)]
            meta[split] = {"n": n, "sha256": _digest(pixels)}
            atomic_write_text(
                run_dir / "data" / f"{split}.json",
                json.dumps({"scenes": [scene_data.scene_to_dict(s) for s in scenes]}),
            )
            if split == "train":
                scaled = pixels.astype(np.float64) / 255.0
                mean, std = float(scaled.mean()), float(scaled.std())
        vocab = Vocab.build(e.scene.caption.split() for e in splits["train"])
        longest = max(len(e.scene.caption.split()) for e in splits["train"])
        vocab.save(run_dir / "vocab.json")
        info = {
            "config": asdict(cfg),
            "mean": mean,
            "std": std,
            "max_target_len": longest,
            "source_sha256": {k: _digest(*v) for k, v in sources.items()},
            "splits": meta,
        }
        atomic_write_text(run_dir / "dataset.json", json.dumps(info, indent=1))
        return cls(cfg, vocab, mean, std, longest), splits

    @classmethod
    def load(cls, cfg: ScenesCaptionConfig, run_dir: str | Path) -> "ScenesCaptionTask":
        info = json.loads((Path(run_dir) / "dataset.json").read_text(encoding="utf-8"))
        return cls(cfg, Vocab.load(Path(run_dir) / "vocab.json"), info["mean"], info["std"], info["max_target_len"])

    @classmethod
    def load_split(cls, run_dir: str | Path, split: str) -> list[CaptionExample]:
        """The scenes of a saved split, redrawn from the source files and checked.

        Raises:
            attnkit.errors.ConfigError: if the images are missing or differ from the run's.
        """
        run_dir = Path(run_dir)
        info = json.loads((run_dir / "dataset.json").read_text(encoding="utf-8"))
        cfg = ScenesCaptionConfig(**info["config"])
        record = json.loads((run_dir / "data" / f"{split}.json").read_text(encoding="utf-8"))
        scenes = [scene_data.scene_from_dict(d) for d in record["scenes"]]
        images, _ = _source(cfg, "train" if split == "train" else "test")
        pixels = scene_data.render_scenes(scenes, images, cfg.size)
        if _digest(pixels) != info["splits"][split]["sha256"]:
            raise ConfigError(
                f"{run_dir}: the {split} scenes differ from the ones this run was trained on "
                "(other Fashion-MNIST files, or another version of the scene code)"
            )
        return [CaptionExample(torch.from_numpy(p), s) for p, s in zip(pixels, scenes)]

    # --- training ------------------------------------------------------------------------------
    def encode(self, examples: Sequence[CaptionExample]) -> list[tuple[Tensor, list[int]]]:
        return [(e.image, self.vocab.encode(e.scene.caption.split())) for e in examples]

    @staticmethod
    def lengths(item: tuple[Tensor, list[int]]) -> tuple[int, int]:
        return item[0].numel(), len(item[1]) + 1

    @staticmethod
    def loss_weight(item: tuple[Tensor, list[int]]) -> int:
        return len(item[1]) + 1  # the words and </s>

    def _normalise(self, pixels: Tensor) -> Tensor:
        """uint8 or [0, 1] float (B, H, W) -> normalised (B, 1, H, W) float32."""
        x = pixels.float() / 255.0 if pixels.dtype == torch.uint8 else pixels.float()
        return ((x - self.mean) / self.std).unsqueeze(1)

    def collate(self, items: Sequence[tuple[Tensor, list[int]]]) -> CaptionBatch:
        return CaptionBatch(
            self._normalise(torch.stack([image for image, _ in items])),
            pad([[Vocab.bos_id, *t] for _, t in items]),
            pad([[*t, Vocab.eos_id] for _, t in items]),
        )

    @staticmethod
    def loss(model: nn.Module, batch: CaptionBatch, ctx: LossContext) -> Tensor:
        """Summed cross-entropy of the real target tokens, plus the model's doubly stochastic
        penalty and, for sampled hard attention, the REINFORCE terms (module docstring)."""
        out = model(batch.images, batch.tgt_in)
        real = batch.tgt_out != Vocab.pad_id
        logits = out.logits.float() if out.logits.dtype in (torch.float16, torch.bfloat16) else out.logits
        nll = F.cross_entropy(
            logits.flatten(0, 1),
            batch.tgt_out.flatten(),
            ignore_index=Vocab.pad_id,
            reduction="none",
            label_smoothing=ctx.train.label_smoothing,
        ).view(real.shape)
        total = nll.sum()
        if out.penalty is not None:
            total = total + out.penalty
        if out.log_prob is not None:  # the model's own REINFORCE loss (None only when nothing was sampled)
            terms = cast(SamplesAttention, model).reinforce_terms(nll.detach(), out, real)
            if terms is not None:
                total = total + terms
        return total

    # --- decoding, evaluation and prediction ---------------------------------------------------
    def _decode(self, model: nn.Module, pixels: Tensor, decode: DecodeOptions | None) -> list[CaptionPrediction]:
        """Captions of pixels (N, H, W) (uint8, or floats in [0, 1]), in batches of
        ``decode.batch_size`` (None: greedy, 200 images per batch), with the attention of every
        word folded onto the model's grid; ``precision="bf16"`` decodes under bfloat16 autocast."""
        options = decode or DecodeOptions(batch_size=200)
        batch_size, max_len = options.batch_size, options.max_len or self.max_target_len + 5
        device = next(model.parameters()).device
        grid = cast(ShowAttendTell, model).grid(*pixels.shape[1:])  # the model a CaptionSpec builds
        model.eval()
        out = []
        for start in range(0, len(pixels), batch_size):
            chunk = pixels[start : start + batch_size]
            images = self._normalise(chunk).to(device)
            lengths = torch.full((len(chunk),), grid[0] * grid[1], dtype=torch.long, device=device)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=options.precision == "bf16"):
                if options.beam_size > 1:
                    hyps = [nbest[0] for nbest in beam_search(model, images, lengths, max_len, options)]
                else:
                    hyps = greedy_decode(model, images, lengths, max_len)
            for pixel, hyp in zip(chunk, hyps):
                picture = pixel.float().numpy() / (255.0 if pixel.dtype == torch.uint8 else 1.0)  # float32
                words = [self.vocab.itos[t] for t in hyp.tokens]
                maps = None if hyp.weights is None else hyp.weights.float().view(-1, *grid).numpy()
                out.append(CaptionPrediction(" ".join(words), picture, words + ["</s>"], maps, hyp.score))
        return out

    @torch.no_grad()
    def evaluate(
        self, model: nn.Module, examples: Sequence[CaptionExample], *, decode: DecodeOptions | None = None
    ) -> tuple[dict[str, Any], list[CaptionPrediction]]:
        """BLEU-1..4, exact match and, with attention, localisation (module docstring).

        Metrics: ``bleu_1`` .. ``bleu_4`` (0-100), ``exact_match``, ``n``; with attention also
        ``localisation_accuracy`` and ``attention_in_box`` over ``n_localised`` noun words
        (``n_item_words`` generated in all), and their chance levels ``chance_peak`` and
        ``chance_mass`` on the same boxes.

        Raises:
            ValueError: for no examples.
        """
        if not examples:
            raise ValueError("no examples to evaluate")
        preds = self._decode(model, torch.stack([e.image for e in examples]), decode)
        metrics: dict[str, Any] = caption_scores([p.output for p in preds], [e.scene.caption for e in examples])
        metrics["n"] = len(examples)
        if preds and preds[0].word_maps is not None:
            metrics.update(self._localisation(preds, examples))
        return metrics, preds

    def _localisation(self, preds: Sequence[CaptionPrediction], examples: Sequence[CaptionExample]) -> dict:
        size = (self.config.size, self.config.size)
        hits, masses, chance_peak, chance_mass, n_words = [], [], [], [], 0
        for pred, example in zip(preds, examples):
            mentions = scene_data.item_mentions(pred.words)
            n_words += sum(len(positions) for _, positions in mentions)
            for (label, positions), item in zip(mentions, example.scene.items):
                if label != item.label:
                    continue
                maps = pred.word_maps
                if maps is None:  # a model attends for every caption or for none; here it attends
                    raise ValueError("a caption without attention among captions with attention")
                inside, mass = attention_in_box(maps[positions], item.box, size)
                peak, area = box_chance(item.box, maps.shape[1:], size)
                hits += inside.tolist()
                masses += mass.tolist()
                chance_peak += [peak] * len(positions)
                chance_mass += [area] * len(positions)
        mean = lambda v: float(np.mean(v)) if v else 0.0  # noqa: E731
        return {
            "localisation_accuracy": mean(hits),
            "attention_in_box": mean(masses),
            "chance_peak": mean(chance_peak),
            "chance_mass": mean(chance_mass),
            "n_localised": len(hits),
            "n_item_words": n_words,
        }

    def report(self, metrics: Mapping[str, Any], *, detailed: bool = False) -> list[str]:
        lines = [f"{'scenes:':<24}{metrics['n']}"]
        lines += [f"{f'BLEU-{n}:':<24}{metrics[f'bleu_{n}']:.2f}" for n in range(1, 5)]
        lines.append(f"{'exact match:':<24}{metrics['exact_match']:.2%}")
        if "localisation_accuracy" in metrics:
            lines += [
                f"{'localisation accuracy:':<24}{metrics['localisation_accuracy']:.2%} (chance "
                f"{metrics['chance_peak']:.2%}) of {metrics['n_localised']} item words naming the right item "
                f"({metrics['n_item_words']} generated): the attention peak inside the item's box",
                f"{'attention in box:':<24}{metrics['attention_in_box']:.2%} (uniform attention: "
                f"{metrics['chance_mass']:.2%}) of the attention mass of those words",
            ]
        else:
            lines.append(f"{'localisation:':<24}n/a (the model has no attention)")
        if detailed:
            lines.append(f"{'BLEU signature:':<24}{metrics['bleu_signature']}")
        return lines

    def predict(
        self,
        model: nn.Module,
        inputs: Sequence[str],
        *,
        options: Mapping[str, str] = {},
        decode: DecodeOptions | None = None,
    ) -> list[CaptionPrediction]:
        """Captions of image files (PNG, JPEG, ... read with Pillow, made grey and resized to the
        scenes' size), greedy or with beam search (``beam_size``), with every word's attention.

        Options: ``invert=auto|yes|no`` (:func:`attnkit.data.images.read_image`).

        Raises:
            attnkit.errors.InputError: for an unreadable file, an unknown option, or a
                ``decode.batch_tokens`` other than the default (the images are all one size: use
                ``batch_size``); every input is checked before any caption is made.
        """
        unknown = set(options) - {"invert"}
        if unknown:
            raise InputError(
                f"unknown option {', '.join(sorted(unknown))} for task {self.name}; it takes invert=auto|yes|no"
            )
        invert = options.get("invert", "auto")
        if invert not in ("auto", "yes", "no"):
            raise InputError(f"option invert={invert!r}: choose auto, yes or no")
        if decode is not None and decode.batch_tokens != DecodeOptions().batch_tokens:
            raise InputError("images are all one size, so --batch-tokens does not apply; use --batch-size")
        if not inputs:
            raise InputError("no input images")
        size = (self.config.size, self.config.size)
        pixels = torch.from_numpy(np.stack([read_image(path, size, invert=invert) for path in inputs]))
        with torch.no_grad():
            return self._decode(model, pixels, decode)
