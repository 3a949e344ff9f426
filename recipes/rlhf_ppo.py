#!/usr/bin/env python
"""RLHF with PPO: train a causal LM to write positive comments, rewarded by a reward model on its own tokens.

Usage:

    # the reward model must read the policy's own tokens: train it by recipes/reward_model.py from the policy's
    # backbone; the value model starts from it too
    python recipes/reward_model.py --model_name_or_path google/gemma-3-270m --train_file ranklist.tsv \
        --validation_split_texts 0.1 --do_train --output_dir outputs/reward_model_gemma
    python recipes/rlhf_ppo.py --config recipes/configs/rlhf_sentiment_ppo.yaml \
        --reward_model outputs/reward_model_gemma

PPO (Schulman et al., 2017; as in Ziegler et al., 2019; TRL's ``PPOTrainer``, in ``trl.experimental.ppo`` up to TRL
1.12) learns a value model as a per-token baseline, which helps with long completions and sparse rewards.
``recipes/rlhf_sentiment.py --algorithm ppo`` runs this recipe; ``recipes/rlhf_rloo.py`` is the RLOO one, which
needs no value model and takes any classifier (or a person) as the reward.
"""

from __future__ import annotations

from datasets import Dataset
from transformers import AutoModelForSequenceClassification, DataCollatorWithPadding

from plm_recipes.errors import ModelLoadError
from plm_recipes.loading import from_pretrained, load_tokenizer_from, load_trained_sequence_classifier
from plm_recipes.rlhf import PPOSentimentConfig, RecipePPOTrainer, RewardScorer
from plm_recipes.rlhf.policy import encode_prompts, load_policy, resize_for_tokenizer
from plm_recipes.rlhf.runs import (
    RL_DEFAULTS,
    parse_rl_arguments,
    policy_card,
    read_prompts,
    rl_callbacks,
    train_and_finish,
)
from plm_recipes.utils import run_cli

RECIPE_DEFAULTS = {**RL_DEFAULTS, "algorithm": "ppo", "output_dir": "outputs/rlhf_ppo", "total_episodes": 800,
                   "num_mini_batches": 1, "num_ppo_epochs": 2, "kl_coef": 0.1, "stop_token": "eos",
                   "missing_eos_penalty": None, "num_sample_generations": 0, "local_rollout_forward_batch_size": 8}


def main(args: list[str] | None = None, recipe: str = "rlhf_ppo") -> dict[str, dict[str, float]]:
    """Run the recipe; returns the training metrics and the mean reward of the sample generations before and
    after training (``{"train": ..., "samples": {"reward_before", "reward_after"}}``)."""
    # --- arguments -----------------------------------------------------------------------------------
    rl_args, training_args, run_config = parse_rl_arguments(args, PPOSentimentConfig, "ppo", recipe, RECIPE_DEFAULTS,
                                                            __doc__.split("\n")[0])

    # --- prompts, policy (left padding, pad distinct from eos), reward and value models ----------------
    prompts, eval_prompts = read_prompts(rl_args, training_args)  # a dataset with a 'prompt' column, a list
    policy, tokenizer = load_policy(rl_args.policy_name_or_path)
    reward_model, value_model = load_ppo_reward_and_value(rl_args.reward_model, tokenizer)
    scorer = RewardScorer(rl_args.reward_model, device=str(training_args.device))
    samples, callbacks = rl_callbacks(policy, tokenizer, eval_prompts, scorer, rl_args, training_args.seed)

    # --- trainer -------------------------------------------------------------------------------------
    trainer = RecipePPOTrainer(
        model=policy, ref_model=None, reward_model=reward_model, value_model=value_model, args=training_args,
        processing_class=tokenizer, data_collator=DataCollatorWithPadding(tokenizer),
        train_dataset=prompts.map(lambda batch: encode_prompts(tokenizer, batch["prompt"], rl_args.max_prompt_length),
                                  batched=True, remove_columns=["prompt"], desc="Tokenizing the prompts"),
        eval_dataset=Dataset.from_dict(encode_prompts(tokenizer, eval_prompts, rl_args.max_prompt_length)),
        callbacks=callbacks, model_card=policy_card(recipe, rl_args, prompts), run_config=run_config,
        headline_metrics=(),
    )

    # --- train / save --------------------------------------------------------------------------------
    return train_and_finish(trainer, tokenizer, samples, len(prompts), "ppo")


def load_ppo_reward_and_value(path: str, tokenizer):
    """PPO's reward model (one output, on the policy's token ids) and a value model started from it.

    TRL's ``PPOTrainer`` feeds the reward model the policy's token ids and reads its ``score`` head at the last
    non-pad token: a reward model with another vocabulary would read other words (TRL issue #3595), so one is
    refused here; RLOO (``recipes/rlhf_rloo.py``) scores text with any model's own tokenizer.
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
