#!/usr/bin/env python
"""Generative question answering with a seq2seq model (T5, mT5, BART) or a causal LM: context + question -> answer.

Usage:

    python recipes/t5_qa.py \
        --model_name_or_path uer/t5-base-chinese-cluecorpussmall \
        --train_file data/seq2seq/qa_train.jsonl --validation_file data/seq2seq/qa_dev.jsonl \
        --do_train --do_eval --output_dir outputs/t5_qa

    accelerate launch recipes/t5_qa.py --config recipes/configs/t5_qa.yaml

    plm-recipes predict qa --model outputs/t5_qa --question "治疗宫颈糜烂的最佳时间" \
        --context "专家指出，治疗宫颈糜烂的最佳时间是月经干净后3-7日，因为..."

    # a causal LM (the checkpoint's config says which kind it is), a LoRA adapter on a chat model
    python recipes/t5_qa.py --model_name_or_path Qwen/Qwen2.5-0.5B-Instruct --use_peft \
        --learning_rate 2e-4 --train_file ... --validation_file ... --do_train --do_eval --output_dir outputs/qa_lora

Data: JSON lines ``{"context", "question", "answer"}`` (csv / tsv with those fields, or --context_column,
--question_column, --answer_column). A --test_file may leave the answer out: its answers are generated and
written to ``predictions.jsonl``, and scored when it has them.

The input is --source_template filled in (``问题：{question}原文：{context}``); when it is too long only the context
is cut, never the question. Training is ``Seq2SeqTrainer``; evaluation generates (``--predict_with_generate``,
``--generation_num_beams``) and scores the answers at the character level (Chinese has no spaces): BLEU-1..4,
ROUGE-L, exact match and character F1 (:class:`plm_recipes.seq2seq.GenerationMetrics`, computed locally); the
best checkpoint is chosen by --metric_for_best_model (``rouge_l``).

A causal language model (Qwen, Gemma, GPT-2: a config without ``is_encoder_decoder``) reads the template inside
its chat template's user turn when its tokenizer has one, and writes the answer and the end of its turn; only those
are trained (the prompt's labels are -100), and the output layer runs over the answers' columns only. Its default
template is an instruction (``plm_recipes.seq2seq.causal.CAUSAL_SOURCE_TEMPLATE``), which a chat model also
follows untrained: ``--do_eval`` without ``--do_train`` scores it zero-shot. ``--use_peft`` trains a LoRA adapter
(PEFT) instead of every weight; ``predict qa`` loads the adapter folder over its base model. With no seq2seq
checkpoint at hand,
``--config_name t5 --config_overrides "d_model=256,..." --tokenizer_name <a vocabulary>`` trains one from scratch;
give its relative position biases a learning rate of their own (``--learning_rate_mapping
'{"relative_attention_bias": 0.03}'``), or it takes thousands of steps to learn to copy from its input.
"""

from __future__ import annotations

import functools
import json
import logging
import os

from transformers import EvalPrediction, set_seed

from plm_recipes.args import TRAINING_DEFAULTS, ModelArguments
from plm_recipes.data import data_description, load_splits, map_split
from plm_recipes.files import atomic_write
from plm_recipes.loading import capped_max_seq_length
from plm_recipes.modelcard import ModelCardInfo
from plm_recipes.parsing import parse_args
from plm_recipes.run_config import RunConfig
from plm_recipes.seq2seq import GenerationMetrics, QADataArguments, Seq2SeqRecipeConfig, SourceTemplate
from plm_recipes.sanity import check_lora_targets
from plm_recipes.seq2seq.causal import CausalQAPrompt
from plm_recipes.seq2seq.data import QA_FIELDS, Seq2SeqCollator, answered, decode, has_blank_answers
from plm_recipes.seq2seq.model_files import save_seq2seq_config, target_ids
from plm_recipes.seq2seq.trainer import RecipeCausalQATrainer, RecipeSeq2SeqTrainer, is_encoder_decoder, load_seq2seq
from plm_recipes.utils import run_cli, setup_logging

logger = logging.getLogger("plm_recipes.t5_qa")

RECIPE_DEFAULTS = {
    **TRAINING_DEFAULTS,
    "output_dir": "outputs/t5_qa",
    "learning_rate": 3e-4,
    "max_seq_length": 256,
    "predict_with_generate": True,
    "generation_max_length": 64,
    "generation_num_beams": 1,
    "metric_for_best_model": "rouge_l",
}

USAGE = """\
```python
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

tokenizer = AutoTokenizer.from_pretrained("{model}")
model = AutoModelForSeq2SeqLM.from_pretrained("{model}")
inputs = tokenizer("问题：治疗宫颈糜烂的最佳时间原文：...", return_tensors="pt")
tokenizer.decode(model.generate(**inputs, max_new_tokens=64)[0], skip_special_tokens=True)
```

or `plm-recipes predict qa --model {model} --question "..." --context "..."` (the source template and generation
settings come from `seq2seq_config.json`).
"""

CAUSAL_USAGE = """\
```python
from plm_recipes.seq2seq.predictor import QuestionAnswerer

qa = QuestionAnswerer("{model}")  # a LoRA adapter folder loads over its base model
qa.answer(["治疗宫颈糜烂的最佳时间"], ["专家指出，治疗宫颈糜烂的最佳时间是月经干净后3-7日，因为..."])
```

or `plm-recipes predict qa --model {model} --question "..." --context "..."` (the prompt template and generation
settings come from `seq2seq_config.json`).
"""



def main(args: list[str] | None = None) -> dict[str, dict[str, float]]:
    """Run the recipe; returns the metrics of each stage (``train``, ``eval``, ``test``)."""
    # --- arguments -----------------------------------------------------------------------------------
    model_args, data_args, training_args = parse_args(
        (ModelArguments, QADataArguments, Seq2SeqRecipeConfig), args,
        defaults=RECIPE_DEFAULTS, description=__doc__.split("\n")[0],
    )
    run_config = RunConfig.from_arguments("t5_qa", model_args, data_args, training_args)
    setup_logging(training_args)
    set_seed(training_args.seed)

    # --- data: QA records as datasets (local files validated line by line, or --dataset_name) ---------------
    splits = load_splits(data_args, training_args, QA_FIELDS, columns=data_args.columns(),
                         optional={split: ("answer",) for split in ("train", "validation", "test")},
                         text_fields=("context", "question"))
    splits = {split: data if split == "test" else answered(data, training_args) for split, data in splits.items()}

    train_texts = ((row[field] for row in splits["train"].dataset for field in QA_FIELDS)
                   if "train" in splits else None)  # a tokenizer trained from scratch only
    model, tokenizer, new_parameters = load_seq2seq(model_args, train_texts)
    causal = not is_encoder_decoder(model.config)
    max_source_length = capped_max_seq_length(data_args.max_seq_length, tokenizer, model.config)
    source_template = data_args.template_for(causal)
    template = SourceTemplate(source_template)
    prompt = CausalQAPrompt(tokenizer, template) if causal else None
    peft_config = training_args.lora_config("CAUSAL_LM" if causal else "SEQ_2_SEQ_LM", model)
    if peft_config is not None:
        from peft import get_peft_model

        check_lora_targets(model, peft_config)  # a misspelt module: an adapter on nothing
        model = get_peft_model(model, peft_config)
        trainable, total = model.get_nb_trainable_parameters()
        logger.info("LoRA adapter: %.2fM trainable parameters of %.1fM", trainable / 1e6, total / 1e6)

    # --- preprocessing: the template, the context cut to fit; targets end with the end token ---------
    def tokenize(batch, with_labels: bool):
        rows = [{field: (batch[field][i] if field in batch else None) or "" for field in QA_FIELDS}
                for i in range(len(batch["question"]))]
        if causal:  # prompt + answer in one row, the prompt's labels -100
            examples = [prompt.example(row, max_source_length, data_args.max_target_length, with_labels)
                        for row in rows]
            return {key: [e[key] for e in examples] for key in examples[0]}
        encoded = {"input_ids": [template.encode(tokenizer, row, max_source_length) for row in rows]}
        encoded["attention_mask"] = [[1] * len(ids) for ids in encoded["input_ids"]]
        if with_labels:
            encoded["labels"] = [target_ids(tokenizer, row["answer"], data_args.max_target_length) for row in rows]
        return encoded

    datasets = {}
    for split, data in splits.items():
        with_labels = split != "test" or not has_blank_answers(data)  # a test file without (all) answers: generate
        datasets[split] = map_split(data, functools.partial(tokenize, with_labels=with_labels), data_args=data_args,
                                    training_args=training_args, remove_columns=data.dataset.column_names,
                                    desc=f"Tokenizing {split}").dataset
    if template.questions_cut:
        logger.warning("%d inputs were too long even without their context: their question was cut too",
                       template.questions_cut)
    training_args.generation_max_length = training_args.generation_max_length or data_args.max_target_length

    # --- trainer -------------------------------------------------------------------------------------
    def compute_metrics(p: EvalPrediction) -> dict[str, float]:
        predictions = p.predictions[0] if isinstance(p.predictions, tuple) else p.predictions
        return GenerationMetrics(keep_in_memory=True).compute(
            predictions=decode(tokenizer, predictions), references=decode(tokenizer, p.label_ids))

    card = ModelCardInfo(
        recipe="t5_qa", pipeline_tag="text-generation" if causal else "text2text-generation",
        base_model=model_args.model_name_or_path, config_name=model_args.config_name, **data_description(data_args, splits),
        num_examples={split: len(ds) for split, ds in datasets.items()}, usage=CAUSAL_USAGE if causal else USAGE,
        **({"library_name": "peft"} if peft_config is not None else {}),
    )
    trainer_class, extra = ((RecipeCausalQATrainer, {"stop_ids": prompt.stop_ids}) if causal
                            else (RecipeSeq2SeqTrainer, {}))
    trainer = trainer_class(
        model=model,
        args=training_args,
        train_dataset=datasets.get("train"),
        eval_dataset=datasets.get("validation"),
        processing_class=tokenizer,
        data_collator=Seq2SeqCollator(tokenizer, model=None if causal else model),
        compute_metrics=compute_metrics,
        model_card=card,
        run_config=run_config,
        headline_metrics=("rouge_l", "bleu_4", "exact_match", "f1"),
        new_parameters=new_parameters,
        **extra,
    )

    # --- train / evaluate / predict ------------------------------------------------------------------
    results: dict[str, dict[str, float]] = {}
    if training_args.do_train:
        results["train"] = trainer.train_and_report(len(datasets["train"]))
        if trainer.is_world_process_zero():
            save_seq2seq_config(
                training_args.output_dir, task="qa", source_template=source_template,
                max_source_length=max_source_length, max_target_length=data_args.max_target_length,
                num_beams=training_args.generation_num_beams or 1, model_kind="causal" if causal else "seq2seq",
                **({"chat_template": prompt.chat, "max_new_tokens": training_args.generation_max_length}
                   if causal else {}))
    if training_args.do_eval:
        results["eval"] = trainer.evaluate_and_report(len(datasets["validation"]))
    if training_args.do_predict:
        test = datasets["test"]
        output = trainer.predict(test, metric_key_prefix="test")
        results["test"] = output.metrics  # scores when the file has answers; the time taken in any case
        if "labels" in test.column_names:
            trainer.report("test", results["test"])
        if trainer.is_world_process_zero():
            answers = decode(tokenizer, output.predictions)
            path = os.path.join(training_args.output_dir, "predictions.jsonl")
            os.makedirs(training_args.output_dir, exist_ok=True)
            with atomic_write(path) as f:  # whole or not at all
                test_rows = splits["test"].dataset
                rows = test_rows.select_columns([c for c in QA_FIELDS if c in test_rows.column_names])  # streamed
                f.writelines(json.dumps({"question": row["question"], "context": row["context"],
                                        "prediction": answer, "answer": row.get("answer") or None},
                                       ensure_ascii=False) + "\n" for row, answer in zip(rows, answers))
            logger.info("Predictions written to %s", path)

    # --- model card / hub ----------------------------------------------------------------------------
    if training_args.do_train:
        tags = ["question-answering", "text-generation" if causal else "text2text-generation"]
        trainer.finish(tags=tags + (["lora"] if peft_config is not None else []))
    return results


if __name__ == "__main__":
    run_cli(main)
