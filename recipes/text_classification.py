#!/usr/bin/env python
"""Text classification: fine-tune a pretrained encoder to put each text in one of N classes.

Usage:

    # fine-tune a pretrained model (a local folder or a hub id) on label<TAB>text files
    python recipes/text_classification.py \
        --model_name_or_path bert-base-chinese \
        --train_file data/classification/train.txt --validation_file data/classification/dev.txt \
        --label_mapping_file data/classification/label_mapping.txt \
        --do_train --do_eval --output_dir outputs/text_classification

    # the same settings from a file; flags on the command line override it
    accelerate launch recipes/text_classification.py --config recipes/configs/text_classification.yaml

    # quick start with no pretrained model: a tiny BERT from scratch, tokenizer trained on the data
    python recipes/text_classification.py --config recipes/configs/text_classification_quickstart.yaml

    # two CPU processes (gloo); on GPUs use accelerate launch --config_file accelerate_configs/multi_gpu.yaml
    torchrun --nproc_per_node 2 recipes/text_classification.py --config recipes/configs/text_classification.yaml

Data: ``label<TAB>text`` lines (.txt/.tsv), with the label as a name or as an id of --label_mapping_file
(``id,name`` lines); or .csv / .json / .jsonl with the columns --text_column and --label_column.

The saved model is a plain ``AutoModelForSequenceClassification`` with the label names in its config:
``transformers.pipeline("text-classification", model=output_dir)`` uses it with no project code, and so does
``plm-recipes predict text-classification --model output_dir --text "..."``.
"""

from __future__ import annotations

import logging
import os

import numpy as np
from transformers import (
    AutoModelForSequenceClassification,
    DataCollatorWithPadding,
    EvalPrediction,
    default_data_collator,
    set_seed,
)

from plm_recipes.args import TRAINING_DEFAULTS, ModelArguments
from plm_recipes.classification import ClassificationDataArguments, TextClassificationConfig
from plm_recipes.data import (
    LENGTH_COLUMN,
    LINE_COLUMN,
    DataSplit,
    LabelMap,
    collator_rebuilds,
    data_description,
    distinct_values,
    encode_labels,
    has_values,
    label_names,
    load_splits,
    map_split,
)
from plm_recipes.loading import capped_max_seq_length, load_config, load_model, load_tokenizer
from plm_recipes.metrics import ClassificationReport
from plm_recipes.modelcard import ModelCardInfo
from plm_recipes.parsing import parse_args
from plm_recipes.run_config import RunConfig
from plm_recipes.sanity import require_distinct
from plm_recipes.trainer import RecipeTrainer
from plm_recipes.utils import run_cli, setup_logging, write_label_predictions

logger = logging.getLogger("plm_recipes.text_classification")

RECIPE_DEFAULTS = {
    **TRAINING_DEFAULTS,
    "output_dir": "outputs/text_classification",
    "learning_rate": 5e-5,
    "metric_for_best_model": "f1",
}

USAGE = """\
```python
from transformers import pipeline

classifier = pipeline("text-classification", model="{model}")
classifier("这个笔记本电脑运行很快", top_k=3)
```

or from the command line: `plm-recipes predict text-classification --model {model} --text "这个笔记本电脑运行很快"`
"""


def main(args: list[str] | None = None) -> dict[str, dict[str, float]]:
    """Run the recipe; returns the metrics of each stage (``train``, ``eval``, ``test``)."""
    # --- arguments -----------------------------------------------------------------------------------
    model_args, data_args, training_args = parse_args(
        (ModelArguments, ClassificationDataArguments, TextClassificationConfig), args,
        defaults=RECIPE_DEFAULTS, description=__doc__.split("\n")[0],
    )
    run_config = RunConfig.from_arguments("text_classification", model_args, data_args, training_args)
    setup_logging(training_args)
    set_seed(training_args.seed)

    # --- data: each split as a dataset (local files validated line by line, or --dataset_name) -----------
    splits = load_splits(
        data_args, training_args, ("label", "text"),
        columns={"text": data_args.text_column, "label": data_args.label_column},
        optional={"test": ("label",)}, text_fields=("text",),
    )
    config = None
    if data_args.label_mapping_file:
        label_map = LabelMap.from_file(data_args.label_mapping_file)
    elif "train" in splits:
        label_map = label_names(splits["train"])  # a dataset's ClassLabel names, else the labels the data has
    else:  # evaluating or predicting with a fine-tuned model: its config has the labels
        config = load_config(model_args)
        label_map = LabelMap.from_config(config)
    if "train" in splits:
        require_distinct(distinct_values(splits["train"], "label"), splits["train"].origin, "label",
                         "a classifier learns to tell classes apart")
    logger.info("%d labels: %s", len(label_map), ", ".join(label_map))

    # --- model ---------------------------------------------------------------------------------------
    if config is None:
        config = load_config(model_args, **label_map.to_config_kwargs())
    config.problem_type = "single_label_classification"
    train_texts = iter(splits["train"].dataset["text"]) if "train" in splits else None
    tokenizer = load_tokenizer(model_args, train_texts=train_texts)
    model, new_parameters = load_model(AutoModelForSequenceClassification, model_args, config, tokenizer)

    # --- preprocessing: labels to ids and tokenization in Dataset.map (cached, --preprocessing_num_workers) --
    padding = "max_length" if data_args.pad_to_max_length else False
    max_seq_length = capped_max_seq_length(data_args.max_seq_length, tokenizer, model.config)
    add_length = training_args.train_sampling_strategy == "group_by_length"
    leave_out = {} if padding else collator_rebuilds(tokenizer)  # the attention mask, BERT's all-0 token types

    def tokenize(batch):
        encoded = tokenizer(batch["text"], truncation=True, max_length=max_seq_length, padding=padding, **leave_out)
        if add_length:  # the length-grouped sampler reads this column instead of every row
            encoded[LENGTH_COLUMN] = [len(ids) for ids in encoded["input_ids"]]
        return encoded

    datasets = {}
    for split, data in splits.items():
        if has_values(data, "label"):
            data = encode_labels(data, label_map, data_args=data_args, training_args=training_args)
        else:  # a test file without labels: predict only
            data = DataSplit(data.dataset.remove_columns("label"), data.origin, data.path)
        tokenized = map_split(data, tokenize, data_args=data_args, training_args=training_args,
                              remove_columns=["text", LINE_COLUMN], desc=f"Tokenizing {split}")
        datasets[split] = tokenized.dataset

    # --- trainer -------------------------------------------------------------------------------------
    def compute_metrics(p: EvalPrediction) -> dict[str, float]:
        logits = p.predictions[0] if isinstance(p.predictions, tuple) else p.predictions
        return ClassificationReport(keep_in_memory=True).compute(
            predictions=np.argmax(logits, axis=-1), references=p.label_ids, label_names=label_map.names
        )

    card = ModelCardInfo(
        recipe="text_classification",
        pipeline_tag="text-classification",
        base_model=model_args.model_name_or_path,
        config_name=model_args.config_name,
        **data_description(data_args, splits),
        num_examples={split: len(ds) for split, ds in datasets.items()},
        labels=label_map.names,
        usage=USAGE,
    )
    trainer = RecipeTrainer(
        model=model,
        args=training_args,
        train_dataset=datasets.get("train"),
        eval_dataset=datasets.get("validation"),
        processing_class=tokenizer,
        data_collator=default_data_collator if padding else DataCollatorWithPadding(tokenizer),
        compute_metrics=compute_metrics,
        model_card=card,
        run_config=run_config,
        new_parameters=new_parameters,
        row_mean_loss=True,  # the model's cross-entropy: a mean over the batch's texts
    )

    # --- train / evaluate / predict ------------------------------------------------------------------
    results: dict[str, dict[str, float]] = {}
    if training_args.do_train:
        results["train"] = trainer.train_and_report(len(datasets["train"]))
    if training_args.do_eval:
        results["eval"] = trainer.evaluate_and_report(len(datasets["validation"]))

    if training_args.do_predict:
        test = datasets["test"]
        output = trainer.predict(test, metric_key_prefix="test")
        if "label" in test.column_names:
            results["test"] = output.metrics
            trainer.report("test", results["test"])
        if trainer.is_world_process_zero():
            path = os.path.join(training_args.output_dir, "predict_results.tsv")
            write_label_predictions(path, splits["test"].dataset["text"], output.predictions, label_map.names)
            logger.info("Predictions written to %s", path)

    # --- model card / hub ----------------------------------------------------------------------------
    if training_args.do_train:
        trainer.finish(tags=["text-classification"])
    return results


if __name__ == "__main__":
    run_cli(main)
