"""RLHF: a reward model from human rankings, reward-driven generation with TRL's PPO / RLOO, human reward at the
terminal.

The recipes are ``recipes/reward_model.py`` and ``recipes/rlhf_sentiment.py``. Here: rank-list and pair data
(:func:`read_rank_lists`, :func:`split_by_text`, :class:`RankListCollator`), the pairwise rank loss
(:class:`PairwiseRankLoss`) and metrics, the trainers, the scorer that wraps any sequence classifier
(:class:`RewardScorer`, :class:`ClassifierReward`), the policy's helpers (:mod:`.policy`) and the terminal labeler
(:mod:`.labeling`, ``plm-recipes label reward``).
"""

from ..families import Family
from .arguments import (
    PPOSentimentConfig,
    RewardDataArguments,
    RewardModelConfig,
    RLHFArguments,
    RLOOSentimentConfig,
)
from .data import (
    RankList,
    RankListCollator,
    check_rank_list,
    count_pairs,
    encode_rank_lists,
    ordered_pairs,
    read_rank_lists,
    split_by_text,
)
from .losses import PairwiseRankLoss, pair_indices, pairwise_metrics
from .reward import ClassifierReward, RewardScorer
from .trainer import RecipePPOTrainer, RecipeRLOOTrainer, RewardModelTrainer, compute_pairwise_metrics

__all__ = [
    "ClassifierReward", "PPOSentimentConfig", "PairwiseRankLoss", "RLHFArguments", "RLOOSentimentConfig",
    "RankList", "RankListCollator", "RecipePPOTrainer", "RecipeRLOOTrainer", "RewardDataArguments",
    "RewardModelConfig", "RewardModelTrainer", "RewardScorer", "check_rank_list", "compute_pairwise_metrics",
    "count_pairs", "encode_rank_lists", "ordered_pairs", "pair_indices", "pairwise_metrics", "read_rank_lists",
    "split_by_text",
]

# What the family declares to the core (the plm_recipes.families entry point in setup.cfg).
FAMILY = Family("rlhf", commands="plm_recipes.rlhf.cli:add_commands")
