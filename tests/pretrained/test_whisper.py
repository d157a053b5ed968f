"""Whisper imported into attnkit's own modules, checked against Hugging Face ``transformers``
(eager attention) on a tiny random checkpoint saved with ``save_pretrained``: the encoder
output, teacher-forced logits and every layer's attention; greedy and beam search against
``generate`` from the same prompt; the log-mel frames against ``WhisperFeatureExtractor``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

transformers = pytest.importorskip("transformers", reason="transformers (the reference) is not installed")

from attnkit.cli import main  # noqa: E402
from attnkit.data.whisper_features import WhisperFeatures  # noqa: E402
from attnkit.decoding import DecodeOptions, beam_search, greedy_decode  # noqa: E402
from attnkit.models.specs import SpeechSeq2SeqSpec  # noqa: E402
from attnkit.models.whisper import whisper_sinusoids  # noqa: E402
from attnkit.models.whisper_family import WhisperFamily  # noqa: E402
from attnkit.pretrained import ConversionError  # noqa: E402
from attnkit.pretrained.checkpoint import read_checkpoint  # noqa: E402
from attnkit.pretrained.whisper import WhisperImporter, whisper_prompt  # noqa: E402
from attnkit.tasks.pretrained_speech import token_order  # noqa: E402
from attnkit.training import load_run  # noqa: E402

V = 60  # tokens: 55 words, then the specials
EOT, SOT, EN, TRANSCRIBE, NO_TS = 55, 56, 57, 58, 59
PROMPT = [EN, TRANSCRIBE, NO_TS]
NAMES = [f"w{i}" for i in range(EOT)] + [
    "<|endoftext|>",
    "<|startoftranscript|>",
    "<|en|>",
    "<|transcribe|>",
    "<|notimestamps|>",
]
CHUNK_S = 1  # the tiny model reads 1 s windows: 100 frames, 50 encoder positions
EOT_RAMP = 1.0
SUPPRESS, BEGIN_SUPPRESS = [9, 46], [EOT, 25]  # ids Hugging Face's logits processors ban


def _tokenizer(path: Path) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers

    tok = Tokenizer(models.WordLevel({t: i for i, t in enumerate(NAMES)}, unk_token="w0"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.add_special_tokens(NAMES[EOT:])
    tok.save(str(path / "tokenizer.json"))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A tiny random WhisperForConditionalGeneration (eager), saved with its processor files."""
    path = tmp_path_factory.mktemp("whisper-hf")
    config = transformers.WhisperConfig(
        vocab_size=V,
        num_mel_bins=80,
        d_model=32,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=4,
        decoder_attention_heads=2,
        encoder_ffn_dim=64,
        decoder_ffn_dim=48,
        max_source_positions=50,
        max_target_positions=40,
        pad_token_id=EOT,
        bos_token_id=EOT,
        eos_token_id=EOT,
        decoder_start_token_id=SOT,
        suppress_tokens=SUPPRESS,
        begin_suppress_tokens=BEGIN_SUPPRESS,
    )
    torch.manual_seed(0)
    model = transformers.WhisperForConditionalGeneration(config)
    with torch.no_grad():  # larger weights than the init's: decisive logits, varied attention
        for name, p in model.named_parameters():
            if "layer_norm" in name and name.endswith("weight"):
                p.normal_(1.0, 0.1)
            elif "embed_positions" not in name or "decoder" in name:  # the encoder's sinusoids stay
                p.normal_(0.0, 0.35 if p.dim() > 1 else 0.1)
        # later positions lean towards the end token: hypotheses end within the step limit
        ramp = EOT_RAMP * (torch.arange(40.0) - 4).clamp(min=0)[:, None]
        model.model.decoder.embed_positions.weight += ramp * model.model.decoder.embed_tokens.weight[EOT]
    gen = model.generation_config
    gen.forced_decoder_ids = [[1, EN], [2, TRANSCRIBE], [3, NO_TS]]
    gen.no_timestamps_token_id = NO_TS
    model.save_pretrained(path)
    transformers.WhisperFeatureExtractor(feature_size=80, chunk_length=CHUNK_S).save_pretrained(path)
    _tokenizer(path)
    ref = transformers.WhisperForConditionalGeneration.from_pretrained(path, attn_implementation="eager").eval()
    return path, ref


def _ours(path: Path):
    converted = WhisperImporter().convert(read_checkpoint(path))
    from attnkit.models.whisper_family import WhisperConfig

    cfg = WhisperConfig(**converted.config["model"])
    model = WhisperFamily.build(cfg, SpeechSeq2SeqSpec(1, cfg.vocab_size, 1, 0, n_mels=cfg.n_mels))
    model.load_state_dict(converted.weights, strict=True)
    return converted, model.eval()


def _features(n: int, seed: int) -> torch.Tensor:
    """n random windows of frames (n, T, mels), in the range of Whisper's log-mel values."""
    return torch.randn(n, 2 * 50, 80, generator=torch.Generator().manual_seed(seed)) * 0.5


def test_sinusoids_are_hugging_faces():
    from transformers.models.whisper.modeling_whisper import sinusoids

    torch.testing.assert_close(whisper_sinusoids(50, 32), sinusoids(50, 32), atol=0, rtol=0)


@pytest.mark.parametrize("mels,seconds,chunk", [(80, 0.7, 1), (128, 2.5, 3), (80, 4.0, 30)])
def test_log_mel_matches_whisper_feature_extractor(mels, seconds, chunk):
    rng = np.random.default_rng(mels + chunk)
    audio = (rng.standard_normal(int(seconds * 16000)) * 0.2).astype(np.float32)
    ref = transformers.WhisperFeatureExtractor(feature_size=mels, chunk_length=chunk)
    expected = ref(audio, sampling_rate=16000, return_tensors="np").input_features[0].T  # (T, mels)
    ours = WhisperFeatures(feature_size=mels, chunk_length=chunk).log_mel(audio)
    assert ours.shape == expected.shape == (chunk * 100, mels)
    np.testing.assert_allclose(ours, expected, atol=1e-4, rtol=0)


def test_token_order_puts_start_and_end_at_attnkits_ids():
    order = token_order(V, SOT, EOT)
    assert sorted(order) == list(range(V))
    assert order[2] == SOT and order[3] == EOT and order[SOT] == 2 and order[EOT] == 3
    with pytest.raises(ValueError):
        token_order(V, EOT, EOT)


def test_prompt_from_the_generation_config():
    assert (
        whisper_prompt({}, {"forced_decoder_ids": [[1, EN], [2, TRANSCRIBE]], "no_timestamps_token_id": NO_TS})
        == PROMPT
    )
    multilingual = {
        "forced_decoder_ids": [[1, None], [2, TRANSCRIBE]],
        "lang_to_id": {"<|en|>": EN, "<|de|>": 99},
        "task_to_id": {"transcribe": TRANSCRIBE, "translate": 98},
        "no_timestamps_token_id": NO_TS,
    }
    assert whisper_prompt({}, multilingual) == PROMPT
    assert whisper_prompt({}, multilingual, "de") == [99, TRANSCRIBE, NO_TS]
    with pytest.raises(ConversionError, match="no language token"):
        whisper_prompt({}, multilingual, "xx")


def test_encoder_logits_and_every_attention_match_transformers(checkpoint):
    path, ref = checkpoint
    converted, model = _ours(path)
    assert converted.config["data"]["prompt"] == PROMPT
    frames = _features(2, seed=1)  # (2, 100, 80)
    tgt_hf = torch.tensor([[SOT, *PROMPT, 5, 17, 40, 3], [SOT, *PROMPT, 2, 2, 54, EOT]])
    order = token_order(V, SOT, EOT)
    ours_of = {t: i for i, t in enumerate(order)}
    tgt = torch.tensor([[ours_of[t] for t in row] for row in tgt_hf.tolist()])
    with torch.no_grad():
        out = ref(input_features=frames.transpose(1, 2), decoder_input_ids=tgt_hf, output_attentions=True)
        lengths = torch.full((2,), 100)
        memory = model.encode(frames, lengths)
        logits = model(frames, lengths, tgt).logits  # (B, Tq, V) in attnkit's token order
        maps = model.all_attention(frames, tgt)
    diffs = {
        "encoder": (memory.annotations - out.encoder_last_hidden_state).abs().max(),
        "logits": (logits - out.logits[..., order]).abs().max(),
    }
    for name, ours_w, theirs in (
        ("encoder_self", maps.encoder_self, out.encoder_attentions),
        ("decoder_self", maps.decoder_self, out.decoder_attentions),
        ("cross", maps.cross, out.cross_attentions),
    ):
        assert len(ours_w) == len(theirs) == 2
        diffs[name] = max((a - b).abs().max() for a, b in zip(ours_w, theirs))
    print({k: f"{float(v):.2e}" for k, v in diffs.items()})
    assert all(v <= 1e-5 for v in diffs.values()), diffs
    # the weights are large enough for the check to mean something: decisive logits, peaked attention
    assert out.logits.std() > 1.0 and max(w.max() for w in out.cross_attentions) > 0.3


def _hf_generate(ref, frames: torch.Tensor, *, whisper: bool = True, **kwargs):
    """Hugging Face's generation from the prompt: Whisper's own ``generate`` or, for n-best lists
    with scores (which Whisper's post-processing drops), the generic one it calls for 30 s inputs."""
    prompt = torch.tensor([[SOT, *PROMPT]] * len(frames))
    generate = ref.generate if whisper else lambda **kw: transformers.GenerationMixin.generate(ref, **kw)
    with torch.no_grad():
        return generate(input_features=frames.transpose(1, 2), decoder_input_ids=prompt, do_sample=False, **kwargs)


def _strip(seq: list[int]) -> list[int]:
    """Generated tokens after the prompt, up to (not including) the end token."""
    if seq[: len(PROMPT) + 1] == [SOT, *PROMPT]:
        seq = seq[len(PROMPT) + 1 :]
    return seq[: seq.index(EOT)] if EOT in seq else seq


MAX_NEW = 30


def test_greedy_matches_generate(checkpoint):
    path, ref = checkpoint
    _, model = _ours(path)
    frames = _features(6, seed=2)
    expected = [_strip(s) for s in _hf_generate(ref, frames, num_beams=1, max_new_tokens=MAX_NEW).tolist()]
    order = token_order(V, SOT, EOT)
    prefix = [order.index(t) for t in PROMPT]
    hyps = greedy_decode(model, frames, torch.full((6,), 100), MAX_NEW, prefix=prefix)
    assert [[order[t] for t in h.tokens] for h in hyps] == expected
    assert all(h.weights.shape == (2, len(h.tokens) + 1, 50) for h in hyps)  # (Nh, To, Tk)


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_beam_matches_generate(checkpoint, seed):
    """k = 3, three hypotheses back. Hugging Face: length_penalty=0 (raw sums of log-probabilities,
    attnkit's alpha=0), early_stopping=False (with no length penalty the same rule as attnkit's
    stop: the k-th finished beats the best live), max_new_tokens=30; the checkpoint's
    suppress_tokens and begin_suppress_tokens as logits processors (attnkit: the model's step)."""
    path, ref = checkpoint
    _, model = _ours(path)
    frames = _features(2, seed)
    out = _hf_generate(
        ref,
        frames,
        whisper=False,
        num_beams=3,
        num_return_sequences=3,
        length_penalty=0.0,
        early_stopping=False,
        max_new_tokens=MAX_NEW,
        return_dict_in_generate=True,
        output_scores=True,
    )
    expected = [_strip(s) for s in out.sequences.tolist()]
    assert all(EOT in s for s in out.sequences.tolist()), out.sequences  # every hypothesis ended before the limit
    order = token_order(V, SOT, EOT)
    prefix = [order.index(t) for t in PROMPT]
    options = DecodeOptions(beam_size=3, n_best=3, alpha=0.0)
    nbests = beam_search(model, frames, torch.full((2,), 100), MAX_NEW, options, prefix=prefix)
    ours = [[order[t] for t in h.tokens] for hyps in nbests for h in hyps]
    assert ours == expected, (ours, expected)
    scores = torch.tensor([h.score for hyps in nbests for h in hyps], dtype=torch.float64)
    torch.testing.assert_close(scores, out.sequences_scores.double(), atol=1e-4, rtol=0)


def test_import_hf_and_predict_a_wav_through_the_cli(checkpoint, tmp_path, capsys):
    """``attnkit import-hf`` then ``attnkit predict`` on an 8 kHz WAV (resampled): the transcript
    is Hugging Face's greedy ``generate`` on its extractor's frames of the same samples, and the
    cross-attention is drawn over the recording in seconds (20 ms per encoder position); the
    explorer answers an upload of the same file with the same tokens and weights."""
    from attnkit.data.audio import read_audio

    path, ref = checkpoint
    run_dir = tmp_path / "run"
    assert main(["import-hf", str(path), "--out", str(run_dir)]) == 0
    run = load_run(run_dir)
    assert (run.config.data.task, run.config.model.arch) == ("pretrained-speech", "whisper")
    wav = tmp_path / "x.wav"
    rng = np.random.default_rng(0)
    soundfile.write(wav, (rng.standard_normal(4800) * 0.2).astype(np.float32), 8000)  # 0.6 s at 8 kHz
    capsys.readouterr()
    assert main(["predict", "--model", str(run_dir), str(wav), "--json"]) == 0
    record = json.loads(capsys.readouterr().out.strip().splitlines()[-1])

    samples = read_audio(wav, 16000)
    features = transformers.WhisperFeatureExtractor.from_pretrained(path)(
        samples, sampling_rate=16000, return_tensors="pt"
    ).input_features  # (1, mels, T)
    with torch.no_grad():
        expected = ref.generate(
            input_features=features,
            decoder_input_ids=torch.tensor([[SOT, *PROMPT]]),
            do_sample=False,
            max_new_tokens=run.config.data.max_new_tokens,
        )
    ids = _strip(expected[0].tolist())
    assert record["kind"] == "spectrogram-alignment"
    assert record["tokens"] == [*(NAMES[i] for i in ids), "</s>"]
    assert record["output"] == " ".join(NAMES[i] for i in ids if i < EOT)  # special tokens left out
    assert record["heads"]["shape"] == [2, len(ids) + 1, 30]  # (Nh, To, positions of 0.6 s)
    assert record["frames"]["shape"] == [60, 80] and record["position_seconds"] == pytest.approx(0.02)

    import base64

    from attnkit.explore import RunRegistry, create_app

    app = create_app(RunRegistry.load([run_dir]))
    answer = app.test_client().post(
        "/api/runs/run/predict", json={"audio": base64.b64encode(wav.read_bytes()).decode()}
    )
    assert answer.status_code == 200, answer.get_json()
    shown = answer.get_json()
    assert shown["kind"] == "spectrogram-alignment" and shown["output"] == record["output"]
    assert shown["view"]["tokens"] == record["tokens"] and shown["view"]["heads"]["shape"] == record["heads"]["shape"]

    png = tmp_path / "x.png"
    assert main(["predict", "--model", str(run_dir), str(wav), "--beam", "3", "--attention-plot", str(png)]) == 0
    assert png.stat().st_size > 0


def test_import_refuses_a_checkpoint_without_its_processor_files(checkpoint, tmp_path):
    path, _ = checkpoint
    bare = tmp_path / "bare"
    bare.mkdir()
    for name in ("config.json", "model.safetensors", "generation_config.json"):
        (bare / name).write_bytes((path / name).read_bytes())
    with pytest.raises(ConversionError, match="tokenizer.json"):
        WhisperImporter().convert(read_checkpoint(bare))
