"""Bad media files (issue 26) are one-line InputErrors, found from the header before decoding:
decompression bombs, truncated or empty images and recordings, NaN or infinite samples, a rate of
1 Hz, a recording longer than the model takes."""

from __future__ import annotations

import resource
import time

import pytest

from attnkit.data.audio import features_of_file, read_audio
from attnkit.data.images import read_image
from attnkit.errors import InputError

from ..bad_media import bad_images, bad_wavs, write

IMAGE_WORDS = {
    "bomb-20000.png": "pixels",
    "bomb-9000.png": "pixels",
    "truncated.png": "not an image",
    "empty.png": "not an image",
    "text.png": "not an image",
    "header-only.png": "not an image",
}
WAV_WORDS = {
    "nan.wav": "not finite",
    "inf.wav": "not finite",
    "one-hertz.wav": "1 Hz",
    "long.wav": "700.0 s is longer than the 12 s",
    "truncated.wav": "not an audio file",
    "empty.wav": "not an audio file",
    "text.wav": "not an audio file",
}


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.parametrize("name", list(IMAGE_WORDS))
def test_bad_images_are_one_line(tmp_path, name):
    path = write(tmp_path, bad_images())[name]
    start, peak = time.perf_counter(), _peak_mb()
    with pytest.raises(InputError) as err:
        read_image(path, (28, 28))
    assert time.perf_counter() - start < 2 and _peak_mb() - peak < 200
    message = str(err.value)
    assert "\n" not in message and str(path) in message and IMAGE_WORDS[name] in message, message


@pytest.mark.parametrize("name", list(WAV_WORDS))
def test_bad_recordings_are_one_line(tmp_path, name):
    path = write(tmp_path, bad_wavs())[name]
    start, peak = time.perf_counter(), _peak_mb()
    with pytest.raises(InputError) as err:
        features_of_file(path, max_seconds=12.0)
    assert time.perf_counter() - start < 2 and _peak_mb() - peak < 200
    message = str(err.value)
    assert "\n" not in message and str(path) in message and WAV_WORDS[name] in message, message


def test_a_long_recording_is_read_without_a_limit(tmp_path):
    path = write(tmp_path, bad_wavs())["long.wav"]
    assert read_audio(path, 1000).shape == (700_000,)  # only a model's limit refuses it
