"""Layer 3: assembled networks."""

from .rnn_seq2seq import DECODERS, DecoderState, Memory, RNNEncoder, Seq2Seq, Seq2SeqOutput

__all__ = ["Seq2Seq", "Seq2SeqOutput", "RNNEncoder", "Memory", "DecoderState", "DECODERS"]
