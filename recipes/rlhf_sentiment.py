#!/usr/bin/env python
"""RLHF: train a causal LM to write positive comments, rewarded by a sentiment model, with TRL's PPO or RLOO.

Usage:

    # RLOO (the default): any sequence classifier is the reward, read through its own tokenizer
    python recipes/rlhf_sentiment.py --algorithm rloo \
        --policy_name_or_path google/gemma-3-270m --reward_model outputs/reward_model \
        --prompts_file data/rlhf/prompts.tsv --output_dir outputs/rlhf_rloo

    # a person's scores, typed at the terminal for each generation (each written to output_dir/human_scores.jsonl)
    python recipes/rlhf_sentiment.py --config recipes/configs/rlhf_sentiment.yaml --reward_model human \
        --per_device_train_batch_size 4 --num_generations 2 --max_steps 20

    # a sentiment classifier from recipes/text_classification.py: the probability of its positive label
    python recipes/rlhf_sentiment.py --config recipes/configs/rlhf_sentiment.yaml \
        --reward_model outputs/sentiment_classifier --reward_label 正面

    # PPO (trl.experimental.ppo, TRL 1.12): the reward model must be on the policy's own tokenizer, i.e. trained by
    # recipes/reward_model.py from the policy's backbone; the value model starts from it too
    python recipes/reward_model.py --model_name_or_path google/gemma-3-270m --train_file ranklist.tsv \
        --validation_split_texts 0.1 --do_train --output_dir outputs/reward_model_gemma
    python recipes/rlhf_sentiment.py --config recipes/configs/rlhf_sentiment_ppo.yaml \
        --reward_model outputs/reward_model_gemma

Prompts: a text file, one prompt (a comment's opening: ``这部电影很``, ``刚收到货，感觉``, ...) per line. Every
``--sample_every`` steps one completion per evaluation prompt is sampled, scored and printed with the mean reward
(also in ``logs/samples.jsonl``); ``logs/rl_curves.png`` plots reward, KL and entropy. The policy is saved to
``--output_dir``: ``plm-recipes generate --model output_dir --prompt 这部电影很``.

Which to pick: RLOO (Ahmadian et al., 2024) needs no value model (one model less to hold and train), takes the
reward as a function (any classifier, any tokenizer) and is TRL's maintained online trainer. PPO (Schulman et al.,
2017; as in Ziegler et al., 2019) learns a value model as a per-token baseline, which helps with long completions
and sparse rewards, but lives in ``trl.experimental.ppo`` only up to TRL 1.12 and reads the reward model on the
policy's token ids.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from datasets import Dataset
from transformers import AutoModelForSequenceClassification, DataCollatorWithPadding, set_seed

from plm_recipes.data import read_text_lines
from plm_recipes.devices import trl_cpu_defaults
from plm_recipes.errors import ArgumentError, ModelLoadError
from plm_recipes.loading import from_pretrained, load_tokenizer_from, load_trained_sequence_classifier
from plm_recipes.modelcard import ModelCardInfo
from plm_recipes.parsing import load_config_file, parse_args
from plm_recipes.rlhf import (
    ClassifierReward,
    PPOSentimentConfig,
    RecipePPOTrainer,
    RecipeRLOOTrainer,
    RewardScorer,
    RLHFArguments,
    RLOOSentimentConfig,
)
from plm_recipes.rlhf.labeling import HumanReward
from plm_recipes.rlhf.policy import (
    RLCurveCallback,
    SampleGenerationCallback,
    encode_prompts,
    load_policy,
    resize_for_tokenizer,
)
from plm_recipes.run_config import RunConfig
from plm_recipes.utils import run_cli, setup_logging

logger = logging.getLogger("plm_recipes.rlhf_sentiment")

HUMAN = "human"  # --reward_model human: a person scores each generation at the terminal (RLOO)

COMMON_DEFAULTS = {
    "learning_rate": 1e-5,
    "per_device_train_batch_size": 8,
    "logging_steps": 1,
    "save_strategy": "no",
    "report_to": "none",
    "freeze_word_embeddings": True,  # a small LM's vocabulary is most of its weights; the reward is about style
}
RECIPE_DEFAULTS = {
    "ppo": {**COMMON_DEFAULTS, "output_dir": "outputs/rlhf_ppo", "total_episodes": 800, "num_mini_batches": 1,
            "num_ppo_epochs": 2, "kl_coef": 0.1, "stop_token": "eos", "missing_eos_penalty": None,
            "num_sample_generations": 0, "local_rollout_forward_batch_size": 8},
    "rloo": {**COMMON_DEFAULTS, "output_dir": "outputs/rlhf_rloo", "max_steps": 100, "num_generations": 4,
             "beta": 0.1, "temperature": 1.0, "log_completions": False},
}

USAGE = """\
```python
from transformers import pipeline

generator = pipeline("text-generation", model="{model}")
generator("这部电影很", max_new_tokens=24, do_sample=True)
```

or from the command line: `plm-recipes generate --model {model} --prompt 这部电影很 --num_return_sequences 3`
"""


def chosen_algorithm(argv: list[str]) -> str:
    """``--algorithm`` from the command line, else from ``--config``, else the default: it decides which TRL
    config the rest of the arguments fill."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--algorithm")
    pre.add_argument("--config")
    known, _ = pre.parse_known_args(argv)
    algorithm = known.algorithm or (load_config_file(known.config).get("algorithm") if known.config else None)
    algorithm = algorithm or RLHFArguments.algorithm
    if algorithm not in RECIPE_DEFAULTS:
        raise ArgumentError(f"--algorithm {algorithm!r}: expected one of {', '.join(RECIPE_DEFAULTS)}")
    return algorithm


def main(args: list[str] | None = None) -> dict[str, dict[str, float]]:
    """Run the recipe; returns the training metrics and the mean reward of the sample generations before and
    after training (``{"train": ..., "samples": {"reward_before", "reward_after"}}``)."""
    # --- arguments -----------------------------------------------------------------------------------
    argv = list(sys.argv[1:] if args is None else args)
    algorithm = chosen_algorithm(argv)
    config_class = PPOSentimentConfig if algorithm == "ppo" else RLOOSentimentConfig
    rl_args, training_args = parse_args((RLHFArguments, config_class), argv,
                                        defaults={**RECIPE_DEFAULTS[algorithm], **trl_cpu_defaults(argv)},
                                        description=__doc__.split("\n")[0])
    if algorithm == "ppo":
        training_args.response_length = rl_args.max_new_tokens
    else:
        training_args.max_completion_length = rl_args.max_new_tokens
    run_config = RunConfig.from_arguments("rlhf_sentiment", rl_args, training_args)
    setup_logging(training_args)
    set_seed(training_args.seed)

    # --- prompts -------------------------------------------------------------------------------------
    prompts = read_text_lines(rl_args.prompts_file)
    eval_prompts = (read_text_lines(rl_args.eval_prompts_file) if rl_args.eval_prompts_file
                    else prompts)[: rl_args.num_eval_prompts]

    # --- policy (left padding, pad distinct from eos) and reward ---------------------------------------
    policy, tokenizer = load_policy(rl_args.policy_name_or_path)
    if algorithm == "ppo":
        reward_model, value_model = load_ppo_reward_and_value(rl_args.reward_model, tokenizer)
        scorer = RewardScorer(rl_args.reward_model, device=str(training_args.device))
        train_dataset = Dataset.from_dict(encode_prompts(tokenizer, prompts, rl_args.max_prompt_length))
        eval_dataset = Dataset.from_dict(encode_prompts(tokenizer, eval_prompts, rl_args.max_prompt_length))
    elif rl_args.reward_model == HUMAN:  # scores typed at the terminal, each written to disk at once
        human = HumanReward(os.path.join(training_args.output_dir, "human_scores.jsonl"))
        scorer = None
        train_dataset = Dataset.from_dict({"prompt": prompts})
        eval_dataset = None
    else:
        scorer = RewardScorer(rl_args.reward_model, label=rl_args.reward_label, device=str(training_args.device))
        train_dataset = Dataset.from_dict({"prompt": prompts})
        eval_dataset = None  # RLOO's evaluation would generate again; the sample callback does it once
    callbacks = [RLCurveCallback()]
    if scorer is not None:  # (a person's reward is asked only for what the trainer generates)
        samples = SampleGenerationCallback(policy, tokenizer, eval_prompts, scorer, every=rl_args.sample_every,
                                           max_new_tokens=rl_args.max_new_tokens,
                                           temperature=rl_args.temperature_sampling, seed=training_args.seed)
        callbacks.insert(0, samples)

    # --- trainer -------------------------------------------------------------------------------------
    card = ModelCardInfo(
        recipe="rlhf_sentiment", pipeline_tag="text-generation", base_model=rl_args.policy_name_or_path,
        data_files={"prompts": rl_args.prompts_file}, num_examples={"prompts": len(prompts)}, usage=USAGE,
    )
    common = {"args": training_args, "processing_class": tokenizer, "train_dataset": train_dataset,
              "callbacks": callbacks, "model_card": card, "run_config": run_config,
              "headline_metrics": ()}
    if algorithm == "ppo":
        trainer = RecipePPOTrainer(model=policy, ref_model=None, reward_model=reward_model, value_model=value_model,
                                   eval_dataset=eval_dataset, data_collator=DataCollatorWithPadding(tokenizer),
                                   **common)
    else:
        reward_function = human if scorer is None else ClassifierReward(scorer, rl_args.reward_with_prompt)
        trainer = RecipeRLOOTrainer(model=policy, reward_funcs=reward_function, **common)

    # --- train / save --------------------------------------------------------------------------------
    results = {"train": trainer.train_and_report(len(prompts))}
    tokenizer.save_pretrained(training_args.output_dir)
    if scorer is not None:
        before, after = samples.history[0]["mean_reward"], samples.history[-1]["mean_reward"]
        results["samples"] = {"reward_before": before, "reward_after": after}
        logger.info("Mean reward of the sample generations: %.4f before training, %.4f after.", before, after)
        trainer.report("samples", results["samples"])
    trainer.finish(tags=["rlhf", algorithm])
    return results


def load_ppo_reward_and_value(path: str, tokenizer):
    """PPO's reward model (one output, on the policy's token ids) and a value model started from it.

    TRL's ``PPOTrainer`` feeds the reward model the policy's token ids and reads its ``score`` head at the last
    non-pad token: a reward model with another vocabulary would read other words (TRL issue #3595), so one is
    refused here; RLOO (``--algorithm rloo``) scores text with any model's own tokenizer.
    """
    reward_model = load_trained_sequence_classifier(path, "PPO's reward", num_labels=1)
    reward_vocab = load_tokenizer_from(path).get_vocab()
    policy_vocab = tokenizer.get_vocab()
    mismatched = [t for t, i in reward_vocab.items() if policy_vocab.get(t) != i]
    if mismatched or not hasattr(reward_model, reward_model.base_model_prefix) or not hasattr(reward_model, "score"):
        why = (f"its tokenizer differs from the policy's ({len(mismatched)} tokens differ, e.g. "
               f"{mismatched[0]!r})" if mismatched else f"it is a {type(reward_model).__name__}, without the "
               "'score' head PPOTrainer reads")
        raise ModelLoadError(f"{path} cannot be PPO's reward model: {why}. PPO reads the reward on the policy's own "
                             "tokens: train one from the policy's backbone with recipes/reward_model.py, or use "
                             "--algorithm rloo, which scores text with any classifier's own tokenizer.")
    value_model = from_pretrained(AutoModelForSequenceClassification, path, "value model", num_labels=1)
    for model in (reward_model, value_model):
        resize_for_tokenizer(model, tokenizer)
    return reward_model, value_model


if __name__ == "__main__":
    run_cli(main)
