"""The explorer bounded in work, not only in bytes, and every client mistake a 4xx JSON answer
(issue 26): JSON nested too deep, lone surrogates, wrong types, an IPv6 loopback Host, an
answer too large refused before decoding, a run busy with a long request answering 503 with
Retry-After, decompression-bomb images and over-long, 1 Hz or NaN recordings refused from
their header before decoding."""

from __future__ import annotations

import base64
import dataclasses
import io
import struct
import threading
import time
import wave
import zlib

import numpy as np
import pytest

from attnkit.capabilities import InputKind, RunCapabilities, TaskCapabilities
from attnkit.explore import LOOPBACK_NAMES, Limits, RunRegistry, create_app

DATE, LOCALE = "3. Mai 1979", "de_DE"


def post(client, key, body, route="predict"):
    response = client.post(f"/api/runs/{key}/{route}", json=body)
    assert response.content_type == "application/json", response.data[:200]
    return response


def raw(client, key, data: bytes):
    return client.post(f"/api/runs/{key}/predict", data=data, content_type="application/json")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# --- request bodies -----------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [33, 1_000, 100_000])
def test_json_nested_deeper_than_the_limit_is_a_400(client, depth):
    for opening, closing in ((b"[", b"]"), (b'{"a":', b"}")):
        body = opening * depth + b"1" + closing * depth
        response = raw(client, "bahdanau", body)
        assert response.status_code == 400, response.data[:200]
        assert "nests arrays and objects more than 32 deep" in response.json["error"]
    nested = b'{"input": "3. Mai 1979", "options": {"locale": "de_DE"}}'  # depth 2: fine
    assert raw(client, "bahdanau", nested).status_code == 200


@pytest.mark.parametrize("key", ["bahdanau", "transformer"])
def test_a_lone_surrogate_is_a_400(client, key):
    for body in (
        b'{"input": "3. Mai \\ud800 1979"}',
        b'{"input": "3. Mai 1979", "options": {"locale": "\\udfff"}}',
        b'{"input": "x", "\\ud800": 1}',
    ):
        response = raw(client, key, body)
        assert response.status_code == 400 and "lone surrogate" in response.json["error"]
    body = b'{"input": "3. Mai 1979", "out_tokens": ["\\udc00"]}'
    response = client.post(f"/api/runs/{key}/layers", data=body, content_type="application/json")
    assert response.status_code == 400 and "lone surrogate" in response.json["error"]


@pytest.mark.parametrize(
    "field, value",
    [
        ("input", 5),
        ("input", ["3. Mai"]),
        ("options", ["de_DE"]),
        ("options", {"locale": 1}),
        ("layers", "yes"),
        ("beam_size", "3"),
        ("beam_size", 2.5),
        ("beam_size", True),
        ("n_best", None),
        ("alpha", "x"),
        ("alpha", [1]),
        ("beta", {"a": 1}),
        ("max_len", 1.5),
        ("max_len", "9"),
        ("max_len", -1),
        ("stop", 3),
        ("image", 7),
        ("audio", ["UklGRg=="]),
    ],
)
def test_wrong_types_in_fields_are_a_400(client, field, value):
    body = {"input": DATE, "options": {"locale": LOCALE}, field: value}
    response = post(client, "bahdanau", body)
    assert response.status_code == 400, response.json


def test_bodies_that_are_not_json_objects_are_a_400(client):
    for data in (b"", b"nul", b"\xff\xfe", b'"text"', b"[1, 2]", b"1e999999", b'{"input": NaN}'):
        response = raw(client, "bahdanau", data)
        assert 400 <= response.status_code < 500, (data, response.json)


# --- the Host header ----------------------------------------------------------------------------


def test_ipv6_loopback_host_headers_are_trusted_and_others_are_not(registry):
    client = create_app(registry, trusted_hosts=LOOPBACK_NAMES).test_client()
    for host in ("[::1]:8765", "[::1]", "::1", "localhost:8765", "LOCALHOST", "127.0.0.1:1"):
        assert client.get("/api/runs", headers={"Host": host}).status_code == 200, host
    for host in ("evil.example", "[::2]:80", "127.0.0.1.evil.example", "[::1]:99999", "::1:8765", "", "[::1"):
        response = client.get("/api/runs", headers={"Host": host})
        assert response.status_code == 400 and response.content_type == "application/json", host


def test_host_allowed():
    from attnkit.explore.app import host_allowed

    assert host_allowed("[0:0::1]:80", ["::1"]) and not host_allowed("[::ffff:127.0.0.2]", ["::1"])
    assert host_allowed("localhost", ["localhost"]) and not host_allowed("localhost.", ["127.0.0.1"])


# --- work bounded before it is done -------------------------------------------------------------


def test_an_answer_over_the_limit_is_refused_before_decoding(registry, monkeypatch):
    task = registry["transformer"].run.task

    def never(*args, **kwargs):
        raise AssertionError("decoded a request that should have been refused")

    monkeypatch.setattr(task, "predict", never)
    client = create_app(registry, limits=Limits(max_cells=3_000)).test_client()
    start = time.perf_counter()
    response = post(client, "transformer", {"input": DATE, "options": {"locale": LOCALE}, "beam_size": 16})
    elapsed = time.perf_counter() - start
    assert response.status_code == 413 and elapsed < 1.0
    message = response.json["error"]
    assert "over this explorer's limit of 3000" in message and "'beam_size'" in message and "\n" not in message
    monkeypatch.undo()
    small = post(client, "transformer", {"input": DATE, "options": {"locale": LOCALE}, "beam_size": 2})
    assert small.status_code == 200  # 2 beams x 2 heads x 11 x 12 fits (the layer maps are left out)


def test_a_request_to_a_busy_run_is_a_503_with_retry_after(registry):
    served = registry["bahdanau"]
    client = create_app(registry, limits=Limits(lock_wait_s=0.05)).test_client()
    with served.lock:  # another request computing
        start = time.perf_counter()
        response = post(client, "bahdanau", {"input": DATE, "options": {"locale": LOCALE}})
        elapsed = time.perf_counter() - start
        other = post(client, "transformer", {"input": DATE, "options": {"locale": LOCALE}})
    assert response.status_code == 503 and int(response.headers["Retry-After"]) >= 1
    assert "busy" in response.json["error"] and elapsed < 0.5
    assert other.status_code == 200  # another run answers
    assert post(client, "bahdanau", {"input": DATE, "options": {"locale": LOCALE}}).status_code == 200


def test_a_request_waits_for_a_short_one(registry):
    served = registry["bahdanau"]
    client = create_app(registry, limits=Limits(lock_wait_s=2.0)).test_client()
    served.lock.acquire()
    threading.Timer(0.1, served.lock.release).start()
    assert post(client, "bahdanau", {"input": DATE, "options": {"locale": LOCALE}}).status_code == 200


# --- uploads: checked from their header, before decoding ----------------------------------------


@pytest.fixture()
def as_upload_run(registry, monkeypatch):
    """The bahdanau run declared as an image or audio task (its predict must not be reached)."""

    def declare(kind: InputKind, max_seconds: float | None = None):
        served = registry["bahdanau"]
        caps = RunCapabilities(TaskCapabilities(kind, max_seconds=max_seconds), served.run.capabilities.model)
        monkeypatch.setattr(served, "run", dataclasses.replace(served.run, capabilities=caps))

        def never(*args, **kwargs):
            raise AssertionError("the upload reached the task")

        monkeypatch.setattr(served.run.task, "predict", never)
        return create_app(registry).test_client()

    return declare


def png_header(width: int, height: int) -> bytes:
    """A PNG file of 1 x 1 pixel whose header says it is `width` x `height` pixels (the
    header is all Pillow reads before it decodes)."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("1", (1, 1)).save(out, "PNG")
    data = bytearray(out.getvalue())
    ihdr = data.index(b"IHDR")
    data[ihdr + 4 : ihdr + 12] = struct.pack(">II", width, height)
    data[ihdr + 17 : ihdr + 21] = struct.pack(">I", zlib.crc32(bytes(data[ihdr : ihdr + 17])))
    return bytes(data)


@pytest.mark.parametrize("size", [(20_000, 20_000), (4097, 4096), (100_000, 200), (1 << 30, 1 << 30)])
def test_decompression_bombs_are_a_413_before_decoding(as_upload_run, size):
    data = png_header(*size)
    assert len(data) < 512 << 10
    response = post(as_upload_run(InputKind.IMAGE), "bahdanau", {"image": b64(data)})
    message = response.json["error"]
    assert response.status_code == 413 and "pixels" in message and "over this explorer's limit of 16777216" in message


def test_an_unreadable_image_header_is_a_400(as_upload_run):
    client = as_upload_run(InputKind.IMAGE)
    for data in (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, b"GIF89a" + b"\xff" * 20, b"not an image"):
        response = post(client, "bahdanau", {"image": b64(data)})
        assert response.status_code == 400 and "upload a PNG or JPEG" in response.json["error"]


def wav_bytes(samples: np.ndarray, rate: int, *, subtype: str = "PCM_16", fmt: str = "WAV") -> bytes:
    import soundfile

    out = io.BytesIO()
    soundfile.write(out, samples, rate, subtype=subtype, format=fmt)
    return out.getvalue()


def test_long_recordings_are_a_413_from_their_header(as_upload_run):
    ten_minutes = wav_bytes(np.zeros(600 * 16000, dtype=np.int16), 16000, fmt="FLAC")  # silence: small as FLAC
    assert len(ten_minutes) < 640 << 10
    client = as_upload_run(InputKind.AUDIO)  # no declared maximum: the explorer's 30 s
    response = post(client, "bahdanau", {"audio": b64(ten_minutes)})
    assert response.status_code == 413 and "600.0 s is longer than the 30 s" in response.json["error"]
    client = as_upload_run(InputKind.AUDIO, max_seconds=2.0)  # the run's own, smaller
    three = wav_bytes(np.zeros(3 * 8000, dtype=np.int16), 8000)
    response = post(client, "bahdanau", {"audio": b64(three)})
    assert response.status_code == 413 and "3.0 s is longer than the 2 s" in response.json["error"]
    assert "the uploaded recording" in response.json["error"]


def test_a_1_hz_recording_is_a_400_from_its_header(as_upload_run):
    client = as_upload_run(InputKind.AUDIO)
    for n in (5, 600_000):  # 5 s, and the 600 KB at 1 Hz (about 19 GB once resampled)
        data = wav_bytes(np.zeros(n, dtype=np.int16), 1, subtype="PCM_U8")
        start = time.perf_counter()
        response = post(client, "bahdanau", {"audio": b64(data)})
        assert response.status_code == 400 and "sample rate of 1 Hz" in response.json["error"]
        assert time.perf_counter() - start < 1.0


def test_a_broken_wav_header_is_a_400(as_upload_run):
    client = as_upload_run(InputKind.AUDIO)
    header = wav_bytes(np.zeros(100, dtype=np.int16), 16000)[:44]
    with io.BytesIO() as out:
        with wave.open(out, "wb") as w:
            w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000)
        empty = out.getvalue()
    for data in (b"RIFF" + b"\0" * 40, header[:30], empty[:20]):
        response = post(client, "bahdanau", {"audio": b64(data)})
        assert response.status_code == 400, response.json


def test_an_over_long_recording_is_refused_by_the_task_too(tmp_path):
    """The CLI's path: the task's predict reads the header first (spoken words: 30 s)."""
    from attnkit.data.audio import AudioTooLong, check_audio, read_audio
    from attnkit.errors import InputError

    path = tmp_path / "long.flac"
    path.write_bytes(wav_bytes(np.zeros(600 * 16000, dtype=np.int16), 16000, fmt="FLAC"))
    with pytest.raises(AudioTooLong, match="600.0 s is longer than the 30 s this model takes"):
        read_audio(path, max_seconds=30)
    assert check_audio(path) == 600.0
    nan = tmp_path / "nan.wav"
    nan.write_bytes(wav_bytes(np.array([0.0, np.nan, np.inf, 0.5] * 100, dtype=np.float32), 16000, subtype="FLOAT"))
    with pytest.raises(InputError, match="not finite"):
        read_audio(nan)
    slow = tmp_path / "slow.wav"
    slow.write_bytes(wav_bytes(np.zeros(100, dtype=np.int16), 1))
    with pytest.raises(InputError, match="sample rate of 1 Hz"):
        read_audio(slow)


# --- a real speech run: non-finite samples, the declared maximum --------------------------------


@pytest.fixture(scope="module")
def words_run(tmp_path_factory):
    from attnkit.config import load_config
    from attnkit.training.pipeline import train_run

    from .speech import COMMON, SPEECH_RUNS, needs_espeak

    needs_espeak()
    root = tmp_path_factory.mktemp("hardening-words")
    train_run(
        load_config(None, [*SPEECH_RUNS["words"], f"data.cache={root / 'cache'}", *COMMON]), root / "w", progress=False
    )
    return RunRegistry.load([root / "w"])


def test_speech_runs_declare_their_longest_recording(words_run):
    meta = create_app(words_run).test_client().get("/api/runs/w").json
    assert meta["max_seconds"] == 30.0


def test_non_finite_samples_are_a_400(words_run):
    client = create_app(words_run).test_client()
    for bad in (np.nan, np.inf, -np.inf):
        samples = np.sin(np.arange(16000) / 10).astype(np.float32)
        samples[100] = bad
        response = post(client, "w", {"audio": b64(wav_bytes(samples, 16000, subtype="FLOAT"))})
        assert response.status_code == 400 and "not finite" in response.json["error"], response.json
    fine = wav_bytes(np.sin(np.arange(16000) / 10).astype(np.float32), 16000, subtype="FLOAT")
    assert post(client, "w", {"audio": b64(fine)}).status_code == 200


def test_a_spoken_words_recording_over_30_s_is_a_413(words_run):
    client = create_app(words_run, limits=Limits(max_audio_seconds=600)).test_client()
    data = wav_bytes(np.zeros(31 * 16000, dtype=np.int16), 16000, fmt="FLAC")
    response = post(client, "w", {"audio": b64(data)})
    assert response.status_code == 413 and "31.0 s is longer than the 30 s" in response.json["error"]


def test_the_cli_refuses_long_1_hz_and_nan_recordings_in_one_line(words_run, tmp_path, capsys):
    from attnkit.cli import main

    run = words_run["w"].run.path
    files = {
        "long.flac": (wav_bytes(np.zeros(600 * 16000, dtype=np.int16), 16000, fmt="FLAC"), "600.0 s is longer"),
        "slow.wav": (wav_bytes(np.zeros(600_000, dtype=np.int16), 1, subtype="PCM_U8"), "sample rate of 1 Hz"),
        "nan.wav": (wav_bytes(np.full(1600, np.nan, dtype=np.float32), 16000, subtype="FLOAT"), "not finite"),
    }
    for name, (data, message) in files.items():
        (tmp_path / name).write_bytes(data)
        start = time.perf_counter()
        code = main(["predict", "--model", str(run), str(tmp_path / name)])
        err = capsys.readouterr().err.strip()
        assert code != 0 and message in err and "Traceback" not in err and len(err.splitlines()) == 1, err
        assert time.perf_counter() - start < 5.0


def test_layer_maps_over_the_budget_are_not_computed(registry, monkeypatch):
    import attnkit.explore.payload as payload

    def never(*args, **kwargs):
        raise AssertionError("computed layer maps that cannot be sent")

    monkeypatch.setattr(payload, "layer_maps", never)
    client = create_app(registry, limits=Limits(max_cells=300)).test_client()
    body = post(client, "transformer", {"input": DATE, "options": {"locale": LOCALE}}).json
    assert body["layers"] is None and "layer x head maps left out: one layer has" in body["layers_note"]
    alone = post(client, "transformer", {"input": DATE, "out_tokens": ["1", "9", "</s>"]}, route="layers").json
    assert alone["layers"] is None and "left out" in alone["layers_note"]
