"""The SimCSE recipe's arguments: unlabelled training sentences, labelled evaluation pairs, and the training config
with the method's settings (saved with the run)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..args import StreamingDataArguments
from ..errors import ArgumentError
from ..pairs.bi_encoder import BiEncoderConfig
from ..pairs.data import PairColumnArguments


@dataclass
class SentenceDataArguments(PairColumnArguments, StreamingDataArguments):
    """Training text (sentences, no labels) and evaluation pairs (``text_a<TAB>text_b<TAB>0/1``).

    ``--train_file`` holds the sentences: a ``.txt`` file is one sentence per line; a ``.tsv`` line may hold several
    (every field is a sentence, or the fields named by ``--text_columns``, numbered from 1); csv/json name their
    columns with ``--text_columns`` (default ``text``). ``--validation_file`` / ``--test_file`` are labelled pairs.
    With ``--dataset_name``, the training split's ``--text_columns`` hold the sentences and the evaluation splits
    the pairs' columns (``--text_a_column`` ...). ``--streaming`` reads the sentences as training goes.
    """

    text_columns: list[str] | None = field(
        default=None,
        metadata={"help": "Where the training sentences are: for .tsv, field numbers counted from 1 (default: every "
                          "field); for csv/json or a --dataset_name, column names (default: text), every value a "
                          "sentence. A .txt file is one sentence a line."},
    )
    threshold: float | None = field(
        default=None,
        metadata={"help": "Cosine at or above which a pair matches. Default: the best-F1 threshold on the "
                          "--validation_file pairs, chosen after training. Saved with the model for prediction."},
    )

    def __post_init__(self):
        super().__post_init__()
        if self.text_columns is not None and not self.text_columns:
            raise ArgumentError("--text_columns needs at least one column")


@dataclass
class SimCSEConfig(BiEncoderConfig):
    """Training configuration of ``recipes/simcse.py``: sentence-transformers' training arguments, the recipes'
    shared settings, and SimCSE's / ESimCSE's own."""

    method: str = field(
        default="simcse",
        metadata={"help": "simcse: each sentence is its own positive, encoded twice with different dropout, other "
                          "sentences of the batch are the negatives (MultipleNegativesRankingLoss). esimcse: the "
                          "positive has some of its tokens repeated, and a queue of embeddings from a momentum "
                          "encoder adds negatives (ESimCSELoss).",
                  "choices": ["simcse", "esimcse"]},
    )
    temperature: float = field(default=0.05, metadata={"help": "Softmax temperature of the contrastive loss "
                                                                 "(sentence-transformers' scale = 1 / temperature)."})
    pooling: str | None = field(
        default=None,
        metadata={"help": "How token embeddings become the sentence embedding: mean or cls. Default: the model's "
                          "own pooling for a sentence-transformers folder, mean for a plain encoder.",
                  "choices": ["mean", "cls"]},
    )
    mlp_head: bool = field(
        default=False,
        metadata={"help": "Train through an MLP (dense + tanh) over the sentence embedding, as SimCSE's unsupervised "
                          "BERT does with cls pooling. The head lives in the loss: evaluation and the saved model use "
                          "the embedding without it, unless --keep_mlp_head."},
    )
    keep_mlp_head: bool = field(
        default=False, metadata={"help": "Save the trained MLP head as a Dense module of the model (needs --mlp_head)."}
    )
    dup_rate: float = field(
        default=0.32,
        metadata={"help": "ESimCSE word repetition: each positive repeats up to this fraction of its tokens "
                          "(a random number between 0 and max(2, rate x length)); 0: no repetition."},
    )
    queue_size: int = field(
        default=160,
        metadata={"help": "ESimCSE: how many momentum-encoder embeddings of earlier batches serve as extra "
                          "negatives (the paper's best: 2.5 x the batch size of 64). 0: none."},
    )
    momentum: float = field(
        default=0.995,
        metadata={"help": "ESimCSE: the momentum encoder's weights follow the model's as m * momentum + (1 - "
                          "momentum) * model, before each batch."},
    )
    early_stopping_patience: int | None = field(
        default=None,
        metadata={"help": "Stop when --metric_for_best_model has not improved for this many evaluations."},
    )

    def __post_init__(self):
        super().__post_init__()
        if not self.temperature > 0:
            raise ArgumentError(f"--temperature must be above 0, found {self.temperature}")
        if self.method == "simcse" and self.per_device_train_batch_size < 2:
            raise ArgumentError(f"--per_device_train_batch_size {self.per_device_train_batch_size}: SimCSE's negatives "
                                "are the other sentences of the batch, so a batch needs at least 2 (or use --method "
                                "esimcse, whose queue adds negatives)")
        if self.keep_mlp_head and not self.mlp_head:
            raise ArgumentError("--keep_mlp_head needs --mlp_head")
        if not 0 <= self.dup_rate <= 1:
            raise ArgumentError(f"--dup_rate must be between 0 and 1, found {self.dup_rate}")
        if self.queue_size < 0:
            raise ArgumentError(f"--queue_size must be 0 or more, found {self.queue_size}")
        if not 0 <= self.momentum < 1:
            raise ArgumentError(f"--momentum must be in [0, 1), found {self.momentum}")
        if self.early_stopping_patience is not None:
            if self.early_stopping_patience < 1:
                raise ArgumentError(
                    f"--early_stopping_patience must be 1 or more, found {self.early_stopping_patience}")
            if not self.load_best_model_at_end:
                raise ArgumentError("--early_stopping_patience needs --load_best_model_at_end (and evaluation)")
