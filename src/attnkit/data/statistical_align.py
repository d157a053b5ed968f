"""The statistical word aligner beside attention: eflomal [Ostling16] on a corpus folder.

:func:`align_corpus` runs eflomal (PyPI ``eflomal``: a Bayesian HMM with fertility, trained by
Gibbs sampling) on the whole text of a corpus folder (train, dev and test together: word aligners
are unsupervised, and the held-out verses need links too; no gold is read), in both directions,
symmetrises them (:func:`attnkit.evaluation.alignment.symmetrise`) and writes, per split,
``{split}.eflomal.pharaoh`` (symmetrised) plus ``{split}.eflomal-fwd.pharaoh`` and
``{split}.eflomal-rev.pharaoh`` (the two directions, both as ``source-target`` links), and records
them with their sha256 in the corpus manifest. Then the aligner's AER on the gold test verses is
``attnkit evaluate --links CORPUS/test.eflomal.pharaoh --gold CORPUS/test.gold.pharaoh``.

References:
    [Ostling16] R. Östling, J. Tiedemann. Efficient Word Alignment with Markov Chain Monte Carlo.
    The Prague Bulletin of Mathematical Linguistics 106:125-146, 2016. doi:10.1515/pralin-2016-0013
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import tempfile
from pathlib import Path

from ..io import atomic_path, atomic_write_text
from .pharaoh import SYMMETRISATIONS, format_pharaoh, read_pharaoh, symmetrise

__all__ = ["AlignerError", "align_corpus", "EFLOMAL_INSTALL"]

log = logging.getLogger(__name__)

EFLOMAL_INSTALL = "pip install eflomal"
SPLITS = ("train", "dev", "test")


class AlignerError(RuntimeError):
    """The statistical aligner is missing or failed; the message says what to do."""


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except OSError as err:
        raise AlignerError(
            f"cannot read {path} ({err.strerror}); build the corpus first with `attnkit data alignments`"
        ) from None


def align_corpus(
    corpus: str | Path,
    *,
    model: int = 3,
    n_samplers: int = 3,
    rel_iterations: float = 1.0,
    null_prior: float = 0.2,
    symmetrisation: str = "grow-diag-final-and",
) -> dict:
    """Align every line of a corpus folder's ``{train,dev,test}.{src,tgt}`` with eflomal.

    Args:
        corpus: the folder (from :func:`attnkit.data.alignments.build_alignment_corpus`, or any
            folder with those six files and a ``manifest.json``).
        model: eflomal's model: 1 IBM Model 1, 2 HMM, 3 HMM + fertility.
        n_samplers: independent Gibbs samplers whose counts are averaged.
        rel_iterations: iterations relative to eflomal's default for the corpus size.
        null_prior: eflomal's prior on NULL alignment.
        symmetrisation: how the two directions are joined (:data:`SYMMETRISATIONS`).

    Returns:
        The manifest's new ``statistical_aligner`` section.

    Raises:
        ValueError: for an unknown symmetrisation.
        AlignerError: if eflomal is not installed or fails, or a file is missing.

    Differences from the paper: none in the aligner (eflomal's own code). eflomal takes no seed,
    so two runs give slightly different links.
    """
    if symmetrisation not in SYMMETRISATIONS:
        raise ValueError(f"unknown symmetrisation {symmetrisation!r}; choose one of: {', '.join(SYMMETRISATIONS)}")
    try:
        import eflomal
    except ImportError:
        raise AlignerError(
            f"the statistical aligner eflomal is not installed; install it with `{EFLOMAL_INSTALL}` "
            "(or pass --aligner none)"
        ) from None
    corpus = Path(corpus)
    src = {s: _lines(corpus / f"{s}.src") for s in SPLITS}
    tgt = {s: _lines(corpus / f"{s}.tgt") for s in SPLITS}
    for s in SPLITS:
        if len(src[s]) != len(tgt[s]):
            raise AlignerError(f"{corpus}/{s}.src has {len(src[s])} lines but {s}.tgt has {len(tgt[s])}")
    all_src = [line for s in SPLITS for line in src[s]]
    all_tgt = [line for s in SPLITS for line in tgt[s]]
    log.info("eflomal: aligning %d sentence pairs in both directions", len(all_src))
    aligner = eflomal.Aligner(model=model, n_samplers=n_samplers, rel_iterations=rel_iterations, null_prior=null_prior)
    with tempfile.TemporaryDirectory() as tmp:
        fwd_path, rev_path = Path(tmp) / "fwd", Path(tmp) / "rev"
        try:
            aligner.align(
                [f"{line}\n" for line in all_src],
                [f"{line}\n" for line in all_tgt],
                links_filename_fwd=str(fwd_path),
                links_filename_rev=str(rev_path),
                quiet=True,
            )
            fwd, rev = read_pharaoh(fwd_path), read_pharaoh(rev_path)
        except (OSError, ValueError, RuntimeError) as err:
            raise AlignerError(f"eflomal failed: {err}") from None
    if len(fwd) != len(all_src) or len(rev) != len(all_src):
        raise AlignerError(f"eflomal returned {len(fwd)} and {len(rev)} alignments for {len(all_src)} sentences")
    digests, start = {}, 0
    for s in SPLITS:
        n = len(src[s])
        chunk = slice(start, start + n)
        start += n
        joined = [
            symmetrise(f, r, symmetrisation, n_source=len(a.split()), n_target=len(b.split()))
            for f, r, a, b in zip(fwd[chunk], rev[chunk], src[s], tgt[s])
        ]
        for name, alignments in (
            (f"{s}.eflomal.pharaoh", joined),
            (f"{s}.eflomal-fwd.pharaoh", fwd[chunk]),
            (f"{s}.eflomal-rev.pharaoh", rev[chunk]),
        ):
            data = "".join(format_pharaoh(links) + "\n" for links in alignments).encode("utf-8")
            with atomic_path(corpus / name) as tmp_file:
                tmp_file.write_bytes(data)
            digests[name] = hashlib.sha256(data).hexdigest()
    section = {
        "aligner": "eflomal",
        "version": importlib.metadata.version("eflomal"),
        "options": {
            "model": model,
            "n_samplers": n_samplers,
            "rel_iterations": rel_iterations,
            "null_prior": null_prior,
        },
        "symmetrisation": symmetrisation,
        "trained_on": "train + dev + test text (no gold)",
        "sentences": len(all_src),
        "files": sorted(digests),
    }
    manifest_path = corpus / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        manifest = {"files": {}}
    manifest["statistical_aligner"] = section
    manifest.setdefault("files", {}).update(digests)
    atomic_write_text(manifest_path, json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    return section
