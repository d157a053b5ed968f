"""The model.attention_* keys shared by the transformer, vit and tagger-transformer families: one-line
errors, the kernel reaching every self-attention layer, no new parameters, maps still drawn, and a
Transformer with the sliding window training."""

from __future__ import annotations

import pytest
import torch

from attnkit.config import ConfigError, load_config
from attnkit.models import FAMILIES
from attnkit.models.specs import ImageSpec, Seq2SeqSpec, TaggingSpec
from attnkit.models.tagger_family import TaggerTransformerConfig
from attnkit.models.transformer_family import TransformerConfig
from attnkit.models.vit_family import ViTConfig
from attnkit.nn.multihead import MultiHeadAttention

SEQ = Seq2SeqSpec(11, 12, 40)
TAGS = TaggingSpec(vocab_size=20, char_vocab_size=10, targets=(("pos", 5),), max_len=40, max_word_len=6)
CASES = [
    ("transformer", {"d_model": 8, "n_heads": 2, "d_ff": 16}, SEQ),
    ("vit", {"d_model": 8, "n_heads": 2, "layers": 1, "d_ff": 8}, ImageSpec(1, 16, 16, 3)),
    ("tagger-transformer", {"d_model": 8, "n_heads": 2, "layers": 1, "d_ff": 8, "word_dim": 8, "char_dim": 0}, TAGS),
]


CONFIGS: dict[str, type] = {
    "transformer": TransformerConfig,
    "vit": ViTConfig,
    "tagger-transformer": TaggerTransformerConfig,
}


def _config(arch: str, sizes: dict, **keys):
    assert FAMILIES.get(arch).config_class is CONFIGS[arch]  # type: ignore[attr-defined]
    return CONFIGS[arch](**sizes, **keys)


@pytest.mark.parametrize(("arch", "sizes", "spec"), CASES)
@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"attention_kernel": "windw"}, "model.attention_kernel: unknown attention kernel 'windw'; choose one of: "),
        ({"attention_kernel": "windw"}, "did you mean 'window'?"),
        ({"attention_kernel": "window"}, "model.attention_kernel=window needs model.attention_window > 0"),
        (
            {"attention_kernel": "linear", "attention_window": 4},
            "model.attention_window does not apply to model.attention_kernel=linear; "
            "it takes: model.attention_chunk_size",
        ),
        ({"attention_window": 4}, "model.attention_window does not apply to model.attention_kernel=dense"),
        ({"attention_kernel": "window", "attention_window": -1}, "model.attention_window must be an integer >= 0"),
    ],
)
def test_bad_keys_are_one_line_config_errors(arch, sizes, spec, keys, message):
    with pytest.raises(ConfigError) as err:
        _config(arch, sizes, **keys).check()
    assert message in str(err.value) and "\n" not in str(err.value)


def test_alibi_needs_the_dense_kernel():
    cfg = _config("transformer", CASES[0][1], positional="alibi", attention_kernel="window", attention_window=2)
    with pytest.raises(ConfigError, match="positional=alibi adds a bias"):
        cfg.check()


def test_keys_load_from_the_command_line():
    cfg = load_config(None, ["model.arch=transformer", "model.attention_kernel=window", "model.attention_window=8"])
    assert cfg.model.attention_kernel == "window" and cfg.model.attention_window == 8
    with pytest.raises(ConfigError, match="did you mean 'linear'"):
        load_config(None, ["model.arch=transformer", "model.attention_kernel=linaer"])


@pytest.mark.parametrize(("arch", "sizes", "spec"), CASES)
def test_kernel_reaches_every_self_attention_and_adds_no_parameters(arch, sizes, spec):
    family = FAMILIES.get(arch)
    keys = {"attention_kernel": "window", "attention_window": 3, "attention_global_tokens": 1}
    cfg = _config(arch, sizes, **keys)
    cfg.check()
    torch.manual_seed(0)
    dense = family.build(_config(arch, sizes), spec)
    window = family.build(cfg, spec)
    assert list(dense.state_dict()) == list(window.state_dict())
    layers = [m for m in window.modules() if isinstance(m, MultiHeadAttention)]
    chosen = [m for m in layers if m.kernel == "window"]
    assert chosen and all(m.kernel_options == {"window": 3, "global_tokens": 1} for m in chosen)
    if arch == "transformer":  # the encoder's self-attention; the decoder stays dense
        assert {id(m) for m in chosen} == {id(layer.self_attn) for layer in window.encoder}
    else:
        assert len(chosen) == len(layers)
    assert family.capabilities(cfg, spec).attention_kernel == "window"
    assert family.capabilities(_config(arch, sizes), spec).attention_kernel == "dense"


def test_document_classifier_reads_long_documents_with_the_linear_kernel():
    from attnkit.models.encoder_classifier import EncoderClassifierConfig
    from attnkit.models.specs import DocumentSpec

    sizes = {"word_dim": 4, "d_model": 8, "n_heads": 2, "d_ff": 8, "layers": 1, "max_words": 300}
    cfg = EncoderClassifierConfig(**sizes, attention_kernel="linear", attention_chunk_size=32)
    cfg.check()
    family = FAMILIES.get("encoder-classifier")
    model = family.build(cfg, DocumentSpec(20, 3))
    assert all(m.kernel == "linear" for m in model.modules() if isinstance(m, MultiHeadAttention))
    assert family.capabilities(cfg).attention_kernel == "linear"
    tokens = torch.randint(1, 20, (2, 3, 100))  # 3 sentences of 100 words: one sequence of 300
    out = model(tokens, torch.tensor([[100, 100, 100], [100, 50, 0]]), torch.tensor([3, 2]))
    assert out.logits.shape == (2, 3) and torch.isfinite(out.logits).all()


def test_speech_transformer_refuses_another_kernel():
    from attnkit.models.specs import SpeechSeq2SeqSpec

    cfg = _config("transformer", CASES[0][1], attention_kernel="linear")
    with pytest.raises(ConfigError, match="token sources only"):
        FAMILIES.get("transformer").build(cfg, SpeechSeq2SeqSpec(1, 12, 40, n_mels=8))


def _copy_batch(g: torch.Generator):
    """16 sources of 8 tokens from 3 symbols (ids 3-5; three of them 6 long), targets = BOS + the copy."""
    src = torch.randint(3, 6, (16, 8), generator=g)
    lengths = torch.full((16,), 8)
    lengths[:3] = 6
    src[:3, 6:] = 0
    tgt = torch.cat([torch.ones(16, 1, dtype=torch.long), src], dim=1)  # BOS = 1
    return src, lengths, tgt[:, :-1], tgt[:, 1:]


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: faster than sharing the busy cores
    yield
    torch.set_num_threads(threads)


def test_transformer_with_the_window_kernel_trains(one_thread):
    cfg = _config(
        "transformer", {"d_model": 32, "n_heads": 2, "d_ff": 64}, attention_kernel="window", attention_window=2
    )
    cfg.check()
    torch.manual_seed(0)
    model = FAMILIES.get("transformer").build(cfg, SEQ)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(80):
        src, lengths, tgt_in, tgt_out = _copy_batch(g)
        logits = model(src, lengths, tgt_in).logits
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), tgt_out.flatten(), ignore_index=0)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert sum(losses[-5:]) / 5 < 0.7  # ln 3 = 1.10 for guessing the symbols: it learned to copy
    maps = model.eval().attention_maps(src, lengths, tgt_in)  # the pictures' maps: dense, zero outside the window
    enc = maps.encoder_self[0]
    assert enc.shape == (16, 2, 8, 8) and (enc[..., 0, 3:] == 0).all() and (enc[..., 0, :3] > 0).all()
    assert (enc[:3, :, :, 6:] == 0).all()  # padding


def test_attnkit_list_names_the_kernels(capsys):
    from attnkit.cli import main

    assert main(["list", "kernels"]) == 0
    out = capsys.readouterr().out
    assert all(f"  {name} " in out for name in ("dense", "window", "linear", "flex")) and "arXiv:2004.05150" in out
