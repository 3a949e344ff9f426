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

Each algorithm is a recipe of its own, readable top to bottom, as TRL keeps one script per trainer:
``recipes/rlhf_rloo.py`` and ``recipes/rlhf_ppo.py``. This one runs the one ``--algorithm`` names (on the command
line or in ``--config``), with the same flags.
"""


from __future__ import annotations

import argparse
import sys

from plm_recipes.errors import ArgumentError
from plm_recipes.parsing import load_config_file
from plm_recipes.rlhf import RLHFArguments
from plm_recipes.rlhf.arguments import ALGORITHMS
from plm_recipes.utils import run_cli, sibling_recipe


def chosen_algorithm(argv: list[str]) -> str:
    """``--algorithm`` from the command line, else from ``--config``, else the default."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--algorithm")
    pre.add_argument("--config")
    known, _ = pre.parse_known_args(argv)
    algorithm = known.algorithm or (load_config_file(known.config).get("algorithm") if known.config else None)
    algorithm = algorithm or RLHFArguments.algorithm
    if algorithm not in ALGORITHMS:
        raise ArgumentError(f"--algorithm {algorithm!r}: expected one of {', '.join(ALGORITHMS)}")
    return algorithm


def main(args: list[str] | None = None) -> dict[str, dict[str, float]]:
    """Run the chosen algorithm's recipe; returns the training metrics and the mean reward of the sample
    generations before and after training (``{"train": ..., "samples": {"reward_before", "reward_after"}}``)."""
    argv = list(sys.argv[1:] if args is None else args)
    return sibling_recipe(__file__, f"rlhf_{chosen_algorithm(argv)}").main(argv, recipe="rlhf_sentiment")


if __name__ == "__main__":
    run_cli(main)
