#!/usr/bin/env python
"""LLM SFT: LoRA fine-tuning of a chat model on instruction data, with TRL's SFTTrainer and PEFT.

Usage:

    # a LoRA adapter for a local chat model (a folder or a hub id) on instruction JSON lines
    python recipes/llm_sft.py \
        --model_name_or_path Qwen/Qwen2.5-0.5B-Instruct \
        --train_file data/llm/instructions_train.jsonl --validation_file data/llm/instructions_dev.jsonl \
        --do_train --do_eval --output_dir outputs/llm_sft

    # TRL's flags: the adapter's settings, every weight trained instead (--use_peft false), QLoRA on a GPU
    python recipes/llm_sft.py --use_peft --lora_r 32 --lora_alpha 16 --lora_target_modules q_proj v_proj ...
    python recipes/llm_sft.py --load_in_4bit --dtype bfloat16 ...    # needs a CUDA GPU and bitsandbytes

    # a dataset (a Hub id, a dataset repository folder, a save_to_disk folder) with its columns; a corpus streamed
    python recipes/llm_sft.py --dataset_name my/instructions --context_column instruction --target_column output ...
    python recipes/llm_sft.py --train_file big.jsonl --streaming --max_steps 10000 ...

    # the same settings from a file; flags on the command line override it
    accelerate launch recipes/llm_sft.py --config recipes/configs/llm_sft.yaml

    # then the adapter answers through the same commands as the base model
    plm-recipes llm classify --model outputs/llm_sft --labels data/llm/labels.txt --text "苹果很甜，个头也大"

Data: JSON lines in the forms TRL's ``SFTTrainer`` takes: ``{"prompt", "completion"}`` (lists of messages, or
plain strings), ``{"messages": [...]}``, or this project's earlier ``{"context": instruction and input, "target": the
answer}`` (optionally ``"system"``), read as a conversational prompt-completion (``plm_recipes.llm.data``). Chats are
rendered with the model's chat template; with prompt-completion records the loss is computed on the answer only.
Evaluation reports the loss and the token accuracy of the answers; ``--do_predict`` answers ``--test_file``'s chats
greedily (``predictions.jsonl``, and exact match against each record's answer).

The output folder is a PEFT adapter (``adapter_config.json``, ``adapter_model.safetensors``) with the tokenizer:
``peft.AutoPeftModelForCausalLM.from_pretrained(output_dir)`` loads it, and so do the ``plm-recipes llm`` commands
(merged into the base model). ``--use_peft false`` (earlier ``--use_lora false``) trains every weight instead.
"""

from __future__ import annotations

import json
import logging
import os

from datasets import IterableDataset
from transformers import AutoModelForCausalLM, set_seed
from trl.data_utils import is_conversational

from plm_recipes.data import data_description, load_splits, num_rows
from plm_recipes.devices import trl_cpu_defaults
from plm_recipes.errors import ArgumentError
from plm_recipes.files import atomic_write
from plm_recipes.llm import TransformersBackend
from plm_recipes.llm.arguments import (
    ChatModelArguments,
    InstructionDataArguments,
    LLMSFTConfig,
    LLMSFTTrainer,
)
from plm_recipes.llm.data import COLUMNS, instruction_file_dataset, instruction_rows, prompt_and_answer
from plm_recipes.loading import from_pretrained, load_tokenizer_from
from plm_recipes.modelcard import ModelCardInfo
from plm_recipes.parsing import parse_args
from plm_recipes.run_config import RunConfig
from plm_recipes.sanity import check_lora_targets
from plm_recipes.utils import run_cli, setup_logging

logger = logging.getLogger("plm_recipes.llm_sft")

RECIPE_DEFAULTS = {
    "output_dir": "outputs/llm_sft",
    "learning_rate": 2e-4,
    "num_train_epochs": 1,
    "per_device_train_batch_size": 4,
    "per_device_eval_batch_size": 8,
    "warmup_steps": 0.05,
    "eval_strategy": "epoch",
    "save_strategy": "epoch",
    "save_total_limit": 1,
    "load_best_model_at_end": True,
    "metric_for_best_model": "loss",
    "logging_steps": 10,
    "max_length": 512,
}

PREDICT_CHUNK = 256  # test chats generated and written at a time

USAGE = """\
```python
from plm_recipes.llm import TransformersBackend, classify

llm = TransformersBackend.from_pretrained("{model}")  # the adapter, merged into its base model
classify(llm, ["苹果很甜，个头也大"], ["水果", "酒店", "平板"])
```

or from the command line: `plm-recipes llm classify --model {model} --labels 水果,酒店,平板 --text "..."`
(also `plm-recipes llm match` and `plm-recipes llm extract`).
"""


def main(args: list[str] | None = None) -> dict[str, dict[str, float]]:
    """Run the recipe; returns the metrics of each stage (``train``, ``eval``, ``test``)."""
    # --- arguments -----------------------------------------------------------------------------------
    model_args, data_args, training_args = parse_args(
        (ChatModelArguments, InstructionDataArguments, LLMSFTConfig), args,
        defaults={**RECIPE_DEFAULTS, **trl_cpu_defaults(args)}, description=__doc__.split("\n")[0],
    )
    run_config = RunConfig.from_arguments("llm_sft", model_args, data_args, training_args)
    setup_logging(training_args)
    set_seed(training_args.seed)

    # --- data: TRL's prompt / completion or messages records, as datasets (local JSON lines or --dataset_name) ---
    context_column, target_column = data_args.context_column, data_args.target_column

    def read_file(path):  # nested rows (lists of messages): read line by line into the Arrow cache, or streamed
        return instruction_file_dataset(path, context_column=context_column, target_column=target_column,
                                        system=data_args.system_prompt, streaming=data_args.streaming)

    splits = load_splits(data_args, training_args, COLUMNS + (context_column, target_column), read_file=read_file,
                         optional={split: COLUMNS + (context_column, target_column)
                                   for split in ("train", "validation", "test")})
    if data_args.dataset_name:  # a dataset's rows checked and turned into TRL's records in a cached Dataset.map
        splits = {split: instruction_rows(data, data_args=data_args, training_args=training_args,
                                          context_column=context_column, target_column=target_column,
                                          system=data_args.system_prompt) for split, data in splits.items()}
    datasets = {split: data.dataset for split, data in splits.items()}
    if "test" in datasets and not is_conversational(next(iter(datasets["test"]))):
        raise ArgumentError(f"--do_predict answers chats: {splits['test'].origin} has plain-text prompts (give them "
                            "as lists of messages, or drop --do_predict)")

    # --- model: the chat model and its tokenizer (with its chat template) ------------------------------
    # a local folder by its absolute path, so that the adapter finds its base model from anywhere
    base = model_args.model_name_or_path
    base = os.path.abspath(base) if os.path.isdir(base) else base
    # before anything loads: --load_in_4bit / --load_in_8bit without a GPU or bitsandbytes is one line
    model_kwargs = model_args.model_kwargs(use_cpu=training_args.use_cpu)
    hub = {**model_args.hub_kwargs(), "trust_remote_code": training_args.trust_remote_code}
    tokenizer = load_tokenizer_from(model_args.tokenizer_name or base, **hub)
    if not getattr(tokenizer, "chat_template", None):
        raise ArgumentError(f"{base}: the tokenizer has no chat template; fine-tune an instruction-tuned (chat) model")
    model = from_pretrained(AutoModelForCausalLM, base, "model", trust_remote_code=training_args.trust_remote_code,
                            **model_kwargs)

    # --- trainer: SFTTrainer wraps the model in the LoRA adapter ---------------------------------------
    card = ModelCardInfo(
        recipe="llm_sft", pipeline_tag="text-generation", base_model=base,
        **data_description(data_args, splits), usage=USAGE,
        num_examples={split: len(ds) for split, ds in datasets.items() if not isinstance(ds, IterableDataset)},
        library_name="peft" if model_args.use_peft else "transformers",
    )
    peft_config = model_args.lora_config(model)  # TRL's get_peft_config
    check_lora_targets(model, peft_config)  # a misspelt module or a layer past the last: an adapter on nothing
    trainer = LLMSFTTrainer(
        model=model,
        args=training_args,
        train_dataset=datasets.get("train"),
        eval_dataset=datasets.get("validation"),  # TRL tokenizes them in Dataset.map (cached)
        processing_class=tokenizer,
        peft_config=peft_config,
        model_card=card,
        run_config=run_config,
        headline_metrics=("loss", "mean_token_accuracy"),
    )
    if model_args.use_peft:
        trainable = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
        total = sum(p.numel() for p in trainer.model.parameters())
        logger.info("LoRA adapter: %.2fM trainable parameters of %.1fM (%.2f%%)", trainable / 1e6, total / 1e6,
                    100 * trainable / total)

    # --- train / evaluate / predict ------------------------------------------------------------------
    results: dict[str, dict[str, float]] = {}
    if training_args.do_train:
        results["train"] = trainer.train_and_report(num_rows(datasets["train"], training_args))
    if training_args.do_eval:
        results["eval"] = trainer.evaluate_and_report(num_rows(datasets["validation"]))

    if training_args.do_predict:
        # the trained weights as they are in memory (the adapter active), through the same code as the commands
        llm = TransformersBackend(trainer.model, tokenizer, batch_size=training_args.per_device_eval_batch_size)
        path = os.path.join(training_args.output_dir, "predictions.jsonl")
        os.makedirs(training_args.output_dir, exist_ok=True)
        count = exact = 0
        # whole or not at all (the first process writes it); the test split streamed a chunk at a time
        with atomic_write(path) if trainer.is_world_process_zero() else open(os.devnull, "w") as f:
            for chunk in datasets["test"].iter(batch_size=PREDICT_CHUNK):
                tests = [prompt_and_answer(dict(zip(chunk, row))) for row in zip(*chunk.values())]
                answers = llm.generate([chat for chat, _ in tests], training_args.max_new_tokens)
                for (chat, target), answer in zip(tests, answers):
                    exact += answer.strip() == target.strip()
                    f.write(json.dumps({"context": chat[-1]["content"], "answer": answer, "target": target},
                                       ensure_ascii=False) + "\n")
                count += len(tests)
        results["test"] = {"test_exact_match": exact / max(count, 1), "test_samples": count}
        trainer.report("test", results["test"])
        logger.info("Predictions written to %s", path)

    # --- model card / hub ----------------------------------------------------------------------------
    if training_args.do_train:
        tags = ["sft", "trl", *(["lora"] if model_args.use_peft else []), *(["qlora"] if model_args.quantized else [])]
        trainer.finish(tags=tags)
    return results


if __name__ == "__main__":
    run_cli(main)
