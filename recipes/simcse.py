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
skipped and counted. ``--validation_file`` / ``--test_file`` are labelled pairs, ``text_a<TAB>text_b<TAB>0/1``.

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

import os

from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
from transformers import EarlyStoppingCallback, set_seed

from plm_recipes.args import TRAINING_DEFAULTS, ModelArguments, data_files
from plm_recipes.modelcard import ModelCardInfo
from plm_recipes.pairs import read_pairs
from plm_recipes.pairs.bi_encoder import BiEncoderTrainer, PairMatchEvaluator, calibrate_threshold
from plm_recipes.pairs.model_files import save_matching_config, write_pair_predictions
from plm_recipes.pairs.similarity import pair_similarities
from plm_recipes.parsing import parse_args
from plm_recipes.run_config import RunConfig
from plm_recipes.sentence_embedding import SentenceDataArguments, SimCSEConfig
from plm_recipes.sentence_embedding.data import read_sentences
from plm_recipes.sentence_embedding.losses import ESimCSELoss, ProjectedMultipleNegativesRankingLoss, TrainingHead
from plm_recipes.sentence_embedding.model import load_sentence_encoder, pooling_mode
from plm_recipes.utils import run_cli, setup_logging

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
    run_config = RunConfig.from_arguments("simcse", model_args, data_args, training_args)
    setup_logging(training_args)
    set_seed(training_args.seed)
    files = data_files(data_args, training_args)

    # --- data: (sentence, sentence) rows to train on, labelled pairs to evaluate on ------------------
    train = None
    if "train" in files:
        sentences = read_sentences(files["train"], data_args.text_columns, data_args.max_train_samples)
        train = sentences.as_pairs()
    limits = {"validation": data_args.max_eval_samples, "test": data_args.max_predict_samples}
    pairs = {split: read_pairs(files[split], data_args.pair_columns(), limits[split])
             for split in ("validation", "test") if split in files}

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
        base_model=model_args.model_name_or_path, data_files=files,
        num_examples={**({"train": len(train)} if train is not None else {}),
                      **{split: len(ds) for split, ds in pairs.items()}},
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
        results["train"] = trainer.train_and_report(len(train))
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
        if trainer.is_world_process_zero():
            scores = pair_similarities(model, test["text_a"], test["text_b"], training_args.per_device_eval_batch_size)
            write_pair_predictions(os.path.join(training_args.output_dir, "predict_results.tsv"),
                                   test["text_a"], test["text_b"], scores, threshold if threshold is not None else 0.5)

    # --- model card / hub ----------------------------------------------------------------------------
    if training_args.do_train:
        trainer.finish(tags=["sentence-embeddings", "sentence-transformers", training_args.method])
    return results


if __name__ == "__main__":
    run_cli(main)
