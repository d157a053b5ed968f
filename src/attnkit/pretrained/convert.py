"""``import_hf``: a Hugging Face checkpoint folder into an attnkit run folder; ``export_hf``: back.

Both write atomically: the new folder is built as a hidden temporary sibling of `out` and renamed
into place only once it is complete (for an import: once :func:`attnkit.training.load_run` loads
it), so a failure never leaves a partial folder, and an existing folder is replaced only when
asked (``overwrite=True``) and only after the new one is ready.

The per-architecture work is the converters' (:data:`~attnkit.pretrained.base.IMPORTERS`, keyed by
``config.json``'s ``model_type``; :data:`~attnkit.pretrained.base.EXPORTERS`, keyed by
``model.arch``); nothing here names an architecture.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Callable, Iterator

from safetensors.torch import save_file
from torch import Tensor

from ..config import ConfigError, config_from_dict, load_config, save_config
from ..training.run import RunError, load_run
from ..training.run_record import write_run_record
from .base import EXPORTERS, IMPORTERS, ConversionError, Converted
from .checkpoint import read_checkpoint

__all__ = ["import_hf", "export_hf"]


def _check_out(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise ConversionError(f"{out} exists and is not a folder; choose another --out")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise ConversionError(f"{out} exists and is not empty; choose another --out or pass --overwrite")


@contextmanager
def _staged(out: Path, overwrite: bool) -> Iterator[Path]:
    """A temporary folder beside `out`; renamed to `out` when the block succeeds, deleted otherwise."""
    _check_out(out, overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        yield tmp
        _replace(tmp, out, overwrite)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _replace(tmp: Path, out: Path, overwrite: bool) -> None:
    """Rename `tmp` to `out`; an existing `out` is moved aside first and deleted only afterwards."""
    _check_out(out, overwrite)  # again: it may have changed while the folder was built
    old = None
    if out.is_dir():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
    try:
        os.replace(tmp, out)
    except BaseException:
        if old is not None:
            os.replace(old, out)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _copy_files(files: dict[str, Path], run_dir: Path, src: Path) -> None:
    for name, source in files.items():
        rel = PurePosixPath(name)
        if rel.is_absolute() or ".." in rel.parts or not rel.parts:
            raise ConversionError(f"converter wants to write {name!r} outside the run folder")
        if not Path(source).is_file():
            raise ConversionError(f"{source} not found; the checkpoint folder {src} needs it")
        dest = run_dir.joinpath(*rel.parts)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, dest)


def _save_weights(weights: dict[str, Tensor], file: Path) -> None:
    tensors = {k: v.detach().contiguous().cpu() for k, v in weights.items()}
    save_file(tensors, str(file), metadata={"format": "pt"})  # training.checkpoint's format


def _write_run(converted: Converted, run_dir: Path, src: Path, model_type: str) -> None:
    try:
        cfg = config_from_dict(converted.config)
        save_config(cfg, run_dir / "config.yaml")
        load_config(run_dir / "config.yaml")  # strict, as load_run will read it
    except ConfigError as err:
        raise ConversionError(f"the {model_type} importer made an invalid run config: {err}") from None
    write_run_record(run_dir)
    _save_weights(converted.weights, run_dir / "model.safetensors")
    _copy_files(converted.files, run_dir, src)
    try:
        load_run(run_dir)
    except RunError as err:
        raise ConversionError(f"the run imported from {src} does not load: {err}") from None


def import_hf(src: str | Path, out: str | Path, *, overwrite: bool = False) -> Path:
    """Import a local Hugging Face checkpoint folder as an attnkit run folder.

    Args:
        src: the checkpoint folder (``config.json``, ``model.safetensors``, tokenizer files).
        out: the run folder to write; it must not exist or be empty unless `overwrite`.
        overwrite: replace an existing `out` (only once the new run is complete and loads).

    Returns:
        `out`, holding ``config.yaml``, ``run.json``, ``model.safetensors`` and the task's files;
        :func:`attnkit.training.load_run` loads it.

    Raises:
        ConversionError: one line, for a folder that cannot be read or converted, an unsupported
            ``model_type``, or an existing non-empty `out` without `overwrite`. Nothing is
            written then.
    """
    src, out = Path(src), Path(out)
    _check_out(out, overwrite)
    ckpt = read_checkpoint(src)
    try:
        importer = IMPORTERS.get(ckpt.model_type)
    except ValueError as err:
        raise ConversionError(str(err)) from None
    converted = importer.convert(ckpt)
    with _staged(out, overwrite) as tmp:
        _write_run(converted, tmp, src, ckpt.model_type)
    return out


def exportable() -> str:
    """The model families with an exporter, for error messages."""
    return ", ".join(entry.name for entry in EXPORTERS) or "none registered"


def export_hf(run_dir: str | Path, out: str | Path, *, overwrite: bool = False) -> Path:
    """Export an attnkit run as a Hugging Face checkpoint folder (``config.json``,
    ``model.safetensors`` under Hugging Face's names, tokenizer files) that ``from_pretrained`` loads.

    Args:
        run_dir: the run folder (trained here or imported).
        out: the folder to write; it must not exist or be empty unless `overwrite`.
        overwrite: replace an existing `out` (only once the new folder is complete).

    Returns:
        `out`.

    Raises:
        attnkit.training.RunError: if `run_dir` does not load.
        ConversionError: one line, for a model family without a Hugging Face counterpart (naming
            the exportable ones), a config the counterpart cannot represent, or an existing
            non-empty `out` without `overwrite`.
    """
    out = Path(out)
    _check_out(out, overwrite)
    run = load_run(run_dir)
    arch = run.config.model.arch
    exporter = _exporter(arch)
    with _staged(out, overwrite) as tmp:
        exporter(run, tmp)
    return out


def _exporter(arch: str) -> Callable[..., None]:
    try:
        return EXPORTERS.get(arch).export
    except ValueError:
        raise ConversionError(
            f"model.arch={arch} has no Hugging Face counterpart to export to; attnkit exports: {exportable()}"
        ) from None
