"""Deployment speed, side by side in one run: attnkit's own decoding (eager and with each speed
option of :class:`attnkit.decoding.DecodeOptions`) against CTranslate2 fp32 and int8 on the same
weights (exported by :func:`attnkit.export.ctranslate2.export_ctranslate2`), greedy and beam 5,
at each thread count, with and without attention on the CTranslate2 side.

    python benchmarks/deploy.py                                  # runs/bible-transformer
    python benchmarks/deploy.py --model RUN --threads 1,2 --json deploy.json
    python benchmarks/deploy.py --small --sentences 1000         # random weights, configs/bible-transformer.yaml
    python benchmarks/deploy.py --quick                          # tiny sizes (the smoke test)

What is timed: decoding token ids to token ids, batches of ``--batch-size`` sources sorted by
length on both sides (subword encoding and detokenisation are outside the clock, on both sides).
Each setting decodes the first batch once untimed (the compiled step compiles there; its time is
printed as ``warm-up s``), then every source. Beam search ranks by the plain sum of
log-probabilities (alpha 0, CTranslate2's ``length_penalty=0``), with which the two engines
give the same outputs (tests/export/test_ctranslate2.py); attnkit's outputs are limited per batch
as the task limits them (``output_limit`` of the batch's longest source), CTranslate2's (one call
for all sources) to the limit of the longest source and one step more, as the exporter's
``translate`` does (attnkit forces ``</s>`` after the limit): outputs that end with ``</s>`` are
not affected.

Columns: sentences/s; output words/s (words of the detokenised outputs; tokens of the random
model); BLEU (sacrebleu) against the references when the run has a test set; BLEU against attnkit
eager's outputs of the same decoding (100: the same outputs); the rate over CTranslate2 fp32's with
attention at the same threads and beam (the issue's goal: attnkit >= 1.0x with attention kept).
attnkit always keeps its per-hypothesis attention (the Transformer's last-layer cross-attention,
every head); CTranslate2 returns one averaged map when asked (``return_attention``).

``--small`` builds the run's config (``--config``, default configs/bible-transformer.yaml) with
random weights, as issue 32 measured: random sources of 5-29 tokens, every output limited to 40
tokens on both sides.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, cast

import torch

from attnkit.config import load_config
from attnkit.data import Vocab
from attnkit.decoding import DecodeOptions, decode, prepare
from attnkit.evaluation.bleu import corpus_scores
from attnkit.export.ctranslate2 import export_ctranslate2, require_ctranslate2
from attnkit.models.specs import Seq2SeqSpec
from attnkit.training import build_model
from attnkit.training.run import load_run

REPO = Path(__file__).resolve().parent.parent
DEFAULT_RUN = "runs/bible-transformer"
DEFAULT_CONFIG = REPO / "configs" / "bible-transformer.yaml"
SMALL_OUTPUT = 40  # every output of the random model: 40 tokens (issue 32)
QUICK_OUTPUT = 12
QUICK_MODEL = ["model.d_model=32", "model.d_ff=64", "model.enc_layers=2", "model.dec_layers=2", "data.vocab_size=200"]
# attnkit's settings: a name and the DecodeOptions changes (all exact but int8)
ATTNKIT_SETTINGS: dict[str, dict[str, Any]] = {
    "eager": {},
    "check-every-8": {"check_every": 8},
    "static-kv": {"kv_cache": "static"},
    "exact-all": {"check_every": 8, "kv_cache": "static"},
    "compiled": {"compile_step": "default"},
    "int8": {"quantize": "int8"},
    "int8+exact": {"quantize": "int8", "check_every": 8, "kv_cache": "static"},
}


@dataclass
class Workload:
    """What is decoded: a model (and its run-like object for the exporter), sources as ids, output
    limits, references, and how ids become words."""

    name: str
    run: Any  # a loaded Run, or a stand-in with what the exporter reads (path, config, task, model)
    sources: list[list[int]]
    limit: Callable[[int], int]  # most output tokens for a batch whose longest source has n tokens
    references: list[str] | None
    words: Callable[[list[int]], str]  # output ids -> detokenised text


def trained_workload(path: str, n: int | None) -> Workload:
    """The test split of a trained translation run (the first `n` sentences)."""
    run = load_run(path)
    task = cast(Any, run.task)
    examples = task.load_split(run.path, "test")[:n]
    sources = [task.src_vocab.encode(task.source_tokens(e.text, getattr(e, "locale", ""))) for e in examples]
    refs = [e.target for e in examples]
    return Workload(str(path), run, sources, task.output_limit, refs, task.decode_target)


def small_workload(
    config: str | Path, overrides: list[str], n: int, folder: Path, *, output: int = SMALL_OUTPUT, seed: int = 0
) -> Workload:
    """The config's model with random weights, on `n` random sources of 5-29 tokens (issue 32's
    small model), outputs limited to `output` tokens, written to `folder` so that the exporter
    can read it."""
    from safetensors.torch import save_model

    cfg = load_config(config, overrides)
    size = cfg.data.vocab_size
    vocab = Vocab([f"w{i}" for i in range(size - len(Vocab([]).itos))])
    spec = Seq2SeqSpec(len(vocab.itos), len(vocab.itos), max_len=512, pad_id=Vocab.pad_id)
    task = SimpleNamespace(spec=spec, src_vocab=vocab, tgt_vocab=vocab)
    torch.manual_seed(seed)
    model = build_model(cfg, task).eval()
    folder.mkdir(parents=True, exist_ok=True)
    save_model(model, str(folder / "model.safetensors"))  # the exporter names the weights by their digest
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(5, 30, (n,), generator=g).tolist()
    sources = [torch.randint(len(Vocab([]).itos), len(vocab.itos), (k,), generator=g).tolist() for k in lengths]
    run = SimpleNamespace(path=folder, config=cfg, task=task, model=model)
    return Workload(f"random {Path(config).stem}", run, sources, lambda _: output, None, _token_words(vocab))


def _token_words(vocab: Vocab) -> Callable[[list[int]], str]:
    return lambda ids: " ".join(vocab.itos[i] for i in ids)


def time_attnkit(work: Workload, options: DecodeOptions, batch: int) -> tuple[float, float, list[list[int]]]:
    """(warm-up s, timed s, output ids) of attnkit's decode with `options`; the model is prepared
    (quantised, compiled) once, outside the clock."""
    model = prepare(work.run.model, options)
    plain = options.replace(compile_step="off", quantize="none")
    start = time.perf_counter()
    decode(model, work.sources[:batch], plain, max_len=work.limit)
    warm = time.perf_counter() - start
    start = time.perf_counter()
    out = decode(model, work.sources, plain, max_len=work.limit)
    return warm, time.perf_counter() - start, [h[0].tokens for h in out]


def time_ctranslate2(
    work: Workload, translator: Any, beam: int, attention: bool, batch: int
) -> tuple[float, float, list[list[int]]]:
    """(warm-up s, timed s, output ids) of CTranslate2 with attnkit's decoding settings."""
    itos, stoi = work.run.task.src_vocab.itos, work.run.task.tgt_vocab.stoi
    tokens = [[itos[i] for i in ids] for ids in work.sources]
    limit = work.limit(max(len(s) for s in work.sources))
    kwargs = {
        "beam_size": beam,
        "length_penalty": 0.0,
        "min_decoding_length": 0,
        "max_decoding_length": limit + 1,
        "return_attention": attention,
        "max_input_length": 0,
        "max_batch_size": batch,
    }
    start = time.perf_counter()
    translator.translate_batch(tokens[:batch], **kwargs)
    warm = time.perf_counter() - start
    start = time.perf_counter()
    found = translator.translate_batch(tokens, **kwargs)
    seconds = time.perf_counter() - start
    unk = work.run.task.tgt_vocab.unk_id
    outs = [[stoi.get(t, unk) for t in r.hypotheses[0] if t != "</s>"][:limit] for r in found]
    return warm, seconds, outs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", metavar="RUN", help=f"a trained Transformer run (default: {DEFAULT_RUN})")
    parser.add_argument("--small", action="store_true", help="random weights built from --config (issue 32)")
    parser.add_argument("--config", default=str(DEFAULT_CONFIG), help="the config of --small (default: %(default)s)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--sentences", type=int, help="sources decoded (default: the test set; 1000 with --small)")
    parser.add_argument("--threads", default="1,2", help="thread counts, comma-separated (default: %(default)s)")
    parser.add_argument("--beams", default="1,5", help="beam sizes, comma-separated (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=64, help="sources per batch (default: %(default)s)")
    parser.add_argument(
        "--settings",
        default=",".join(ATTNKIT_SETTINGS),
        help=f"attnkit settings, comma-separated, of {', '.join(ATTNKIT_SETTINGS)} (default: all)",
    )
    parser.add_argument("--no-ctranslate2", action="store_true", help="attnkit only")
    parser.add_argument("--json", metavar="OUT", help="also write the rows as JSON")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny sizes (--small, a 2 + 2-layer d 32 model, 24 sources, 1 thread, no compile)",
    )
    args = parser.parse_args(argv)
    settings = args.settings.split(",")
    threads = [int(t) for t in args.threads.split(",")]
    if args.quick:
        args.small, args.overrides = True, [*QUICK_MODEL, *args.overrides]
        args.sentences, threads = args.sentences or 24, [1]
        args.batch_size = min(args.batch_size, 8)
        if "--settings" not in (argv if argv is not None else sys.argv):
            settings = [s for s in settings if s != "compiled"]
    unknown = sorted(set(settings) - set(ATTNKIT_SETTINGS))
    if unknown:
        parser.error(f"unknown setting {unknown[0]!r}; choose from {', '.join(ATTNKIT_SETTINGS)}")
    beams = [int(b) for b in args.beams.split(",")]
    torch.set_num_threads(threads[0])
    with tempfile.TemporaryDirectory() as tmp:
        if args.small:
            output = QUICK_OUTPUT if args.quick else SMALL_OUTPUT
            work = small_workload(args.config, args.overrides, args.sentences or 1000, Path(tmp) / "run", output=output)
        else:
            path = args.model or DEFAULT_RUN
            if not Path(path).is_dir():
                print(
                    f"deploy: run folder {path} not found; train it (attnkit train {DEFAULT_CONFIG.name}) "
                    "or pass --model RUN or --small",
                    file=sys.stderr,
                )
                return 1
            work = trained_workload(path, args.sentences)
        exports = {}
        if not args.no_ctranslate2:
            require_ctranslate2()
            for name, quant in (("ct2-fp32", None), ("ct2-int8", "int8")):
                exports[name] = export_ctranslate2(work.run, Path(tmp) / name, quantization=quant)
        rows = run_all(work, settings, exports, threads, beams, args.batch_size)
    print_rows(work, rows, threads)
    if args.json:
        Path(args.json).write_text(json.dumps({"model": work.name, "rows": rows}, indent=1) + "\n", encoding="utf-8")
    return 0


def run_all(
    work: Workload, settings: list[str], exports: dict, threads: list[int], beams: list[int], batch: int
) -> list:
    """Every (threads, beam, engine) row, each with its rates and BLEU."""
    import ctranslate2

    rows = []
    for n_threads in threads:
        torch.set_num_threads(n_threads)
        translators = {name: ctranslate2.Translator(str(p), intra_threads=n_threads) for name, p in exports.items()}
        for beam in beams:
            base = DecodeOptions(beam_size=beam, alpha=0.0, batch_size=batch, batch_tokens=None)
            results: list[tuple[str, bool, float, float, list[list[int]]]] = []
            for name in settings:
                warm, seconds, outs = time_attnkit(work, base.replace(**ATTNKIT_SETTINGS[name]), batch)
                results.append((f"attnkit {name}", True, warm, seconds, outs))
            for name, translator in translators.items():
                for attention in (True, False):
                    warm, seconds, outs = time_ctranslate2(work, translator, beam, attention, batch)
                    results.append((name, attention, warm, seconds, outs))
            eager = next((r[4] for r in results if r[0] == "attnkit eager"), results[0][4])
            eager_text = [work.words(o) for o in eager]
            ct2 = next((r[3] for r in results if r[0] == "ct2-fp32" and r[1]), None)
            for engine, attention, warm, seconds, outs in results:
                text = [work.words(o) for o in outs]
                rows.append(
                    {
                        "threads": n_threads,
                        "beam": beam,
                        "engine": engine,
                        "attention": attention,
                        "sentences": len(work.sources),
                        "warmup_s": round(warm, 2),
                        "seconds": round(seconds, 3),
                        "sentences_per_s": round(len(outs) / seconds, 1),
                        "words_per_s": round(sum(len(t.split()) for t in text) / seconds, 1),
                        "bleu": None
                        if work.references is None
                        else round(corpus_scores(text, work.references).bleu, 2),
                        "bleu_vs_eager": round(corpus_scores(text, eager_text).bleu, 2),
                        "vs_ct2_fp32": None if ct2 is None else round(ct2 / seconds, 2),
                    }
                )
    return rows


def print_rows(work: Workload, rows: list[dict], threads: list[int]) -> None:
    print(
        f"# {work.name}: {len(work.sources)} sources; {platform.processor() or platform.machine()}, "
        f"torch {torch.__version__}; threads {','.join(map(str, threads))}"
    )
    print("| threads | beam | engine | attention | warm-up s | sent/s | words/s | BLEU | BLEU vs eager | vs CT2 fp32 |")
    print("| ---: | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        bleu = "-" if r["bleu"] is None else f"{r['bleu']:.2f}"
        ratio = "-" if r["vs_ct2_fp32"] is None else f"{r['vs_ct2_fp32']:.2f}x"
        print(
            f"| {r['threads']} | {r['beam']} | {r['engine']} | {'yes' if r['attention'] else 'no'} | "
            f"{r['warmup_s']:.2f} | {r['sentences_per_s']:.1f} | {r['words_per_s']:.0f} | {bleu} | "
            f"{r['bleu_vs_eager']:.2f} | {ratio} |"
        )


if __name__ == "__main__":
    raise SystemExit(main())
