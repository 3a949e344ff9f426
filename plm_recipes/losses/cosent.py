"""CoSENT: a ranking loss on the cosine similarities of sentence pairs."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor, nn


def cosent_loss(scores: Tensor, labels: Tensor, scale: float = 20.0) -> Tensor:
    """``log(1 + sum(exp(scale * (s_j - s_i))))`` over all pairs ``(i, j)`` of the batch with ``label_i > label_j``.

    Args:
        scores: ``(batch,)`` similarity of each pair (e.g. cosine, in [-1, 1]).
        labels: ``(batch,)`` gold similarity (0/1 or graded); only their order matters.
        scale: inverse temperature: how sharply a wrongly ordered pair is penalised.
    """
    if scores.dtype in (torch.float16, torch.bfloat16):
        scores = scores.float()
    scores = scores.view(-1) * scale
    labels = labels.view(-1)
    if scores.shape != labels.shape:
        raise ValueError(f"expected one label per pair, got {labels.numel()} labels for {scores.numel()} pairs")
    # diff[i, j] = s_j - s_i, counted where pair i should score higher than pair j
    diff = scores[None, :] - scores[:, None]
    wrong_order = diff[labels[:, None] > labels[None, :]]
    return torch.logsumexp(torch.cat([scores.new_zeros(1), wrong_order]), dim=0)


class CoSENTLoss(nn.Module):
    """CoSENT (Consistent SENTence embedding) loss for a bi-encoder.

    For each pair ``(a_i, b_i)`` the model embeds both texts and scores them with cosine similarity ``s_i``.
    Every two pairs of the batch whose labels say ``i`` should score higher than ``j`` add ``exp(scale * (s_j - s_i))``:

        loss = log(1 + sum_{label_i > label_j} exp(scale * (s_j - s_i)))

    It only asks that matching pairs score higher than non-matching ones, the order the model is used in
    (ranking, a threshold), instead of pulling cosines to fixed targets as a mean-squared loss does; it trains
    faster and ranks better than :class:`sentence_transformers.losses.CosineSimilarityLoss`.

    Inputs:
        +--------------------------------+---------------------------------------+
        | texts                          | labels                                |
        +================================+=======================================+
        | ``(text_a, text_b)`` pairs     | a float or 0/1 similarity per pair    |
        +--------------------------------+---------------------------------------+

    Args:
        model: a :class:`sentence_transformers.SentenceTransformer`.
        scale: inverse temperature (20 as in the paper).

    Reference:
        Huang et al., "CoSENT: Consistent Sentence Embedding via Similarity Ranking", IEEE/ACM TASLP 2024
        (first described by Su Jianlin in 2022: https://kexue.fm/archives/8847).

    Example::

        from sentence_transformers import SentenceTransformer
        from plm_recipes.losses import CoSENTLoss
        from plm_recipes.trainer import BiEncoderTrainer

        model = SentenceTransformer("path/to/encoder")
        trainer = BiEncoderTrainer(model=model, args=args, train_dataset=pairs, loss=CoSENTLoss(model))
        trainer.train()
    """

    def __init__(self, model: nn.Module, scale: float = 20.0):
        super().__init__()
        self.model = model
        self.scale = scale

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor) -> Tensor:
        a, b = (self.model(features)["sentence_embedding"] for features in sentence_features)
        return cosent_loss(torch.nn.functional.cosine_similarity(a, b, dim=-1), labels, self.scale)

    def get_config_dict(self) -> dict[str, Any]:
        return {"scale": self.scale}

    @property
    def citation(self) -> str:
        return """
@article{huang2024cosent,
    author={Huang, Xiang and Peng, Hao and Zou, Dongcheng and Liu, Zhiwei and Li, Jianxin and Liu, Kay and Wu, Jia and Su, Jianlin and Yu, Philip S.},
    journal={IEEE/ACM Transactions on Audio, Speech, and Language Processing},
    title={CoSENT: Consistent Sentence Embedding via Similarity Ranking},
    year={2024},
    doi={10.1109/TASLP.2024.3402087}
}
"""
