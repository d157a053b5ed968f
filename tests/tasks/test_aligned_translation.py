"""The aligned-translation task: forced attention, the guided alignment loss [Garg19], reverse runs."""

from __future__ import annotations

import dataclasses
import random

import pytest
import torch
import torch.nn.functional as F

from attnkit.config import load_config
from attnkit.errors import ConfigError
from attnkit.evaluation.alignment import alignment_error_rate, read_pharaoh, write_pharaoh
from attnkit.models import TransformerSeq2Seq
from attnkit.models.rnn import Seq2Seq
from attnkit.tasks import AlignedTranslationTask
from attnkit.tasks.base import LossContext

ES = "cero uno dos tres cuatro cinco seis siete ocho nueve".split()
EN = "zero one two three four five six seven eight nine".split()


def write_aligned_corpus(folder, n_train=300, n_dev=30, n_test=30, seed=0, max_digits=6):
    """Spanish digit words -> English digit words in reverse order; links i-(n-1-i) are the
    truth. They are written as the gold and as the "eflomal" guide (a toy: the real guide is the
    statistical aligner's)."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("dev", n_dev), ("test", n_test)):
        src, tgt, links = [], [], []
        for _ in range(n):
            digits = [rng.randrange(10) for _ in range(rng.randint(2, max_digits))]
            src.append(" ".join(ES[d] for d in digits))
            tgt.append(" ".join(EN[d] for d in reversed(digits)))
            links.append({(i, len(digits) - 1 - i) for i in range(len(digits))})
        (folder / f"{split}.src").write_text("\n".join(src) + "\n", encoding="utf-8")
        (folder / f"{split}.tgt").write_text("\n".join(tgt) + "\n", encoding="utf-8")
        write_pharaoh(folder / f"{split}.eflomal.pharaoh", links)
        if split != "train":
            write_pharaoh(folder / f"{split}.gold.pharaoh", links)
    return folder


def build(tmp_path, **data):
    corpus = write_aligned_corpus(tmp_path / "corpus")
    options = ", ".join(f"{k}: {v}" for k, v in {"vocab_size": 40, "max_source_len": 40, **data}.items())
    path = tmp_path / "cfg.yaml"
    path.write_text(
        f"data: {{task: aligned-translation, corpus: {corpus}, {options}}}\n"
        "model: {arch: transformer, d_model: 16, n_heads: 2, enc_layers: 1, dec_layers: 2, d_ff: 32, "
        "dropout: 0.0}\ntrain: {max_steps: 10}\n",
        encoding="utf-8",
    )
    cfg = load_config(path)
    task, splits = AlignedTranslationTask.build(cfg.data, tmp_path / "run")
    return cfg, task, splits


def transformer(task, seed=0):
    torch.manual_seed(seed)
    spec = task.spec
    return TransformerSeq2Seq(
        spec.src_vocab_size,
        spec.tgt_vocab_size,
        d_model=16,
        n_heads=2,
        enc_layers=1,
        dec_layers=2,
        d_ff=32,
        dropout=0.0,
        max_len=spec.max_len,
    ).eval()


def test_build_attaches_guide_and_gold_and_saves_them(tmp_path):
    _, task, splits = build(tmp_path)
    assert splits["dev"][0].gold == frozenset(read_pharaoh(tmp_path / "corpus" / "dev.gold.pharaoh")[0])
    assert splits["train"][0].gold is None and splits["train"][0].guide
    again = AlignedTranslationTask.load_split(tmp_path / "run", "test")
    assert [e.gold for e in again] == [e.gold for e in splits["test"]]


def test_reverse_swaps_the_sides_and_flips_the_links(tmp_path):
    _, _, splits = build(tmp_path, reverse="true")
    first = splits["dev"][0]
    src = (tmp_path / "corpus" / "dev.src").read_text(encoding="utf-8").splitlines()[0]
    assert first.target == src and first.text.split()[0] in EN
    gold = read_pharaoh(tmp_path / "corpus" / "dev.gold.pharaoh")[0]
    assert first.gold == frozenset((j, i) for i, j in gold)


@pytest.mark.parametrize(
    "option, message",
    [("guide: gold", "never the gold"), ("guided_weight: -1", ">= 0"), ("align_head: first", "align_head")],
)
def test_bad_options_are_config_errors(tmp_path, option, message):
    path = tmp_path / "cfg.yaml"
    path.write_text(f"data: {{task: aligned-translation, corpus: c, {option}}}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_forced_attention_batch_equals_one_at_a_time_and_the_layer_maps(tmp_path):
    _, task, splits = build(tmp_path)
    model = transformer(task)
    pairs = [(e.text, e.target) for e in splits["dev"][:6]]
    batched = task.forced_attention(model, pairs, batch_size=6)
    for pair, b in zip(pairs, batched):
        (one,) = task.forced_attention(model, [pair])
        torch.testing.assert_close(b.weights, one.weights)  # padding changes nothing
        src = torch.tensor([task.src_vocab.encode(one.src_tokens)])
        tgt_in = torch.tensor([[task.tgt_vocab.bos_id, *task.encode_target(pair[1])]])
        maps = model.attention_maps(src, torch.tensor([src.shape[1]]), tgt_in)
        assert one.weights.shape == (2, 2, len(one.tgt_tokens), len(one.src_tokens))
        torch.testing.assert_close(one.weights[1], maps.cross[1][0, :, :-1])  # the </s> row dropped
        torch.testing.assert_close(one.weights.sum(-1), torch.ones(one.weights.shape[:-1]))


def test_rnn_forced_attention_is_the_forward_alignment_and_none_has_none(tmp_path):
    _, task, splits = build(tmp_path)
    spec = task.spec
    torch.manual_seed(0)
    rnn = Seq2Seq(spec.src_vocab_size, spec.tgt_vocab_size, attention="bahdanau", emb_dim=8, hidden_dim=8).eval()
    e = splits["dev"][0]
    (forced,) = task.forced_attention(rnn, [(e.text, e.target)])
    src = torch.tensor([task.src_vocab.encode(forced.src_tokens)])
    tgt_in = torch.tensor([[task.tgt_vocab.bos_id, *task.encode_target(e.target)]])
    torch.testing.assert_close(forced.weights[0, 0], rnn(src, torch.tensor([src.shape[1]]), tgt_in).weights[0, :-1])
    plain = Seq2Seq(spec.src_vocab_size, spec.tgt_vocab_size, attention="none", emb_dim=8, hidden_dim=8)
    with pytest.raises(ValueError, match="no attention"):
        task.forced_attention(plain, [(e.text, e.target)])


def test_align_layer_weights_are_the_explicit_path_and_carry_gradients(tmp_path):
    _, task, splits = build(tmp_path)
    model = transformer(task)
    batch = task.collate(task.encode(splits["train"][:4]))
    out = model(batch.src, batch.src_lengths, batch.tgt_in, align_layer=0)
    maps = model.attention_maps(batch.src, batch.src_lengths, batch.tgt_in)
    torch.testing.assert_close(out.weights, maps.cross[0])
    torch.testing.assert_close(out.logits, model(batch.src, batch.src_lengths, batch.tgt_in).logits)
    out.weights[..., 0].sum().backward()
    assert model.decoder[0].cross_attn.q_proj.weight.grad.abs().sum() > 0  # the guided loss reaches the head


def test_guided_loss_is_cross_entropy_plus_lambda_times_the_alignment_term(tmp_path):
    cfg, task, splits = build(tmp_path, guided_weight=0.5, guided_layer=-1, guided_head=1)
    model = transformer(task)
    examples = splits["train"][:5]
    batch = task.collate(task.encode(examples))
    ctx = LossContext(cfg.train)
    ours = task.loss(model, batch, ctx)
    # reference: CE from the plain forward, the head's weights from attention_maps, G by loops
    logits = model(batch.src, batch.src_lengths, batch.tgt_in).logits
    ce = F.cross_entropy(logits.flatten(0, 1), batch.tgt_out.flatten(), ignore_index=0, reduction="sum")
    attn = model.attention_maps(batch.src, batch.src_lengths, batch.tgt_in).cross[-1][:, 1]  # (B, Tq, Tk)
    align = 0.0
    for b, e in enumerate(examples):
        src_pieces, tgt_pieces = task.src_subwords.encode(e.text), task.tgt_subwords.encode(e.target)
        src_word = [sum(p.startswith("▁") for p in src_pieces[: k + 1]) - 1 for k in range(len(src_pieces))]
        tgt_word = [sum(p.startswith("▁") for p in tgt_pieces[: t + 1]) - 1 for t in range(len(tgt_pieces))]
        for t in range(len(tgt_pieces)):
            linked = [k for k in range(len(src_pieces)) if (src_word[k], tgt_word[t]) in e.guide]
            for k in linked:
                align -= torch.log(attn[b, t, k]) / len(linked)
    torch.testing.assert_close(ours, ce + 0.5 * align, rtol=1e-4, atol=1e-4)
    task._configure(dataclasses.replace(cfg.data, guided_weight=0.0))
    torch.testing.assert_close(task.loss(model, batch, ctx), ce, rtol=1e-4, atol=1e-4)  # lambda = 0: plain CE


def _train(task, cfg, items, steps=100):
    model = transformer(task).train()
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    ctx, rng = LossContext(cfg.train), random.Random(0)
    for _ in range(steps):
        batch = task.collate(rng.sample(items, 16))
        loss = task.loss(model, batch, ctx) / batch.n_tokens
        opt.zero_grad(), loss.backward(), opt.step()
    return model.eval()


def test_guided_training_pulls_the_head_to_the_links(tmp_path):
    cfg, task, splits = build(tmp_path, guided_weight=1.0, guided_layer=-1, guided_head=0)
    gold = [e.gold for e in splits["dev"]]
    items = task.encode(splits["train"])
    before = alignment_error_rate(task.alignments(transformer(task), splits["dev"]), gold).aer
    guided = alignment_error_rate(task.alignments(_train(task, cfg, items), splits["dev"]), gold).aer
    task.guided_weight = 0.0  # same model, data, steps and seed, no guidance; AER read from the same head
    unguided = alignment_error_rate(task.alignments(_train(task, cfg, items), splits["dev"]), gold).aer
    assert guided < before and guided < unguided - 0.1, (before, guided, unguided)
