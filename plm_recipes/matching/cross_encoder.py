"""The pointwise cross-encoder on sentence-transformers: the model, its trainer and its evaluator.

Trained models are sentence-transformers ``CrossEncoder`` folders, whose root is also a plain transformers
sequence-classification folder: ``CrossEncoder(output_dir)``, ``AutoModelForSequenceClassification`` and
``pipeline("text-classification")`` load them with no project code. Training runs through
:class:`PointwiseMatchingTrainer` (sentence-transformers' ``CrossEncoderTrainer`` with this project's progress lines,
curves, model card and run record) with :class:`~plm_recipes.matching.losses.PointwiseMatchingLoss`;
:class:`CrossEncoderMatchEvaluator` scores labelled pairs during training.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence

import numpy as np
from datasets import IterableDataset
from sentence_transformers.base.sampler import BatchSamplers
from sentence_transformers.cross_encoder import CrossEncoder, CrossEncoderTrainer
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from ..batching import training_step_in_pieces
from ..pairs.bi_encoder import LengthGroupedBatchSampler, PairMatchEvaluator
from ..parameters import input_embeddings
from ..trainer import RecipeTrainerMixin
from .losses import PointwiseMatchingLoss

# the config a CrossEncoder needs to read one logit as a match probability (pipelines apply a sigmoid too)
MATCH_CONFIG = {"num_labels": 1, "id2label": {0: "match"}, "label2id": {"match": 0},
                "problem_type": "multi_label_classification"}


def cross_encoder_from(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, max_seq_length: int,
                       new_parameters: Sequence[str] = (), trust_remote_code: bool = False
                       ) -> tuple[CrossEncoder, list[str]]:
    """A sentence-transformers ``CrossEncoder`` of ``model`` (the transformers sequence classifier the recipe loaded
    and initialised) and ``tokenizer``, and the names, in the CrossEncoder, of ``new_parameters`` (``model``'s names
    of the weights the checkpoint lacked).

    sentence-transformers builds a CrossEncoder from a folder, so the two are written to a temporary one and read
    back: whatever the recipe loaded becomes the same CrossEncoder, whether a hub checkpoint given a new head, a
    sentence-transformers bi-encoder folder (whose ``modules.json`` would otherwise be read as its modules), a model
    from ``--config_name`` or a tokenizer trained on the data. ``model`` is emptied once written (its weights moved
    to the meta device), so that the process never holds two copies of them: use the CrossEncoder.
    """
    new_parameters = list(new_parameters)
    with tempfile.TemporaryDirectory(prefix="plm-cross-encoder-") as folder:
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        model.to("meta")
        cross_encoder = CrossEncoder(folder, device="cpu", trust_remote_code=trust_remote_code)
    # for sentence-transformers before 6, which read the activation from config.json
    cross_encoder.model.config.sentence_transformers = {"activation_fn": "torch.nn.modules.activation.Sigmoid"}
    cross_encoder.max_seq_length = max_seq_length
    inner = dict(cross_encoder.model.named_parameters())  # the same architecture as ``model``: the same names
    new = {id(inner[name]) for name in new_parameters if name in inner}
    names = [name for name, param in cross_encoder.named_parameters() if id(param) in new]
    return cross_encoder, names


class CrossEncoderMatchEvaluator(PairMatchEvaluator):
    """:class:`~plm_recipes.pairs.bi_encoder.PairMatchEvaluator` for a cross-encoder: a pair's score is its match
    probability (:func:`iter_pair_scores`); the trainer reports ``eval_f1``, ``eval_spearman`` ..., the names the
    recipe's metrics had on a plain ``Trainer``."""

    def scores(self, model) -> np.ndarray:
        return np.fromiter(iter_pair_scores(model, self.text_a, self.text_b, self.batch_size), dtype=np.float64)


def iter_pair_scores(model: CrossEncoder, text_a: Sequence[str], text_b: Sequence[str], batch_size: int = 64,
                     chunk: int = 4096) -> Iterator[float]:
    """The match probability of each pair ``(text_a[i], text_b[i])``, ``chunk`` pairs at a time
    (``CrossEncoder.predict``, which sorts each chunk by length)."""
    for start in range(0, len(text_a), chunk):
        pairs = list(zip(text_a[start:start + chunk], text_b[start:start + chunk]))
        scores = model.predict(pairs, batch_size=batch_size, show_progress_bar=False, convert_to_numpy=True)
        yield from np.asarray(scores, dtype=np.float64).reshape(len(pairs))


class PointwiseMatchingTrainer(RecipeTrainerMixin, CrossEncoderTrainer):
    """sentence-transformers' ``CrossEncoderTrainer`` (``loss=``, ``evaluator=``, text columns in, a CrossEncoder
    folder out) with :class:`~plm_recipes.trainer.RecipeTrainerMixin`'s progress lines, curves, model card, run record,
    learning rate for new weights and pickle-free output folder.

    ``--micro_batches_by_length`` (unset: 4 in one process on a CPU) runs each batch as length-sorted pieces
    (sentence-transformers' batches hold texts, tokenized in the loss): a batch of pairs as the other recipes do, a
    forward and backward pass per piece (:meth:`PointwiseMatchingLoss.split_rows`,
    :func:`~plm_recipes.batching.training_step_in_pieces`, sparse word-embedding gradients across the pieces); rows
    that hold a text's pairs (``--listwise_weight``) inside the loss, whose listwise term ranks them together
    (:class:`~plm_recipes.matching.losses.PointwiseMatchingLoss`'s ``pieces``, one backward pass). Several processes,
    DeepSpeed and FSDP run whole batches. ``--train_sampling_strategy group_by_length`` batches rows of similar
    length (:class:`~plm_recipes.pairs.bi_encoder.LengthGroupedBatchSampler`, on the rows' text columns)."""

    applies_learning_rate_mapping = False  # sentence-transformers' trainer does, over the loss's parameters too

    def __init__(self, *args, **kwargs):
        # the batch may be split: by this trainer (a mean over pairs) or, for a text's pairs, inside the loss
        super().__init__(*args, row_mean_loss=True, **kwargs)
        self.pair_pieces = 1  # pieces this trainer's training step runs (rows of pairs)
        if isinstance(self.loss, PointwiseMatchingLoss):
            split = self._can_split_batches() and self.args.world_size <= 1
            pieces = self._micro_batches() if split else 1
            if self.loss.listwise_weight:
                self.loss.pieces = pieces
            else:
                self.loss.pieces, self.pair_pieces = 1, pieces

    def training_step(self, model, inputs, num_items_in_batch=None):
        if self.pair_pieces > 1:
            split = self.loss.split_rows(inputs, self.pair_pieces)
            if split is not None:
                found = input_embeddings(model)
                return training_step_in_pieces(self, model, split, num_items_in_batch,
                                               word_embeddings=found[0] if found else None)
        return super().training_step(model, inputs, num_items_in_batch)

    def get_batch_sampler(self, dataset, batch_size, drop_last, valid_label_columns=None, generator=None, seed=0):
        if (self.args.train_sampling_strategy == "group_by_length"
                and self.args.batch_sampler == BatchSamplers.BATCH_SAMPLER
                and not isinstance(dataset, IterableDataset)):
            texts = [name for name, feature in dataset.features.items()
                     if getattr(feature, "dtype", None) in ("string", "large_string")]
            return LengthGroupedBatchSampler(dataset.select_columns(texts), batch_size, drop_last, [], generator, seed)
        return super().get_batch_sampler(dataset, batch_size, drop_last, valid_label_columns, generator, seed)
