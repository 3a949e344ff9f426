"""The verbalizer loss: cross-entropy over the label words' scores at the blank, with optional R-Drop."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class VerbalizerLoss(nn.Module):
    """Cross-entropy over label scores (:func:`~plm_recipes.prompting.verbalizer.label_scores`), as PET trains
    (Schick & Schütze, 2021, "Exploiting Cloze Questions for Few Shot Text Classification and Natural Language
    Inference": the softmax runs over the label words only, not the whole vocabulary).

    With ``rdrop_alpha > 0`` and a second forward pass of the same batch (another dropout mask), R-Drop adds the
    symmetric KL divergence between the two predictions (Liang et al., 2021, "R-Drop: Regularized Dropout for
    Neural Networks")::

        loss = (CE(s1, y) + CE(s2, y)) / 2 + alpha * (KL(p1 || p2) + KL(p2 || p1)) / 2

    Inputs: ``scores`` ``(batch, labels)``, ``labels`` ``(batch,)`` label ids, optionally ``second_scores`` like
    ``scores``. Returns a scalar.

        >>> loss = VerbalizerLoss()
        >>> round(loss(torch.tensor([[0.0, 0.0]]), torch.tensor([1])).item(), 4)  # log 2
        0.6931
        >>> s = torch.tensor([[2.0, 0.0]])
        >>> loss = VerbalizerLoss(rdrop_alpha=1.0)
        >>> bool(loss(s, torch.tensor([0]), s) == F.cross_entropy(s, torch.tensor([0])))  # same predictions: no KL
        True
    """

    def __init__(self, rdrop_alpha: float = 0.0):
        super().__init__()
        if rdrop_alpha < 0:
            raise ValueError(f"rdrop_alpha must be >= 0, got {rdrop_alpha}")
        self.rdrop_alpha = rdrop_alpha

    def forward(self, scores: torch.Tensor, labels: torch.Tensor, second_scores: torch.Tensor | None = None) -> torch.Tensor:
        loss = F.cross_entropy(scores, labels)
        if second_scores is None:
            return loss
        loss = (loss + F.cross_entropy(second_scores, labels)) / 2
        p, q = F.log_softmax(scores, -1), F.log_softmax(second_scores, -1)
        kl = (F.kl_div(q, p, log_target=True, reduction="batchmean")
              + F.kl_div(p, q, log_target=True, reduction="batchmean")) / 2
        return loss + self.rdrop_alpha * kl
