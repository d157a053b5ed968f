"""Layer 4 (docs/architecture.md): readers of installed data, vocabularies and batching."""

from .batching import Batch, bucket_batches, collate, pad, to_device
from .bucketing import TokenBatchSampler, padding_share, split_batch
from .parallel import CorpusError, ParallelCorpus, read_parallel, read_tsv
from .subword import SubwordModel, train_subwords
from .vocab import BOS, EOS, PAD, SPECIALS, UNK, Vocab

__all__ = ["Vocab", "Batch", "collate", "pad", "PAD", "UNK", "BOS", "EOS", "SPECIALS",
           "ParallelCorpus", "CorpusError", "read_parallel", "read_tsv",
           "SubwordModel", "train_subwords",
           "TokenBatchSampler", "split_batch", "padding_share", "bucket_batches", "to_device"]
