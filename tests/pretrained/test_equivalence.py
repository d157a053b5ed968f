"""Imported BERT, RoBERTa and GPT-2 checkpoints give the same hidden states, logits and every
layer's attention as ``transformers`` (eager) on the same weights, in Python and as printed by
``attnkit predict --json``; ``export-hf`` folders load in ``transformers`` with the same outputs."""

from __future__ import annotations

import json

import pytest
import torch

from attnkit.cli import main
from attnkit.errors import InputError
from attnkit.pretrained.convert import import_hf
from attnkit.training import load_run

from .conftest import SENTENCES, hf_model

pytest.importorskip("transformers", reason="transformers is the reference (pip install transformers)")

ENCODERS = ("bert", "bert-mlm", "bert-cls", "roberta", "roberta-mlm", "roberta-cls")
KINDS = ENCODERS + ("gpt2",)
TOL = dict(rtol=0, atol=1e-5)


def _hf(ref, ids, mask=None):
    with torch.no_grad():
        return ref(ids, attention_mask=mask, output_attentions=True, output_hidden_states=True)


@pytest.mark.parametrize("kind", KINDS)
def test_import_gives_transformers_hidden_states_logits_and_attention(kind, checkpoints, imported):
    run, ref = load_run(imported[kind]), hf_model(checkpoints[kind])
    for text in SENTENCES:
        ids = torch.tensor([run.task.tokenizer.encode(text).ids])
        expected = _hf(ref, ids)
        with torch.no_grad():
            ours = run.model(ids, need_weights=True)
        # GPT-2: transformers' last hidden state is after ln_f, as ours
        torch.testing.assert_close(ours.hidden, expected.hidden_states[-1], **TOL)
        assert len(ours.weights) == len(expected.attentions) == 2
        for mine, theirs in zip(ours.weights, expected.attentions):
            torch.testing.assert_close(mine, theirs, **TOL)
        if kind in ("bert", "roberta"):
            torch.testing.assert_close(ours.pooled, expected.pooler_output, **TOL)
            assert ours.logits is None
        else:
            torch.testing.assert_close(ours.logits, expected.logits, **TOL)


@pytest.mark.parametrize("kind", ("bert", "roberta"))
def test_padded_batch_matches_transformers_on_the_real_tokens(kind, checkpoints, imported):
    """Two sentences of different lengths in one batch: the padding mask keeps the real tokens'
    outputs and attention rows those of transformers with the same attention_mask."""
    run, ref = load_run(imported[kind]), hf_model(checkpoints[kind])
    encs = [run.task.tokenizer.encode(t).ids for t in SENTENCES]
    t = max(map(len, encs))
    pad = run.config.model.pad_id
    ids = torch.tensor([e + [pad] * (t - len(e)) for e in encs])
    mask = torch.tensor([[True] * len(e) + [False] * (t - len(e)) for e in encs])
    expected = _hf(ref, ids, mask.long())
    with torch.no_grad():
        ours = run.model(ids, mask, need_weights=True)
    n = len(encs[0])  # the shorter sentence: its real tokens only
    torch.testing.assert_close(ours.hidden[0, :n], expected.hidden_states[-1][0, :n], **TOL)
    torch.testing.assert_close(ours.hidden[1], expected.hidden_states[-1][1], **TOL)
    for mine, theirs in zip(ours.weights, expected.attentions):
        torch.testing.assert_close(mine[0, :, :n], theirs[0, :, :n], **TOL)
        assert torch.all(mine[0, :, :, n:] == 0)  # padding gets exactly zero weight


@pytest.mark.parametrize("kind", ("bert-mlm", "roberta", "gpt2"))
def test_predict_json_prints_the_tokens_and_every_layers_attention_of_transformers(kind, checkpoints, imported, capsys):
    text = SENTENCES[0]
    extra = ["--option", "max_new_tokens=4"] if kind == "gpt2" else []
    assert main(["predict", "--model", str(imported[kind]), "--json", text, *extra]) == 0
    got = json.loads(capsys.readouterr().out.strip())
    assert got["kind"] == "self-attention" and got["causal"] == (kind == "gpt2")
    run, ref = load_run(imported[kind]), hf_model(checkpoints[kind])
    prompt = run.task.tokenizer.encode(text).ids
    if kind == "gpt2":
        with torch.no_grad():
            generated = ref.generate(
                torch.tensor([prompt]), max_new_tokens=4, do_sample=False, pad_token_id=ref.config.eos_token_id
            )[0].tolist()
        assert got["prompt_length"] == len(prompt)
        ids = generated
    else:
        ids = prompt
    assert got["tokens"] == [run.task.tokenizer.id_to_token(i) for i in ids]
    weights = torch.tensor(got["weights"]["data"]).reshape(got["weights"]["shape"])
    expected = torch.cat(_hf(ref, torch.tensor([ids])).attentions)  # (L, Nh, T, T)
    torch.testing.assert_close(weights, expected, rtol=0, atol=1e-5)  # printed to 5 decimals


def test_gpt2_greedy_continuation_is_transformers_greedy_generate(checkpoints, imported):
    run, ref = load_run(imported["gpt2"]), hf_model(checkpoints["gpt2"])
    for text in SENTENCES:
        prompt = run.task.tokenizer.encode(text).ids
        (pred,) = run.task.predict(run.model, [text], options={"max_new_tokens": "6"})
        with torch.no_grad():
            expected = ref.generate(
                torch.tensor([prompt]), max_new_tokens=6, do_sample=False, pad_token_id=ref.config.eos_token_id
            )[0].tolist()
        assert pred.tokens == [run.task.tokenizer.id_to_token(i) for i in expected]
        assert pred.prompt_length == len(prompt) and pred.causal
        assert pred.weights.shape == (2, 4, len(expected), len(expected))
        assert pred.output == run.task.tokenizer.decode(expected[len(prompt) :])


def test_gpt2_stops_at_the_end_of_text_token(checkpoints, tmp_path):
    """A model whose every next token is the end-of-text one stops after one token."""
    from attnkit.pretrained.checkpoint import read_checkpoint

    run = load_run(import_hf(checkpoints["gpt2"], tmp_path / "run"))
    eos = run.config.data.eos_id
    assert eos == read_checkpoint(checkpoints["gpt2"]).config["eos_token_id"]
    with torch.no_grad():
        run.model.tokens.weight[eos].mul_(10)  # tied output: logits E h; h = E[eos] makes EOS the best
        run.model.final_norm.weight.zero_()
        run.model.final_norm.bias.copy_(run.model.tokens.weight[eos])
    (pred,) = run.task.predict(run.model, [SENTENCES[0]], options={"max_new_tokens": "5"})
    assert len(pred.tokens) == pred.prompt_length + 1 and pred.tokens[-1] == "<|endoftext|>"


def test_mlm_head_fills_masks_with_transformers_argmax(checkpoints, imported):
    run, ref = load_run(imported["bert-mlm"]), hf_model(checkpoints["bert-mlm"])
    text = "the cat [MASK] on a [MASK] ."
    enc = run.task.tokenizer.encode(text)
    best = _hf(ref, torch.tensor([enc.ids])).logits[0].argmax(-1).tolist()
    (pred,) = run.task.predict(run.model, [text])
    expected = [run.task.tokenizer.id_to_token(b) if t == "[MASK]" else t for t, b in zip(enc.tokens, best)]
    assert pred.output == " ".join(expected) and "[MASK]" not in pred.output


@pytest.mark.parametrize("kind", ("bert-cls", "roberta-cls"))
def test_classification_head_prints_transformers_label(kind, checkpoints, imported):
    run, ref = load_run(imported[kind]), hf_model(checkpoints[kind])
    for text in SENTENCES:
        logits = _hf(ref, torch.tensor([run.task.tokenizer.encode(text).ids])).logits
        (pred,) = run.task.predict(run.model, [text])
        assert pred.output == ref.config.id2label[int(logits.argmax())]
    assert run.capabilities.task.classes == ("negative", "neutral", "positive")


def test_inputs_longer_than_the_positions_are_refused_in_one_line(imported):
    run = load_run(imported["bert"])
    assert run.config.data.max_length == 40
    fits = " ".join(["cat"] * 38)  # + [CLS] and [SEP] = 40 tokens
    (pred,) = run.task.predict(run.model, [fits])
    assert pred.weights.shape == (2, 4, 40, 40)
    with pytest.raises(InputError, match="41 tokens is longer than the model's 40 positions") as err:
        run.task.predict(run.model, [fits, fits + " cat"])
    assert "\n" not in str(err.value)
    roberta = load_run(imported["roberta"])  # 42 positions, the first pad_id + 1 = 2 reserved
    assert roberta.config.data.max_length == 40 and roberta.config.model.position_offset == 2


@pytest.mark.parametrize("kind", KINDS)
def test_export_round_trip_loads_in_transformers_with_the_same_outputs(kind, checkpoints, imported, tmp_path):
    assert main(["export-hf", str(imported[kind]), "--out", str(tmp_path / "hf")]) == 0
    original, exported = hf_model(checkpoints[kind]), hf_model(tmp_path / "hf")
    src = json.loads((checkpoints[kind] / "config.json").read_text())
    out = json.loads((tmp_path / "hf" / "config.json").read_text())
    assert (out["model_type"], out["architectures"]) == (src["model_type"], src["architectures"])
    assert (tmp_path / "hf" / "tokenizer.json").read_bytes() == (checkpoints[kind] / "tokenizer.json").read_bytes()
    run = load_run(imported[kind])
    for text in SENTENCES:
        ids = torch.tensor([run.task.tokenizer.encode(text).ids])
        a, b = _hf(original, ids), _hf(exported, ids)
        torch.testing.assert_close(b.hidden_states[-1], a.hidden_states[-1], **TOL)
        for x, y in zip(a.attentions, b.attentions):
            torch.testing.assert_close(y, x, **TOL)
        if kind not in ("bert", "roberta"):
            torch.testing.assert_close(b.logits, a.logits, **TOL)
        else:
            torch.testing.assert_close(b.pooler_output, a.pooler_output, **TOL)
    again = load_run(import_hf(tmp_path / "hf", tmp_path / "again"))  # and back: the same run
    assert again.config == run.config


def test_a_gpt2_model_without_lm_head_imports_with_the_head_tied(checkpoints, tmp_path):
    lm = hf_model(checkpoints["gpt2"])
    lm.transformer.save_pretrained(tmp_path / "base")  # GPT2Model: names without "transformer."
    (tmp_path / "base" / "tokenizer.json").write_bytes((checkpoints["gpt2"] / "tokenizer.json").read_bytes())
    run = load_run(import_hf(tmp_path / "base", tmp_path / "run"))
    ids = torch.tensor([run.task.tokenizer.encode(SENTENCES[1]).ids])
    expected = _hf(lm, ids)
    with torch.no_grad():
        ours = run.model(ids)
    torch.testing.assert_close(ours.hidden, expected.hidden_states[-1], **TOL)
    torch.testing.assert_close(ours.logits, expected.logits, **TOL)
