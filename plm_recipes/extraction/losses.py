"""The span-pointer loss of UIE: binary cross-entropy on the start and on the end of every answer span."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

IGNORE_INDEX = -100


class SpanPointerLoss(nn.Module):
    """Mean binary cross-entropy of the start logits against the start labels and of the end logits against the
    end labels, averaged: ``(BCE(start) + BCE(end)) / 2``.

    UIE (Lu et al., 2022, "Unified Structure Generation for Universal Information Extraction"; PaddleNLP's
    span-pointer form) marks every token that starts an answer span with 1 in ``start_labels`` and every token
    that ends one with 1 in ``end_labels``: several spans per prompt, or none, are all one target. Unlike
    extractive QA's softmax over positions, each position is an independent sigmoid.

    Inputs:
        start_logits, end_logits: ``(batch, length)`` float logits (before the sigmoid).
        start_labels, end_labels: ``(batch, length)``: 1.0 / 0.0, and ``-100`` at positions that are not part of
            the text (the prompt, special tokens, padding), which the mean leaves out. PaddleNLP's loss averages
            over every position, padding included; leaving them out keeps the loss of a batch independent of how
            much it was padded.

    Example:
        >>> loss = SpanPointerLoss()
        >>> logits = torch.tensor([[0.0, 0.0, 0.0]])
        >>> labels = torch.tensor([[1.0, 0.0, -100.0]])
        >>> round(loss(logits, logits, labels, labels).item(), 4)  # log(2): every valid logit is 0
        0.6931
    """

    def forward(self, start_logits: torch.Tensor, end_logits: torch.Tensor, start_labels: torch.Tensor,
                end_labels: torch.Tensor) -> torch.Tensor:
        return (_masked_bce(start_logits, start_labels) + _masked_bce(end_logits, end_labels)) / 2


def _masked_bce(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    labels = labels.to(logits.dtype)
    valid = labels != IGNORE_INDEX
    if not valid.any():  # a batch of windows without text: nothing to learn, but keep the graph
        return logits.sum() * 0.0
    return F.binary_cross_entropy_with_logits(logits[valid], labels[valid])
