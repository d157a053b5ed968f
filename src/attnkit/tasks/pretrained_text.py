"""Tasks of imported pretrained text models: ``pretrained-encoder`` (BERT-like encoders, model
family ``bert``) and ``pretrained-lm`` (GPT-2, family ``gpt2``).

Their runs are made by ``attnkit import-hf`` (:mod:`attnkit.pretrained`), not trained: the run
folder holds the checkpoint's tokenizer files, and ``data.tokenizer`` names the one to read,
relative to the run folder. Tokenising goes through the ``tokenizers`` library: a
``tokenizer.json`` as it is; a WordPiece ``vocab.txt`` through ``BertWordPieceTokenizer``
(``data.lowercase``); a byte-level BPE ``vocab.json`` with ``merges.txt`` beside it through
``ByteLevelBPETokenizer``, with RoBERTa's ``<s> ... </s>`` around the text. Truncation and padding
set in a ``tokenizer.json`` are switched off: an input longer than the model's positions is an
error, not silently cut.

``predict`` returns a :class:`~attnkit.tasks.self_attention.SelfAttentionPrediction` per input
line with every layer's and head's weights (L, Nh, T, T). The encoder's printed output is its
tokens (``[MASK]`` tokens replaced by the masked-LM head's prediction, or the predicted label of a
classification head); the language model continues the prompt greedily (input option
``max_new_tokens``, stopping at ``data.eos_id``) and its prediction covers prompt and continuation.
Neither task has evaluation data: ``evaluate`` says so in one line.

References:
    [Devlin19] J. Devlin, M.-W. Chang, K. Lee, K. Toutanova. BERT: Pre-training of Deep
    Bidirectional Transformers for Language Understanding. NAACL 2019. arXiv:1810.04805.
    [Radford19] A. Radford, J. Wu, R. Child, D. Luan, D. Amodei, I. Sutskever. Language Models
    are Unsupervised Multitask Learners. OpenAI technical report, 2019.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Mapping, Sequence, cast

import numpy as np
import torch
from torch import Tensor, nn

from ..capabilities import InputKind, InputOption, TaskCapabilities
from ..errors import ConfigError, InputError
from ..models.bert import BertEncoder
from ..models.bert_family import EncoderTextSpec
from ..models.explain import EncoderInputs, self_attention_explanations
from ..models.gpt2 import GPT2LM
from ..models.gpt2_family import CausalLMSpec
from ..models.transformer import EncoderLayer
from ..schema import short_repr
from .base import LossContext, PrimaryMetric
from .self_attention import EXPLAIN, SelfAttentionPrediction

__all__ = ["EncoderTextConfig", "CausalLMConfig", "PretrainedEncoderTask", "PretrainedLMTask", "load_tokenizer"]

#: The input options of ``pretrained-encoder``.
ENCODER_OPTIONS: tuple[InputOption, ...] = (EXPLAIN,)


def explanations_of(
    model: BertEncoder | GPT2LM, ids: Tensor, name: str, target: Any, *, final_norm: nn.Module | None, row: int
) -> dict[str, np.ndarray]:
    """The explanation `name` of one sequence `ids` (1, T) through `model`'s ``embed`` and
    ``layers`` (an :class:`~attnkit.models.transformer.EncoderLayer` stack), as a (T, T) map;
    ``{}`` when `name` is empty. ``flow`` on an input too long for the full map explains only
    position `row` (the [CLS] token of an encoder, the last token of a language model).

    Raises:
        attnkit.errors.InputError: when even that one row of ``flow`` is beyond its work bound.
    """
    if not name:
        return {}
    layers = [cast(EncoderLayer, layer) for layer in model.layers]
    inputs = EncoderInputs(layers, model.embed(ids), None, final_norm, None, target)
    try:
        return self_attention_explanations(inputs, [name])
    except ValueError as err:
        if name != "flow":
            raise
        try:
            return self_attention_explanations(inputs, [name], rows=[row])
        except ValueError:
            raise InputError(f"explain=flow: {err}") from None


def load_tokenizer(path: Path, *, lowercase: bool = True) -> Any:
    """A ``tokenizers`` tokenizer of the file `path` (``tokenizer.json``, a WordPiece
    ``vocab.txt``, or a byte-level BPE ``vocab.json`` with ``merges.txt`` beside it), with
    truncation and padding off. It has ``encode(text) -> Encoding`` (``ids``, ``tokens``),
    ``decode(ids)`` and ``token_to_id(token)``.

    Raises:
        ConfigError: for a missing or unreadable file.
    """
    from tokenizers import Tokenizer
    from tokenizers.implementations import BertWordPieceTokenizer, ByteLevelBPETokenizer
    from tokenizers.processors import RobertaProcessing

    tok: Any

    if not path.is_file():
        raise ConfigError(f"tokenizer file {path} not found; re-import the checkpoint with `attnkit import-hf`")
    try:
        if path.name == "vocab.txt":
            tok = BertWordPieceTokenizer(str(path), lowercase=lowercase)
        elif path.name == "vocab.json":
            tok = ByteLevelBPETokenizer(str(path), str(path.with_name("merges.txt")))
            bos, eos = tok.token_to_id("<s>"), tok.token_to_id("</s>")
            if bos is not None and eos is not None:  # RoBERTa's <s> ... </s> (GPT-2's vocabulary has neither)
                tok.post_processor = RobertaProcessing(("</s>", eos), ("<s>", bos))
        else:
            tok = Tokenizer.from_file(str(path))
    except Exception as err:  # the tokenizers library raises plain Exceptions for bad files
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ConfigError(f"tokenizer file {path} is not readable by the tokenizers library ({first})") from None
    tok.no_truncation()
    tok.no_padding()
    return tok


@dataclass(frozen=True)
class EncoderTextConfig:
    """``data.task: pretrained-encoder``.

    Attributes:
        tokenizer: the tokenizer file inside the run folder (``tokenizer.json``, ``vocab.txt`` or
            ``vocab.json`` + ``merges.txt``).
        lowercase: lower-case the text (a ``vocab.txt`` tokenizer only; ``tokenizer.json`` says it itself).
        max_length: the longest input in tokens, special tokens included (the model's positions).
        labels: the classification head's labels in id order; empty without one.
    """

    task: str = "pretrained-encoder"
    tokenizer: str = "tokenizer/tokenizer.json"
    lowercase: bool = True
    max_length: int = 512
    labels: tuple[str, ...] = ()

    def check(self) -> None:
        _check_common(self)


@dataclass(frozen=True)
class CausalLMConfig:
    """``data.task: pretrained-lm``.

    Attributes:
        tokenizer: the tokenizer file inside the run folder.
        max_length: the model's context in tokens (prompt and continuation together).
        max_new_tokens: default of the input option ``max_new_tokens`` (tokens generated at most).
        eos_id: the end-of-text token id that stops a continuation; -1: none.
    """

    task: str = "pretrained-lm"
    tokenizer: str = "tokenizer/tokenizer.json"
    max_length: int = 1024
    max_new_tokens: int = 20
    eos_id: int = -1

    def check(self) -> None:
        _check_common(self)
        if self.max_new_tokens < 0 or self.eos_id < -1:
            raise ConfigError("data.max_new_tokens must be >= 0 and data.eos_id >= -1 (-1: none)")


def _check_common(cfg: Any) -> None:
    rel = Path(cfg.tokenizer)
    if not cfg.tokenizer or rel.is_absolute() or ".." in rel.parts:
        raise ConfigError(f"data.tokenizer={cfg.tokenizer!r} must name a file inside the run folder")
    if cfg.max_length < 1:
        raise ConfigError(f"data.max_length must be >= 1, got {cfg.max_length}")


class _ImportedTextTask:
    """What the two tasks share: the tokenizer, the one-line refusals of training and evaluation."""

    name: ClassVar[str]
    config: Any
    tokenizer: Any
    metric = PrimaryMetric("none", higher_is_better=True)
    loss_unit = "tokens"

    @classmethod
    def build(cls, cfg: Any, run_dir: Path) -> tuple[Any, dict[str, list]]:
        raise ConfigError(
            f"data.task={cls.name} runs are made by `attnkit import-hf DIR --out RUN` from a Hugging Face "
            "checkpoint, not trained"
        )

    @classmethod
    def load_split(cls, run_dir: Path, split: str) -> list:
        raise ValueError(
            f"a {cls.name} run imported with `attnkit import-hf` has no evaluation data; use `attnkit predict`"
        )

    def evaluate(self, model: nn.Module, examples: Sequence, *, decode: Any = None) -> tuple[dict[str, Any], list]:
        raise ValueError(f"a {self.name} run has no evaluation data; use `attnkit predict`")

    def report(self, metrics: Mapping[str, Any], *, detailed: bool = False) -> list[str]:
        return [f"{k}: {v}" for k, v in metrics.items()]

    def encode(self, examples: Sequence) -> list:
        raise ConfigError(f"data.task={self.name} runs are imported, not trained")

    def lengths(self, item: Any) -> tuple[int, int]:
        raise ConfigError(f"data.task={self.name} runs are imported, not trained")

    def loss_weight(self, item: Any) -> int:
        raise ConfigError(f"data.task={self.name} runs are imported, not trained")

    def collate(self, items: Sequence) -> Any:
        raise ConfigError(f"data.task={self.name} runs are imported, not trained")

    def loss(self, model: nn.Module, batch: Any, ctx: LossContext) -> Tensor:
        raise ConfigError(f"data.task={self.name} runs are imported, not trained")

    def _check_options(self, options: Mapping[str, str], valid: Sequence[InputOption]) -> None:
        unknown = sorted(set(options) - {o.name for o in valid})
        if unknown:
            takes = ", ".join(o.name for o in valid) or "no options"
            raise InputError(f"unknown option {', '.join(unknown)} for task {self.name}; it takes {takes}")
        for option in valid:
            value = options.get(option.name)
            if value is not None and option.choices and value not in option.choices:
                listed = ", ".join(c or "(empty)" for c in option.choices)
                raise InputError(f"{option.name}={short_repr(value)} is not one of: {listed}")

    def _ids(self, inputs: Sequence[str], limit: int) -> list[tuple[list[int], list[str]]]:
        """Token ids and tokens of every input, all checked before any is used."""
        out = []
        for text in inputs:
            if not text.strip():
                raise InputError(f"task {self.name} needs a non-empty line of text")
            enc = self.tokenizer.encode(text)
            if len(enc.ids) > limit:
                raise InputError(
                    f"input of {len(enc.ids)} tokens is longer than the model's {limit} positions; shorten it"
                )
            out.append((list(enc.ids), list(enc.tokens)))
        return out


def _stack(weights: list[Tensor]) -> np.ndarray:
    """Per-layer (1, Nh, T, T) weights as one (L, Nh, T, T) float32 array."""
    return torch.cat(weights, dim=0).float().cpu().numpy()


@dataclass
class PretrainedEncoderTask(_ImportedTextTask):
    """A BERT-like encoder's attention over a line of text (:class:`attnkit.tasks.base.Task`),
    model family ``bert``."""

    config: EncoderTextConfig
    tokenizer: Any

    name = "pretrained-encoder"
    config_class = EncoderTextConfig
    default_family = "bert"
    spec_class = EncoderTextSpec

    @classmethod
    def load(cls, cfg: EncoderTextConfig, run_dir: Path) -> PretrainedEncoderTask:
        return cls(cfg, load_tokenizer(Path(run_dir) / cfg.tokenizer, lowercase=cfg.lowercase))

    @property
    def spec(self) -> EncoderTextSpec:
        return EncoderTextSpec()

    @property
    def capabilities(self) -> TaskCapabilities:
        """A line of text in, its tokens' self-attention out (every layer and head)."""
        return TaskCapabilities(
            InputKind.TEXT, ENCODER_OPTIONS, classes=self.config.labels, max_source_len=self.config.max_length
        )

    @torch.no_grad()
    def predict(
        self, model: nn.Module, inputs: Sequence[str], *, options: Mapping[str, str] = {}, decode: Any = None
    ) -> list[SelfAttentionPrediction]:
        """Every layer's and head's self-attention of each line, (L, Nh, T, T).

        Raises:
            attnkit.errors.InputError: for an empty line, a line longer than ``data.max_length``
                tokens, or an unknown option (every line is checked before any is encoded).
        """
        self._check_options(options, ENCODER_OPTIONS)
        name = options.get("explain", "")
        device = next(model.parameters()).device
        out = []
        for ids, tokens in self._ids(inputs, self.config.max_length):
            batch = torch.tensor([ids], device=device)
            result = model(batch, need_weights=True)
            pred = SelfAttentionPrediction(self._output(tokens, ids, result.logits), tokens, _stack(result.weights))
            with torch.enable_grad():
                pred.explanations = explanations_of(
                    cast(BertEncoder, model), batch, name, self._target(model, result.logits), final_norm=None, row=0
                )
            out.append(pred)
        return out

    @staticmethod
    def _target(model: nn.Module, logits: Tensor | None) -> Any:
        """The scalar ``grad`` explains: the predicted class's logit for a classifier, else the norm
        of the [CLS] token's final state (a plain encoder or a masked-LM head predicts no one thing)."""
        encoder = cast(BertEncoder, model)
        if logits is not None and logits.dim() == 2 and encoder.classifier is not None:
            label, pooler, classifier = int(logits[0].argmax()), encoder.pooler, encoder.classifier

            def class_logit(h: Tensor) -> Tensor:  # h (B, T, D) -> (B,)
                pooled = torch.tanh(pooler(h[:, 0])) if pooler is not None else h[:, 0]
                return classifier(pooled)[:, label]

            return class_logit
        return lambda h: h[:, 0].norm(dim=-1)

    def _output(self, tokens: list[str], ids: list[int], logits: Tensor | None) -> str:
        """The printed line: the tokens, with masks filled by a masked-LM head, or the predicted label."""
        if logits is None:
            return " ".join(tokens)
        if logits.dim() == 2:  # (1, n_labels): a classification head
            best = int(logits[0].argmax())
            return self.config.labels[best] if best < len(self.config.labels) else f"LABEL_{best}"
        mask_ids = {self.tokenizer.token_to_id(t) for t in ("[MASK]", "<mask>")} - {None}
        best_ids = logits[0].argmax(-1).tolist()  # (T,)
        filled = [self.tokenizer.id_to_token(best) if i in mask_ids else t for t, i, best in zip(tokens, ids, best_ids)]
        return " ".join(filled)


@dataclass
class PretrainedLMTask(_ImportedTextTask):
    """A decoder-only language model's greedy continuation of a prompt, with its causal
    self-attention over prompt and continuation (:class:`attnkit.tasks.base.Task`), model family
    ``gpt2``."""

    config: CausalLMConfig
    tokenizer: Any

    name = "pretrained-lm"
    config_class = CausalLMConfig
    default_family = "gpt2"
    spec_class = CausalLMSpec

    @classmethod
    def load(cls, cfg: CausalLMConfig, run_dir: Path) -> PretrainedLMTask:
        return cls(cfg, load_tokenizer(Path(run_dir) / cfg.tokenizer))

    @property
    def spec(self) -> CausalLMSpec:
        return CausalLMSpec()

    def _options(self) -> tuple[InputOption, ...]:
        """The input options of ``pretrained-lm`` (explanations add theirs here too)."""
        return (
            InputOption(
                "max_new_tokens",
                str(self.config.max_new_tokens),
                (),
                "tokens to generate at most (greedy; stops at the end-of-text token)",
            ),
            EXPLAIN,
        )

    @property
    def capabilities(self) -> TaskCapabilities:
        """A prompt in, its greedy continuation and the causal self-attention of both out."""
        return TaskCapabilities(InputKind.TEXT, self._options(), max_source_len=self.config.max_length)

    def _max_new(self, options: Mapping[str, str]) -> int:
        value = options.get("max_new_tokens", str(self.config.max_new_tokens))
        try:
            n = int(value)
        except ValueError:
            n = -1
        if n < 0:
            raise InputError(f"max_new_tokens must be an integer >= 0, got {value!r}")
        return n

    @torch.no_grad()
    def predict(
        self, model: nn.Module, inputs: Sequence[str], *, options: Mapping[str, str] = {}, decode: Any = None
    ) -> list[SelfAttentionPrediction]:
        """Greedy continuations, each with every layer's causal self-attention over prompt and
        continuation, (L, Nh, T, T), ``causal=True`` and ``prompt_length`` the prompt's tokens.

        Raises:
            attnkit.errors.InputError: for an empty prompt, one longer than ``data.max_length``
                tokens, a bad ``max_new_tokens`` or an unknown option (all checked first).
        """
        self._check_options(options, self._options())
        max_new = self._max_new(options)
        eos = self.config.eos_id if self.config.eos_id >= 0 else None
        device = next(model.parameters()).device
        out = []
        for ids, _ in self._ids(inputs, self.config.max_length):
            full = cast(GPT2LM, model).greedy(torch.tensor([ids], device=device), max_new, eos)  # (1, T')
            weights = model(full, need_weights=True).weights
            all_ids = full[0].tolist()
            tokens = [self.tokenizer.id_to_token(i) or f"<{i}>" for i in all_ids]
            text = self.tokenizer.decode(all_ids[len(ids) :])
            pred = SelfAttentionPrediction(text, tokens, _stack(weights), causal=True, prompt_length=len(ids))
            with torch.enable_grad():
                pred.explanations = explanations_of(
                    cast(GPT2LM, model),
                    full,
                    options.get("explain", ""),
                    _last_token_logprob(model, full),
                    final_norm=cast(GPT2LM, model).final_norm,
                    row=full.shape[1] - 1,
                )
            out.append(pred)
        return out


def _last_token_logprob(model: nn.Module, full: Tensor) -> Any:
    """The scalar ``grad`` explains for a language model: the log-probability of the sequence's
    last token given the ones before it (the last generated token, or the prompt's last)."""
    lm, last = cast(GPT2LM, model), int(full[0, -1])

    def logprob(h: Tensor) -> Tensor:  # final-normed h (B, T, D) -> (B,)
        if h.shape[1] < 2:
            return h[:, 0].norm(dim=-1)
        return torch.log_softmax(h[:, -2] @ lm.tokens.weight.T, dim=-1)[:, last]

    return logprob
