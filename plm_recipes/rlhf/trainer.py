"""The RLHF family's trainers: the reward model's (rank lists, :class:`PairwiseRankLoss`) and TRL's PPO and RLOO
trainers with :class:`~plm_recipes.trainer.RecipeTrainerMixin`."""

from __future__ import annotations

import warnings

import numpy as np
import torch
from transformers import EvalPrediction
from trl import RLOOTrainer

with warnings.catch_warnings():  # known and pinned (trl<1.13, setup.cfg): not a warning for every command
    warnings.simplefilter("ignore")
    from trl.experimental.ppo import PPOTrainer

from ..trainer import RecipeTrainer, RecipeTrainerMixin
from .losses import PairwiseRankLoss, pairwise_metrics

# Padding of the per-list reward rows in evaluation (Trainer pads rows of different widths with -100 too).
PAD_REWARD = -100.0


class RewardModelTrainer(RecipeTrainer):
    """Trains a one-output sequence classifier on rank lists (batches from
    :class:`~plm_recipes.rlhf.data.RankListCollator`) with :class:`PairwiseRankLoss`; evaluation predicts each
    list's rewards as a ``(B, K_max)`` row (padded with -100) and its length as the label, which
    :func:`compute_pairwise_metrics` turns into pairwise accuracy and mean margin.

    Args:
        loss: the rank loss (default :class:`PairwiseRankLoss`).
        *args, **kwargs: as for :class:`~plm_recipes.trainer.RecipeTrainer`.
    """

    def __init__(self, *args, loss: torch.nn.Module | None = None, **kwargs):
        kwargs.setdefault("headline_metrics", ("accuracy", "margin"))
        kwargs.setdefault("compute_metrics", compute_pairwise_metrics)
        super().__init__(*args, **kwargs)
        self.rank_loss = loss if loss is not None else PairwiseRankLoss()

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        inputs = dict(inputs)
        lengths = inputs.pop("list_lengths")
        rewards = model(**inputs).logits
        if rewards.shape[-1] != 1:
            raise ValueError(f"a reward model has one output per text; this one has {rewards.shape[-1]}")
        rewards = rewards.squeeze(-1)
        loss = self.rank_loss(rewards, lengths)
        return (loss, (rewards, lengths)) if return_outputs else loss

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        inputs = self._prepare_inputs(inputs)
        with torch.no_grad():
            loss, (rewards, lengths) = self.compute_loss(model, inputs, return_outputs=True)
        loss = loss.detach()
        if prediction_loss_only:
            return loss, None, None
        return loss, rows_of_lists(rewards.detach(), lengths), lengths


def rows_of_lists(rewards: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """``(N,)`` rewards of lists laid one after another -> ``(B, K_max)`` rows padded with :data:`PAD_REWARD`."""
    rows = rewards.new_full((len(lengths), int(lengths.max())), PAD_REWARD)
    start = 0
    for i, k in enumerate(lengths.tolist()):
        rows[i, :k] = rewards[start:start + k]
        start += k
    return rows


def compute_pairwise_metrics(p: EvalPrediction) -> dict[str, float]:
    """Pairwise accuracy, mean margin and number of pairs of an evaluation of :class:`RewardModelTrainer`."""
    predictions = p.predictions[0] if isinstance(p.predictions, tuple) else p.predictions
    return pairwise_metrics(np.asarray(predictions), np.asarray(p.label_ids))


class RecipePPOTrainer(RecipeTrainerMixin, PPOTrainer):
    """TRL's ``PPOTrainer`` (``trl.experimental.ppo``, removed from TRL 1.13) with the recipes' additions."""


class RecipeRLOOTrainer(RecipeTrainerMixin, RLOOTrainer):
    """TRL's ``RLOOTrainer`` with the recipes' additions."""
