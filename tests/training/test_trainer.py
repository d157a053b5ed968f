"""Trainer: resuming reproduces an uninterrupted run exactly; checkpoints are safetensors only."""

import json
import os
import signal
import threading
from dataclasses import replace

import pytest
import torch
from safetensors.torch import load_file

from attnkit.config import TrainConfig
from attnkit.models import Seq2Seq
from attnkit.models.reinforce import ReinforceLoss
from attnkit.tasks.base import PrimaryMetric
from attnkit.training import CheckpointError, Trainer, load_weights

from ..helpers import ID_PAIRS, items


def _reverse_data(n=256, seed=0):
    g = torch.Generator().manual_seed(seed)
    src = [torch.randint(4, 12, (int(torch.randint(3, 7, (1,), generator=g)),), generator=g).tolist() for _ in range(n)]
    return src, [list(reversed(s)) for s in src]


CFG = TrainConfig(max_steps=40, batch_size=32, lr=0.01, lr_min=0.001, eval_every=10, patience=100, seed=7, threads=1)


def _trainer(run_dir, cfg=CFG, validate=None):
    torch.manual_seed(0)
    model = Seq2Seq(12, 12, attention="bahdanau", emb_dim=8, hidden_dim=16, dropout=0.1)
    src, tgt = _reverse_data()
    return Trainer(
        model, cfg, run_dir, ID_PAIRS, items(src, tgt), validate or (lambda m: {"score": 0.0}), progress=False
    )


def test_resume_reproduces_the_uninterrupted_run(tmp_path):
    straight = _trainer(tmp_path / "a")
    (tmp_path / "a").mkdir()
    straight.fit()

    calls = []

    def stop_on_second_validation(model):
        calls.append(1)
        if len(calls) == 2:  # simulate a crash after the state of step 10 was saved
            raise RuntimeError("boom")
        return {"score": 0.0}

    (tmp_path / "b").mkdir()
    with pytest.raises(RuntimeError, match="boom"):
        _trainer(tmp_path / "b", validate=stop_on_second_validation).fit()
    assert json.loads((tmp_path / "b" / "trainer_state.json").read_text())["extra"]["step"] == 10
    resumed = _trainer(tmp_path / "b")
    result = resumed.fit(resume=True)
    assert result.steps == 40
    for (name, a), b in zip(straight.model.state_dict().items(), resumed.model.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)


def test_a_stop_signal_saves_a_resumable_state(tmp_path):
    (tmp_path / "run").mkdir()
    trainer = _trainer(tmp_path / "run", cfg=replace(CFG, max_steps=10_000, eval_every=10_000))
    threading.Timer(1.0, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
    with pytest.raises(KeyboardInterrupt):
        trainer.fit()
    state = json.loads((tmp_path / "run" / "trainer_state.json").read_text())
    assert 0 < state["extra"]["step"] < 10_000
    again = _trainer(tmp_path / "run", cfg=replace(CFG, max_steps=state["extra"]["step"] + 5, eval_every=10_000))
    assert again.fit(resume=True).steps == state["extra"]["step"] + 5


def test_best_checkpoint_is_kept_and_early_stopping_works(tmp_path):
    scores = iter([0.5, 0.7, 0.6, 0.6, 0.9])
    (tmp_path / "run").mkdir()
    trainer = _trainer(
        tmp_path / "run", cfg=replace(CFG, patience=2, max_steps=60), validate=lambda m: {"score": next(scores)}
    )
    result = trainer.fit()
    assert result.stopped_early and result.steps == 40 and result.best_step == 20
    assert result.best_score == 0.7
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [10, 20, 30, 40]
    tensors = load_file(str(tmp_path / "run" / "model.safetensors"))
    assert set(tensors) == set(trainer.model.state_dict())
    assert not list((tmp_path / "run").glob("*.tmp"))


def test_loading_refuses_corrupt_or_mismatched_weights(tmp_path):
    model = Seq2Seq(12, 12, emb_dim=8, hidden_dim=16)
    (tmp_path / "bad.safetensors").write_bytes(b"\x00" * 20)
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        load_weights(model, tmp_path / "bad.safetensors")
    with pytest.raises(CheckpointError, match="not found"):
        load_weights(model, tmp_path / "missing.safetensors")


@pytest.mark.parametrize("arch", ["rnn", "transformer"])
def test_the_model_learns_to_reverse(tmp_path, arch):
    cfg = replace(CFG, max_steps=300, eval_every=300, lr=0.01)
    (tmp_path / "run").mkdir()
    trainer = _trainer(tmp_path / "run", cfg=cfg)
    if arch == "transformer":
        from attnkit.models import TransformerSeq2Seq

        torch.manual_seed(0)
        model = TransformerSeq2Seq(
            12, 12, d_model=32, n_heads=4, enc_layers=1, dec_layers=1, d_ff=64, dropout=0.0, positional="sinusoidal"
        )
        cfg = replace(cfg, max_steps=500, lr=0.005, schedule="inverse-sqrt", warmup_steps=50)
        src, tgt = _reverse_data(n=3000)  # a Transformer needs more examples than the RNN here
        trainer = Trainer(
            model, cfg, tmp_path / "run", ID_PAIRS, items(src, tgt), lambda m: {"score": 0.0}, progress=False
        )
    else:
        trainer.model.dropout.p = 0.0
    trainer.fit()
    from attnkit.data import collate
    from attnkit.decoding import greedy_decode

    src, tgt = _reverse_data(n=200, seed=1)
    batch = collate(src)
    hyps = greedy_decode(trainer.model.eval(), batch.src, batch.src_lengths, max_len=8)
    correct = sum(h.tokens == t for h, t in zip(hyps, tgt))
    assert correct / len(tgt) >= 0.9


def test_learning_rate_schedules():
    from attnkit.training.trainer import lr_factor

    cosine = lr_factor(TrainConfig(max_steps=100, lr=1.0, lr_min=0.1))
    assert cosine(0) == pytest.approx(1.0) and cosine(100) == pytest.approx(0.1)
    assert cosine(50) == pytest.approx(0.55)
    noam = lr_factor(TrainConfig(schedule="inverse-sqrt", warmup_steps=100, lr=1.0, lr_min=0.0))
    assert noam(0) == pytest.approx(0.01) and noam(99) == pytest.approx(1.0)  # linear warm-up
    assert noam(400) == pytest.approx(0.5)  # sqrt(100 / 400), Vaswani et al. Eq. 3
    const = lr_factor(TrainConfig(schedule="constant", warmup_steps=10))
    assert const(4) == pytest.approx(0.5) and const(1000) == 1.0


def test_label_smoothing_changes_the_loss(tmp_path):
    (tmp_path / "run").mkdir()
    plain = _trainer(tmp_path / "run")
    smooth = _trainer(tmp_path / "run", cfg=replace(CFG, label_smoothing=0.2))
    from attnkit.data import collate

    src, tgt = _reverse_data(n=8)
    batch = collate(src, tgt)
    plain.model.eval(), smooth.model.eval()
    logits = plain.model(batch.src, batch.src_lengths, batch.tgt_in).logits
    logp = torch.log_softmax(logits, -1)
    keep = batch.tgt_out != 0
    nll = -logp.gather(-1, batch.tgt_out.unsqueeze(-1)).squeeze(-1)[keep].sum() / batch.n_tokens
    uniform = -logp.mean(-1)[keep].sum() / batch.n_tokens
    torch.testing.assert_close(plain.loss(batch, batch.n_tokens), nll)
    torch.testing.assert_close(smooth.loss(batch, batch.n_tokens), 0.8 * nll + 0.2 * uniform)


def test_reinforce_model_samples_while_training_and_takes_the_argmax_at_inference():
    torch.manual_seed(0)
    model = Seq2Seq(12, 12, attention="bahdanau", normaliser="reinforce", emb_dim=8, hidden_dim=16)
    src, tgt = _reverse_data(n=4)
    from attnkit.data import collate

    batch = collate(src, tgt)
    out = model.train()(batch.src, batch.src_lengths, batch.tgt_in)
    assert out.log_prob.shape == batch.tgt_in.shape and out.entropy.shape == batch.tgt_in.shape
    assert torch.all(out.weights.sum(-1).round() == 1) and torch.all((out.weights == 0) | (out.weights == 1))
    assert torch.all(out.log_prob <= 0) and torch.all(out.entropy >= 0)
    out.logits.sum().backward()  # one-hot weights: no gradient path to the scores except log_prob
    assert model.decoder.attention.energy.grad is None or torch.all(model.decoder.attention.energy.grad == 0)
    evaluated = model.eval()(batch.src, batch.src_lengths, batch.tgt_in)
    assert evaluated.log_prob is None
    scores_argmax = evaluated.weights.argmax(-1)
    assert torch.all(evaluated.weights.gather(-1, scores_argmax.unsqueeze(-1)) == 1)


def test_reinforce_terms_use_the_baseline_of_earlier_batches():
    """-lambda_r (r - b) log p(s) - lambda_e H, b the moving average of *earlier* batches' mean
    rewards: 0 on the first batch, that batch's mean on the second, then decay * b + (1 - decay) * mean."""
    loss = ReinforceLoss(reinforce_weight=0.5, entropy_weight=0.1, baseline_decay=0.9)
    assert loss.baseline_value is None
    real = torch.tensor([[True, True, False], [True, True, True]])
    batches = [  # per-token nll of three batches, and their rewards r = -sum of real nll
        (torch.tensor([[1.0, 2.0, 9.0], [0.5, 0.5, 0.5]]), [-3.0, -1.5]),  # mean -2.25
        (torch.tensor([[0.25, 0.25, 9.0], [1.0, 1.0, 2.0]]), [-0.5, -4.0]),  # mean -2.25 as well
        (torch.tensor([[4.0, 2.0, 9.0], [0.0, 1.0, 0.0]]), [-6.0, -1.0]),  # mean -3.5
    ]
    baselines = [0.0, -2.25, 0.9 * -2.25 + 0.1 * -2.25]  # the b each batch must use
    after = [-2.25, 0.9 * -2.25 + 0.1 * -2.25, 0.9 * (0.9 * -2.25 + 0.1 * -2.25) + 0.1 * -3.5]
    for (nll, rewards), b, b_after in zip(batches, baselines, after):
        log_prob = torch.tensor([[-0.1, -0.2, -0.3], [-0.4, -0.5, -0.6]], requires_grad=True)
        entropy = torch.tensor([[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]], requires_grad=True)
        loss(nll, log_prob, entropy, real).backward()
        expected = -0.5 * (torch.tensor(rewards) - b).unsqueeze(1) * real  # padding excluded
        torch.testing.assert_close(log_prob.grad, expected)
        torch.testing.assert_close(entropy.grad, -0.1 * real.float())
        assert loss.baseline_value == pytest.approx(b_after)


@pytest.mark.parametrize(
    "metric, records, best_step, stopped_at",
    [
        # a tie on the primary metric goes to the better tie-break value
        (PrimaryMetric("score", tie_break="f1"), [(0.5, 0.1), (0.7, 0.2), (0.7, 0.4), (0.7, 0.3)], 30, 40),
        # without a tie-break the first of equal values is kept
        (PrimaryMetric("score"), [(0.5, 0.1), (0.7, 0.2), (0.7, 0.4), (0.7, 0.3)], 20, 40),
        # lower is better
        (PrimaryMetric("score", higher_is_better=False), [(0.5, 0), (0.3, 0), (0.4, 0), (0.35, 0)], 20, 40),
        # reaching the declared best value stops training at once (no magic 1.0: here 0.9)
        (PrimaryMetric("score", best_possible=0.9), [(0.5, 0), (0.95, 0), (0.1, 0), (0.1, 0)], 20, 20),
    ],
)
def test_the_primary_metric_picks_the_best_checkpoint_and_the_stop(tmp_path, metric, records, best_step, stopped_at):
    values = iter(records)

    def validate(model):
        score, f1 = next(values)
        return {"score": score, "f1": f1}

    (tmp_path / "run").mkdir()
    torch.manual_seed(0)
    model = Seq2Seq(12, 12, attention="bahdanau", emb_dim=8, hidden_dim=16)
    src, tgt = _reverse_data()
    trainer = Trainer(
        model,
        replace(CFG, patience=100, max_steps=40),
        tmp_path / "run",
        ID_PAIRS,
        items(src, tgt),
        validate,
        metric=metric,
        progress=False,
    )
    result = trainer.fit()
    assert result.best_step == best_step and result.steps == stopped_at


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_resume_on_cuda_restores_the_device_random_state(tmp_path):
    """Dropout on CUDA draws from the device's generator: the state saves it (``rng.cuda``), so
    a resumed run takes the same dropout masks as an uninterrupted one. cuDNN kernels may sum in
    another order between runs, hence a tolerance far below what one different mask would move."""

    def on_cuda(run_dir, validate=None):
        trainer = _trainer(run_dir, validate=validate)
        trainer.model.cuda()  # in place: the optimizer keeps the same parameters
        return trainer

    (tmp_path / "a").mkdir()
    straight = on_cuda(tmp_path / "a")
    straight.fit()
    calls = []

    def crash_on_second(model):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("boom")
        return {"score": 0.0}

    (tmp_path / "b").mkdir()
    with pytest.raises(RuntimeError, match="boom"):
        on_cuda(tmp_path / "b", validate=crash_on_second).fit()
    assert "rng.cuda" in load_file(tmp_path / "b" / "last.safetensors")
    resumed = on_cuda(tmp_path / "b")
    resumed.fit(resume=True)
    for (name, a), b in zip(straight.model.state_dict().items(), resumed.model.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5, msg=name)


def test_parameters_with_an_lr_scale_train_at_that_multiple_of_the_rate(tmp_path):
    from attnkit.models.cnn_classifier import AttentionCNN

    model = AttentionCNN(1, 10, (16, 16), channels=(4, 8), stn=True, stn_lr_scale=0.1)
    trainer = Trainer(model, CFG, tmp_path, ID_PAIRS, items([[4]], [[4]]), lambda m: {"score": 0.0}, progress=False)
    rates = {}
    for group in trainer.optimizer.param_groups:
        for p in group["params"]:
            rates[id(p)] = group["lr"]
    stn = {id(p) for p in model.stn.parameters()}
    assert [rates[i] for i in stn] == pytest.approx([CFG.lr * 0.1] * len(stn))
    assert {r for i, r in rates.items() if i not in stn} == {CFG.lr}
    trainer.optimizer.step()
    trainer.scheduler.step()
    lrs = sorted(g["lr"] for g in trainer.optimizer.param_groups)
    assert lrs[0] == pytest.approx(lrs[1] * 0.1)  # the schedule scales both groups alike
