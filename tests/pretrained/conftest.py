"""Tiny random Hugging Face checkpoints (BERT, RoBERTa, GPT-2), built from configs with
``transformers`` and saved with ``save_pretrained``, each with a small ``tokenizer.json`` made
with ``tokenizers``; and helpers comparing attnkit's imports with ``transformers`` (eager)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

WORDS = "the cat sat on a mat dog ran far away and then it slept under warm sun , .".split()
SENTENCES = ["the cat sat on a mat .", "a dog ran far away , and then it slept under the warm sun"]


def word_tokenizer(specials: list[str], template: tuple[str, str] | None, unk: str):
    """A word-level ``tokenizers`` tokenizer over :data:`WORDS` with `specials` first (ids 0..),
    wrapping a text in ``template`` (first, last) when given."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    vocab = {tok: i for i, tok in enumerate(specials + WORDS)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token=unk))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    if template:
        first, last = template
        tok.post_processor = processors.TemplateProcessing(
            single=f"{first} $A {last}", special_tokens=[(first, vocab[first]), (last, vocab[last])]
        )
    return tok


BERT_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
ROBERTA_SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
SIZES = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=48)


def _save(model: Any, tokenizer: Any, path: Path) -> Path:
    model.save_pretrained(path)
    tokenizer.save(str(path / "tokenizer.json"))
    return path


def make_checkpoint(kind: str, path: Path) -> Path:
    """Save a tiny random checkpoint of `kind` into `path` (created): ``bert``, ``bert-mlm``,
    ``bert-cls``, ``roberta``, ``roberta-mlm``, ``roberta-cls``, ``gpt2``."""
    transformers = pytest.importorskip(
        "transformers", reason="transformers is the reference (pip install transformers)"
    )
    torch.manual_seed(0)
    path.mkdir(parents=True, exist_ok=True)
    vocab = 5 + len(WORDS) + 3  # a few ids the tokenizer never makes
    if kind.startswith("bert"):
        cfg = transformers.BertConfig(vocab_size=vocab, max_position_embeddings=40, layer_norm_eps=1e-12, **SIZES)
        cls = {"bert": "BertModel", "bert-mlm": "BertForMaskedLM", "bert-cls": "BertForSequenceClassification"}[kind]
        tok = word_tokenizer(BERT_SPECIALS, ("[CLS]", "[SEP]"), "[UNK]")
    elif kind.startswith("roberta"):
        cfg = transformers.RobertaConfig(
            vocab_size=vocab, max_position_embeddings=42, pad_token_id=1, type_vocab_size=1, **SIZES
        )
        cls = {"roberta": "RobertaModel", "roberta-mlm": "RobertaForMaskedLM"}.get(
            kind, "RobertaForSequenceClassification"
        )
        tok = word_tokenizer(ROBERTA_SPECIALS, ("<s>", "</s>"), "<unk>")
    else:
        cfg = transformers.GPT2Config(
            vocab_size=vocab + 1, n_embd=32, n_layer=2, n_head=4, n_positions=48, bos_token_id=vocab, eos_token_id=vocab
        )
        cls = "GPT2LMHeadModel"
        tok = word_tokenizer(BERT_SPECIALS, None, "[UNK]")
        tok.add_special_tokens(["<pad1>", "<pad2>", "<pad3>", "<|endoftext|>"])
    if kind.endswith("-cls"):
        cfg.num_labels = 3
        cfg.id2label = {0: "negative", 1: "neutral", 2: "positive"}
        cfg.label2id = {v: k for k, v in cfg.id2label.items()}
    model = getattr(transformers, cls)(cfg).eval()
    if kind.startswith("gpt2"):  # random weights are near-uniform; sharpen so greedy continuations are stable
        with torch.no_grad():
            model.transformer.wte.weight.mul_(20)
    return _save(model, tok, path)


def hf_model(path: Path) -> Any:
    """The saved checkpoint loaded by transformers with eager attention (attentions returned)."""
    transformers = pytest.importorskip("transformers")
    import json

    arch = json.loads((path / "config.json").read_text())["architectures"][0]
    return getattr(transformers, arch).from_pretrained(path, attn_implementation="eager").eval()


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    """Every tiny checkpoint kind, saved once per session."""
    root = tmp_path_factory.mktemp("hf")
    kinds = ("bert", "bert-mlm", "bert-cls", "roberta", "roberta-mlm", "roberta-cls", "gpt2")
    return {kind: make_checkpoint(kind, root / kind) for kind in kinds}


@pytest.fixture(scope="session")
def imported(checkpoints, tmp_path_factory) -> dict[str, Path]:
    """Every tiny checkpoint imported once per session with ``import_hf``."""
    from attnkit.pretrained.convert import import_hf

    root = tmp_path_factory.mktemp("runs")
    return {kind: import_hf(path, root / kind) for kind, path in checkpoints.items()}
