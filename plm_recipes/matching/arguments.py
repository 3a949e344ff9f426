"""The matching recipes' arguments: labelled pairs, and a training config per recipe with its own settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from sentence_transformers.cross_encoder import CrossEncoderTrainingArguments

from ..args import DataArguments, RecipeSettings
from ..errors import ArgumentError
from ..pairs.bi_encoder import BiEncoderConfig
from ..pairs.data import PairColumnArguments


@dataclass
class PairDataArguments(PairColumnArguments, DataArguments):
    """Labelled pairs for the matching recipes: ``text_a<TAB>text_b<TAB>0/1`` lines, or csv/json columns."""

    threshold: float | None = field(
        default=None,
        metadata={
            "help": "Score at or above which a pair is a match. Default: 0.5 for models trained towards 0/1 "
            "(pointwise, DSSM); for a model trained to rank (CoSENT), the best-F1 threshold on the training "
            "pairs, chosen after training. Saved with the model for prediction."
        },
    )
    categories_file: str | None = field(
        default=None,
        metadata={"help": "Category file (id<TAB>name<TAB>description) whose 'name：description' texts are the "
                          "text_a side of the pairs; needed by --negatives_per_positive."},
    )
    negatives_per_positive: int = field(
        default=0,
        metadata={"help": "Add this many negative training pairs per positive one: the same text with other "
                          "categories of --categories_file, drawn at random (assumes one category per text)."},
    )

    def __post_init__(self):
        super().__post_init__()
        if self.negatives_per_positive and not self.categories_file:
            raise ArgumentError("--negatives_per_positive needs --categories_file")


@dataclass
class PointwiseMatchingConfig(RecipeSettings, CrossEncoderTrainingArguments):
    """Training configuration of ``recipes/matching_pointwise.py``: sentence-transformers' cross-encoder training
    arguments with the recipes' shared settings; binary cross-entropy on each pair, plus an optional listwise loss
    over the pairs of each text."""

    listwise_weight: float = field(
        default=0.0,
        metadata={"help": "Weight of a listwise softmax loss over the pairs that share a text (its categories), "
                          "added to the pairwise binary cross-entropy. A training batch then holds "
                          "--per_device_train_batch_size texts, each with all its pairs (with "
                          "--negatives_per_positive, its sampled categories too). 0: binary cross-entropy alone, "
                          "batches of pairs."},
    )


@dataclass
class SentenceTransformerMatchingConfig(BiEncoderConfig):
    """Training configuration of ``recipes/matching_sentence_transformer.py`` (and ``matching_dssm.py``): the objective
    and its scale."""

    objective: str = field(
        default="cosent",
        metadata={"help": "cosent: CoSENT ranking loss on the cosine; softmax: Sentence-BERT's classifier over "
                          "(u, v, |u-v|) with cross-entropy (the classifier is dropped after training); dssm: the "
                          "cosine regressed on the 0/1 label with mean squared error, threshold 0.5 "
                          "(recipes/matching_dssm.py).",
                  "choices": ["cosent", "softmax", "dssm"]},
    )
    cosent_scale: float = field(default=20.0, metadata={"help": "CoSENT's inverse temperature (20 = 1/0.05)."})
