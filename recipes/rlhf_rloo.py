#!/usr/bin/env python
"""RLHF with RLOO: train a causal LM to write positive comments, rewarded by a sentiment model or by a person.

Usage:

    # any sequence classifier is the reward, read through its own tokenizer
    python recipes/rlhf_rloo.py \
        --policy_name_or_path google/gemma-3-270m --reward_model outputs/reward_model \
        --prompts_file data/rlhf/prompts.tsv --output_dir outputs/rlhf_rloo

    # a sentiment classifier from recipes/text_classification.py: the probability of its positive label
    python recipes/rlhf_rloo.py --config recipes/configs/rlhf_sentiment.yaml \
        --reward_model outputs/sentiment_classifier --reward_label 正面

    # a person's scores, typed at the terminal for each generation (each written to output_dir/human_scores.jsonl)
    python recipes/rlhf_rloo.py --config recipes/configs/rlhf_sentiment.yaml --reward_model human \
        --per_device_train_batch_size 4 --num_generations 2 --max_steps 20

RLOO (Ahmadian et al., 2024; TRL's ``RLOOTrainer``) samples ``--num_generations`` completions per prompt and uses
the mean reward of the others as each one's baseline: no value model, and the reward is any function of the text.
``recipes/rlhf_sentiment.py --algorithm rloo`` runs this recipe; ``recipes/rlhf_ppo.py`` is the PPO one. Prompts,
samples, curves and the saved policy: as ``recipes/rlhf_sentiment.py`` says.
"""

from __future__ import annotations

import os


from plm_recipes.rlhf import ClassifierReward, RecipeRLOOTrainer, RewardScorer, RLOOSentimentConfig
from plm_recipes.rlhf.human_reward import HumanReward
from plm_recipes.rlhf.policy import load_policy
from plm_recipes.rlhf.runs import (
    RL_DEFAULTS,
    parse_rl_arguments,
    policy_card,
    read_prompts,
    rl_callbacks,
    train_and_finish,
)
from plm_recipes.utils import run_cli

HUMAN = "human"  # --reward_model human: a person scores each generation at the terminal

RECIPE_DEFAULTS = {**RL_DEFAULTS, "algorithm": "rloo", "output_dir": "outputs/rlhf_rloo", "max_steps": 100,
                   "num_generations": 4, "beta": 0.1, "temperature": 1.0, "log_completions": False}


def main(args: list[str] | None = None, recipe: str = "rlhf_rloo") -> dict[str, dict[str, float]]:
    """Run the recipe; returns the training metrics and, with a model's reward, the mean reward of the sample
    generations before and after training (``{"train": ..., "samples": {"reward_before", "reward_after"}}``)."""
    # --- arguments -----------------------------------------------------------------------------------
    rl_args, training_args, run_config = parse_rl_arguments(args, RLOOSentimentConfig, "rloo", recipe, RECIPE_DEFAULTS,
                                                            __doc__.split("\n")[0])

    # --- prompts, policy (left padding, pad distinct from eos) and the reward --------------------------
    prompts, eval_prompts = read_prompts(rl_args, training_args)  # a dataset with a 'prompt' column, a list
    policy, tokenizer = load_policy(rl_args.policy_name_or_path)
    if rl_args.reward_model == HUMAN:  # scores typed at the terminal, each written to disk at once
        scorer = None
        reward = HumanReward(os.path.join(training_args.output_dir, "human_scores.jsonl"))
    else:
        scorer = RewardScorer(rl_args.reward_model, label=rl_args.reward_label, device=str(training_args.device))
        reward = ClassifierReward(scorer, rl_args.reward_with_prompt)
    samples, callbacks = rl_callbacks(policy, tokenizer, eval_prompts, scorer, rl_args, training_args.seed)

    # --- trainer: no evaluation set (RLOO's would generate again; the sample callback does it once) ----
    trainer = RecipeRLOOTrainer(
        model=policy, reward_funcs=reward, args=training_args, processing_class=tokenizer,
        train_dataset=prompts, callbacks=callbacks,
        model_card=policy_card(recipe, rl_args, prompts), run_config=run_config, headline_metrics=(),
    )

    # --- train / save --------------------------------------------------------------------------------
    return train_and_finish(trainer, tokenizer, samples, len(prompts), "rloo")


if __name__ == "__main__":
    run_cli(main)
