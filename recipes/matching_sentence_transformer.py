#!/usr/bin/env python
"""Bi-encoder text matching on sentence-transformers: Sentence-BERT with the CoSENT ranking loss, its softmax
classifier, or DSSM.

Usage:

    python recipes/matching_sentence_transformer.py \
        --model_name_or_path bert-base-chinese \
        --train_file data/matching/train.txt --validation_file data/matching/dev.txt \
        --do_train --do_eval --output_dir outputs/matching_sentence_transformer

    # the classic Sentence-BERT objective: softmax over (u, v, |u-v|)
    python recipes/matching_sentence_transformer.py --config recipes/configs/matching_sentence_transformer.yaml \
        --objective softmax

    # DSSM (also recipes/matching_dssm.py, which runs this recipe with its defaults)
    python recipes/matching_sentence_transformer.py --config recipes/configs/matching_dssm.yaml --objective dssm

    plm-recipes predict matching --model outputs/matching_sentence_transformer \
        --labels data/matching/types_desc.txt --text "屏幕很清晰，追剧很爽"
    plm-recipes embed --model outputs/matching_sentence_transformer --input texts.txt --output embeddings.npy

Data: ``text_a<TAB>text_b<TAB>0/1`` lines, or csv/json with --text_a_column / --text_b_column / --label_column; or a
dataset (``--dataset_name``: a Hub id, a local dataset repository folder or a ``save_to_disk`` folder) whose columns
those flags name. The trainer reads the pairs as a dataset with the columns ``text_a``, ``text_b``, ``label``.

CoSENT (sentence-transformers' ``CoSENTLoss``) asks only that every matching pair of a batch score a higher
cosine than every non-matching one: it trains the ranking the model is used for. A ranking has no built-in
threshold, so unless --threshold is given the recipe picks the best-F1 cosine on the training pairs after
training and saves it (``matching_config.json``); the best checkpoint is chosen by ``best_f1`` on the
evaluation pairs, the F1 any threshold reaches there. DSSM (``--objective dssm``) instead regresses each pair's
cosine on its 0/1 label with mean squared error (``CosineSimilarityLoss``), so 0.5 is its threshold. The output
folder is a sentence-transformers model: ``SentenceTransformer(output_dir)``.
"""

from __future__ import annotations

import os

from datasets import Value
from sentence_transformers.sentence_transformer.losses import CoSENTLoss, CosineSimilarityLoss, SoftmaxLoss
from transformers import set_seed

from plm_recipes.args import TRAINING_DEFAULTS, ModelArguments
from plm_recipes.data import data_description
from plm_recipes.matching import PairDataArguments, SentenceTransformerMatchingConfig
from plm_recipes.matching.data import load_pair_splits
from plm_recipes.matching.usage import BI_ENCODER_USAGE
from plm_recipes.modelcard import ModelCardInfo
from plm_recipes.pairs.bi_encoder import (
    BiEncoderTrainer,
    PairMatchEvaluator,
    calibrate_threshold,
    load_sentence_transformer,
)
from plm_recipes.pairs.model_files import save_matching_config, write_pair_predictions
from plm_recipes.pairs.similarity import iter_pair_similarities
from plm_recipes.parsing import parse_args
from plm_recipes.run_config import RunConfig
from plm_recipes.utils import run_cli, setup_logging

RECIPE_DEFAULTS = {
    **TRAINING_DEFAULTS,
    "output_dir": "outputs/matching_sentence_transformer",
    "learning_rate": 3e-5,
    "metric_for_best_model": "best_f1",
}

# What each objective trains, as matching_config.json records it
OBJECTIVES = {"cosent": "cosent", "softmax": "softmax", "dssm": "cosine similarity, mean squared error"}


def training_loss(model, config: SentenceTransformerMatchingConfig):
    """The sentence-transformers loss of ``config.objective``."""
    if config.objective == "cosent":
        return CoSENTLoss(model, scale=config.cosent_scale)
    if config.objective == "dssm":
        return CosineSimilarityLoss(model)
    return SoftmaxLoss(model, embedding_dimension=model.get_sentence_embedding_dimension(), num_labels=2)


def main(args: list[str] | None = None, recipe: str = "matching_sentence_transformer",
         defaults: dict | None = None) -> dict[str, dict[str, float]]:
    """Run the recipe; returns the metrics of each stage (``train``, ``eval``); --do_predict writes scores.
    ``recipes/matching_dssm.py`` runs it with its own name and defaults."""
    # --- arguments -----------------------------------------------------------------------------------
    model_args, data_args, training_args = parse_args(
        (ModelArguments, PairDataArguments, SentenceTransformerMatchingConfig), args,
        defaults=defaults or RECIPE_DEFAULTS, description=__doc__.split("\n")[0],
    )
    run_config = RunConfig.from_arguments(recipe, model_args, data_args, training_args)
    setup_logging(training_args)
    set_seed(training_args.seed)

    # --- data: columns text_a, text_b, label, from the data files or --dataset_name ----------------------------
    pairs = load_pair_splits(data_args, training_args, seed=training_args.seed)
    train = pairs["train"].dataset if "train" in pairs else None
    if train is not None and training_args.objective != "softmax":  # a similarity target, not a class
        train = train.cast_column("label", Value("float32"))
    # a pair matches when its cosine is at least this: --threshold, 0.5 for DSSM, else calibrated after training
    threshold = data_args.threshold
    if threshold is None and training_args.objective == "dssm":
        threshold = 0.5

    # --- model, loss, evaluator ----------------------------------------------------------------------
    model = load_sentence_transformer(model_args, data_args.max_seq_length)
    loss = training_loss(model, training_args)
    evaluator = None
    if "validation" in pairs:
        dev = pairs["validation"].dataset
        evaluator = PairMatchEvaluator(
            dev["text_a"], dev["text_b"], dev["label"],
            threshold=0.5 if threshold is None else threshold,
            batch_size=training_args.per_device_eval_batch_size,
            primary_metric="best_f1" if threshold is None else "f1",
        )

    card = ModelCardInfo(
        recipe=recipe, pipeline_tag="sentence-similarity", library_name="sentence-transformers",
        base_model=model_args.model_name_or_path,
        **data_description(data_args, pairs), num_examples={split: len(ds.dataset) for split, ds in pairs.items()},
        usage=BI_ENCODER_USAGE,
    )
    trainer = BiEncoderTrainer(
        model=model,
        args=training_args,
        train_dataset=train,
        loss=loss,
        evaluator=evaluator,
        model_card=card,
        run_config=run_config,
        headline_metrics=("precision", "recall", "f1", "spearman", *(("best_f1",) if threshold is None else ())),
    )

    # --- train, set the threshold, evaluate --------------------------------------------------------------
    results: dict[str, dict[str, float]] = {}
    if training_args.do_train:
        results["train"] = trainer.train_and_report(len(train))
        if threshold is None:
            threshold = calibrate_threshold(model, train["text_a"], train["text_b"], train["label"],
                                            batch_size=training_args.per_device_eval_batch_size)
        if trainer.is_world_process_zero():
            save_matching_config(training_args.output_dir, kind="bi-encoder", threshold=threshold,
                                 objective=OBJECTIVES[training_args.objective])
    if training_args.do_eval:
        if threshold is not None:
            evaluator.threshold = threshold
        results["eval"] = trainer.evaluate_and_report(len(pairs["validation"].dataset))
    if training_args.do_predict and trainer.is_world_process_zero():  # streamed over the test pairs, chunk by chunk
        test = pairs["test"].dataset
        scores = iter_pair_similarities(model, test["text_a"], test["text_b"], training_args.per_device_eval_batch_size)
        write_pair_predictions(os.path.join(training_args.output_dir, "predict_results.tsv"), test["text_a"],
                               test["text_b"], scores, threshold if threshold is not None else 0.5)

    # --- model card / hub ----------------------------------------------------------------------------
    if training_args.do_train:
        trainer.finish(tags=["text-matching", "sentence-transformers", training_args.objective])
    return results


if __name__ == "__main__":
    run_cli(main)
