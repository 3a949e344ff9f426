#!/usr/bin/env python
"""UIE: train a span-pointer model to extract entities and relations by prompt (universal information extraction).

Usage:

    # fine-tune an encoder (ERNIE 3.0, BERT, multilingual-e5, ... a folder or a hub id) on UIE prompt-format data
    python recipes/uie.py \
        --model_name_or_path nghuyong/ernie-3.0-base-zh \
        --train_file data/extraction/train.txt --validation_file data/extraction/dev.txt \
        --do_train --do_eval --output_dir outputs/uie

    # the same settings from a file; flags on the command line override it
    accelerate launch recipes/uie.py --config recipes/configs/uie.yaml

    # your own annotations: a doccano relation export -> train/dev/test in the prompt format, then train
    plm-recipes uie convert --doccano_file doccano_ext.jsonl --output_dir data/my_uie
    python recipes/uie.py --config recipes/configs/uie.yaml --train_file data/my_uie/train.txt \
        --validation_file data/my_uie/dev.txt --test_file data/my_uie/test.txt

    # a dataset in the prompt format: a Hub id, or a local folder laid out as a dataset repository
    python recipes/uie.py --model_name_or_path nghuyong/ernie-3.0-base-zh --dataset_name my-org/my-uie-data \
        --validation_split dev --do_train --do_eval --output_dir outputs/uie

    # continue from a PaddleNLP UIE checkpoint (uie-base, ...), converted first
    plm-recipes uie convert-paddle --paddle_dir uie-base --output_dir uie-base-torch
    python recipes/uie.py --config recipes/configs/uie.yaml --model_name_or_path uie-base-torch

Data: JSON lines (one example per line, any file extension) ``{"content", "result_list": [{"text", "start", "end"}],
"prompt"}`` (character offsets, end exclusive; an empty ``result_list`` is a negative example), or --dataset_name (a
Hub dataset or a local dataset folder) with those columns (--content_column, --prompt_column, --result_list_column).
Texts longer than ``--max_seq_length`` are read in windows that overlap by ``--doc_stride`` tokens; nothing is cut off.

Evaluation is span-level: a predicted span counts when its start and end are both exact; precision, recall and F1
overall and per prompt (relation prompts grouped by relation: ``*的父亲``); the best checkpoint by F1.

The saved model is a ``UIEModel`` (``AutoModel.from_pretrained(output_dir)`` once ``plm_recipes.extraction`` is
imported): ``plm-recipes predict uie --model output_dir --schema '{"人物": ["父亲"]}' --text "..."``.
"""

from __future__ import annotations

import json
import logging
import os

import numpy as np
from transformers import EvalPrediction, set_seed

from plm_recipes.args import TRAINING_DEFAULTS, ModelArguments
from plm_recipes.data import data_description
from plm_recipes.extraction import (
    SpanCollator,
    UIEConfig,
    UIEDataArguments,
    UIEModel,
    UIETrainingConfig,
    decode_examples,
    prompt_group,
    span_f1,
)
from plm_recipes.extraction.dataset import (
    encode_split,
    gold_spans,
    has_spans,
    iter_examples,
    load_uie_splits,
    log_windows,
    model_inputs,
    require_spans,
    window_offsets,
)
from plm_recipes.files import atomic_write
from plm_recipes.loading import capped_max_seq_length, from_pretrained, load_config, load_or_explain, load_tokenizer
from plm_recipes.modelcard import ModelCardInfo
from plm_recipes.parsing import parse_args
from plm_recipes.run_config import RunConfig
from plm_recipes.trainer import RecipeTrainer
from plm_recipes.utils import run_cli, setup_logging

logger = logging.getLogger("plm_recipes.uie")

RECIPE_DEFAULTS = {
    **TRAINING_DEFAULTS,
    "output_dir": "outputs/uie",
    "learning_rate": 5e-5,
    "metric_for_best_model": "f1",
}

USAGE = """\
```python
from plm_recipes.extraction import UIEPredictor

uie = UIEPredictor("{model}", schema={"人物": ["父亲"]})
uie("谭孝曾是谭元寿的长子，也是谭派第六代传人")
```

or from the command line: `plm-recipes predict uie --model {model} --schema '{"人物": ["父亲"]}' --text "..."`

Without plm-recipes, transformers runs the model code saved in the folder (`modeling.py`, `losses.py`: read them
first, as for any model with custom code); this finds the spans `UIEPredictor.extract` finds for one prompt and a
text that fits in `max_seq_length` tokens (`UIEPredictor` also reads longer texts in windows and walks a schema):

```python
import torch
from transformers import AutoModel, AutoTokenizer

# trust_remote_code runs the modeling.py saved in this folder: read it first. With plm-recipes installed,
# importing the package registers UIE and this flag is not needed. (The tokenizer reads the same config.)
tokenizer = AutoTokenizer.from_pretrained("{model}", trust_remote_code=True)
model = AutoModel.from_pretrained("{model}", trust_remote_code=True).eval()


def extract(prompt, text, threshold=model.config.threshold):
    # (start, end, probability) of each span of `text` that answers `prompt`; end is exclusive
    inputs = tokenizer(prompt, text, truncation="only_second", max_length=model.config.max_seq_length,
                       return_offsets_mapping=True, return_tensors="pt")
    offsets, in_text = inputs.pop("offset_mapping")[0].tolist(), [s == 1 for s in inputs.sequence_ids(0)]
    with torch.no_grad():
        out = model(**inputs)
    starts, ends = out.start_logits[0].sigmoid().tolist(), out.end_logits[0].sigmoid().tolist()
    spans, start = [], None
    for i, inside in enumerate(in_text):  # an end closes the nearest open start before it
        start = i if inside and starts[i] > threshold else start
        if inside and ends[i] > threshold and start is not None:
            spans.append((offsets[start][0], offsets[i][1], round(starts[start] * ends[i], 6)))
            start = None
    return spans


extract("人物", "谭孝曾是谭元寿的长子，也是谭派第六代传人")
```
"""


def main(args: list[str] | None = None) -> dict[str, dict[str, float]]:
    """Run the recipe; returns the metrics of each stage (``train``, ``eval``, ``test``)."""
    # --- arguments -----------------------------------------------------------------------------------
    model_args, data_args, training_args = parse_args(
        (ModelArguments, UIEDataArguments, UIETrainingConfig), args,
        defaults=RECIPE_DEFAULTS, description=__doc__.split("\n")[0],
    )
    run_config = RunConfig.from_arguments("uie", model_args, data_args, training_args)
    setup_logging(training_args)
    set_seed(training_args.seed)

    # --- data: one example per row (local files checked line by line into the cache, or --dataset_name) ---
    examples = load_uie_splits(data_args, training_args)
    if training_args.do_train and "train" in examples:
        require_spans(examples["train"])

    # --- model: a UIE model to continue, or a new one over an encoder (or from scratch) ----------------
    train_texts = (text for pair in iter_examples(examples["train"]) for text in pair) if "train" in examples else None
    tokenizer = load_tokenizer(model_args, train_texts=train_texts)
    config = load_config(model_args)
    hub = model_args.hub_kwargs()
    if config.model_type == UIEConfig.model_type:
        model = from_pretrained(UIEModel, model_args.model_name_or_path, "model", **hub)
        new_parameters = []
    elif model_args.from_scratch:
        config.vocab_size = len(tokenizer)
        config.pad_token_id = tokenizer.pad_token_id
        model = UIEModel(UIEConfig(encoder=config))
        new_parameters = [name for name, _ in model.named_parameters()]
    else:
        path = model_args.model_name_or_path
        model, new_parameters = load_or_explain(lambda: UIEModel.from_encoder(path, **hub), path)
    max_seq_length = capped_max_seq_length(data_args.max_seq_length, tokenizer, model.config.encoder)
    doc_stride = data_args.doc_stride
    if max_seq_length < data_args.max_seq_length and doc_stride >= max_seq_length // 2:
        doc_stride = max_seq_length // 4
        logger.warning("--doc_stride %d is too long for the model's windows of %d tokens; using %d.",
                       data_args.doc_stride, max_seq_length, doc_stride)
    model.config.update({"relation_template": training_args.relation_template, "threshold": training_args.threshold,
                         "max_seq_length": max_seq_length, "doc_stride": doc_stride})

    # --- preprocessing: prompt + text pairs, long texts in overlapping windows (one row in, one row per window
    # out, in a cached Dataset.map) --------------------------------------------------------------------
    windows, datasets = {}, {}
    for split, data in examples.items():
        with_labels = split != "test" or has_spans(data)
        windows[split] = encode_split(data, tokenizer, max_seq_length, doc_stride, with_labels=with_labels,
                                      data_args=data_args, training_args=training_args, desc=f"Encoding {split}")
        log_windows(split, data, windows[split], doc_stride)
        datasets[split] = model_inputs(windows[split])

    def evaluate_spans(split: str, start_logits: np.ndarray, end_logits: np.ndarray):
        """The spans predicted for each example of ``split`` and, when it has gold spans, the metrics."""
        data, split_windows = examples[split], windows[split]
        example_index = np.asarray(split_windows.dataset.with_format("numpy")["example_index"])
        predicted = decode_examples(start_logits, end_logits, example_index, window_offsets(split_windows),
                                    len(data.dataset), training_args.threshold)
        metrics = span_f1(
            [{(s.start, s.end) for s in spans} for spans in predicted], list(gold_spans(data)),
            groups=[prompt_group(prompt, training_args.relation_template)
                    for prompt, in iter_examples(data, ("prompt",))],
        )
        return predicted, metrics

    def compute_metrics(p: EvalPrediction) -> dict[str, float]:
        start_logits, end_logits = p.predictions[:2]
        return evaluate_spans("validation", start_logits, end_logits)[1]

    # --- trainer -------------------------------------------------------------------------------------
    card = ModelCardInfo(
        recipe="uie", pipeline_tag=None, task_type="token-classification", base_model=model_args.model_name_or_path,
        config_name=model_args.config_name, **data_description(data_args, examples),
        num_examples={split: len(e.dataset) for split, e in examples.items()}, usage=USAGE,
    )
    trainer = RecipeTrainer(
        model=model,
        args=training_args,
        train_dataset=datasets.get("train"),
        eval_dataset=datasets.get("validation"),
        processing_class=tokenizer,
        data_collator=SpanCollator(tokenizer),
        compute_metrics=compute_metrics,
        model_card=card,
        run_config=run_config,
        new_parameters=new_parameters,
    )

    # --- train / evaluate / predict ------------------------------------------------------------------
    results: dict[str, dict[str, float]] = {}
    if training_args.do_train:
        results["train"] = trainer.train_and_report(len(examples["train"].dataset))
    if training_args.do_eval:
        results["eval"] = trainer.evaluate_and_report(len(examples["validation"].dataset))

    if training_args.do_predict:
        trainer.compute_metrics = None  # compute_metrics decodes the validation windows; the test's are decoded here
        output = trainer.predict(datasets["test"], metric_key_prefix="test")
        predicted, metrics = evaluate_spans("test", *output.predictions[:2])
        if has_spans(examples["test"]):
            results["test"] = {f"test_{k}": v for k, v in metrics.items()}
            trainer.report("test", results["test"])
        if trainer.is_world_process_zero():
            path = os.path.join(training_args.output_dir, "predictions.jsonl")
            os.makedirs(training_args.output_dir, exist_ok=True)
            with atomic_write(path) as f:  # whole or not at all; the texts streamed from the dataset
                for (prompt, content), spans in zip(iter_examples(examples["test"]), predicted):
                    result_list = [{"text": content[s.start:s.end], "start": s.start, "end": s.end,
                                    "probability": s.probability} for s in spans]
                    f.write(json.dumps({"content": content, "prompt": prompt, "result_list": result_list},
                                       ensure_ascii=False) + "\n")
            logger.info("Predictions written to %s", path)

    # --- model card / hub ----------------------------------------------------------------------------
    if training_args.do_train:
        trainer.finish(tags=["information-extraction", "uie"])
    return results


if __name__ == "__main__":
    run_cli(main)
