#!/usr/bin/env python
"""Reward model: train a one-output scorer from human rankings (rank lists, best first) and chosen/rejected pairs.

Usage:

    # an encoder (BERT, multilingual-e5, ...) on rank lists, evaluated on held-out lists
    python recipes/reward_model.py \
        --model_name_or_path intfloat/multilingual-e5-small \
        --train_file data/rlhf/ranklist_train.tsv --validation_file data/rlhf/ranklist_dev.tsv \
        --do_train --do_eval --output_dir outputs/reward_model

    # one file, a tenth of its distinct TEXTS held out for evaluation (not a tenth of its lines)
    python recipes/reward_model.py --model_name_or_path intfloat/multilingual-e5-small \
        --train_file ranklist.tsv --validation_split_texts 0.1 --do_train --output_dir outputs/reward_model

    # a causal LM as the backbone: the reward model PPO needs on the policy's own tokens
    python recipes/reward_model.py --config recipes/configs/reward_model.yaml \
        --model_name_or_path google/gemma-3-270m --output_dir outputs/reward_model_gemma

Data: ``.txt``/``.tsv`` rank lists (tab-separated texts, best first, any number >= 2 a line), or JSON lines of rank
lists ``{"ranking": [best, ..., worst]}`` (what ``plm-recipes label reward --mode rank`` writes) and pairs
``{"chosen" (or "selected"), "rejected", "prompt" (optional, used with --with_prompt)}``.

A rank list of K texts gives its K(K-1)/2 ordered pairs; each costs -log sigmoid(r_better - r_worse) (the pairwise
rank loss of InstructGPT's reward model), written here as ``PairwiseRankLoss`` on top of ``Trainer`` rather than
TRL's ``RewardTrainer``: the K texts of a list are encoded once for all its pairs, texts over --max_seq_length are
truncated instead of dropped, and no ``eos_token`` string is appended (BERT tokenizers have none).

Evaluation: pairwise accuracy (the fraction of pairs scored in the right order) and mean margin; the best checkpoint
by accuracy. The saved model is a plain ``AutoModelForSequenceClassification`` with one output:
``plm-recipes predict reward --model output_dir --text ...`` prints a score per text.
"""

from __future__ import annotations

import logging

from transformers import AutoModelForSequenceClassification, set_seed

from plm_recipes.args import TRAINING_DEFAULTS, ModelArguments, requested_splits
from plm_recipes.data import data_description, load_splits
from plm_recipes.errors import ArgumentError
from plm_recipes.loading import capped_max_seq_length, load_config, load_model, load_tokenizer
from plm_recipes.modelcard import ModelCardInfo
from plm_recipes.parsing import parse_args
from plm_recipes.rlhf import (
    RankListCollator,
    RewardDataArguments,
    RewardModelConfig,
    RewardModelTrainer,
)
from plm_recipes.rlhf.preference import (
    COLUMNS,
    count_pairs_of,
    rank_list_dataset,
    rank_list_rows,
    split_by_text_dataset,
    tokenize_rank_lists,
)
from plm_recipes.run_config import RunConfig
from plm_recipes.utils import run_cli, setup_logging

logger = logging.getLogger("plm_recipes.reward_model")

RECIPE_DEFAULTS = {
    **TRAINING_DEFAULTS,
    "output_dir": "outputs/reward_model",
    "learning_rate": 2e-5,
    "per_device_train_batch_size": 8,  # rank lists: 8 lists of 4 are 32 texts and 48 pairs a step
    "per_device_eval_batch_size": 32,
    "metric_for_best_model": "accuracy",
    "remove_unused_columns": False,  # the lists' columns are the collator's, not the model's arguments
    "train_sampling_strategy": "random",  # group_by_length measures a row's length; a row here is a list of texts
}

USAGE = """\
```python
from plm_recipes.rlhf import RewardScorer

score = RewardScorer("{model}")
score(["这部电影很好看", "质量太差了"])  # one score per text: higher is better
```

or from the command line: `plm-recipes predict reward --model {model} --text "这部电影很好看" --text "质量太差了"`
"""


def main(args: list[str] | None = None) -> dict[str, dict[str, float]]:
    """Run the recipe; returns the metrics of each stage (``train``, ``eval``)."""
    # --- arguments -----------------------------------------------------------------------------------
    model_args, data_args, training_args = parse_args(
        (ModelArguments, RewardDataArguments, RewardModelConfig), args,
        defaults=RECIPE_DEFAULTS, description=__doc__.split("\n")[0],
    )
    run_config = RunConfig.from_arguments("reward_model", model_args, data_args, training_args)
    setup_logging(training_args)
    set_seed(training_args.seed)
    held_out = data_args.validation_split_texts is not None  # the validation lists are cut out of the training data
    if held_out and not (training_args.do_train and (data_args.train_file or data_args.dataset_name)):
        raise ArgumentError("--validation_split_texts holds out part of --train_file: it needs --do_train and "
                            "--train_file (or --dataset_name)")
    wanted = ["train"] if held_out else [s for s in requested_splits(training_args) if s in ("train", "validation")]

    # --- data: rank lists as datasets (a local file read line by line, or --dataset_name's rows) -----------
    def read_file(path):
        return rank_list_dataset(path, with_prompt=data_args.with_prompt)

    splits = load_splits(data_args, training_args, COLUMNS, splits=wanted, read_file=read_file,
                         optional={split: COLUMNS for split in wanted})
    if data_args.dataset_name:
        splits = {split: rank_list_rows(data, with_prompt=data_args.with_prompt, data_args=data_args,
                                        training_args=training_args) for split, data in splits.items()}
    if held_out:
        splits["train"], splits["validation"] = split_by_text_dataset(
            splits["train"], data_args.validation_split_texts, training_args.seed, data_args=data_args,
            training_args=training_args)
    for split, data in splits.items():
        if len(data.dataset) == 0:
            raise ArgumentError(f"no {split} rank list of 2 or more texts is left (--validation_split_texts "
                                f"{data_args.validation_split_texts}); hold out a larger fraction")
        texts, pairs = count_pairs_of(data)
        logger.info("%s: %d rank lists, %d texts, %d ordered pairs", split, len(data.dataset), texts, pairs)

    # --- model: a one-output sequence classifier over any backbone (encoder or causal LM) --------------
    train_texts = (t for texts in splits["train"].dataset["texts"] for t in texts) if "train" in splits else None
    tokenizer = load_tokenizer(model_args, train_texts=train_texts)
    if tokenizer.pad_token is None:  # causal LMs without one: the score is read at the last non-pad token
        tokenizer.pad_token = tokenizer.eos_token
    config = load_config(model_args, num_labels=1)
    config.problem_type = "regression"
    model, new_parameters = load_model(AutoModelForSequenceClassification, model_args, config, tokenizer)
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    max_seq_length = capped_max_seq_length(data_args.max_seq_length, tokenizer, model.config)

    datasets = {split: tokenize_rank_lists(data, tokenizer, max_seq_length, data_args=data_args,
                                           training_args=training_args).dataset for split, data in splits.items()}

    # --- trainer -------------------------------------------------------------------------------------
    described = data_description(data_args, splits)
    if held_out and described["data_files"]:
        described["data_files"]["validation"] = f"{described['data_files']['train']} (held-out texts)"
    card = ModelCardInfo(
        recipe="reward_model", pipeline_tag="text-classification", base_model=model_args.model_name_or_path,
        config_name=model_args.config_name, **described,
        num_examples={split: len(ds) for split, ds in datasets.items()}, usage=USAGE,
    )
    trainer = RewardModelTrainer(
        model=model,
        args=training_args,
        train_dataset=datasets.get("train"),
        eval_dataset=datasets.get("validation"),
        processing_class=tokenizer,
        data_collator=RankListCollator(tokenizer),
        model_card=card,
        run_config=run_config,
        new_parameters=new_parameters,
    )

    # --- train / evaluate ----------------------------------------------------------------------------
    results: dict[str, dict[str, float]] = {}
    if training_args.do_train:
        results["train"] = trainer.train_and_report(len(datasets["train"]))
    if training_args.do_eval or (training_args.do_train and "validation" in datasets):
        results["eval"] = trainer.evaluate_and_report(len(datasets["validation"]))

    # --- model card / hub ----------------------------------------------------------------------------
    if training_args.do_train:
        trainer.finish(tags=["reward-model", "rlhf"])
    return results


if __name__ == "__main__":
    run_cli(main)
