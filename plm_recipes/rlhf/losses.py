"""The pairwise rank loss over rank lists of any lengths, and the pairwise metrics that go with it."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


def pair_indices(list_lengths: torch.Tensor | list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Row indices ``(better, worse)`` of every ordered pair in rank lists laid out one after another (a list of
    ``K`` texts at rows ``s .. s+K-1``, best first): ``sum K(K-1)/2`` pairs, ``better < worse`` within each list.

    >>> pair_indices([3, 2])
    (tensor([0, 0, 1, 3]), tensor([1, 2, 2, 4]))
    """
    lengths = [int(k) for k in list_lengths]
    better, worse, start = [], [], 0
    for k in lengths:
        i, j = torch.triu_indices(k, k, offset=1)
        better.append(i + start)
        worse.append(j + start)
        start += k
    if not better:
        return torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long)
    return torch.cat(better), torch.cat(worse)


class PairwiseRankLoss(nn.Module):
    """The reward model's loss on rank lists: each list of ``K`` texts, best first, gives its ``K(K-1)/2`` ordered
    pairs, and every pair ``(better, worse)`` costs

        ``-log sigmoid(r_better - r_worse)``

    the Bradley-Terry likelihood of the order, as in InstructGPT's reward model (Ouyang et al., 2022, "Training
    language models to follow instructions with human feedback", eq. 1, which also scores all ``K(K-1)/2`` pairs of
    a ranking of ``K`` from one forward pass of the ``K`` texts). The loss is the mean over all pairs of the batch.

    Written here rather than taken from TRL's ``RewardTrainer``, which is pairwise: a rank list of four would be
    six chosen/rejected rows, each text encoded three times instead of once; it also appends ``eos_token`` as a
    string (``None`` for BERT tokenizers) and drops texts over ``max_length`` instead of truncating them.

    Inputs:
        rewards: ``(N,)`` or ``(N, 1)``, one score per text, the lists' texts one after another.
        list_lengths: ``(B,)``, each list's ``K`` (``sum K == N``).

    Returns:
        The scalar loss.

    >>> loss = PairwiseRankLoss()
    >>> round(loss(torch.tensor([2.0, 0.0, -1.0]), torch.tensor([3])).item(), 4)  # pairs: 2-0, 2-(-1), 0-(-1)
    0.1629
    """

    def forward(self, rewards: torch.Tensor, list_lengths: torch.Tensor) -> torch.Tensor:
        rewards = rewards.reshape(-1)
        if int(list_lengths.sum()) != rewards.numel():
            raise ValueError(f"{rewards.numel()} rewards for lists of {int(list_lengths.sum())} texts in all")
        better, worse = pair_indices(list_lengths)
        better, worse = better.to(rewards.device), worse.to(rewards.device)
        return -F.logsigmoid(rewards[better] - rewards[worse]).mean()


def pairwise_metrics(rewards: np.ndarray, list_lengths: np.ndarray) -> dict[str, float]:
    """Pairwise accuracy (the fraction of ordered pairs scored ``r_better > r_worse``; a tie counts as wrong) and
    mean margin (the mean of ``r_better - r_worse``) over all pairs of the rank lists.

    Args:
        rewards: ``(B, K_max)``, each row a list's scores, best first, then padding.
        list_lengths: ``(B,)``, how many scores of each row are real.

    >>> pairwise_metrics(np.array([[3.0, 1.0, 2.0], [0.5, -1.0, -100]]), np.array([3, 2]))
    {'accuracy': 0.75, 'margin': 0.875, 'pairs': 4}
    """
    diffs = []
    for row, k in zip(np.asarray(rewards, dtype=np.float64), np.asarray(list_lengths).reshape(-1)):
        k = int(k)
        i, j = np.triu_indices(k, 1)
        diffs.append(row[:k][i] - row[:k][j])
    d = np.concatenate(diffs) if diffs else np.zeros(0)
    if d.size == 0:
        return {"accuracy": 0.0, "margin": 0.0, "pairs": 0}
    return {"accuracy": float((d > 0).mean()), "margin": float(d.mean()), "pairs": int(d.size)}
