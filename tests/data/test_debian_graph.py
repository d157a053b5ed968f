"""The Debian package graph: the stanza parser and the graph rules on a hand-written list (every
expected node, edge and label written out), compression, features, the missing-lists error, and
the real lists of this machine."""

from __future__ import annotations

import gzip
import lzma
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from attnkit.data import debian_graph as dg
from attnkit.data.debian_graph import (
    GraphSourceError,
    GraphSourceMissing,
    find_lists,
    first_alternatives,
    graph_from_packages,
    load_debian_graph,
    parse_stanzas,
    read_list,
    section_label,
)
from attnkit.errors import ConfigError, InputError

MAIN = """\
Package: app
Version: 1.0
Section: contrib/games
Depends: libfoo (>= 1.2), python3:any | python3-minimal,
 mail-transport-agent, libmissing (>= 2)
Pre-Depends: dpkg (>= 1.15) [amd64]
Description: An app
 A long description
 .
 over two lines.

Package: libfoo
Section: libs
Depends: libfoo, libc6 (>= 2.34)
Provides: libfoo-abi (= 1)
Description: foo library

Package: python3
Section: python
Depends: libc6
Description: the python interpreter

# a comment line
Package: dpkg
Section: admin
Pre-Depends: libc6 (>= 2.36)
Description: package manager

Package: libc6
Section: libs
Description: the C library

Package: zmailer
Section: non-free/mail
Provides: mail-transport-agent
Description: mailer z

Package: exim
Section: mail
Provides: mail-transport-agent
Description: mailer e
"""
# a later list (e.g. -security) that repeats a name: its stanza is shadowed by the first list's
SECURITY = "Package: app\nSection: admin\nDepends: zmailer\nDescription: newer app\n"

NAMES = ("app", "dpkg", "exim", "libc6", "libfoo", "python3", "zmailer")
# app -> libfoo, python3 (first alternative), exim (first provider of mail-transport-agent by name),
# dpkg (Pre-Depends); libmissing unresolved; libfoo's self-dependency dropped; the rest need libc6
UNDIRECTED = {(0, 1), (0, 2), (0, 4), (0, 5), (1, 3), (3, 4), (3, 5)}
CLASSES = ("admin", "games", "libs", "mail", "python")
LABELS = [1, 0, 3, 2, 2, 4, 3]  # contrib/games -> games, non-free/mail -> mail


def small_graph(**options):
    options = {"min_df": 1, "dim": None, **options}
    return graph_from_packages([MAIN, SECURITY], sources=[("main", "x"), ("security", "y")], **options)


def test_parse_stanzas_joins_continuation_lines_and_skips_comments():
    stanzas = parse_stanzas(MAIN)
    assert [s["package"] for s in stanzas] == ["app", "libfoo", "python3", "dpkg", "libc6", "zmailer", "exim"]
    assert stanzas[0]["depends"] == (
        "libfoo (>= 1.2), python3:any | python3-minimal,\nmail-transport-agent, libmissing (>= 2)"
    )
    assert stanzas[0]["description"] == "An app\nA long description\n.\nover two lines."
    assert parse_stanzas("Package: a\nSECTION: libs\n\n\n\nPackage: b") == [
        {"package": "a", "section": "libs"},
        {"package": "b"},
    ]


def test_first_alternatives_strip_versions_architectures_profiles_and_qualifiers():
    assert first_alternatives(
        "libc6 (>= 2.34), python3:any | python3-minimal, foo [amd64] <!nocheck>,\n bar (<< 2) | baz, "
    ) == ["libc6", "python3", "foo", "bar"]
    assert first_alternatives("") == []


def test_section_label_removes_the_area():
    assert [section_label(s) for s in ("contrib/libs", "non-free-firmware/kernel", "libs", "", None)] == [
        "libs",
        "kernel",
        "libs",
        "unknown",
        "unknown",
    ]


def test_graph_nodes_edges_and_labels_are_exactly_the_rules():
    g = small_graph()
    assert g.names == NAMES and g.classes == CLASSES
    assert g.labels.tolist() == LABELS and g.labels.dtype == np.int64
    expected = sorted(UNDIRECTED | {(b, a) for a, b in UNDIRECTED})
    assert g.edge_index.dtype == np.int64 and g.edge_index.shape == (2, 14)
    assert list(map(tuple, g.edge_index.T.tolist())) == expected
    assert g.counts["nodes"] == 7 and g.counts["edges"] == g.num_edges == 7
    assert g.counts["unresolved"] == 1 and g.counts["self_loops"] == 1 and g.counts["via_provides"] == 1
    assert g.counts["stanzas"] == 8 and g.counts["shadowed"] == 1 and g.counts["dependencies"] == 9
    assert g.counts["classes"] == {"admin": 1, "games": 1, "libs": 2, "mail": 2, "python": 1}
    assert g.sources == (("main", "x"), ("security", "y"))


def test_a_real_package_wins_over_a_provider_and_the_first_list_wins():
    g = graph_from_packages(
        [SECURITY + "\nPackage: zmailer\nSection: mail\nDescription: z\n", MAIN], min_df=1, dim=None
    )
    app, zmailer = g.names.index("app"), g.names.index("zmailer")
    assert g.classes[g.labels[app]] == "admin"  # the first list's stanza
    assert g.classes[g.labels[zmailer]] == "mail" and g.counts["via_provides"] == 0
    assert g.edge_index[1, g.edge_index[0] == app].tolist() == [zmailer]  # app depends on zmailer only


def test_features_are_tfidf_of_descriptions_deterministic_and_reduced():
    dense = small_graph()
    assert dense.features.dtype == np.float32 and dense.features.shape[0] == 7
    np.testing.assert_allclose(np.linalg.norm(dense.features, axis=1), 1.0, rtol=1e-5)  # unit rows
    vocabulary = dense.features.shape[1]
    assert small_graph(max_features=3).features.shape == (7, 3)
    reduced = small_graph(dim=4, seed=3)
    assert reduced.features.shape == (7, 4) and reduced.features.dtype == np.float32
    np.testing.assert_array_equal(reduced.features, small_graph(dim=4, seed=3).features)
    assert reduced.arrays_sha256 == small_graph(dim=4, seed=3).arrays_sha256
    with pytest.raises(ConfigError, match="dim must lie in"):
        small_graph(dim=vocabulary)
    with pytest.raises(ConfigError, match="lower min_df"):
        small_graph(min_df=5)


def test_empty_lists_are_refused():
    with pytest.raises(GraphSourceError, match="no package stanzas"):
        graph_from_packages(["# nothing\n\n"])


def _write_lists(folder: Path) -> None:
    folder.mkdir()
    (folder / "deb_dists_bookworm-security_main_binary-amd64_Packages.xz").write_bytes(lzma.compress(SECURITY.encode()))
    (folder / "deb_dists_bookworm_main_binary-amd64_Packages.gz").write_bytes(gzip.compress(MAIN.encode()))
    (folder / "deb_dists_bookworm_main_binary-amd64_Packages.diff_Index").write_text("not a list")


def test_compressed_lists_read_through_the_same_path(tmp_path):
    _write_lists(tmp_path / "lists")
    paths = find_lists(tmp_path / "lists")
    assert [p.suffix for p in paths] == [".gz", ".xz"]  # release suite before -security
    text, sha = read_list(paths[0])
    assert text == MAIN and len(sha) == 64
    assert read_list(paths[1])[0] == SECURITY
    plain = tmp_path / "x_Packages"
    plain.write_text(MAIN)
    assert read_list(plain)[0] == MAIN


@pytest.mark.parametrize("tool,suffix", [("lz4", ".lz4"), ("zstd", ".zst")])
def test_lz4_and_zstd_lists_go_through_apt_helper(tmp_path, tool, suffix):
    if not dg.APT_HELPER.is_file() or shutil.which(tool) is None:
        pytest.skip(f"needs {dg.APT_HELPER} and the {tool} program to write the fixture")
    path = tmp_path / f"x_Packages{suffix}"
    subprocess.run([tool, "-q", "-c"], input=MAIN.encode(), stdout=path.open("wb"), check=True)
    assert read_list(path)[0] == MAIN
    with pytest.raises(GraphSourceError, match=f"{suffix[1:]}-compressed and .*apt-helper is missing"):
        read_list(path, helper=None)


def test_the_graph_built_from_compressed_lists_matches_the_text(tmp_path):
    _write_lists(tmp_path / "lists")
    g = load_debian_graph(tmp_path / "lists", min_df=1, dim=None)
    assert g.names == NAMES and g.labels.tolist() == LABELS
    assert [name for name, _ in g.sources] == [p.name for p in find_lists(tmp_path / "lists")]
    np.testing.assert_array_equal(g.edge_index, small_graph().edge_index)


def test_damaged_and_undecodable_lists_give_one_line_errors(tmp_path):
    bad = tmp_path / "x_Packages.gz"
    bad.write_bytes(b"not gzip at all")
    truncated = tmp_path / "y_Packages.xz"
    truncated.write_bytes(lzma.compress(MAIN.encode())[:40])
    broken_lz4 = tmp_path / "z_Packages.lz4"
    broken_lz4.write_bytes(b"\x04\x22\x4d\x18 not really lz4")
    for path in (bad, truncated) + ((broken_lz4,) if dg.APT_HELPER.is_file() else ()):
        with pytest.raises(GraphSourceError) as err:
            read_list(path)
        assert "\n" not in str(err.value) and str(path) in str(err.value)
    with pytest.raises(GraphSourceError, match="cannot read apt list"):
        read_list(tmp_path / "absent_Packages")


def test_missing_lists_name_the_fix(tmp_path, monkeypatch):
    empty = tmp_path / "lists"
    empty.mkdir()
    monkeypatch.delenv(dg.ENV_VAR, raising=False)
    monkeypatch.setattr(dg, "APT_LISTS_DIR", empty)
    with pytest.raises(GraphSourceMissing) as err:
        load_debian_graph()
    assert str(err.value) == f"no apt package lists in {empty}; run `apt-get update` first"
    assert isinstance(err.value, InputError)
    monkeypatch.setenv(dg.ENV_VAR, str(tmp_path / "elsewhere"))
    with pytest.raises(
        GraphSourceMissing,
        match=f"lists in {tmp_path / 'elsewhere'}; run `apt-get update` first, or point {dg.ENV_VAR} at",
    ):
        find_lists()


def test_the_default_message_names_var_lib_apt_lists(monkeypatch):
    assert dg.APT_LISTS_DIR == Path("/var/lib/apt/lists")
    monkeypatch.setattr(dg, "APT_LISTS_DIR", Path("/nonexistent/apt/lists"))
    monkeypatch.delenv(dg.ENV_VAR, raising=False)
    with pytest.raises(
        GraphSourceMissing,
        match=r"^no apt package lists in /nonexistent/apt/lists; "
        r"run `apt-get update` first$",
    ):
        find_lists()


def _real_lists() -> list[Path]:
    try:
        return find_lists(dg.APT_LISTS_DIR)
    except GraphSourceMissing:
        return []


@pytest.mark.skipif(
    not _real_lists(),
    reason=f"no *_Packages files in {dg.APT_LISTS_DIR} (run `apt-get update` to test on the real lists)",
)
def test_the_real_lists_of_this_machine_give_a_plausible_graph():
    if not all(p.suffix not in (".lz4", ".zst") or dg.APT_HELPER.is_file() for p in _real_lists()):
        pytest.skip(f"the lists are lz4/zst-compressed and {dg.APT_HELPER} is missing")
    g = load_debian_graph(dg.APT_LISTS_DIR, max_features=2000, dim=8)
    n = g.num_nodes
    assert n > 10_000 and len(set(g.names)) == n and g.features.shape == (n, 8)
    assert g.num_edges > n and g.counts["unresolved"] < g.counts["dependencies"] * 0.05
    src, dst = g.edge_index
    assert 0 <= g.edge_index.min() and g.edge_index.max() < n
    assert not np.any(src == dst)  # no self-loops
    forward = set(zip(src.tolist(), dst.tolist()))
    assert forward == set(zip(dst.tolist(), src.tolist()))  # symmetric
    assert len(forward) == g.edge_index.shape[1]  # no duplicates
    assert 10 <= len(g.classes) < 100 and "libs" in g.classes and all("/" not in c for c in g.classes)
    assert sum(g.counts["classes"].values()) == n
    assert len(g.sources) == len(_real_lists()) and all(len(sha) == 64 for _, sha in g.sources)
