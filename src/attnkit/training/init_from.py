"""Fine-tuning from a pretrained run: ``train.init_from: RUN_DIR`` [Devlin19] Sec. 3.2.

Before the first step of a new run, every tensor of the pretrained run's ``model.safetensors``
whose name and shape match one of the new model's is copied into it; the rest of the new model
(a task's own heads) keeps its fresh initialisation, and the rest of the pretrained run (its
pretraining heads, e.g. ``heads.word``) is skipped. A same-name tensor of another shape is
refused (the encoder sizes in ``model:`` differ), and so is a pretrained run sharing no name at
all with the model (another model family). Word ids must mean the same words in both runs: the
files under the pretrained run's ``vocab/`` must be present and identical in the new run (a task
that takes ``data.vocab_from: RUN_DIR`` copies them). The counts go to the log and to
``init_from.json`` in the new run folder.

A resumed run does not load them again: its state (``last.safetensors``) already holds them.

Any run folder is a source, an imported Hugging Face checkpoint (``attnkit import-hf``) too,
where its parameter names match the model's (an imported ``bert`` run is attnkit's own BERT,
whose names are not those of the tagging encoder: it is refused as sharing no name).

References:
    [Devlin19] J. Devlin, M.-W. Chang, K. Lee, K. Toutanova. BERT: Pre-training of Deep
    Bidirectional Transformers for Language Understanding. NAACL 2019. arXiv:1810.04805.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from ..errors import ConfigError
from ..io import atomic_write_text

__all__ = ["InitReport", "init_from_run", "check_same_vocab", "INIT_RECORD"]

log = logging.getLogger(__name__)

INIT_RECORD = "init_from.json"  # in the new run folder: what was loaded from where


@dataclass(frozen=True)
class InitReport:
    """What :func:`init_from_run` did.

    Attributes:
        source: the pretrained run folder.
        loaded: names of the tensors copied.
        skipped: names of the pretrained run's tensors the model has no tensor of that name for.
        fresh: names of the model's tensors left at their initialisation.
        numbers: how many numbers were copied.
    """

    source: str
    loaded: tuple[str, ...]
    skipped: tuple[str, ...]
    fresh: tuple[str, ...]
    numbers: int


def check_same_vocab(source: Path, run_dir: Path) -> None:
    """Refuse a run whose vocabulary files differ from the pretrained run's.

    Raises:
        ConfigError: one line naming the first file under ``source/vocab/`` that `run_dir` lacks or
            holds with other contents, and the fix (``data.vocab_from``).
    """
    folder = source / "vocab"
    if not folder.is_dir():
        return
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(source)
        mine = run_dir / rel
        if not mine.is_file() or mine.read_bytes() != path.read_bytes():
            raise ConfigError(
                f"train.init_from={source}: this run's vocabulary ({rel}) "
                f"{'differs from' if mine.is_file() else 'is not'} the pretrained run's, so word ids would mean "
                f"other words; set data.vocab_from: {source}"
            )


def init_from_run(model: nn.Module, source: str | Path, run_dir: str | Path, *, record: bool = True) -> InitReport:
    """Copy the tensors of the run `source` whose names and shapes match `model`'s into it.

    Args:
        model: the freshly built model of the new run.
        source: the pretrained run folder (holds ``model.safetensors``).
        run_dir: the new run folder (its task files written: vocabularies are compared).
        record: write ``init_from.json`` (rank 0 only, under ``torch.distributed``).

    Returns:
        What was loaded, skipped and left fresh; also written to ``run_dir/init_from.json``.

    Raises:
        ConfigError: one line, for a missing or unreadable run, other vocabulary files, a
            same-name tensor of another shape, or no tensor name in common.
    """
    source, run_dir = Path(source), Path(run_dir)
    weights = source / "model.safetensors"
    if not weights.is_file():
        raise ConfigError(
            f"train.init_from={source}: no model.safetensors there; give the folder of a trained run "
            "(`attnkit train configs/pretrain-*.yaml --out DIR`) or of an imported one (`attnkit import-hf`)"
        )
    check_same_vocab(source, run_dir)
    try:
        tensors = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as err:
        raise ConfigError(f"train.init_from={source}: {weights.name} is unreadable ({str(err)[:120]})") from None
    own = model.state_dict()
    for name, tensor in tensors.items():
        if name in own and own[name].shape != tensor.shape:
            raise ConfigError(
                f"train.init_from={source}: {name} is {tuple(tensor.shape)} there but {tuple(own[name].shape)} here; "
                "give the model: section the pretrained run's sizes"
            )
    loaded = tuple(name for name in tensors if name in own)
    if not loaded:
        raise ConfigError(
            f"train.init_from={source}: none of its {len(tensors)} tensors has a name of this model's "
            f"(it has e.g. {next(iter(tensors), 'none')}, this model {next(iter(own), 'none')}); "
            "fine-tune a model family built on the same encoder"
        )
    with torch.no_grad():
        for name in loaded:
            own[name].copy_(tensors[name])
    report = InitReport(
        str(source),
        loaded,
        tuple(name for name in tensors if name not in own),
        tuple(name for name in own if name not in tensors),
        sum(tensors[name].numel() for name in loaded),
    )
    log.info(
        "init_from %s: loaded %d tensors (%s numbers), skipped %d of its tensors (%s), "
        "%d of this model's start fresh (%s)",
        source,
        len(report.loaded),
        f"{report.numbers:,}",
        len(report.skipped),
        _few(report.skipped),
        len(report.fresh),
        _few(report.fresh),
    )
    if record:
        atomic_write_text(run_dir / INIT_RECORD, json.dumps(asdict(report), indent=1))
    return report


def _few(names: tuple[str, ...], n: int = 4) -> str:
    return ", ".join(names[:n]) + (", ..." if len(names) > n else "") if names else "none"
