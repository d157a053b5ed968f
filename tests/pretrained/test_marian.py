"""Marian (MarianMTModel) imported into attnkit's TransformerSeq2Seq, checked against transformers
on a tiny model built from a config here (trained for 60 Adam steps to upper-case its input, so
that its outputs end by themselves, with a random ``final_logits_bias``): tokenisation (MarianTokenizer), teacher-forced
logits and every layer's attention, greedy and beam search outputs (``generate``), and the CLI
(``import-hf``, ``translate``, ``predict --json``, ``align``).

HF's generation settings used throughout: ``bad_words_ids=[[pad]]`` (as the OPUS-MT checkpoints'
generation_config.json), ``do_sample=False``, ``max_length=MAX_LENGTH`` (HF counts the decoder
start token, and forces ``</s>`` at ``max_length - 1``: attnkit's ``max_len = MAX_LENGTH - 2``),
beam search with ``early_stopping=False`` (HF's default heuristic) and ``length_penalty`` 1.0 or
0.6, matched by attnkit's ``DecodeOptions(length_norm="power", stop="current", alpha=length_penalty,
n_best=k)``.
"""

from __future__ import annotations

import io
import json
import math
import random

import pytest
import torch

transformers = pytest.importorskip("transformers", reason="the Marian reference needs transformers (test extra)")
spm = pytest.importorskip("sentencepiece", reason="Marian's tokenizer needs sentencepiece")

from attnkit.cli import main  # noqa: E402
from attnkit.data import collate  # noqa: E402
from attnkit.decoding import DecodeOptions, decode, length_penalty  # noqa: E402
from attnkit.training import load_run  # noqa: E402

MAX_LENGTH = 24
WORDS = "the a house dog runs sees small big red green old new we they see have".split()
SENTENCES = [
    "the dog runs",
    "a small red house sees the old dog",
    "we have a green dog",
    "they see the big new house and the small dog",
    "old dogs run",
]


def _spm_model(lines: list[str], vocab_size: int) -> bytes:
    out = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines),
        model_writer=out,
        vocab_size=vocab_size,
        model_type="unigram",
        character_coverage=1.0,
        hard_vocab_limit=False,
        minloglevel=2,
    )
    return out.getvalue()


def _train_briefly(model, tokenizer, steps: int) -> None:
    """A few Adam steps on "upper-case the sentence", so that the model's outputs end by themselves."""
    rng = random.Random(1)
    texts = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 8))) for _ in range(256)]
    enc = tokenizer(texts, text_target=[t.upper() for t in texts], padding=True, return_tensors="pt")
    labels = enc["labels"].masked_fill(enc["labels"] == model.config.pad_token_id, -100)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: one thread is fastest, and the machine is shared
    try:
        for _ in range(steps):
            rows = torch.randint(0, len(texts), (32,))
            out = model(
                input_ids=enc["input_ids"][rows], attention_mask=enc["attention_mask"][rows], labels=labels[rows]
            )
            opt.zero_grad()
            out.loss.backward()
            opt.step()
    finally:
        torch.set_num_threads(threads)


def build_checkpoint(folder, *, steps=60, **overrides):
    """A tiny random MarianMTModel with SentencePiece models and a vocab.json, saved as HF does."""
    rng = random.Random(0)
    source = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 9))) for _ in range(400)]
    target = [" ".join(rng.choice(WORDS[::-1]).upper() for _ in range(rng.randint(2, 9))) for _ in range(400)]
    (folder / "source.spm").write_bytes(_spm_model(source, 40))
    (folder / "target.spm").write_bytes(_spm_model(target, 40))
    pieces: list[str] = []
    for name in ("source.spm", "target.spm"):
        sp = spm.SentencePieceProcessor(model_file=str(folder / name))
        pieces += [
            sp.id_to_piece(i) for i in range(sp.get_piece_size()) if not sp.is_control(i) and not sp.is_unknown(i)
        ]
    # Marian's layout: </s> 0, <unk> 1, pieces, <pad> last; ">>xx<<" language codes are pieces too
    tokens = ["</s>", "<unk>", ">>de<<", *dict.fromkeys(pieces), "<pad>"]
    vocab = {t: i for i, t in enumerate(tokens)}
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    pad = vocab["<pad>"]
    config = transformers.MarianConfig(
        vocab_size=len(vocab),
        d_model=32,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=48,
        decoder_ffn_dim=48,
        max_position_embeddings=64,
        activation_function="swish",
        scale_embedding=True,
        pad_token_id=pad,
        eos_token_id=0,
        decoder_start_token_id=pad,
        forced_eos_token_id=0,
        init_std=0.05,
        dropout=0.0,
        attn_implementation="eager",
    )
    for key, value in overrides.items():
        setattr(config, key, value)
    tokenizer = transformers.MarianTokenizer(
        str(folder / "source.spm"), str(folder / "target.spm"), str(folder / "vocab.json")
    )
    torch.manual_seed(0)
    model = transformers.MarianMTModel(config)
    _train_briefly(model, tokenizer, steps)  # outputs of varied lengths that end with </s> (a random model repeats)
    with torch.no_grad():  # and a random bias on the logits (final_logits_bias, not trained)
        model.final_logits_bias.normal_(0.0, 0.3)
    model.eval().save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return build_checkpoint(tmp_path_factory.mktemp("marian"))


@pytest.fixture(scope="module")
def reference(checkpoint):
    model = transformers.MarianMTModel.from_pretrained(checkpoint, attn_implementation="eager").eval()
    tokenizer = transformers.MarianTokenizer.from_pretrained(checkpoint)
    return model, tokenizer


@pytest.fixture(scope="module")
def run(checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "marian"
    assert main(["import-hf", str(checkpoint), "--out", str(out)]) == 0
    return load_run(out)


def _hf(run_, ids):
    """Marian ids of attnkit ids."""
    return [run_.task.hf_ids[i] for i in ids]


def test_tokenisation_matches_marian_tokenizer(run, reference):
    _, tok = reference
    task = run.task
    for text in [*SENTENCES, ">>de<< the dog runs", "the zebra runs"]:
        ids = task.src_vocab.encode(task.source_tokens(text))
        assert _hf(run, ids) == tok(text).input_ids
        target = text.upper()
        assert _hf(run, task.encode_target(target)) == tok(text_target=target).input_ids[:-1]  # without </s>
        hf_ids = tok(text_target=target).input_ids
        attnkit_ids = task.encode_target(target)
        assert task.decode_target(attnkit_ids) == tok.decode(hf_ids, skip_special_tokens=True)
    assert "<unk>" in task.source_tokens("the zebra runs") or task.src_vocab.unk_id in task.src_vocab.encode(
        task.source_tokens("the zebra runs")
    )


def _batch(run_, texts):
    task = run_.task
    src = [task.src_vocab.encode(task.source_tokens(t)) for t in texts]
    tgt = [task.encode_target(t.upper()) for t in texts]
    return collate(src, tgt)


def test_logits_and_every_attention_match_transformers(run, reference):
    hf, _ = reference
    texts = SENTENCES[:3]
    batch = _batch(run, texts)
    hf_ids = torch.tensor(run.task.hf_ids)
    src_hf, tgt_hf = hf_ids[batch.src], hf_ids[batch.tgt_in]
    mask = batch.src != 0
    with torch.no_grad():
        ref = hf(
            input_ids=src_hf,
            attention_mask=mask.long(),
            decoder_input_ids=tgt_hf,
            decoder_attention_mask=(batch.tgt_in != 0).long(),
            output_attentions=True,
        )
        ours = run.model(batch.src, batch.src_lengths, batch.tgt_in).logits
        maps = run.model.attention_maps(batch.src, batch.src_lengths, batch.tgt_in)
    assert batch.tgt_in[0, 0] == 2 and tgt_hf[0, 0] == hf.config.decoder_start_token_id
    others = [i for i in range(len(hf_ids)) if i != 2]  # attnkit's <s> is no output of Marian's
    worst = 0.0
    for b, text in enumerate(texts):
        tk, tq = int(batch.src_lengths[b]), int((batch.tgt_in[b] != 0).sum())
        diff = (ours[b, :tq, others] - ref.logits[b, :tq, hf_ids[others]]).abs().max()
        worst = max(worst, float(diff))
        assert diff < 1e-5, text
        for layer in range(2):
            pairs = [
                (maps.encoder_self[layer][b, :, :tk, :tk], ref.encoder_attentions[layer][b, :, :tk, :tk]),
                (maps.decoder_self[layer][b, :, :tq, :tq], ref.decoder_attentions[layer][b, :, :tq, :tq]),
                (maps.cross[layer][b, :, :tq, :tk], ref.cross_attentions[layer][b, :, :tq, :tk]),
            ]
            for a, r in pairs:
                assert (a - r).abs().max() < 1e-5
                worst = max(worst, float((a - r).abs().max()))
    print(f"largest difference in logits and attention weights: {worst:.2e}")
    assert float(ours[..., 2].max()) < -1e30  # <s> takes no probability


def _generate(hf, src_hf, **kwargs):
    pad = hf.config.pad_token_id
    out = hf.generate(
        input_ids=src_hf,
        attention_mask=torch.ones_like(src_hf),
        max_length=MAX_LENGTH,
        bad_words_ids=[[pad]],
        do_sample=False,
        **kwargs,
    )
    seqs = []
    for row in out.tolist():
        row = row[1:]  # the decoder start token
        seqs.append(row[: row.index(0)] if 0 in row else row)
    return seqs


@pytest.mark.parametrize("length_penalty", [1.0, 0.6])
def test_greedy_and_beam_outputs_equal_generate(run, reference, length_penalty):
    hf, _ = reference
    task = run.task
    ids = [task.src_vocab.encode(task.source_tokens(t)) for t in SENTENCES]
    greedy = decode(run.model, ids, DecodeOptions(max_len=MAX_LENGTH - 2), max_len=task.output_limit)
    beam_opts = DecodeOptions(
        beam_size=4, n_best=4, alpha=length_penalty, length_norm="power", stop="current", max_len=MAX_LENGTH - 2
    )
    beams = decode(run.model, ids, beam_opts, max_len=task.output_limit)
    for src, g, nbest in zip(ids, greedy, beams):
        src_hf = torch.tensor([_hf(run, src)])
        with torch.no_grad():
            ref_greedy = _generate(hf, src_hf, num_beams=1)
            ref_beam = hf.generate(
                input_ids=src_hf,
                max_length=MAX_LENGTH,
                bad_words_ids=[[hf.config.pad_token_id]],
                do_sample=False,
                num_beams=4,
                num_return_sequences=4,
                length_penalty=length_penalty,
                early_stopping=False,
                output_scores=True,
                return_dict_in_generate=True,
            )
        assert _hf(run, g[0].tokens) == ref_greedy[0]
        hf_beams = [row[1:][: row[1:].index(0)] for row in ref_beam.sequences.tolist()]
        assert [_hf(run, h.tokens) for h in nbest] == hf_beams
        for h, score in zip(nbest, ref_beam.sequences_scores.tolist()):  # HF: sum log p / |Y| ** lp
            assert h.score / (len(h.tokens) + 1) ** length_penalty == pytest.approx(score, abs=1e-4)
        # every hypothesis ended with </s> before the limit, where HF scores a forced </s> as log 1 = 0
        assert all(len(h.tokens) < MAX_LENGTH - 2 for h in [g[0], *nbest])


def test_options_take_effect(run):
    """suppress_pad: <pad> gets -inf in decoding steps only; length_norm: the power law or GNMT's."""
    model = run.model
    src = torch.tensor([run.task.src_vocab.encode(run.task.source_tokens(SENTENCES[0]))])
    memory = model.encode(src, torch.tensor([src.shape[1]]))
    first = torch.tensor([2])
    logprobs, _, _ = model.step(first, model.init_state(memory), memory)
    assert model.suppress_pad and logprobs[0, 0] == -math.inf
    model.suppress_pad = False
    try:
        free, _, _ = model.step(first, model.init_state(memory), memory)
    finally:
        model.suppress_pad = True
    assert torch.isfinite(free[0, 0])
    others = [i for i in range(free.shape[1]) if i not in (0, 2)]
    torch.testing.assert_close(logprobs[0, others], free[0, others])  # the softmax is the same, with <pad> in it
    assert length_penalty(7, 0.6, "power") == pytest.approx(7**0.6)
    assert length_penalty(7, 0.6) == pytest.approx((12 / 6) ** 0.6)


def test_untied_output_unscaled_embeddings_relu(tmp_path):
    """Other Marian configs: separate lm_head, no embedding scale, ReLU: the same logits."""
    (tmp_path / "ckpt").mkdir()
    folder = build_checkpoint(
        tmp_path / "ckpt", steps=0, tie_word_embeddings=False, scale_embedding=False, activation_function="relu"
    )
    assert main(["import-hf", str(folder), "--out", str(tmp_path / "run")]) == 0
    run_ = load_run(tmp_path / "run")
    cfg = run_.config.model
    assert (cfg.tie_embeddings, cfg.share_embeddings, cfg.scale_embeddings, cfg.activation) == (
        False,
        False,
        False,
        "relu",
    )
    hf = transformers.MarianMTModel.from_pretrained(folder, attn_implementation="eager").eval()
    assert not torch.equal(hf.lm_head.weight, hf.model.shared.weight)
    batch = _batch(run_, SENTENCES[:2])
    hf_ids = torch.tensor(run_.task.hf_ids)
    with torch.no_grad():
        ref = hf(
            input_ids=hf_ids[batch.src], attention_mask=(batch.src != 0).long(), decoder_input_ids=hf_ids[batch.tgt_in]
        )
        ours = run_.model(batch.src, batch.src_lengths, batch.tgt_in).logits
    others = [i for i in range(len(hf_ids)) if i != 2]
    for b in range(2):
        tq = int((batch.tgt_in[b] != 0).sum())
        assert (ours[b, :tq, others] - ref.logits[b, :tq, hf_ids[others]]).abs().max() < 1e-5


def test_explorer_beam_and_layers(run, reference):
    from attnkit.explore import RunRegistry, create_app

    hf, tok = reference
    client = create_app(RunRegistry({"marian": run})).test_client()
    text = SENTENCES[2]
    body = dict(input=text, beam_size=4, n_best=4, alpha=1.0, length_norm="power", stop="current", max_len=22)
    answer = client.post("/api/runs/marian/predict", json={**body, "layers": True})
    assert answer.status_code == 200, answer.json
    with torch.no_grad():
        ref = hf.generate(
            input_ids=torch.tensor([tok(text).input_ids]),
            max_length=MAX_LENGTH,
            bad_words_ids=[[hf.config.pad_token_id]],
            num_beams=4,
            num_return_sequences=4,
            length_penalty=1.0,
            early_stopping=False,
        )
    assert [h["output"] for h in answer.json["hypotheses"]] == tok.batch_decode(ref, skip_special_tokens=True)
    assert answer.json["layers"] is not None


def test_cli_translate_predict_align(run, reference, tmp_path, capsys):
    hf, tok = reference
    text = SENTENCES[1]
    assert main(["translate", "--model", str(run.path), text]) == 0
    printed = capsys.readouterr().out.strip().splitlines()[0]
    src_hf = torch.tensor([tok(text).input_ids])
    limit = run.task.output_limit(src_hf.shape[1])  # translate's default: greedy, at most this many tokens
    with torch.no_grad():
        greedy = hf.generate(
            input_ids=src_hf, max_length=limit + 2, bad_words_ids=[[hf.config.pad_token_id]], do_sample=False
        )
    assert printed == tok.decode(greedy[0], skip_special_tokens=True)
    assert main(["predict", "--model", str(run.path), "--json", text]) == 0
    record = json.loads(capsys.readouterr().out.strip().splitlines()[0])
    assert record["kind"] == "text-alignment"
    assert len(record["layers"]["cross"]) == 2  # every decoder layer's cross-attention
    src, tgt, links = tmp_path / "in.src", tmp_path / "in.tgt", tmp_path / "links.txt"
    src.write_text(text + "\n", encoding="utf-8")
    tgt.write_text(text.upper() + "\n", encoding="utf-8")
    assert (
        main(["align", "--model", str(run.path), "--input", str(src), "--target", str(tgt), "--output", str(links)])
        == 0
    )
    assert links.read_text().strip()


def test_unsupported_checkpoints_get_one_line_errors(checkpoint, tmp_path):
    from attnkit.pretrained import ConversionError
    from attnkit.pretrained.convert import import_hf

    bad = tmp_path / "bad"
    bad.mkdir()
    for f in checkpoint.iterdir():
        if f.name != "target.spm":
            (bad / f.name).write_bytes(f.read_bytes())
    with pytest.raises(ConversionError, match="target.spm"):
        import_hf(bad, tmp_path / "out")


@pytest.mark.parametrize("d_model", [8, 9])
def test_sinusoidal_halves_is_marians_table(d_model):
    from transformers.models.marian.modeling_marian import MarianSinusoidalPositionalEmbedding

    from attnkit.nn.positional import POSITIONAL

    ref = MarianSinusoidalPositionalEmbedding(20, d_model).create_weight()  # (20, D) float32
    ours = POSITIONAL.get("sinusoidal-halves")(d_model, max_len=20)
    x = torch.zeros(1, 20, d_model)
    torch.testing.assert_close(ours(x), ref[None], atol=1e-6, rtol=0)
    assert not torch.allclose(POSITIONAL.get("sinusoidal")(d_model, max_len=20)(x), ref[None])  # the layout matters
