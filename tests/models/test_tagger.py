"""The sequence labelling families (attnkit.models.tagger, tagger_family): padding never changes
a word's output, padding keys get exactly zero attention, the attention layers compute the
paper's formula (written out here from the modules' own weights), gradients are right (float64
gradcheck), word dropout acts in training only and with its probability, unseen words are told
apart by their characters, and the declared capabilities match the built models."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

from attnkit.errors import ConfigError
from attnkit.models import FAMILIES
from attnkit.models.specs import TaggingSpec
from attnkit.models.tagger import UNK_ID, WordCharEmbedding
from attnkit.models.tagger_family import build_encoder
from attnkit.models.tagger_input import SuffixEmbedding
from attnkit.training.checkpoint import load_weights, save_weights

SPEC = TaggingSpec(vocab_size=30, char_vocab_size=12, targets=(("pos", 5), ("morph", 7)), max_len=16, max_word_len=6)

# (family, tiny options): every family, both character encoders, words only, every positional kind
TINY: dict[str, dict[str, Any]] = {
    "tagger-transformer": {"word_dim": 6, "char_dim": 4, "d_model": 8, "n_heads": 2, "layers": 2, "d_ff": 12},
    "tagger-bilstm": {"word_dim": 6, "char_dim": 4, "hidden": 5, "layers": 2},
    "tagger-cnn": {"word_dim": 6, "char_dim": 4, "channels": 8, "kernel": 3, "layers": 2},
    "tagger-bilstm-attention": {"word_dim": 6, "char_dim": 4, "hidden": 4, "n_heads": 2},
}
TINY = {name: {**opts, "char_encoder": "cnn", "suffix_dim": 0} for name, opts in TINY.items()}  # not the defaults
CASES = [
    *((name, opts) for name, opts in TINY.items()),
    *((name, {**opts, "char_encoder": "bilstm"}) for name, opts in TINY.items()),
    ("tagger-cnn", {"word_dim": 6, "char_dim": 0, "channels": 8}),
    ("tagger-bilstm", {"word_dim": 6, "char_dim": 4, "hidden": 5}),  # the default character encoder
    ("tagger-transformer", {**TINY["tagger-transformer"], "suffix_dim": 4, "char_encoder": "bilstm"}),
    ("tagger-cnn", {"word_dim": 6, "char_dim": 0, "suffix_dim": 3, "max_suffix": 3, "channels": 8}),
    *(("tagger-transformer", {**TINY["tagger-transformer"], "positional": p}) for p in ("learned", "rope", "alibi")),
]


def _ids(case):
    name, opts = case
    chars = opts.get("char_encoder", "default") if opts["char_dim"] else "words"
    chars += "-suffixes" if opts.get("suffix_dim") else ""
    return f"{name}-{chars}-{opts.get('positional', '')}"


def build(name, opts, spec=SPEC, **extra):
    family = FAMILIES.get(name)
    cfg = family.config_class(**{"dropout": 0.0, "word_dropout": 0.0, **opts, **extra})
    cfg.check()
    return family, cfg, family.build(cfg, spec)


def batch(lengths=(5, 2, 4), seed=0, max_chars=5):
    """A padded batch: words (B, T), chars (B, T, L), mask (B, T); word lengths 1..max_chars."""
    g = torch.Generator().manual_seed(seed)
    b, t = len(lengths), max(lengths)
    words = torch.zeros(b, t, dtype=torch.long)
    chars = torch.zeros(b, t, max_chars, dtype=torch.long)
    mask = torch.zeros(b, t, dtype=torch.bool)
    for i, n in enumerate(lengths):
        words[i, :n] = torch.randint(1, SPEC.vocab_size, (n,), generator=g)
        for j in range(n):
            k = int(torch.randint(1, max_chars + 1, (1,), generator=g))
            chars[i, j, :k] = torch.randint(1, SPEC.char_vocab_size, (k,), generator=g)
        mask[i, :n] = True
    return words, chars, mask


@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
def test_a_padded_batch_gives_each_row_what_it_gives_alone(case):
    torch.manual_seed(0)
    _, _, model = build(*case)
    model.eval()
    words, chars, mask = batch()
    with torch.no_grad():
        out = model(words, chars, mask)
        for i in range(words.shape[0]):
            n = int(mask[i].sum())
            width = int((chars[i, :n] != 0).sum(-1).max())  # its own character padding only
            alone = model(words[i : i + 1, :n], chars[i : i + 1, :n, :width], mask[i : i + 1, :n])
            for name in out.logits:
                torch.testing.assert_close(out.logits[name][i, :n], alone.logits[name][0], atol=1e-5, rtol=1e-5)
            for a, b in zip(out.attention, alone.attention):
                torch.testing.assert_close(a[i, :, :n, :n], b[0], atol=1e-5, rtol=1e-5)
    assert all(torch.isfinite(v).all() for v in out.logits.values())


@pytest.mark.parametrize("name", ["tagger-transformer", "tagger-bilstm-attention"])
def test_padding_keys_get_exactly_zero_attention_and_no_row_is_nan(name):
    torch.manual_seed(1)
    _, cfg, model = build(name, TINY[name])
    words, chars, mask = batch((6, 1, 3))
    for mode in (model.eval, model.train):
        mode()
        maps = model(words, chars, mask).attention
        assert len(maps) == (cfg.layers if name == "tagger-transformer" else 1)
        for weights in maps:
            assert weights.shape == (3, cfg.n_heads, 6, 6)
            assert torch.isfinite(weights).all()  # padded query rows too
            assert (weights.masked_select(~mask[:, None, None, :].expand_as(weights)) == 0).all()
            real_rows = weights.sum(-1).masked_select(mask[:, None, :].expand(-1, cfg.n_heads, -1))
            torch.testing.assert_close(real_rows, torch.ones_like(real_rows))


def _softmax_attention(x, mask, w_qkv, b_qkv, n_heads):
    """softmax(Q K^T / sqrt(Dh)) per head with padding keys removed, written plainly [Vaswani17] Eq. 1."""
    d = x.shape[-1]
    dh = d // n_heads
    q, k, _ = (x @ w_qkv.T + b_qkv).split(d, dim=-1)  # (B, T, D) each
    weights = torch.zeros(x.shape[0], n_heads, x.shape[1], x.shape[1], dtype=x.dtype)
    for b in range(x.shape[0]):
        keys = mask[b].nonzero().squeeze(-1)
        for h in range(n_heads):
            qh, kh = q[b, :, h * dh : (h + 1) * dh], k[b, keys, h * dh : (h + 1) * dh]
            scores = torch.stack([torch.stack([qh[i] @ kh[j] for j in range(len(keys))]) for i in range(x.shape[1])])
            weights[b, h][:, keys] = torch.softmax(scores / math.sqrt(dh), dim=-1)
    return weights


def test_the_bilstm_attention_layer_is_softmax_of_scaled_dot_products_over_the_bilstm_states():
    torch.manual_seed(2)
    _, cfg, model = build("tagger-bilstm-attention", TINY["tagger-bilstm-attention"])
    model = model.double().eval()
    words, chars, mask = batch((4, 3))
    body = model.encoder.body
    with torch.no_grad():
        x = model.encoder.embed(words, chars)
        states, _ = body.rnn(x, mask)  # the BiLSTM's states: the attention's queries, keys and values
        out = model(words, chars, mask)
        attn = body.attn
        expected = _softmax_attention(states, mask, attn.in_proj.weight, attn.in_proj.bias, cfg.n_heads)
        torch.testing.assert_close(out.attention[0], expected)
        # and the layer's output: LN(h + W^O concat_h(weights_h V_h))
        values = (states @ attn.in_proj.weight[2 * body.width :].T + attn.in_proj.bias[2 * body.width :]).unflatten(
            -1, (cfg.n_heads, -1)
        )  # (B, T, Nh, Dh)
        context = torch.einsum("bhqk,bkhd->bqhd", expected, values).flatten(2)
        hidden = F.layer_norm(
            states + context @ attn.out_proj.weight.T + attn.out_proj.bias,
            (body.width,),
            body.norm.weight,
            body.norm.bias,
        )
        real = mask.unsqueeze(-1)
        torch.testing.assert_close(out.hidden * real, hidden * real)


def test_the_transformers_first_layer_attends_by_softmax_of_scaled_dot_products_of_its_normed_inputs():
    torch.manual_seed(3)
    _, cfg, model = build("tagger-transformer", TINY["tagger-transformer"])
    model = model.double().eval()
    words, chars, mask = batch((5, 2))
    body = model.encoder.body
    with torch.no_grad():
        x = model.encoder.embed(words, chars) @ body.proj.weight.T + body.proj.bias
        t = torch.arange(words.shape[1], dtype=torch.float64)[:, None]
        i = torch.arange(cfg.d_model, dtype=torch.float64)[None, :]
        angle = t / 10000 ** ((i - i % 2) / cfg.d_model)
        pe = torch.where(i % 2 == 0, torch.sin(angle), torch.cos(angle))  # [Vaswani17] Sec. 3.5
        h = x * math.sqrt(cfg.d_model) + pe
        layer = body.layers[0]
        normed = F.layer_norm(h, (cfg.d_model,), layer.sub1.norm.weight, layer.sub1.norm.bias)  # pre-LN
        attn = layer.self_attn
        expected = _softmax_attention(normed, mask, attn.in_proj.weight, attn.in_proj.bias, cfg.n_heads)
        torch.testing.assert_close(model(words, chars, mask).attention[0], expected)


@pytest.mark.parametrize("name", list(TINY))
def test_gradients_match_finite_differences_in_float64(name):
    torch.manual_seed(4)
    _, _, model = build(name, {**TINY[name], "word_dim": 3, "char_dim": 2, "char_emb": 3})
    model = model.double().eval()
    words, chars, mask = batch((3, 2), max_chars=3)
    params = dict(model.named_parameters())
    tables = ["encoder.embed.words.weight", "encoder.embed.chars.embedding.weight"]  # row 0: padding, kept 0
    chosen = [*tables, "heads.pos.weight", next(n for n in params if n.startswith("encoder.body."))]

    def f(*tensors):
        values = dict(zip(chosen, tensors))
        for n in tables:
            values[n] = torch.cat([params[n][:1].detach(), values[n]])
        out = functional_call(model, {**params, **values}, (words, chars, mask))
        return out.logits["pos"] * mask.unsqueeze(-1), (out.logits["morph"] * mask.unsqueeze(-1)).sum()

    inputs = tuple((params[n][1:] if n in tables else params[n]).detach().clone().requires_grad_(True) for n in chosen)
    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-5, fast_mode=True)


def test_word_dropout_replaces_real_words_by_unk_in_training_only_with_its_probability():
    torch.manual_seed(5)
    embed = WordCharEmbedding(1000, 5, word_dim=4, word_dropout=0.3)
    words = torch.randint(0, 1000, (200, 50))
    words[:, :3] = torch.tensor([0, 1, 2])  # padding and the specials are never replaced
    unk = embed.words.weight[UNK_ID]
    embed.eval()
    torch.testing.assert_close(embed(words, None), embed.words.weight[words])
    embed.train()
    out = embed(words, None)
    replaced = (out == unk).all(-1) & (words != UNK_ID)
    assert not replaced[:, :3].any()
    real = words >= 3
    share = replaced[real].float().mean().item()
    assert abs(share - 0.3) < 0.01  # 9,400 words: the standard error is 0.005
    kept = real & ~replaced
    torch.testing.assert_close(out[kept], embed.words.weight[words[kept]])


def test_word_dropout_in_the_model_is_the_model_on_unk_words():
    torch.manual_seed(6)
    _, _, model = build("tagger-bilstm", TINY["tagger-bilstm"], word_dropout=0.5)
    model.encoder.embed.word_dropout = 1.0  # every real word (the config allows < 1)
    words, chars, mask = batch()
    model.train()
    dropped = model(words, chars, mask).logits["pos"]
    model.eval()
    unks = words.masked_fill(words >= 3, UNK_ID)
    torch.testing.assert_close(dropped, model(unks, chars, mask).logits["pos"])
    assert not torch.allclose(model(words, chars, mask).logits["pos"], dropped)


@pytest.mark.parametrize("name", list(TINY))
def test_an_unknown_word_is_told_apart_by_its_characters_and_not_without_them(name):
    torch.manual_seed(7)
    words = torch.tensor([[5, UNK_ID, 6]])
    mask = torch.ones(1, 3, dtype=torch.bool)
    chars_a = torch.tensor([[[3, 4, 0], [5, 6, 7], [8, 0, 0]]])
    chars_b = chars_a.clone()
    chars_b[0, 1] = torch.tensor([9, 10, 0])  # another unseen word
    _, _, model = build(name, TINY[name])
    model.eval()
    a, b = (model(words, c, mask).logits["pos"][0, 1] for c in (chars_a, chars_b))
    assert (a - b).abs().max() > 1e-4
    _, _, words_only = build(name, {k: v for k, v in TINY[name].items() if k != "char_encoder"} | {"char_dim": 0})
    words_only.eval()
    a, b = (words_only(words, c, mask).logits["pos"][0, 1] for c in (chars_a, chars_b))
    torch.testing.assert_close(a, b)


@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
def test_the_capabilities_agree_with_the_built_model(case):
    family, cfg, model = build(*case)
    caps = family.capabilities(cfg, SPEC)
    words, chars, mask = batch()
    out = model(words, chars, mask)
    assert caps.attention == bool(out.attention) == model.uses_attention
    assert caps.layer_maps == callable(getattr(model, "attention_maps", None))
    assert not caps.decodes
    expected_layers = {"tagger-transformer": cfg.layers, "tagger-bilstm-attention": 1}.get(case[0], 0)
    assert len(out.attention) == expected_layers
    if caps.layer_maps:
        maps = model.attention_maps(words, chars, mask)
        assert [m.shape for m in maps] == [(3, caps.n_heads, 5, 5)] * expected_layers
    assert list(out.logits) == ["pos", "morph"]
    assert out.logits["morph"].shape == (3, 5, 7) and out.hidden.shape == (3, 5, model.encoder.width)
    assert [n for n, _ in model.named_children()] == ["encoder", "heads"]
    assert ("encoder.embed.chars" in dict(model.named_modules())) == (cfg.char_dim > 0)


def test_a_tagger_loads_the_encoder_of_a_masked_lm_run_and_skips_its_word_head(tmp_path):
    torch.manual_seed(8)
    mlm_spec = TaggingSpec(SPEC.vocab_size, SPEC.char_vocab_size, (("word", SPEC.vocab_size),), SPEC.max_len)
    _, _, mlm = build("tagger-transformer", TINY["tagger-transformer"], spec=mlm_spec, tie_word_head=True)
    save_weights(mlm, tmp_path / "mlm.safetensors")  # the tied head stores no second copy of the embedding
    again = build("tagger-transformer", TINY["tagger-transformer"], spec=mlm_spec, tie_word_head=True)[2]
    load_weights(again, tmp_path / "mlm.safetensors")
    words, chars, mask = batch()
    mlm.eval(), again.eval()
    torch.testing.assert_close(again(words, chars, mask).logits["word"], mlm(words, chars, mask).logits["word"])
    # the tied logits: (W_p h) E^T + b, from the embedding itself
    out = mlm(words, chars, mask)
    head = mlm.heads["word"]
    expected = (out.hidden @ head.proj.weight.T + head.proj.bias) @ mlm.encoder.embed.words.weight.T + head.bias
    torch.testing.assert_close(out.logits["word"], expected)

    _, _, tagger = build("tagger-transformer", TINY["tagger-transformer"])
    result = tagger.load_state_dict(
        {k: v for k, v in mlm.state_dict().items() if not k.startswith("heads.")}, strict=False
    )
    assert sorted(result.missing_keys) == [
        "heads.morph.bias",
        "heads.morph.weight",
        "heads.pos.bias",
        "heads.pos.weight",
    ]
    assert not result.unexpected_keys
    tagger.eval()
    torch.testing.assert_close(tagger(words, chars, mask).hidden, mlm(words, chars, mask).hidden)


@pytest.mark.parametrize("name", list(TINY))
def test_build_encoder_gives_the_taggers_encoder_parameter_names(name):
    family, cfg, model = build(name, TINY[name])
    encoder = build_encoder(cfg, TaggingSpec(SPEC.vocab_size, SPEC.char_vocab_size, (), SPEC.max_len))
    assert {f"encoder.{k}" for k in encoder.state_dict()} == {k for k in model.state_dict() if k.startswith("encoder.")}
    with pytest.raises(ConfigError, match="tagger family"):
        build_encoder(FAMILIES.get("vit").config_class(), SPEC)


@pytest.mark.parametrize(
    ("name", "opts", "message"),
    [
        ("tagger-cnn", {"char_dim": 0, "char_encoder": "cnn"}, "char_encoder has no effect with char_dim=0"),
        ("tagger-cnn", {"char_encoder": "lstm"}, "choose one of: cnn, bilstm"),
        ("tagger-cnn", {"kernel": 4}, "model.kernel must be odd"),
        ("tagger-bilstm", {"char_encoder": "cnn", "char_kernel": 2}, "model.char_kernel must be odd"),
        ("tagger-bilstm", {"char_encoder": "bilstm", "char_dim": 5}, "must be even"),
        ("tagger-bilstm", {"char_kernel": 5}, "applies to char_encoder=cnn only"),
        ("tagger-bilstm", {"word_dropout": 1.0}, "word_dropout is a probability"),
        ("tagger-bilstm", {"max_suffix": 3}, "max_suffix has no effect with suffix_dim=0"),
        ("tagger-bilstm", {"suffix_dim": 8, "suffix_buckets": 1}, "suffix_buckets >= 2"),
        ("tagger-transformer", {"d_model": 10, "n_heads": 4}, "divisible"),
        ("tagger-transformer", {"positional": "spiral"}, "choose one of"),
        ("tagger-bilstm-attention", {"hidden": 3, "n_heads": 4}, "must divide"),
    ],
)
def test_bad_options_are_one_line_config_errors(name, opts, message):
    with pytest.raises(ConfigError, match=message):
        FAMILIES.get(name).config_class(**opts).check()


def test_a_tied_word_head_needs_a_word_target_over_the_vocabulary():
    family = FAMILIES.get("tagger-bilstm")
    with pytest.raises(ConfigError, match="tie_word_head needs a target named word"):
        family.build(family.config_class(tie_word_head=True), SPEC)


@pytest.mark.parametrize("name", ["tagger-transformer", "tagger-bilstm-attention"])
def test_without_weights_the_fused_attention_gives_the_same_scores_and_no_maps(name):
    torch.manual_seed(9)
    _, _, model = build(name, TINY[name])
    model.eval()
    words, chars, mask = batch()
    with_maps, fused = model(words, chars, mask), model(words, chars, mask, need_weights=False)
    assert with_maps.attention and not fused.attention
    real = mask.unsqueeze(-1)
    for name in with_maps.logits:
        torch.testing.assert_close(fused.logits[name] * real, with_maps.logits[name] * real)


def test_suffix_features_are_shared_exactly_by_words_with_the_same_ending():
    words = ["λογος", "νομος", "λογου", "ος", "ς", "ανθρωπος"]
    alphabet = {ch: i + 1 for i, ch in enumerate(sorted(set("".join(words))))}
    chars = torch.zeros(1, len(words), 9, dtype=torch.long)
    for j, w in enumerate(words):
        chars[0, j, : len(w)] = torch.tensor([alphabet[ch] for ch in w])
    ids = SuffixEmbedding(2, max_suffix=3, buckets=2**20).suffix_ids(chars)[0]  # (words, 3)
    for n in range(1, 4):
        for a, wa in enumerate(words):
            assert (ids[a, n - 1] == 0) == (len(wa) < n)
            for b, wb in enumerate(words):
                if len(wa) >= n and len(wb) >= n:
                    assert bool(ids[a, n - 1] == ids[b, n - 1]) == (wa[-n:] == wb[-n:]), (wa, wb, n)
    assert len(set(ids[ids > 0].tolist())) == len({(w[-n:], n) for w in words for n in range(1, 4) if len(w) >= n})


def test_suffix_features_tell_unknown_words_apart_by_their_endings_alone():
    torch.manual_seed(10)
    opts = {"word_dim": 6, "char_dim": 0, "suffix_dim": 4, "max_suffix": 2, "hidden": 5}
    _, _, model = build("tagger-bilstm", opts)
    model.eval()
    words, mask = torch.tensor([[UNK_ID, UNK_ID, UNK_ID]]), torch.ones(1, 3, dtype=torch.bool)
    chars = torch.tensor([[[3, 4, 5], [6, 4, 5], [3, 4, 6]]])  # words 0 and 1 end alike, word 2 does not
    vectors = model.encoder.embed(words, chars)[0, :, 6:]  # the suffix part of each word vector
    torch.testing.assert_close(vectors[0], vectors[1])
    assert (vectors[0] - vectors[2]).abs().max() > 1e-4
    alone = [model(words[:, :1], chars[:, j : j + 1], mask[:, :1]).logits["pos"][0, 0] for j in range(3)]
    torch.testing.assert_close(alone[0], alone[1])
    assert (alone[0] - alone[2]).abs().max() > 1e-4


def test_a_config_saved_before_the_suffix_options_builds_the_same_parameters():
    saved = {"arch": "tagger-transformer", "word_dim": 16, "char_dim": 8, "char_encoder": "cnn", "char_emb": 30}
    saved |= {"char_kernel": 3, "word_dropout": 0.1, "dropout": 0.1, "tie_word_head": False, "d_model": 32}
    saved |= {"n_heads": 2, "layers": 1, "d_ff": 64, "positional": "sinusoidal"}  # a run's config.yaml of then
    family = FAMILIES.get("tagger-transformer")
    keys = set(family.build(family.config_class(**saved), SPEC).state_dict())
    assert not any("suffix" in k for k in keys)
    assert {k.split(".")[2] for k in keys if k.startswith("encoder.embed.")} == {"words", "chars"}
