"""Inputs are never outputs (issue 26): a command refuses, before any work, an output path that
is one of its inputs, a folder that does not exist, or a picture format matplotlib cannot write;
the input is unchanged and nothing is created."""

from __future__ import annotations

import hashlib

import pytest

from attnkit.cli import main


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _one_line_exit_2(capsys, argv, *, expect):
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert expect in err and "\n" not in err and "Traceback" not in err
    return err


def test_align_refuses_to_write_its_links_over_the_source(tmp_path, capsys):
    src = tmp_path / "src.txt"
    src.write_text("a b c\n")
    before = _digest(src)
    _one_line_exit_2(
        capsys,
        ["align", "--model", str(tmp_path / "no-run"), "--input", str(src), "--output", str(src)],
        expect="also an input",
    )
    assert _digest(src) == before


def test_align_refuses_a_plot_over_the_target_and_a_missing_folder(tmp_path, capsys):
    src, tgt = tmp_path / "src.txt", tmp_path / "tgt.txt"
    src.write_text("a b\n")
    tgt.write_text("x y\n")
    before = _digest(tgt)
    base = ["align", "--model", str(tmp_path / "no-run"), "--input", str(src), "--target", str(tgt)]
    _one_line_exit_2(capsys, [*base, "--output", str(tmp_path / "l.txt"), "--plot", str(tgt)], expect="--plot")
    assert _digest(tgt) == before
    missing = tmp_path / "nope" / "deeper" / "links.txt"
    _one_line_exit_2(capsys, [*base, "--output", str(missing)], expect="does not exist")
    assert not (tmp_path / "nope").exists()


def test_predict_refuses_a_picture_over_its_input_image(tmp_path, capsys):
    image = tmp_path / "item.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    before = _digest(image)
    _one_line_exit_2(
        capsys,
        ["predict", "--model", str(tmp_path / "no-run"), str(image), "--attention-plot", str(image)],
        expect="also an input",
    )
    assert _digest(image) == before


@pytest.mark.parametrize("name", ["plot.xyz", "plot.docx"])
def test_predict_refuses_a_picture_format_matplotlib_cannot_write(tmp_path, capsys, name):
    _one_line_exit_2(
        capsys,
        ["predict", "--model", str(tmp_path / "no-run"), "a b", "--attention-plot", str(tmp_path / name)],
        expect="cannot write",
    )
    assert not (tmp_path / name).exists()
