"""Layer 4 (docs/architecture.md): readers of installed data (SWORD, IDX, Fashion-MNIST, the apt
package lists as a graph), distorted image canvases, node graphs and splits, vocabularies and batching;
speech spoken by espeak-ng into a cache (:mod:`.speech`) and log-mel features of sound files
(:mod:`.audio`); generated date examples in eleven locales (:mod:`.dates`, :mod:`.date_formats`)."""

from .batching import Batch, bucket_batches, collate, pad, to_device
from .bucketing import TokenBatchSampler, padding_share, split_batch
from .canvas import Canvases, load_canvases, make_canvases, save_canvases
from .debian_graph import GraphSourceError, GraphSourceMissing, PackageGraph, load_debian_graph
from .fashion_mnist import DatasetError, DatasetMissing, load_fashion_mnist
from .idx import IDXError, read_idx, write_idx
from .node_graph import NodeGraph, NodeSplits, karate_club, load_graph, save_graph, split_nodes
from .parallel import CorpusError, ParallelCorpus, read_parallel, read_tsv
from .subword import SubwordModel, train_subwords
from .vocab import BOS, EOS, PAD, SPECIALS, UNK, Vocab

__all__ = [
    "Vocab",
    "Batch",
    "collate",
    "pad",
    "PAD",
    "UNK",
    "BOS",
    "EOS",
    "SPECIALS",
    "ParallelCorpus",
    "CorpusError",
    "read_parallel",
    "read_tsv",
    "SubwordModel",
    "train_subwords",
    "TokenBatchSampler",
    "split_batch",
    "padding_share",
    "bucket_batches",
    "to_device",
    "IDXError",
    "read_idx",
    "write_idx",
    "DatasetError",
    "DatasetMissing",
    "load_fashion_mnist",
    "Canvases",
    "make_canvases",
    "save_canvases",
    "load_canvases",
    "NodeGraph",
    "PackageGraph",
    "NodeSplits",
    "save_graph",
    "load_graph",
    "split_nodes",
    "karate_club",
    "GraphSourceError",
    "GraphSourceMissing",
    "load_debian_graph",
]
