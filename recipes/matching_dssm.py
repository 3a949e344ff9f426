#!/usr/bin/env python
"""DSSM text matching: two towers sharing one encoder, mean-pooled embeddings, cosine similarity.

Usage:

    python recipes/matching_dssm.py \
        --model_name_or_path bert-base-chinese \
        --train_file data/matching/train.txt --validation_file data/matching/dev.txt \
        --do_train --do_eval --output_dir outputs/matching_dssm

    accelerate launch recipes/matching_dssm.py --config recipes/configs/matching_dssm.yaml

    plm-recipes predict matching --model outputs/matching_dssm --labels data/matching/types_desc.txt \
        --text "屏幕很清晰，追剧很爽"

Data: ``text_a<TAB>text_b<TAB>0/1`` lines, or csv/json with --text_a_column / --text_b_column / --label_column.

Each text is embedded on its own (mean pooling over the encoder's tokens) and a pair scores the cosine of its two
embeddings; training pulls the cosine of a matching pair towards 1 and of a non-matching one towards 0 (mean
squared error, sentence-transformers' ``CosineSimilarityLoss``), so 0.5 is the natural match threshold. Because the
towers are independent, a category's embedding is computed once and reused for every query: ranking N categories
costs one encoder pass per query instead of N. The output folder is a sentence-transformers model:
``SentenceTransformer(output_dir)``.
"""

from __future__ import annotations

import os

from sentence_transformers.sentence_transformer.losses import CosineSimilarityLoss
from transformers import set_seed

from plm_recipes.args import TRAINING_DEFAULTS, ModelArguments, data_files
from plm_recipes.matching import PairDataArguments
from plm_recipes.matching.data import load_pair_splits
from plm_recipes.matching.usage import BI_ENCODER_USAGE
from plm_recipes.modelcard import ModelCardInfo
from plm_recipes.pairs.bi_encoder import (
    BiEncoderConfig,
    BiEncoderTrainer,
    PairMatchEvaluator,
    load_sentence_transformer,
)
from plm_recipes.pairs.model_files import save_matching_config, write_pair_predictions
from plm_recipes.pairs.similarity import pair_similarities
from plm_recipes.parsing import parse_args
from plm_recipes.run_config import RunConfig
from plm_recipes.utils import run_cli, setup_logging

RECIPE_DEFAULTS = {
    **TRAINING_DEFAULTS,
    "output_dir": "outputs/matching_dssm",
    "learning_rate": 3e-5,
    "metric_for_best_model": "f1",
}


def main(args: list[str] | None = None) -> dict[str, dict[str, float]]:
    """Run the recipe; returns the metrics of each stage (``train``, ``eval``); --do_predict writes scores."""
    # --- arguments -----------------------------------------------------------------------------------
    model_args, data_args, training_args = parse_args(
        (ModelArguments, PairDataArguments, BiEncoderConfig), args,
        defaults=RECIPE_DEFAULTS, description=__doc__.split("\n")[0],
    )
    run_config = RunConfig.from_arguments("matching_dssm", model_args, data_args, training_args)
    setup_logging(training_args)
    set_seed(training_args.seed)
    files = data_files(data_args, training_args)
    threshold = 0.5 if data_args.threshold is None else data_args.threshold

    # --- data: columns text_a, text_b, label (a float similarity target) ----------------------------------
    pairs = load_pair_splits(data_args, files, seed=training_args.seed)
    train = pairs["train"].cast_column("label", _float_feature()) if "train" in pairs else None

    # --- model, loss, evaluator ----------------------------------------------------------------------
    model = load_sentence_transformer(model_args, data_args.max_seq_length)
    evaluator = None
    if "validation" in pairs:
        dev = pairs["validation"]
        evaluator = PairMatchEvaluator(dev["text_a"], dev["text_b"], dev["label"], threshold=threshold,
                                       batch_size=training_args.per_device_eval_batch_size)

    card = ModelCardInfo(
        recipe="matching_dssm", pipeline_tag="sentence-similarity", library_name="sentence-transformers",
        base_model=model_args.model_name_or_path,
        data_files=files, num_examples={split: len(ds) for split, ds in pairs.items()}, usage=BI_ENCODER_USAGE,
    )
    trainer = BiEncoderTrainer(
        model=model,
        args=training_args,
        train_dataset=train,
        loss=CosineSimilarityLoss(model),
        evaluator=evaluator,
        model_card=card,
        run_config=run_config,
        headline_metrics=("precision", "recall", "f1", "spearman"),
    )

    # --- train / evaluate ----------------------------------------------------------------------------
    results: dict[str, dict[str, float]] = {}
    if training_args.do_train:
        results["train"] = trainer.train_and_report(len(train))
        if trainer.is_world_process_zero():
            save_matching_config(training_args.output_dir, kind="bi-encoder", threshold=threshold,
                                 objective="cosine similarity, mean squared error")
    if training_args.do_eval:
        results["eval"] = trainer.evaluate_and_report(len(pairs["validation"]))
    if training_args.do_predict and trainer.is_world_process_zero():
        test = pairs["test"]
        scores = pair_similarities(model, test["text_a"], test["text_b"], training_args.per_device_eval_batch_size)
        write_pair_predictions(os.path.join(training_args.output_dir, "predict_results.tsv"),
                               test["text_a"], test["text_b"], scores, threshold)

    # --- model card / hub ----------------------------------------------------------------------------
    if training_args.do_train:
        trainer.finish(tags=["text-matching", "sentence-transformers", "dssm"])
    return results


def _float_feature():
    from datasets import Value

    return Value("float32")


if __name__ == "__main__":
    run_cli(main)
