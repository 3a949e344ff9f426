#!/usr/bin/env python
"""PET: few-shot text classification by asking a language model to fill a blank with label words.

Usage:

    # a masked LM (BERT, ERNIE, XLM-R, multilingual-e5, ... a folder or a hub id) on label<TAB>text files
    python recipes/pet.py \
        --model_name_or_path bert-base-chinese \
        --train_file data/prompting/train.txt --validation_file data/prompting/dev.txt \
        --template "这是一条{MASK}评论：{textA}。" --verbalizer_file data/prompting/verbalizer.txt \
        --do_train --do_eval --output_dir outputs/pet

    # the same settings from a file; flags on the command line override it
    accelerate launch recipes/pet.py --config recipes/configs/pet.yaml

    # a causal LM (gemma, Qwen, GPT-2): put the blank at the end, where the model can see the text first
    python recipes/pet.py --config recipes/configs/pet.yaml --model_name_or_path google/gemma-3-270m \
        --template "{textA}。这是一条关于{MASK}的评论" --output_dir outputs/pet_gemma

Data: ``label<TAB>text`` lines (``label<TAB>text<TAB>text_b`` for templates with ``{textB}``), or .csv / .json /
.jsonl, or --dataset_name (a Hub dataset or a local dataset folder; a ClassLabel column is read by its names), with
--text_column / --text_b_column / --label_column. Every label must be in the verbalizer file
(``label<TAB>word,word`` lines: the words that stand for it at the blank).

The template (``{MASK}``, ``{textA}``, ``{textB}``, literal text, ``{soft:N}`` learned vectors) is written around
each text; a masked LM sees as many mask tokens as the longest label word, and each label is scored by its words'
log-probabilities there (mean over a word's tokens, mean over a label's words; --token_reduction,
--word_reduction). A causal LM reads the text up to the blank, then each label word and the rest of the template.
The loss is cross-entropy over the label scores (optionally with R-Drop, --rdrop_alpha); the best checkpoint by
macro F1.

The saved model is a ``PromptLMModel`` (``AutoModel.from_pretrained(output_dir)`` once ``plm_recipes.prompting``
is imported) that keeps its template and verbalizer: ``plm-recipes predict pet --model output_dir --text "..."``.
For users without this package, ``output_dir/lm`` also holds the language model as a plain masked (causal) LM
folder with the template and verbalizer in ``prompt.json``, and ``output_dir/prompt_adapter`` the learned vectors
of p-tuning on a causal LM as a PEFT adapter; p-tuning on a masked LM keeps its model code in the folder
(``trust_remote_code``). The card shows how (``plm_recipes.prompting.export`` says when).
"""

from __future__ import annotations

import logging
import os

import numpy as np
from transformers import EvalPrediction, set_seed
from transformers.models.auto.modeling_auto import MODEL_FOR_MASKED_LM_MAPPING_NAMES

from plm_recipes.args import TRAINING_DEFAULTS, ModelArguments
from plm_recipes.data import LabelMap, data_description
from plm_recipes.errors import ArgumentError
from plm_recipes.loading import capped_max_seq_length, from_pretrained, load_config, load_or_explain, load_tokenizer
from plm_recipes.metrics import ClassificationReport
from plm_recipes.modelcard import ModelCardInfo
from plm_recipes.parsing import parse_args
from plm_recipes.prompting import (
    PromptCollator,
    PromptLMConfig,
    PromptLMModel,
    Template,
    Verbalizer,
)
from plm_recipes.prompting.arguments import PromptDataArguments, PromptTrainingConfig
from plm_recipes.prompting.dataset import check_prompt_split, encode_prompt_split, load_prompt_splits
from plm_recipes.prompting.export import export_for_transformers
from plm_recipes.prompting.trainer import PromptTrainer
from plm_recipes.run_config import RunConfig
from plm_recipes.utils import run_cli, setup_logging, write_label_predictions

logger = logging.getLogger("plm_recipes.pet")

# The template when neither --template nor --template_file gives one (and the model is not a trained prompt model).
DEFAULT_TEMPLATE = "这是一条{MASK}评论：{textA}。"

RECIPE_DEFAULTS = {
    **TRAINING_DEFAULTS,
    "output_dir": "outputs/pet",
    "learning_rate": 2e-5,
    # weights the checkpoint lacks start from nothing: an MLM head for an encoder that has none (multilingual-e5),
    # p-tuning's prompt encoder. A real MLM checkpoint has none, and this changes nothing there.
    "new_parameters_learning_rate": 1e-3,
    "num_train_epochs": 10,
    "per_device_train_batch_size": 8,
    "metric_for_best_model": "f1",
}

USAGE = """\
```python
from plm_recipes.prompting.predictor import PromptClassifier

classifier = PromptClassifier("{model}")
classifier.predict(["房间干净，早餐也不错"])  # [{'label': ..., 'score': ..., 'scores': {...}}]
```

or from the command line: `plm-recipes predict pet --model {model} --text "房间干净，早餐也不错"`
"""


def main(
    args: list[str] | None = None,
    recipe: str = "pet",
    defaults: dict | None = None,
    default_template: str = DEFAULT_TEMPLATE,
) -> dict[str, dict[str, float]]:
    """Run the recipe; returns the metrics of each stage (``train``, ``eval``, ``test``). ``recipes/p_tuning.py``
    runs it with its own name, defaults and template."""
    # --- arguments -----------------------------------------------------------------------------------
    model_args, data_args, training_args = parse_args(
        (ModelArguments, PromptDataArguments, PromptTrainingConfig), args,
        defaults=defaults or RECIPE_DEFAULTS, description=__doc__.split("\n")[0],
    )
    run_config = RunConfig.from_arguments(recipe, model_args, data_args, training_args)
    setup_logging(training_args)
    set_seed(training_args.seed)
    hub = model_args.hub_kwargs()

    # --- template, verbalizer, and the model they go with ---------------------------------------------
    if model_args.from_scratch:
        raise ArgumentError("prompt learning asks a pretrained language model to fill a blank: pass "
                            "--model_name_or_path (a masked or causal LM, a folder or a hub id)")
    config = load_config(model_args)
    trained = config.model_type == PromptLMConfig.model_type  # continue (or evaluate) a trained prompt model
    template = data_args.read_template() or (config.template if trained else default_template)
    if trained and template != config.template:
        raise ArgumentError(f"{model_args.model_name_or_path} was trained with the template {config.template!r}; "
                            f"it cannot take {template!r}")
    if data_args.verbalizer_file:
        verbalizer = Verbalizer.from_file(data_args.verbalizer_file)
        if trained and verbalizer.label_words != config.label_words:
            raise ArgumentError(f"--verbalizer_file {data_args.verbalizer_file} differs from the one "
                                f"{model_args.model_name_or_path} was trained with; leave it out to use the model's")
    if trained:  # the model's own labels, in its label ids' order
        verbalizer = Verbalizer({label: config.label_words[label] for label in config.labels})
    elif not data_args.verbalizer_file:
        raise ArgumentError("--verbalizer_file is needed: label<TAB>word,word lines, the words for each label")
    template = Template(template)
    if training_args.freeze_backbone and not template.num_soft_tokens:
        raise ArgumentError("--freeze_backbone trains only the learned prompt vectors, and the template "
                            f"{template.template!r} has none: add {{soft:N}}")

    # --- data: each split as a dataset (local files or --dataset_name), checked against the template and the
    # verbalizer before the model loads ---------------------------------------------------------------
    splits = load_prompt_splits(data_args, training_args, template)
    for split, data in splits.items():
        check_prompt_split(data, template, verbalizer.labels, training=split == "train" and training_args.do_train)

    tokenizer = load_tokenizer(model_args)
    # the template's own tokens must leave room for a text: said before the model loads (each example is
    # written into the template after it)
    max_seq_length = capped_max_seq_length(data_args.max_seq_length, tokenizer, config.backbone if trained else config)
    template.encode(tokenizer, "", "" if "textB" in template.texts else None, placeholder_id=0,
                    blank_length=max((len(ids) for ids in verbalizer.word_ids(tokenizer)), default=1),
                    max_length=max_seq_length)
    if trained:
        model = from_pretrained(PromptLMModel, model_args.model_name_or_path, "model", **hub)
        new_parameters: list[str] = []
    else:
        lm_type = training_args.lm_type or ("masked" if config.model_type in MODEL_FOR_MASKED_LM_MAPPING_NAMES
                                            else "causal")
        prompt_config = PromptLMConfig(
            lm_type=lm_type, template=template.template, label_words=verbalizer.label_words,
            word_token_ids=verbalizer.word_ids(tokenizer), token_reduction=training_args.token_reduction,
            word_reduction=training_args.word_reduction, prompt_encoder=training_args.prompt_encoder,
        )
        path = model_args.model_name_or_path
        model, new_parameters = load_or_explain(lambda: PromptLMModel.from_backbone(path, prompt_config, **hub), path)
    config = model.config
    config.max_seq_length = max_seq_length
    if training_args.freeze_backbone:
        model.backbone.requires_grad_(False)
    logger.info("%s LM, %d labels (%d label words, a blank of %d tokens), %d learned prompt vectors",
                config.lm_type, len(verbalizer), len(verbalizer.words), config.blank_length, template.num_soft_tokens)

    # --- preprocessing: each text written into the template, in Dataset.map (cached, --preprocessing_num_workers)
    label_map = LabelMap(verbalizer.labels)
    datasets = {}
    for split, data in splits.items():
        datasets[split] = encode_prompt_split(
            data, template, tokenizer, label_map, lm_type=config.lm_type, blank_length=config.blank_length,
            max_length=config.max_seq_length, data_args=data_args, training_args=training_args,
            desc=f"Writing {split} into the template",
        ).dataset

    # --- trainer -------------------------------------------------------------------------------------
    def compute_metrics(p: EvalPrediction) -> dict[str, float]:
        return ClassificationReport(keep_in_memory=True).compute(
            predictions=np.argmax(p.predictions, axis=-1), references=p.label_ids, label_names=label_map.names
        )

    card = ModelCardInfo(
        recipe=recipe,
        pipeline_tag=None,  # no Hub pipeline runs a PromptLMModel
        task_type="text-classification",
        base_model=model_args.model_name_or_path,
        **data_description(data_args, splits),
        num_examples={split: len(ds) for split, ds in datasets.items()},
        labels=label_map.names,
        usage=USAGE.replace("predict pet", f"predict {recipe.replace('_', '-')}"),
    )
    trainer = PromptTrainer(
        model=model,
        args=training_args,
        train_dataset=datasets.get("train"),
        eval_dataset=datasets.get("validation"),
        processing_class=tokenizer,
        data_collator=PromptCollator(tokenizer.pad_token_id, config.lm_type),
        compute_metrics=compute_metrics,
        model_card=card,
        run_config=run_config,
        new_parameters=new_parameters,
        rdrop_alpha=training_args.rdrop_alpha,
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
        if "labels" in test.column_names:
            results["test"] = output.metrics
            trainer.report("test", results["test"])
        if trainer.is_world_process_zero():
            path = os.path.join(training_args.output_dir, "predict_results.tsv")
            write_label_predictions(path, splits["test"].dataset["text"], output.predictions, label_map.names)
            logger.info("Predictions written to %s", path)

    # --- model card / hub ----------------------------------------------------------------------------
    if training_args.do_train:
        if trainer.is_world_process_zero():
            plain_usage = export_for_transformers(trainer.model, tokenizer, training_args.output_dir)
            if plain_usage:
                card.usage += "\n" + plain_usage
        trainer.finish(tags=["text-classification", "prompt-learning", recipe.replace("_", "-")])
    return results


if __name__ == "__main__":
    run_cli(main)
