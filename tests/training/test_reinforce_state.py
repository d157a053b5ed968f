"""The REINFORCE reward baseline is model state: saved with the weights (model.safetensors,
last.safetensors), restored on resume, so that a resumed run of a hard-attention model matches an
uninterrupted one; old run folders (baseline in trainer_state.json, no buffer in the weights)
still load and resume; old configs with the REINFORCE settings in train: still load."""

import json
import logging
import math

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from attnkit.config import ConfigError, TrainConfig, load_config
from attnkit.models import Seq2Seq
from attnkit.models.reinforce import ReinforceLoss
from attnkit.training import Trainer, load_weights
from attnkit.training.checkpoint import _STATE_KEY, load_state
from attnkit.training.reinforce_state import gather_baselines, restore_baselines

from ..helpers import ID_PAIRS, items

CFG = TrainConfig(max_steps=30, batch_size=16, lr=0.01, lr_min=0.001, eval_every=10, patience=100, seed=3, threads=1)


def _data(n=96, seed=0):
    g = torch.Generator().manual_seed(seed)
    src = [torch.randint(4, 12, (int(torch.randint(3, 6, (1,), generator=g)),), generator=g).tolist() for _ in range(n)]
    return src, [list(reversed(s)) for s in src]


def _model():
    torch.manual_seed(0)
    return Seq2Seq(
        12,
        12,
        attention="bahdanau",
        normaliser="reinforce",
        emb_dim=8,
        hidden_dim=12,
        reinforce_weight=0.5,
        entropy_weight=0.02,
        baseline_decay=0.8,
    )


def _trainer(run_dir, validate=None):
    run_dir.mkdir(exist_ok=True)
    src, tgt = _data()
    return Trainer(
        _model(), CFG, run_dir, ID_PAIRS, items(src, tgt), validate or (lambda m: {"score": 0.0}), progress=False
    )


def _crash_after_first_save(run_dir):
    calls = []

    def validate(model):
        calls.append(1)
        if len(calls) == 2:  # a crash after the state of step 10 was saved
            raise RuntimeError("boom")
        return {"score": 0.0}

    with pytest.raises(RuntimeError, match="boom"):
        _trainer(run_dir, validate).fit()


def _assert_same_state(a, b):
    assert a.state_dict().keys() == b.state_dict().keys()
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values()):
        torch.testing.assert_close(x, y, rtol=0, atol=0, msg=name)


def test_the_baseline_is_a_buffer_saved_with_the_weights(tmp_path):
    trainer = _trainer(tmp_path / "run")
    trainer.fit()
    model = trainer.model
    assert isinstance(model.reinforce, ReinforceLoss) and model.reinforce.baseline_value is not None
    assert model.reinforce.baseline_value < 0  # a moving average of log-likelihoods
    last = load_file(str(tmp_path / "run" / "last.safetensors"))
    assert float(last["model.reinforce.baseline"]) == model.reinforce.baseline_value
    best = load_file(str(tmp_path / "run" / "model.safetensors"))
    assert "reinforce.baseline" in best and best["reinforce.baseline"].dtype == torch.float64
    assert "baseline" not in json.loads((tmp_path / "run" / "trainer_state.json").read_text())["extra"]
    fresh = _model()
    assert fresh.reinforce.baseline_value is None
    load_weights(fresh, tmp_path / "run" / "model.safetensors")
    assert fresh.reinforce.baseline_value == float(best["reinforce.baseline"])
    fresh.load_state_dict({k[len("model.") :]: v for k, v in last.items() if k.startswith("model.")})
    assert fresh.reinforce.baseline_value == model.reinforce.baseline_value


def test_a_resumed_hard_attention_run_matches_the_uninterrupted_one(tmp_path):
    straight = _trainer(tmp_path / "a")
    straight.fit()
    _crash_after_first_save(tmp_path / "b")
    resumed = _trainer(tmp_path / "b")
    assert resumed.fit(resume=True).steps == CFG.max_steps
    _assert_same_state(straight.model, resumed.model)  # the baseline buffer included
    # without restoring the baseline the resumed run would differ: it steers the attention's updates
    _crash_after_first_save(tmp_path / "c")
    last = tmp_path / "c" / "last.safetensors"
    tensors = load_file(str(last))
    tensors["model.reinforce.baseline"] = torch.tensor(math.nan, dtype=torch.float64)
    with safe_open(str(last), framework="pt") as fh:
        meta = fh.metadata()
    save_file(tensors, str(last), metadata=meta)
    forgetful = _trainer(tmp_path / "c")
    forgetful.fit(resume=True)
    differs = [
        not torch.equal(x, y)
        for x, y in zip(straight.model.state_dict().values(), forgetful.model.state_dict().values())
    ]
    assert any(differs)


def _make_old_run_folder(run_dir):
    """Turn a run folder into one written when the baseline lived in trainer_state.json."""
    last = run_dir / "last.safetensors"
    tensors = load_file(str(last))
    baseline = float(tensors.pop("model.reinforce.baseline"))
    with safe_open(str(last), framework="pt") as fh:
        meta = json.loads(fh.metadata()[_STATE_KEY])
    meta["extra"]["baseline"] = baseline
    save_file(tensors, str(last), metadata={_STATE_KEY: json.dumps(meta)})
    (run_dir / "trainer_state.json").write_text(json.dumps(meta), encoding="utf-8")
    best = load_file(str(run_dir / "model.safetensors"))
    best.pop("reinforce.baseline")
    save_file(best, str(run_dir / "model.safetensors"), metadata={"format": "pt"})
    return baseline


def test_an_old_run_folder_loads_and_resumes_with_its_trainer_state_baseline(tmp_path):
    straight = _trainer(tmp_path / "a")
    straight.fit()
    _crash_after_first_save(tmp_path / "old")
    baseline = _make_old_run_folder(tmp_path / "old")
    assert "model.reinforce.baseline" not in load_file(str(tmp_path / "old" / "last.safetensors"))
    weights_only = _model()
    load_weights(weights_only, tmp_path / "old" / "model.safetensors")  # strict, without the buffer
    assert weights_only.reinforce.baseline_value is None  # its initial value: no batch seen
    resumed = _trainer(tmp_path / "old")
    extra, _ = load_state(tmp_path / "old", resumed.model, resumed.optimizer, resumed.scheduler)
    restore_baselines(resumed.model, extra, 0)
    assert resumed.model.reinforce.baseline_value == baseline  # filled from the old trainer state
    resumed = _trainer(tmp_path / "old")
    resumed.fit(resume=True)
    _assert_same_state(straight.model, resumed.model)


def test_other_ranks_take_their_own_baselines_back():
    model = _model()
    model.reinforce.set_baseline(-3.0)  # rank 1's own value before the resume
    restore_baselines(model, {"rank_baselines": [[-1.0], [-2.5]]}, 1)
    assert model.reinforce.baseline_value == -2.5
    restore_baselines(model, {"rank_baselines": [-1.0, None]}, 1)  # an older state: a number per rank
    assert model.reinforce.baseline_value is None
    from attnkit.training.distributed import DistContext

    model.reinforce.set_baseline(-0.5)
    assert gather_baselines(model, DistContext()) == [[-0.5]]
    assert gather_baselines(torch.nn.Linear(2, 2), DistContext()) == []  # no REINFORCE loss: nothing to gather


def test_reinforce_settings_in_train_move_to_the_model(tmp_path, caplog):
    path = tmp_path / "old.yaml"
    path.write_text(
        "model:\n  normaliser: reinforce\ntrain:\n  reinforce_weight: 0.5\n  entropy_weight: 0.0\n"
        "  baseline_decay: 0.95\n",
        encoding="utf-8",
    )
    with caplog.at_level(logging.WARNING, logger="attnkit.config"):
        cfg = load_config(path)
    notices = [r.getMessage() for r in caplog.records if r.name == "attnkit.config"]
    assert len(notices) == 1 and "\n" not in notices[0]
    for key in ("reinforce_weight", "entropy_weight", "baseline_decay"):
        assert f"train.{key} is now model.{key}" in notices[0]
    assert (cfg.model.reinforce_weight, cfg.model.entropy_weight, cfg.model.baseline_decay) == (0.5, 0.0, 0.95)
    assert cfg == load_config(
        None,
        [
            "model.normaliser=reinforce",
            "model.reinforce_weight=0.5",
            "model.entropy_weight=0.0",
            "model.baseline_decay=0.95",
        ],
    )
    # every resolved config of a run wrote the defaults in train:; without sampled attention they go quietly
    caplog.clear()
    plain = tmp_path / "plain.yaml"
    plain.write_text(
        "train:\n  reinforce_weight: 1.0\n  entropy_weight: 0.01\n  baseline_decay: 0.9\n", encoding="utf-8"
    )
    with caplog.at_level(logging.WARNING, logger="attnkit.config"):
        assert load_config(plain, legacy=True) == load_config(None)
    assert not [r for r in caplog.records if r.name == "attnkit.config"]
    with pytest.raises(ConfigError, match="model.reinforce_weight does not apply"):
        load_config(None, ["model.reinforce_weight=0.5"])  # softmax attention samples nothing
