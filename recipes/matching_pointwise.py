#!/usr/bin/env python
"""Pointwise text matching: a cross-encoder reads ``[CLS] a [SEP] b [SEP]`` and says match / no match.

Usage:

    python recipes/matching_pointwise.py \
        --model_name_or_path bert-base-chinese \
        --train_file data/matching/train.txt --validation_file data/matching/dev.txt \
        --do_train --do_eval --output_dir outputs/matching_pointwise

    accelerate launch recipes/matching_pointwise.py --config recipes/configs/matching_pointwise.yaml

    plm-recipes predict matching --model outputs/matching_pointwise --labels data/matching/types_desc.txt \
        --text "屏幕很清晰，追剧很爽"

Data: ``text_a<TAB>text_b<TAB>0/1`` lines (the seed's ``description<TAB>comment<TAB>label``), or csv/json with
--text_a_column / --text_b_column / --label_column; or a dataset (``--dataset_name``: a Hub id, a local dataset
repository folder or a ``save_to_disk`` folder) whose columns those flags name, e.g.
``--dataset_name C-MTEB/LCQMC --text_a_column sentence1 --text_b_column sentence2 --label_column score``.

The model is a sentence-transformers ``CrossEncoder`` (an ``AutoModelForSequenceClassification`` with one output)
trained on sentence-transformers' ``CrossEncoderTrainer`` with its binary cross-entropy: the sigmoid of the logit is
the match probability. What sentence-transformers lacks is kept as classes of its own: each batch runs as length-sorted
pieces (``--micro_batches_by_length``; the same loss and gradient, less padding), and the loss adds the listwise
term (:class:`plm_recipes.matching.cross_encoder.PointwiseMatchingTrainer`,
:class:`plm_recipes.matching.losses.PointwiseMatchingLoss`). The new head starts as ``torch.nn.Linear``
initialises itself (as the older script's did) and, with a pooler the checkpoint lacks, learns at
``--new_parameters_learning_rate`` (1e-3 by default; 0: the encoder's rate). It loads as
``CrossEncoder(output_dir)`` and in ``transformers.pipeline("text-classification")`` with no project code. Every
(category, text) pair costs one encoder pass: the most accurate of the three matching recipes, and the slowest to
rank many categories.

Training options beyond the pairs in the file: ``--categories_file types_desc.txt --negatives_per_positive 3``
adds pairs of each matched text with other categories; ``--listwise_weight 1`` adds a softmax loss that ranks
each text's categories against each other (:func:`plm_recipes.matching.losses.listwise_softmax_loss`; a batch then holds
``--per_device_train_batch_size`` texts with all their pairs).
"""

from __future__ import annotations

import itertools
import os

import numpy as np
import torch
from transformers import AutoModelForSequenceClassification, set_seed

from plm_recipes.args import TRAINING_DEFAULTS, ModelArguments
from plm_recipes.data import data_description
from plm_recipes.loading import capped_max_seq_length, load_config, load_model, load_tokenizer
from plm_recipes.matching import PairDataArguments, PointwiseMatchingConfig
from plm_recipes.matching.cross_encoder import (
    MATCH_CONFIG,
    CrossEncoderMatchEvaluator,
    PointwiseMatchingTrainer,
    cross_encoder_from,
    iter_pair_scores,
)
from plm_recipes.matching.data import group_pairs, load_pair_splits
from plm_recipes.matching.losses import PointwiseMatchingLoss
from plm_recipes.modelcard import ModelCardInfo
from plm_recipes.pairs.metrics import BinaryMatchMetrics
from plm_recipes.pairs.model_files import save_matching_config, write_pair_predictions
from plm_recipes.parsing import parse_args
from plm_recipes.run_config import RunConfig
from plm_recipes.utils import run_cli, setup_logging

RECIPE_DEFAULTS = {
    **TRAINING_DEFAULTS,
    "output_dir": "outputs/matching_pointwise",
    "learning_rate": 3e-5,
    # the new head (and a pooler the checkpoint lacks) learns at a rate of its own; see init_new_output_layer
    "new_parameters_learning_rate": 1e-3,
    "metric_for_best_model": "f1",
}

USAGE = """\
```python
from sentence_transformers import CrossEncoder

model = CrossEncoder("{model}")
model.predict([("平板：可以触屏的便携电脑。", "屏幕很清晰，追剧很爽")])  # match probability
```

Rank categories for a comment: `plm-recipes predict matching --model {model} --labels types_desc.txt --text "..."`
"""


def main(args: list[str] | None = None) -> dict[str, dict[str, float]]:
    """Run the recipe; returns the metrics of each stage (``train``, ``eval``, ``test``)."""
    # --- arguments -----------------------------------------------------------------------------------
    model_args, data_args, training_args = parse_args(
        (ModelArguments, PairDataArguments, PointwiseMatchingConfig), args,
        defaults=RECIPE_DEFAULTS, description=__doc__.split("\n")[0],
    )
    run_config = RunConfig.from_arguments("matching_pointwise", model_args, data_args, training_args)
    setup_logging(training_args)
    set_seed(training_args.seed)
    threshold = 0.5 if data_args.threshold is None else data_args.threshold

    # --- data: text_a, text_b, label (0/1) per split, from the data files or --dataset_name -----------------
    pairs = load_pair_splits(data_args, training_args, seed=training_args.seed)
    train = pairs["train"].dataset.select_columns(["text_a", "text_b", "label"]) if "train" in pairs else None
    if train is not None and training_args.listwise_weight:  # a training row: a text with all its categories
        with training_args.main_process_first(desc="grouping the training pairs"):
            train = group_pairs(train, num_proc=data_args.preprocessing_num_workers,
                                load_from_cache_file=not data_args.overwrite_cache, desc="Grouping the pairs by text")

    # --- model: one logit, sigmoid = match probability; the new head starts as torch.nn.Linear does ---------
    config = load_config(model_args, **MATCH_CONFIG)
    train_texts = None
    if "train" in pairs:  # read only when a tokenizer is trained on the data (--train_tokenizer_vocab_size)
        train_texts = itertools.chain(pairs["train"].dataset["text_a"], pairs["train"].dataset["text_b"])
    tokenizer = load_tokenizer(model_args, train_texts=train_texts)
    model, new_parameters = load_model(AutoModelForSequenceClassification, model_args, config, tokenizer)
    init_new_output_layer(model, new_parameters)
    max_seq_length = capped_max_seq_length(data_args.max_seq_length, tokenizer, model.config)
    model, new_parameters = cross_encoder_from(model, tokenizer, max_seq_length, new_parameters,
                                               trust_remote_code=model_args.trust_remote_code)

    # --- loss, evaluator, trainer --------------------------------------------------------------------
    loss = PointwiseMatchingLoss(model, listwise_weight=training_args.listwise_weight)
    evaluator = None
    if "validation" in pairs:
        dev = pairs["validation"].dataset
        evaluator = CrossEncoderMatchEvaluator(dev["text_a"], dev["text_b"], dev["label"], threshold=threshold,
                                               batch_size=training_args.per_device_eval_batch_size)
    card = ModelCardInfo(
        recipe="matching_pointwise", pipeline_tag="text-classification",
        base_model=model_args.model_name_or_path, config_name=model_args.config_name,
        **data_description(data_args, pairs), num_examples={split: len(ds.dataset) for split, ds in pairs.items()},
        usage=USAGE,
    )
    trainer = PointwiseMatchingTrainer(
        model=model,
        args=training_args,
        train_dataset=train,
        loss=loss,
        evaluator=evaluator,
        model_card=card,
        run_config=run_config,
        headline_metrics=("precision", "recall", "f1", "spearman"),
        new_parameters=new_parameters,
    )

    # --- train / evaluate / predict ------------------------------------------------------------------
    results: dict[str, dict[str, float]] = {}
    if training_args.do_train:
        results["train"] = trainer.train_and_report(len(pairs["train"].dataset))
        if trainer.is_world_process_zero():
            objective = "binary cross-entropy"
            if training_args.listwise_weight:
                objective += f" + {training_args.listwise_weight:g} x listwise softmax"
            save_matching_config(training_args.output_dir, kind="cross-encoder", threshold=threshold,
                                 objective=objective)
    if training_args.do_eval:
        results["eval"] = trainer.evaluate_and_report(len(pairs["validation"].dataset))
    if training_args.do_predict and trainer.is_world_process_zero():  # scored chunk by chunk, in the data's order
        test = pairs["test"].dataset
        scores = np.fromiter(iter_pair_scores(model, test["text_a"], test["text_b"],
                                              training_args.per_device_eval_batch_size), dtype=np.float64)
        metrics = BinaryMatchMetrics(keep_in_memory=True).compute(predictions=scores, references=test["label"],
                                                                  threshold=threshold)
        results["test"] = {f"test_{name}": value for name, value in metrics.items()}
        trainer.report("test", results["test"])
        write_pair_predictions(os.path.join(training_args.output_dir, "predict_results.tsv"),
                               test["text_a"], test["text_b"], scores, threshold)

    # --- model card / hub ----------------------------------------------------------------------------
    if training_args.do_train:
        trainer.finish(tags=["text-matching", "cross-encoder"])
    return results


def init_new_output_layer(model: torch.nn.Module, new_parameters) -> list[str]:
    """Initialise the new head's output layer (the ``torch.nn.Linear`` to the match logit that the checkpoint did not
    have) as ``torch.nn.Linear`` initialises itself, as the older hand-written script's head was; returns the names
    of the layers reset.

    transformers' own init draws it from normal(0, 0.02) with a zero bias, and at the encoder's rate (5e-5) the head
    barely moves from its init in a short run: in ``bench/defaults.py`` (2 epochs, lr 5e-5) that recipe was still at
    dev F1 0.000 after the first epoch and ended at 0.747 / 0.686 (seeds 42 / 43) where the older script reached
    0.829 / 0.823. This init and the recipe's default rate for new weights (``new_parameters_learning_rate`` 1e-3)
    together reach 0.788 / 0.824 / 0.836 at seeds 42 / 43 / 44, the older script 0.829 / 0.823 / 0.768 (README,
    "Fast defaults").
    """
    reset = []
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) and module.out_features == model.config.num_labels \
                and f"{name}.weight" in new_parameters:
            module.reset_parameters()
            reset.append(name)
    return reset


if __name__ == "__main__":
    run_cli(main)
