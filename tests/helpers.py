"""Small shared test fixtures: a sequence task over plain id lists, for the trainer's tests."""

from attnkit.tasks.base import PrimaryMetric
from attnkit.tasks.seq2seq import Seq2SeqTask


class IdPairsTask(Seq2SeqTask):
    """Items are (source ids, target ids) already; validation returns {"score": ...}."""

    name = "id-pairs"
    metric = PrimaryMetric("score", higher_is_better=True, best_possible=None)


ID_PAIRS = IdPairsTask()


def items(src, tgt):
    return list(zip(src, tgt))
