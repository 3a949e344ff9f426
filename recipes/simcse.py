#!/usr/bin/env python
"""Unsupervised sentence embeddings: SimCSE and ESimCSE, trained on sentences with no labels.

Usage:

    python recipes/simcse.py \
        --model_name_or_path bert-base-chinese \
        --train_file data/sentence_embedding/sentences.txt --validation_file data/sentence_embedding/dev.txt \
        --do_train --do_eval --output_dir outputs/simcse

    accelerate launch recipes/simcse.py --config recipes/configs/simcse.yaml            # the benchmark's settings
    accelerate launch recipes/simcse.py --config recipes/configs/simcse.yaml --method esimcse

    plm-recipes predict similarity --model outputs/simcse --a "怎么开初婚未育证明" --b "初婚未育证明怎么开？"

Data: ``--train_file`` is sentences: a ``.txt`` file one per line, a ``.tsv`` file every field of a line (or the
fields ``--text_columns 1 2`` names), csv/json the ``--text_columns`` (default ``text``). Empty lines and fields are
skipped. ``--validation_file`` / ``--test_file`` are labelled pairs, ``text_a<TAB>text_b<TAB>0/1``. Or a dataset
(``--dataset_name``: a Hub id, a local dataset repository folder, a ``save_to_disk`` folder): its training split's
``--text_columns`` are the sentences, its evaluation splits the pairs (``--text_a_column`` / ``--text_b_column`` /
``--label_column``). The sentences are read into the datasets cache once; with ``--streaming`` (and
``--max_steps``) they are read as training goes instead, for a corpus larger than memory (a stream has no batch
sampler: batches are the corpus's consecutive sentences, so shuffle it beforehand).

SimCSE (Gao et al., 2021) encodes each sentence twice: dropout alone makes the two embeddings differ, and the
model learns to find a sentence's twin among the other sentences of the batch (sentence-transformers'
``MultipleNegativesRankingLoss`` on ``(sentence, sentence)`` pairs, temperature ``--temperature``). Batches never
hold a sentence twice (``--batch_sampler no_duplicates``): a repeat would be a negative identical to the positive.
``--method esimcse`` (Wu et al., 2022) repeats some tokens of the positive copy (``--dup_rate``) and adds the
embeddings of earlier batches, from a momentum encoder, as negatives (``--queue_size``, ``--momentum``;
:class:`plm_recipes.sentence_embedding.ESimCSELoss`).

Evaluation on the labelled pairs runs every ``--eval_steps`` (spearman of the cosine, and P/R/F1 at the best-F1
threshold there): on a domain like LCQMC, spearman peaks within tens to hundreds of steps and then falls, so the
best checkpoint is kept (``--metric_for_best_model spearman``) and ``--early_stopping_patience`` can stop the run.
``--prompts "query: "`` puts a text before every sentence (E5 models expect it), in training and in evaluation, and
saves it as the model's default prompt, which ``SentenceTransformer(output_dir).encode`` adds.
After training the best-F1 cosine on the validation pairs (or ``--threshold``) is saved with the model
(``matching_config.json``). The output folder is a sentence-transformers model: ``SentenceTransformer(output_dir)``.
"""

from __future__ import annotations

import dataclasses
import logging
import os

from sentence_transformers.base.sampler import BatchSamplers
from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
from transformers import EarlyStoppingCallback, set_seed

from plm_recipes.args import TRAINING_DEFAULTS, ModelArguments, requested_splits
from plm_recipes.data import data_description
from plm_recipes.modelcard import ModelCardInfo
from plm_recipes.pairs.data import load_pairs
from plm_recipes.pairs.bi_encoder import BiEncoderTrainer, PairMatchEvaluator, calibrate_threshold
from plm_recipes.pairs.model_files import save_matching_config, write_pair_predictions
from plm_recipes.pairs.similarity import iter_pair_similarities
from plm_recipes.parsing import parse_args
from plm_recipes.run_config import RunConfig
from plm_recipes.sentence_embedding import SentenceDataArguments, SimCSEConfig
from plm_recipes.sentence_embedding.data import load_sentences, sentence_pairs
from plm_recipes.sentence_embedding.losses import ESimCSELoss, ProjectedMultipleNegativesRankingLoss, TrainingHead
from plm_recipes.sentence_embedding.model import load_sentence_encoder, pooling_mode
from plm_recipes.utils import run_cli, setup_logging

logger = logging.getLogger("plm_recipes.simcse")

RECIPE_DEFAULTS = {
    **TRAINING_DEFAULTS,
    "output_dir": "outputs/simcse",
    "train_sampling_strategy": "random",  # batches come from the no-duplicates sampler
    "batch_sampler": "no_duplicates",
    "num_train_epochs": 1,
    "per_device_train_batch_size": 64,
    "learning_rate": 3e-5,
    "warmup_steps": 0,
    "eval_strategy": "steps",
    "eval_steps": 50,
    "save_strategy": "steps",
    "save_steps": 50,
    "metric_for_best_model": "spearman",
    "max_seq_length": 64,
}

USAGE = """\
```python
from sentence_transformers import SentenceTransformer

model = SentenceTransformer("{model}")
embeddings = model.encode(["怎么开初婚未育证明", "初婚未育证明怎么开？"])
model.similarity(embeddings[:1], embeddings[1:])  # cosine; >= the threshold in matching_config.json is a match
```

From the command line: `plm-recipes predict similarity --model {model} --a "..." --b "..."`
"""


def main(args: list[str] | None = None) -> dict[str, dict[str, float]]:
    """Run the recipe; returns the metrics of each stage (``train``, ``eval``, ``test``)."""
    # --- arguments -----------------------------------------------------------------------------------
    model_args, data_args, training_args = parse_args(
        (ModelArguments, SentenceDataArguments, SimCSEConfig), args,
        defaults=RECIPE_DEFAULTS, description=__doc__.split("\n")[0],
    )
    streamed = data_args.streaming and training_args.batch_sampler != BatchSamplers.BATCH_SAMPLER
    if streamed:  # a stream is read in order, with no sampler; recorded so, in the run record too
        training_args.batch_sampler = BatchSamplers.BATCH_SAMPLER
    run_config = RunConfig.from_arguments("simcse", model_args, data_args, training_args)
    setup_logging(training_args)
    set_seed(training_args.seed)
    if streamed:
        logger.info("--streaming: batches are consecutive sentences of the corpus (no sampler: --batch_sampler "
                    "no_duplicates cannot apply), so shuffle it beforehand and avoid repeated sentences")

    # --- data: (sentence, sentence) rows to train on, labelled pairs to evaluate on ------------------
    splits = {}
    train = None
    if training_args.do_train:  # a file or a dataset, into the datasets cache, or streamed with --streaming
        splits["train"] = load_sentences(data_args, training_args)
        train = sentence_pairs(splits["train"], data_args=data_args, training_args=training_args)
    evaluated = [split for split in requested_splits(training_args) if split != "train"]
    # evaluation pairs are read whole (never streamed): the evaluator scores them all at each evaluation
    pairs = load_pairs(dataclasses.replace(data_args, streaming=False), training_args, splits=evaluated)
    splits.update(pairs)
    pairs = {split: data.dataset for split, data in pairs.items()}

    # --- model, loss, evaluator ----------------------------------------------------------------------
    model = load_sentence_encoder(model_args, data_args.max_seq_length, training_args.pooling)
    scale = 1.0 / training_args.temperature
    head = TrainingHead(model.get_sentence_embedding_dimension()) if training_args.mlp_head else None
    if training_args.method == "esimcse":
        loss = ESimCSELoss(model, scale=scale, dup_rate=training_args.dup_rate, queue_size=training_args.queue_size,
                           momentum=training_args.momentum, head=head, seed=training_args.seed)
    elif head is not None:
        loss = ProjectedMultipleNegativesRankingLoss(model, head, scale=scale)
    else:
        loss = MultipleNegativesRankingLoss(model, scale=scale)
    evaluator = None
    if "validation" in pairs:
        dev = pairs["validation"]
        evaluator = PairMatchEvaluator(dev["text_a"], dev["text_b"], dev["label"], threshold=data_args.threshold,
                                       batch_size=training_args.per_device_eval_batch_size,
                                       primary_metric="spearman")

    card = ModelCardInfo(
        recipe="simcse", pipeline_tag="sentence-similarity", library_name="sentence-transformers",
        base_model=model_args.model_name_or_path, **data_description(data_args, splits),
        num_examples={split: len(data.dataset) for split, data in splits.items() if not data.streaming},
        usage=USAGE,
    )
    callbacks = []
    if training_args.early_stopping_patience:
        callbacks.append(EarlyStoppingCallback(training_args.early_stopping_patience))
    trainer = BiEncoderTrainer(
        model=model,
        args=training_args,
        train_dataset=train,
        loss=loss,
        evaluator=evaluator,
        callbacks=callbacks,
        model_card=card,
        run_config=run_config,
        headline_metrics=("spearman", "precision", "recall", "f1"),
    )

    # --- train, then the threshold: the best-F1 cosine on the validation pairs (or --threshold) ------
    results: dict[str, dict[str, float]] = {}
    threshold = data_args.threshold
    if training_args.do_train:
        # a stream has no length: the sentences its steps read
        trained_on = (training_args.max_steps * training_args.train_batch_size * training_args.world_size
                      * training_args.gradient_accumulation_steps) if splits["train"].streaming else len(train)
        results["train"] = trainer.train_and_report(trained_on)
        if head is not None and training_args.keep_mlp_head:
            model.append(head.as_dense())
            trainer.save_model()
        if threshold is None and "validation" in pairs:
            threshold = calibrate_threshold(model, dev["text_a"], dev["text_b"], dev["label"],
                                            training_args.per_device_eval_batch_size, source="validation")
        if trainer.is_world_process_zero() and threshold is not None:
            objective = (f"{training_args.method}, {pooling_mode(model)} pooling, temperature "
                         f"{training_args.temperature:g}")
            save_matching_config(training_args.output_dir, kind="bi-encoder", threshold=threshold,
                                 objective=objective)
    if evaluator is not None:
        evaluator.threshold = threshold
    if training_args.do_eval:
        results["eval"] = trainer.evaluate_and_report(len(pairs["validation"]))
    if training_args.do_predict:
        # without a saved threshold, P/R/F1 are at the best-F1 threshold of the test pairs (reported as threshold)
        test = pairs["test"]
        test_evaluator = PairMatchEvaluator(test["text_a"], test["text_b"], test["label"], threshold=threshold,
                                            batch_size=training_args.per_device_eval_batch_size)
        results["test"] = {f"test_{k}": v for k, v in test_evaluator(model).items()}
        trainer.report("test", results["test"])
        if trainer.is_world_process_zero():  # streamed over the test pairs, chunk by chunk
            scores = iter_pair_similarities(model, test["text_a"], test["text_b"],
                                            training_args.per_device_eval_batch_size)
            write_pair_predictions(os.path.join(training_args.output_dir, "predict_results.tsv"),
                                   test["text_a"], test["text_b"], scores, threshold if threshold is not None else 0.5)

    # --- model card / hub ----------------------------------------------------------------------------
    if training_args.do_train:
        trainer.finish(tags=["sentence-embeddings", "sentence-transformers", training_args.method])
    return results


if __name__ == "__main__":
    run_cli(main)
