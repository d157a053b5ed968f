"""On a CUDA device: train -> evaluate -> translate of tiny models, the fused and explicit
attention paths, bf16 autocast, and a device error on machines without one. The CUDA tests are
marked ``gpu`` and skipped where no device is visible (run them with ``pytest -m gpu``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from attnkit.cli import main
from attnkit.functional import attend

REPO = Path(__file__).resolve().parents[1]
TINY = [
    "data.n_train=1500",
    "data.n_dev=100",
    "data.n_test=100",
    "train.max_steps=150",
    "train.eval_every=75",
    "train.batch_size=64",
]
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _sets(items):
    return [arg for s in items for arg in ("--set", s)]


@pytest.mark.gpu
@cuda
@pytest.mark.parametrize(
    "config, extra",
    [("dates-bahdanau.yaml", []), ("dates-transformer.yaml", ["train.max_steps=150", "train.warmup_steps=50"])],
)
def test_train_evaluate_translate_on_cuda(tmp_path, capsys, config, extra):
    run = tmp_path / "run"
    assert (
        main(
            [
                "train",
                str(REPO / "configs" / config),
                "--out",
                str(run),
                "--device",
                "cuda",
                "--no-progress",
                *_sets(TINY + extra + ["train.precision=bf16"]),
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["evaluate", "--model", str(run), "--device", "cuda", "--json"]) == 0
    on_gpu = json.loads(capsys.readouterr().out)
    assert main(["evaluate", "--model", str(run), "--device", "cpu", "--json"]) == 0
    on_cpu = json.loads(capsys.readouterr().out)
    assert on_gpu["n"] == on_cpu["n"] == 100
    assert abs(on_gpu["exact_match"] - on_cpu["exact_match"]) <= 0.02  # same weights, other kernels
    assert (
        main(["translate", "--model", str(run), "--device", "cuda", "--locale", "de_DE", "3. Mai 1979", "--beam", "3"])
        == 0
    )
    assert len(capsys.readouterr().out.strip()) == 10


@pytest.mark.gpu
@cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_fused_and_explicit_paths_agree_on_cuda(dtype):
    g = torch.Generator(device="cuda").manual_seed(0)
    q, k, v = (torch.randn(2, 4, t, 32, device="cuda", generator=g) for t in (7, 9, 9))
    mask = torch.rand(2, 1, 7, 9, device="cuda", generator=g) > 0.3
    mask[0, 0, 3] = False  # a row with no key: zeros on both paths
    golden = attend(q.double(), k.double(), v.double(), mask=mask, score="scaled_dot").context
    fused = attend(q.to(dtype), k.to(dtype), v.to(dtype), mask=mask, score="scaled_dot", need_weights=False)
    explicit = attend(q.to(dtype), k.to(dtype), v.to(dtype), mask=mask, score="scaled_dot", need_weights=True)
    assert fused.weights is None and explicit.weights is not None
    err_fused = (fused.context.double() - golden).abs().max()
    err_explicit = (explicit.context.double() - golden).abs().max()
    eps = torch.finfo(dtype).eps
    assert err_fused <= 8 * max(err_explicit, eps) and err_explicit <= 64 * eps
    assert torch.all(fused.context[0, :, 3] == 0) and torch.all(explicit.context[0, :, 3] == 0)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")
def test_asking_for_cuda_without_one_is_a_one_line_usage_error(tmp_path, capsys):
    code = main(
        ["train", str(REPO / "configs" / "dates-bahdanau.yaml"), "--out", str(tmp_path / "r"), "--device", "cuda"]
    )
    err = capsys.readouterr().err
    assert code == 2 and "no CUDA device is available here" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()
    assert main(["evaluate", "--model", str(tmp_path), "--device", "tpu"]) == 2
    assert "expected auto (CUDA if available, else CPU), cpu, cuda or cuda:N" in capsys.readouterr().err
