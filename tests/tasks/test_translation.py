"""The translation task: corpus folders, subword models in the run folder, BLEU validation."""

import random

import pytest

from attnkit.config import ConfigError, load_config
from attnkit.tasks import TASKS, TranslationTask
from attnkit.training import load_run
from attnkit.training.pipeline import train_run

ES = ["cero", "uno", "dos", "tres", "cuatro", "cinco", "seis", "siete", "ocho", "nueve"]
EN = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def write_corpus(folder, n_train=400, n_dev=40, n_test=40, seed=0):
    """A toy corpus: Spanish digit words -> English digit words, 1-6 words per sentence."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("dev", n_dev), ("test", n_test)):
        src, tgt = [], []
        for _ in range(n):
            digits = [rng.randrange(10) for _ in range(rng.randint(1, 6))]
            src.append(" ".join(ES[d] for d in digits).capitalize() + ".")
            tgt.append(" ".join(EN[d] for d in digits).capitalize() + ".")
        (folder / f"{split}.src").write_text("\n".join(src) + "\n", encoding="utf-8")
        (folder / f"{split}.tgt").write_text("\n".join(tgt) + "\n", encoding="utf-8")
    return folder


def config(tmp_path, corpus, **train):
    path = tmp_path / "cfg.yaml"
    path.write_text(
        f"""
data: {{task: translation, corpus: {corpus}, vocab_size: 60, max_source_len: 40, n_dev: 40}}
model: {{arch: rnn, attention: bahdanau, emb_dim: 32, hidden_dim: 32, attn_dim: 32}}
train: {{max_steps: {train.get("max_steps", 300)}, batch_tokens: 400, lr: 0.01, eval_every: 100, patience: 5,
         threads: 1}}
""",
        encoding="utf-8",
    )
    return load_config(path)


def test_registered_and_config_checked(tmp_path):
    assert TASKS.get("translation") is TranslationTask
    path = tmp_path / "c.yaml"
    path.write_text("data: {task: translation}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="data.corpus"):
        load_config(path)
    path.write_text("data: {task: dates, corpus: x}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="does not apply to data.task=dates"):
        load_config(path)
    path.write_text("data: {task: translation, corpus: x, n_train: 5}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="n_train does not apply"):
        load_config(path)


def test_missing_corpus_is_a_config_error(tmp_path):
    cfg = config(tmp_path, tmp_path / "nowhere")
    with pytest.raises(ConfigError, match="not found"):
        train_run(cfg, tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()  # nothing half-made left behind


def test_train_translate_and_score_by_bleu(tmp_path):
    corpus = write_corpus(tmp_path / "corpus")
    cfg = config(tmp_path, corpus)
    result = train_run(cfg, tmp_path / "run", progress=False)
    run = load_run(tmp_path / "run")
    assert (tmp_path / "run" / "subwords.src.model").is_file()
    assert {"dev_bleu", "dev_chrf"} <= set(result.history[-1])
    test = run.task.load_split(run.path, "test")
    metrics, translations = run.task.evaluate(run.model, test)
    assert metrics["bleu"] > 60, metrics  # a learnable toy problem: far above chance after 300 steps
    assert "tok:13a" in metrics["bleu_signature"]
    first = translations[0]
    assert first.output == run.task.decode_target(run.task.encode_target(first.output))  # plain detokenised text
    assert first.weights.shape == (len(first.out_tokens), len(first.src_tokens))


def test_long_training_pairs_are_left_out_and_counted(tmp_path, caplog):
    corpus = write_corpus(tmp_path / "corpus", n_train=200)
    (corpus / "train.src").write_text((corpus / "train.src").read_text() + " ".join(["uno"] * 80) + "\n")
    (corpus / "train.tgt").write_text((corpus / "train.tgt").read_text() + " ".join(["one"] * 80) + "\n")
    cfg = config(tmp_path, corpus)
    task, splits = TranslationTask.build(cfg.data, tmp_path / "run")
    with caplog.at_level("INFO"):
        src, tgt = task.pairs(splits["train"])
    assert len(src) == len(splits["train"]) - 1
    assert "left out 1 of 201" in caplog.text


def test_bfloat16_autocast_training_learns_too(tmp_path):
    corpus = write_corpus(tmp_path / "corpus")
    cfg = config(tmp_path, corpus)
    path = tmp_path / "bf16.yaml"
    path.write_text((tmp_path / "cfg.yaml").read_text().replace("threads: 1", "threads: 1, precision: bf16"))
    cfg = load_config(path)
    assert cfg.train.precision == "bf16"
    train_run(cfg, tmp_path / "run", progress=False)
    run = load_run(tmp_path / "run")
    metrics, _ = run.task.evaluate(run.model, run.task.load_split(run.path, "test"))
    assert metrics["bleu"] > 60, metrics
    path.write_text((tmp_path / "cfg.yaml").read_text().replace("threads: 1", "threads: 1, precision: fp8"))
    with pytest.raises(ConfigError, match="train.precision"):
        load_config(path)
