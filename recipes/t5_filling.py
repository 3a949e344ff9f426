#!/usr/bin/env python
"""Mask filling with a seq2seq model (T5, mT5), trained on plain text, for data augmentation.

Usage:

    python recipes/t5_filling.py \
        --model_name_or_path uer/t5-base-chinese-cluecorpussmall \
        --train_file data/seq2seq/corpus.txt --validation_file data/seq2seq/corpus.txt \
        --do_train --do_eval --output_dir outputs/t5_filling

    accelerate launch recipes/t5_filling.py --config recipes/configs/t5_filling.yaml

    plm-recipes predict fill --model outputs/t5_filling --text "这家餐厅的[MASK]很好，下次还来。" --n 3
    plm-recipes augment fill --model outputs/t5_filling --input texts.txt --output augmented.txt --n 4

Data: plain text, ``.txt`` one text per line, or csv/json with --text_column (``../shared/data/corpus/*.jsonl``).
Texts are split into lines and cut into pieces of at most --max_text_length characters.

Training pairs are made from the text as T5 was pretrained (span corruption): about --noise_density of each
text's characters, in spans of about --mean_span_length, are replaced by sentinel tokens in the input, and the
target lists each sentinel with the span it hid (:func:`plm_recipes.seq2seq.mask_spans`; each text gets
--masks_per_text masked copies, fixed by --seed). Sentinels are the tokenizer's own: ``<extra_id_0>`` ... (T5,
mT5) or ``extra0`` ... (the Chinese T5 checkpoints with a BERT vocabulary). Evaluation generates the spans of
masked validation texts: span exact match and character F1 of the spans, and the validation loss. The saved
model fills ``[MASK]`` in any text (:class:`plm_recipes.seq2seq.MaskFiller`); sentinels never reach its output.
"""

from __future__ import annotations

import logging
import random

from datasets import Dataset
from transformers import EvalPrediction, set_seed

from plm_recipes.args import TRAINING_DEFAULTS, ModelArguments, data_files
from plm_recipes.loading import capped_max_seq_length
from plm_recipes.modelcard import ModelCardInfo
from plm_recipes.parsing import parse_args
from plm_recipes.run_config import RunConfig
from plm_recipes.seq2seq import FillingDataArguments, Seq2SeqRecipeConfig, mask_spans, read_corpus, sentinel_tokens
from plm_recipes.seq2seq.data import Seq2SeqCollator, encode_text
from plm_recipes.seq2seq.masking import decode_spans, sentinel_separator
from plm_recipes.seq2seq.metrics import char_f1
from plm_recipes.seq2seq.model_files import save_seq2seq_config, target_ids
from plm_recipes.seq2seq.trainer import RecipeSeq2SeqTrainer, load_seq2seq
from plm_recipes.utils import run_cli, setup_logging

logger = logging.getLogger("plm_recipes.t5_filling")

RECIPE_DEFAULTS = {
    **TRAINING_DEFAULTS,
    "output_dir": "outputs/t5_filling",
    "learning_rate": 3e-4,
    "predict_with_generate": True,
    "generation_num_beams": 1,
    "metric_for_best_model": "span_f1",
}

USAGE = """\
```python
from plm_recipes.seq2seq.predictor import MaskFiller

filler = MaskFiller("{model}")
filler.fill("这家餐厅的[MASK]很好，下次还来。", num_return_sequences=3)
filler.augment("这家餐厅的菜味道很好，服务员态度也很热情。", n=4)   # variants for data augmentation
```

or `plm-recipes predict fill --model {model} --text "...[MASK]..."`, `plm-recipes augment fill --model {model}
--input in.txt --output out.txt --n 4`.
"""



def pieces(lines: list[str], max_length: int) -> list[str]:
    """Lines cut into pieces of at most ``max_length`` characters."""
    return [line[i:i + max_length] for line in lines for i in range(0, len(line), max_length)
            if len(line[i:i + max_length]) >= 2]


def main(args: list[str] | None = None) -> dict[str, dict[str, float]]:
    """Run the recipe; returns the metrics of each stage (``train``, ``eval``)."""
    # --- arguments -----------------------------------------------------------------------------------
    model_args, data_args, training_args = parse_args(
        (ModelArguments, FillingDataArguments, Seq2SeqRecipeConfig), args,
        defaults=RECIPE_DEFAULTS, description=__doc__.split("\n")[0],
    )
    run_config = RunConfig.from_arguments("t5_filling", model_args, data_args, training_args)
    setup_logging(training_args)
    set_seed(training_args.seed)
    files = data_files(data_args, training_args)
    files.pop("test", None)  # nothing to predict from a file: `plm-recipes augment fill` writes variants

    # --- data: text -------------------------------------------------------------------------------------
    texts = {split: pieces(read_corpus(path, data_args.text_column, data_args.min_text_length),
                           data_args.max_text_length) for split, path in files.items()}
    limits = {"train": data_args.max_train_samples, "validation": data_args.max_eval_samples}
    texts = {split: lines[:limits[split]] if limits[split] else lines for split, lines in texts.items()}

    # --- model ---------------------------------------------------------------------------------------
    model, tokenizer, new_parameters = load_seq2seq(model_args, texts.get("train"))
    sentinels = sentinel_tokens(tokenizer)
    separator = sentinel_separator(sentinels)
    max_source_length = capped_max_seq_length(data_args.max_seq_length, tokenizer, model.config)

    # --- span corruption, fixed by the seed: masks_per_text masked copies of each training text -----------
    def build(lines: list[str], copies: int, seed: int) -> Dataset:
        rng = random.Random(seed)
        rows = {"input_ids": [], "attention_mask": [], "labels": [], "spans": []}
        for line in lines:
            for _ in range(copies):
                example = mask_spans(line, sentinels, rng, data_args.noise_density, data_args.mean_span_length,
                                     separator)
                source = encode_text(tokenizer, example.source, max_source_length)
                rows["input_ids"].append(source)
                rows["attention_mask"].append([1] * len(source))
                rows["labels"].append(target_ids(tokenizer, example.target, data_args.max_target_length))
                rows["spans"].append(list(example.spans))
        return Dataset.from_dict(rows)

    datasets = {}
    if "train" in texts:
        datasets["train"] = build(texts["train"], data_args.masks_per_text, training_args.seed).remove_columns("spans")
    if "validation" in texts:
        validation = build(texts["validation"], 1, training_args.seed + 1)
        references = validation["spans"]
        datasets["validation"] = validation.remove_columns("spans")
    training_args.generation_max_length = training_args.generation_max_length or data_args.max_target_length

    # --- trainer -------------------------------------------------------------------------------------
    def compute_metrics(p: EvalPrediction) -> dict[str, float]:
        generated = p.predictions[0] if isinstance(p.predictions, tuple) else p.predictions
        exact = f1 = 0.0
        total = 0
        for ids, truth in zip(generated, references):
            spans = decode_spans(tokenizer, ids.tolist(), sentinels)
            spans += [""] * (len(truth) - len(spans))
            for guess, span in zip(spans, truth):
                exact += float(guess == span)
                f1 += char_f1(guess, span)
                total += 1
        return {"span_exact_match": exact / max(total, 1), "span_f1": f1 / max(total, 1)}

    card = ModelCardInfo(
        recipe="t5_filling", pipeline_tag="text2text-generation", base_model=model_args.model_name_or_path,
        config_name=model_args.config_name, data_files=files,
        num_examples={split: len(ds) for split, ds in datasets.items()}, usage=USAGE,
    )
    trainer = RecipeSeq2SeqTrainer(
        model=model,
        args=training_args,
        train_dataset=datasets.get("train"),
        eval_dataset=datasets.get("validation"),
        processing_class=tokenizer,
        data_collator=Seq2SeqCollator(tokenizer, model=model),
        compute_metrics=compute_metrics,
        model_card=card,
        run_config=run_config,
        headline_metrics=("span_exact_match", "span_f1"),
        new_parameters=new_parameters,
    )

    # --- train / evaluate ----------------------------------------------------------------------------
    results: dict[str, dict[str, float]] = {}
    if training_args.do_train:
        results["train"] = trainer.train_and_report(len(datasets["train"]))
        if trainer.is_world_process_zero():
            save_seq2seq_config(
                training_args.output_dir, task="fill", max_source_length=max_source_length,
                max_target_length=data_args.max_target_length, noise_density=data_args.noise_density,
                mean_span_length=data_args.mean_span_length, sentinels=sentinels[:3])
    if training_args.do_eval:
        results["eval"] = trainer.evaluate_and_report(len(datasets["validation"]))

    # --- model card / hub ----------------------------------------------------------------------------
    if training_args.do_train:
        trainer.finish(tags=["text2text-generation", "fill-mask", "data-augmentation"])
    return results


if __name__ == "__main__":
    run_cli(main)
