"""Bi-encoders: one encoder embeds each text on its own, trained and saved as a sentence-transformers model.

Used by two families (supervised matching and unsupervised sentence embeddings). Trained models are ordinary
sentence-transformers folders: ``SentenceTransformer(output_dir)`` loads them with no project code. Training runs
through :class:`BiEncoderTrainer`, which is sentence-transformers' trainer (a ``transformers.Trainer``) with this
project's progress lines, curves and model card, configured by :class:`BiEncoderConfig`; :class:`PairMatchEvaluator`
scores labelled pairs during training and :func:`calibrate_threshold` picks a decision threshold for a model
trained to rank.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch
from datasets import IterableDataset
from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer, SentenceTransformerTrainingArguments
from sentence_transformers.base.evaluation.evaluator import BaseEvaluator
from sentence_transformers.base.sampler import BatchSamplers, DefaultBatchSampler
from sentence_transformers.sentence_transformer.losses import AdaptiveLayerLoss

from ..args import ModelArguments, RecipeSettings
from ..batching import ForwardInPieces, sparse_embedding_gradients
from ..errors import ArgumentError
from ..loading import capped_max_seq_length, load_or_explain
from ..parameters import input_embeddings
from ..trainer import RecipeTrainerMixin
from .metrics import BinaryMatchMetrics, best_f1_threshold
from .similarity import iter_pair_similarities, pair_similarities

logger = logging.getLogger(__name__)


@dataclass
class BiEncoderConfig(RecipeSettings, SentenceTransformerTrainingArguments):
    """Training configuration of a bi-encoder recipe: sentence-transformers' training arguments with the recipes'
    shared settings. A recipe with settings of its own subclasses it."""


class LengthGroupedBatchSampler(DefaultBatchSampler):
    """Batches of texts of similar length, in random order: less padding, the way Trainer's
    ``--train_sampling_strategy group_by_length`` does it for pre-tokenized data.

    Each epoch shuffles the examples, cuts them into chunks of 50 batches (fewer for a small dataset: at least 4
    chunks, as transformers' ``LengthGroupedSampler`` does, so that a batch's members change from epoch to epoch),
    sorts each chunk by the length (in characters) of an example's longest text, splits it into batches and
    shuffles the batches.
    """

    def __init__(self, dataset, batch_size: int, drop_last: bool, valid_label_columns=None, generator=None,
                 seed: int = 0):
        super().__init__(dataset, batch_size=batch_size, drop_last=drop_last,
                         valid_label_columns=valid_label_columns, generator=generator, seed=seed)
        text_columns = [c for c in dataset.column_names if c not in set(valid_label_columns or ())]
        table = dataset.with_format("arrow")  # lengths by Arrow's kernels: no text is copied into Python
        lengths = np.zeros(len(dataset), dtype=np.int64)
        for column in text_columns:
            values = table[column]
            if not pa.types.is_string(values.type) and not pa.types.is_large_string(values.type):
                values = pc.cast(values, pa.string())
            lengths = np.maximum(lengths, pc.fill_null(pc.utf8_length(values), 0).to_numpy())
        self.lengths = lengths

    def __iter__(self):
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        order = torch.randperm(len(self.lengths), generator=generator).tolist()
        chunk_size = self.batch_size * max(1, min(len(order) // (self.batch_size * 4), 50))
        batches = []
        for start in range(0, len(order), chunk_size):
            chunk = sorted(order[start:start + chunk_size], key=self.lengths.__getitem__, reverse=True)
            batches += [chunk[i:i + self.batch_size] for i in range(0, len(chunk), self.batch_size)]
        if self.drop_last:
            batches = [batch for batch in batches if len(batch) == self.batch_size]
        for i in torch.randperm(len(batches), generator=generator).tolist():
            yield batches[i]


class BiEncoderTrainer(RecipeTrainerMixin, SentenceTransformerTrainer):
    """sentence-transformers' ``SentenceTransformerTrainer`` (``loss=``, ``evaluator=``, text columns in, a
    sentence-transformers folder out) with :class:`~plm_recipes.trainer.RecipeTrainerMixin`'s progress lines,
    curves, model card, run record and pickle-free output folder. On a CPU it encodes each batch's texts in
    length-sorted pieces (:meth:`training_step`). ``--train_sampling_strategy group_by_length`` batches texts of
    similar length (:class:`LengthGroupedBatchSampler`). ``--prompts`` goes before every text in training,
    evaluation and the saved model alike (:func:`apply_prompt`)."""

    applies_learning_rate_mapping = False  # sentence-transformers' trainer does, over the loss's parameters too
    encodes_in_pieces = True

    def __init__(self, *positional, **kwargs):
        model = kwargs.get("model", positional[0] if positional else None)
        args = kwargs.get("args", positional[1] if len(positional) > 1 else None)
        if model is not None and args is not None:
            apply_prompt(model, args)  # before the trainer builds its data collator from args.prompts
        super().__init__(*positional, **kwargs)

    def training_step(self, model, inputs, num_items_in_batch=None):
        """``Trainer.training_step``; with ``args.micro_batches_by_length`` above 1 (unset: 4 in one process on a
        CPU) the loss's model encodes each column of texts as length-sorted pieces and puts the embeddings back in
        order (:class:`~plm_recipes.batching.ForwardInPieces`), the word embeddings taking sparse gradients until
        the step's end: the loss (in-batch negatives, CoSENT's pairs across the batch) sees the whole batch's
        embeddings and gives the whole batch's gradient, with less padding. Not for the losses that rerun the
        model's layers (:meth:`_losses_encoding_in_pieces`)."""
        pieces = self._micro_batches()
        # the bare model only: a DDP or compiled wrapper must run its own forward (DDP's gradient reduction)
        if pieces <= 1 or model is not self.model or not self._can_split_batches():
            return super().training_step(model, inputs, num_items_in_batch)
        found = input_embeddings(self.model)
        with self._losses_encoding_in_pieces(pieces), sparse_embedding_gradients(found[0] if found else None):
            return super().training_step(model, inputs, num_items_in_batch)

    @contextlib.contextmanager
    def _losses_encoding_in_pieces(self, pieces: int) -> Iterator[None]:
        """For the block, each loss (and loss inside a loss: ``MatryoshkaLoss``'s) whose ``model`` is this trainer's
        model calls it through :class:`~plm_recipes.batching.ForwardInPieces`, as it would call a DDP wrapper. Not
        when a loss records the model's outputs call by call to rerun its layers (``AdaptiveLayerLoss``,
        ``Matryoshka2dLoss``): those train on whole batches."""
        losses = self.loss.values() if isinstance(self.loss, dict) else [self.loss]
        modules = [m for loss in losses for m in loss.modules()]
        holders = [m for m in modules if m._modules.get("model") is self.model]
        if any(isinstance(m, AdaptiveLayerLoss) for m in modules):
            holders = []
        wrapper = ForwardInPieces(self.model, pieces, getattr(self.model.tokenizer, "padding_side", "right"))
        for holder in holders:
            holder.model = wrapper
        try:
            yield
        finally:
            for holder in holders:
                holder.model = self.model

    def get_batch_sampler(self, dataset, batch_size, drop_last, valid_label_columns=None, generator=None, seed=0):
        if (self.args.train_sampling_strategy == "group_by_length"
                and self.args.batch_sampler == BatchSamplers.BATCH_SAMPLER
                and not isinstance(dataset, IterableDataset)):
            return LengthGroupedBatchSampler(dataset, batch_size, drop_last, valid_label_columns, generator, seed)
        return super().get_batch_sampler(dataset, batch_size, drop_last, valid_label_columns, generator, seed)


def load_sentence_transformer(model_args: ModelArguments, max_seq_length: int) -> SentenceTransformer:
    """A sentence-transformers model from a folder or hub id. A plain encoder checkpoint (no ``modules.json``)
    gets mean pooling over its token embeddings."""
    if model_args.from_scratch:
        raise ArgumentError("the bi-encoder recipes fine-tune a pretrained encoder: pass --model_name_or_path")
    name = model_args.model_name_or_path
    model = load_or_explain(
        lambda: SentenceTransformer(
            name, cache_folder=model_args.cache_dir, revision=model_args.model_revision,
            trust_remote_code=model_args.trust_remote_code, device="cpu",
        ),
        name,
    )
    transformer = model[0]
    model.max_seq_length = capped_max_seq_length(max_seq_length, transformer.tokenizer, transformer.auto_model.config)
    return model


def apply_prompt(model: SentenceTransformer, args: SentenceTransformerTrainingArguments) -> str | None:
    """One prompt before every text, the same in training, in evaluation and in the saved model; returns it.

    ``--prompts "query: "`` (sentence-transformers' own argument, one text) makes the trainer put the prompt before
    each text it tokenizes, but alone it reaches neither ``model.encode`` (evaluation, threshold calibration) nor
    the saved model. Here it also becomes the model's default prompt (``prompts`` / ``default_prompt_name`` in
    ``config_sentence_transformers.json``), which ``encode`` applies, there and after
    ``SentenceTransformer(output_dir)``. Encoders trained with a prefix expect it (the E5 models: ``"query: "``
    for symmetric tasks). A model saved with a default prompt trains with that prompt when ``--prompts`` is not
    given, so training sees what evaluation sees; ``--prompts ""`` turns that default off.

    >>> from types import SimpleNamespace
    >>> model = SimpleNamespace(prompts={}, default_prompt_name=None)
    >>> apply_prompt(model, SimpleNamespace(prompts="query: ")), model.prompts, model.default_prompt_name
    ('query: ', {'default': 'query: '}, 'default')
    """
    prompt = args.prompts
    if prompt is None or prompt == {}:
        name = model.default_prompt_name
        if name is None or not model.prompts.get(name):
            return None
        args.prompts = model.prompts[name]
        logger.info("Prompt: %r, the model's default (%r), before every text", args.prompts, name)
        return args.prompts
    if prompt == "":  # no prompt at all, not even the model's default
        model.default_prompt_name = None
        return None
    if not isinstance(prompt, str):
        raise ArgumentError(
            f"--prompts {prompt!r}: the bi-encoder recipes take one prompt for every text (e.g. --prompts 'query: '); "
            "a prompt per column would train the model on inputs its evaluation and its saved model never give it")
    # reuse the model's own name for this prompt (an E5 folder may list {"query": "query: ", ...})
    name = next((key for key, text in model.prompts.items() if text == prompt), "default")
    model.prompts = {**model.prompts, name: prompt}
    model.default_prompt_name = name
    logger.info("Prompt: %r before every text, in training, evaluation and the saved model", prompt)
    return prompt


def calibrate_threshold(
    model: SentenceTransformer, text_a: Sequence[str], text_b: Sequence[str], labels: Sequence[int],
    batch_size: int = 32, source: str = "training",
) -> float:
    """The similarity threshold with the best F1 on the given pairs (``source`` names them in the log): a
    bi-encoder trained to rank (CoSENT, SimCSE) has no fixed threshold of its own. Returns the midpoint below the
    best cut. The pairs are scored chunk by chunk (:func:`iter_pair_similarities`): only their scores are held."""
    scores = np.fromiter(iter_pair_similarities(model, text_a, text_b, batch_size), dtype=np.float64)
    threshold, f1 = best_f1_threshold(scores, np.asarray(labels))
    below = scores[scores < threshold]
    if len(below):  # cut between the two scores, not on a training example's score
        threshold = (threshold + below.max()) / 2
    logger.info("Threshold %.4f calibrated on %d %s pairs (F1 %.4f there).", threshold, len(scores), source, f1)
    return float(threshold)


class PairMatchEvaluator(BaseEvaluator):
    """Evaluates a bi-encoder on labelled pairs: cosine similarity as the score (:meth:`scores`, which a model
    that scores pairs another way overrides), then :class:`~plm_recipes.metrics.BinaryMatchMetrics` (P/R/F1 at
    ``threshold``, spearman, best F1).

    Args:
        text_a, text_b, labels: the pairs and their 0/1 labels.
        threshold: a pair matches when its cosine similarity is at least this; ``None``: the best-F1 threshold on
            these pairs (reported as ``threshold``), for a model whose threshold is chosen on them after training.
        primary_metric: the metric that picks the best checkpoint (``"f1"``; ``"best_f1"`` or ``"spearman"`` for
            a model whose threshold is set after training).
    """

    def __init__(
        self, text_a: Sequence[str], text_b: Sequence[str], labels: Sequence[int], threshold: float | None = 0.5,
        batch_size: int = 32, primary_metric: str = "f1", name: str = "",
    ):
        super().__init__()
        self.text_a, self.text_b, self.labels = list(text_a), list(text_b), list(labels)
        self.threshold = threshold
        self.batch_size = batch_size
        self.primary_metric = primary_metric
        self.name = name

    def __call__(self, model, output_path=None, epoch: int = -1, steps: int = -1) -> dict[str, float]:
        scores = self.scores(model)
        metric = BinaryMatchMetrics(keep_in_memory=True)
        metrics = metric.compute(predictions=scores, references=self.labels,
                                 threshold=0.5 if self.threshold is None else self.threshold)
        threshold = self.threshold
        if threshold is None:
            threshold = metrics["best_threshold"]
            metrics = metric.compute(predictions=scores, references=self.labels, threshold=threshold)
        metrics["threshold"] = threshold
        return self.prefix_name_to_metrics(metrics, self.name)

    def scores(self, model) -> np.ndarray:
        """Each pair's score: the cosine similarity of its two texts' embeddings."""
        return pair_similarities(model, self.text_a, self.text_b, self.batch_size)
