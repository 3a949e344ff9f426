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

Data: plain text, ``.txt`` one text per line, or csv/json with --text_column (``../shared/data/corpus/*.jsonl``),
or a dataset's text column (``--dataset_name`` with --text_column). Texts are split into lines and cut into pieces of
at most --max_text_length characters. ``--streaming`` (with --max_steps) reads a corpus larger than memory as
training goes.

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

from datasets import IterableDataset
from transformers import EvalPrediction, set_seed

from plm_recipes.args import TRAINING_DEFAULTS, ModelArguments, requested_splits
from plm_recipes.data import data_description, load_splits, num_rows
from plm_recipes.loading import capped_max_seq_length
from plm_recipes.modelcard import ModelCardInfo
from plm_recipes.parsing import parse_args
from plm_recipes.errors import ArgumentError
from plm_recipes.run_config import RunConfig
from plm_recipes.seq2seq import FillingDataArguments, Seq2SeqRecipeConfig, sentinel_tokens
from plm_recipes.seq2seq.corpus import corpus_dataset, corpus_pieces, span_corruption
from plm_recipes.seq2seq.data import Seq2SeqCollator
from plm_recipes.seq2seq.masking import decode_spans, sentinel_separator
from plm_recipes.seq2seq.metrics import char_f1
from plm_recipes.seq2seq.model_files import save_seq2seq_config
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



def main(args: list[str] | None = None) -> dict[str, dict[str, float]]:
    """Run the recipe; returns the metrics of each stage (``train``, ``eval``)."""
    # --- arguments -----------------------------------------------------------------------------------
    model_args, data_args, training_args = parse_args(
        (ModelArguments, FillingDataArguments, Seq2SeqRecipeConfig), args,
        defaults=RECIPE_DEFAULTS, description=__doc__.split("\n")[0],
    )
    if training_args.use_peft:  # the seq2seq config carries QA's LoRA settings; the filling folders are whole models
        raise ArgumentError("--use_peft: mask filling trains every weight (LoRA adapters are for recipes/t5_qa.py "
                            "and recipes/llm_sft.py)")
    run_config = RunConfig.from_arguments("t5_filling", model_args, data_args, training_args)
    setup_logging(training_args)
    set_seed(training_args.seed)
    # nothing to predict from a file: `plm-recipes augment fill` writes variants
    wanted = [split for split in requested_splits(training_args) if split != "test"]

    # --- data: text pieces, as datasets (a local corpus read line by line, or streamed; or --dataset_name) ------
    def read_file(path):
        return corpus_dataset(path, column=data_args.text_column, min_length=data_args.min_text_length,
                              max_length=data_args.max_text_length, streaming=data_args.streaming)

    splits = load_splits(data_args, training_args, ("text",), columns={"text": data_args.text_column},
                         splits=wanted, read_file=read_file)
    if data_args.dataset_name:  # a dataset's texts cut into pieces as a file's are
        splits = {split: corpus_pieces(data, data_args=data_args, training_args=training_args)
                  for split, data in splits.items()}

    # --- model ---------------------------------------------------------------------------------------
    train_texts = (row["text"] for row in splits["train"].dataset) if "train" in splits else None
    model, tokenizer, new_parameters = load_seq2seq(model_args, train_texts)  # the texts train a new tokenizer only
    sentinels = sentinel_tokens(tokenizer)
    separator = sentinel_separator(sentinels)
    max_source_length = capped_max_seq_length(data_args.max_seq_length, tokenizer, model.config)

    # --- span corruption and tokenization in Dataset.map, fixed by the seed: masks_per_text copies of each text ---
    def corrupted(split: str, copies: int, seed: int, keep_spans: bool = False):
        return span_corruption(splits[split], tokenizer, sentinels, separator, data_args=data_args,
                               training_args=training_args, max_source_length=max_source_length, copies=copies,
                               seed=seed, keep_spans=keep_spans).dataset

    datasets = {}
    if "train" in splits:
        datasets["train"] = corrupted("train", data_args.masks_per_text, training_args.seed)
    if "validation" in splits:
        validation = corrupted("validation", 1, training_args.seed + 1, keep_spans=True)
        references = [row["spans"] for row in validation.select_columns(["spans"])]
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
        config_name=model_args.config_name, **data_description(data_args, splits),
        num_examples={split: len(ds) for split, ds in datasets.items() if not isinstance(ds, IterableDataset)},
        usage=USAGE,
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
        results["train"] = trainer.train_and_report(num_rows(datasets["train"], training_args))
        if trainer.is_world_process_zero():
            save_seq2seq_config(
                training_args.output_dir, task="fill", max_source_length=max_source_length,
                max_target_length=data_args.max_target_length, noise_density=data_args.noise_density,
                mean_span_length=data_args.mean_span_length, sentinels=sentinels[:3])
    if training_args.do_eval:
        results["eval"] = trainer.evaluate_and_report(len(references))

    # --- model card / hub ----------------------------------------------------------------------------
    if training_args.do_train:
        trainer.finish(tags=["text2text-generation", "fill-mask", "data-augmentation"])
    return results


if __name__ == "__main__":
    run_cli(main)
