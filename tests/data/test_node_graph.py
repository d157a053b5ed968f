"""NodeGraph: edge lists, stratified splits, the safetensors file format, and the karate club."""

from __future__ import annotations

import numpy as np
import pytest

from attnkit.data.node_graph import (
    NodeGraph,
    array_sha256,
    karate_club,
    load_graph,
    save_graph,
    split_nodes,
    undirected_edge_index,
)
from attnkit.errors import ConfigError, InputError


def test_undirected_edge_index_has_both_directions_sorted_without_loops_or_repeats():
    pairs = np.array([[2, 0], [0, 2], [1, 1], [1, 2], [2, 1]])
    assert undirected_edge_index(pairs, 3).tolist() == [[0, 1, 2, 2], [2, 2, 0, 1]]
    assert undirected_edge_index(np.empty((0, 2)), 3).shape == (2, 0)


def test_karate_club_counts_and_factions():
    g = karate_club()
    assert isinstance(g, NodeGraph) and g.num_nodes == 34 and g.num_edges == 78
    assert g.edge_index.shape == (2, 156) and g.edge_index.dtype == np.int64
    pairs = set(map(tuple, g.edge_index.T.tolist()))
    assert pairs == {(b, a) for a, b in pairs} and all(a != b for a, b in pairs)
    assert g.classes == ("Mr. Hi", "Officer") and g.counts["classes"] == {"Mr. Hi": 17, "Officer": 17}
    assert g.labels[0] == 0 and g.labels[33] == 1  # the instructor and the administrator
    np.testing.assert_array_equal(g.features, np.eye(34, dtype=np.float32))
    degrees = karate_club(degree_features=True).features
    assert degrees.shape == (34, 1) and degrees.sum() == 156 and degrees[33, 0] == 17


def _labels():
    sizes = {0: 1, 1: 2, 2: 3, 3: 10, 4: 100}  # tiny, tiny, smallest split, ...
    labels = np.concatenate([np.full(n, c) for c, n in sizes.items()])
    return np.random.default_rng(0).permutation(labels)


def test_splits_are_disjoint_complete_and_stratified():
    labels = _labels()
    splits = split_nodes(labels, seed=1, dev_fraction=0.1, test_fraction=0.2)
    parts = [splits.train, splits.dev, splits.test]
    assert all(p.dtype == np.int64 and np.all(np.diff(p) > 0) for p in parts)  # sorted, no repeats
    assert np.array_equal(np.sort(np.concatenate(parts)), np.arange(len(labels)))
    for c in (2, 3, 4):  # >= 3 nodes: in every split
        assert all(np.any(labels[p] == c) for p in parts)
    for c in (0, 1):  # 1 or 2 nodes: wholly in train
        assert np.sum(labels[splits.train] == c) == np.sum(labels == c)
    big = [np.sum(labels[p] == 4) for p in parts]
    assert big == [70, 10, 20]


def test_splits_are_seeded():
    labels = _labels()
    a, b = split_nodes(labels, seed=5), split_nodes(labels, seed=5)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a.test, split_nodes(labels, seed=6).test)


@pytest.mark.parametrize("dev,test", [(0.0, 0.1), (0.1, 1.0), (0.5, 0.5), (-0.1, 0.2)])
def test_bad_split_fractions_are_refused(dev, test):
    with pytest.raises(ConfigError, match="must"):
        split_nodes(np.zeros(10, dtype=np.int64), seed=0, dev_fraction=dev, test_fraction=test)


def test_save_load_round_trip(tmp_path):
    g = karate_club()
    path = save_graph(tmp_path / "g" / "karate.safetensors", g)
    back = load_graph(path)
    assert back.names == g.names and back.classes == g.classes and back.counts == g.counts
    assert back.sources == g.sources and back.arrays_sha256 == g.arrays_sha256
    for key in ("edge_index", "labels", "features"):
        np.testing.assert_array_equal(getattr(back, key), getattr(g, key))
        assert getattr(back, key).dtype == getattr(g, key).dtype
    assert [p.name for p in path.parent.iterdir()] == ["karate.safetensors"]  # no temporary left


def test_damaged_files_are_refused_with_one_line(tmp_path):
    path = save_graph(tmp_path / "k.safetensors", karate_club())
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF  # a byte of the features
    flipped = tmp_path / "flipped.safetensors"
    flipped.write_bytes(bytes(data))
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(path.read_bytes()[:200])
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}")
    for bad, reason in ((flipped, "sha256"), (truncated, "not a readable"), (junk, "not a readable")):
        with pytest.raises(InputError, match=reason) as err:
            load_graph(bad)
        assert "\n" not in str(err.value) and "save_graph" in str(err.value)


def test_other_safetensors_files_are_refused(tmp_path):
    from safetensors.numpy import save_file

    other = tmp_path / "weights.safetensors"
    save_file({"w": np.zeros(3, dtype=np.float32)}, str(other), metadata={"format": "pt"})
    with pytest.raises(InputError, match="not an attnkit node-graph file"):
        load_graph(other)


def test_array_hash_sees_shape_and_values():
    a = np.arange(6, dtype=np.int64)
    assert array_sha256(a) == array_sha256(a.copy()) != array_sha256(a.reshape(2, 3))
    assert array_sha256(a) != array_sha256(a + 1)
