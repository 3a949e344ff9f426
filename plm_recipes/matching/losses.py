"""The pointwise cross-encoder's loss: sentence-transformers' binary cross-entropy, run on length-sorted pieces of
the batch (:class:`PointwiseMatchingLoss`), plus an optional listwise softmax cross-entropy within each group of pairs
that share a text (:func:`listwise_softmax_loss`)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss
from sentence_transformers.util import batch_to_device
from torch import Tensor

from ..batching import forward_in_pieces, length_sorted_rows


class PointwiseMatchingLoss(BinaryCrossEntropyLoss):
    """sentence-transformers' :class:`~sentence_transformers.cross_encoder.losses.BinaryCrossEntropyLoss` on each
    pair's logit, with what it lacks:

    * ``pieces``: the batch's pairs are tokenized together (``model.preprocess``) and the model runs on up to
      ``pieces`` length-sorted pieces of them, each cut to its own longest pair (:func:`plm_recipes.batching.
      forward_in_pieces`); their scores are put back in the batch's order before the loss, so the loss, and the
      gradient of its one backward pass, are the whole batch's, with less padding (``--micro_batches_by_length``).
      :class:`~plm_recipes.matching.cross_encoder.PointwiseMatchingTrainer` sets it for rows that hold a text's
      pairs; a batch of pairs it splits itself (:meth:`split_rows`), a backward pass per piece.
    * ``listwise_weight``: adds that times :func:`listwise_softmax_loss` over the pairs of each text, computed on the
      same scores (one forward). sentence-transformers' ``ListNetLoss`` is not that loss: its target is
      ``softmax(labels)`` (0.58 / 0.21 / 0.21 for one match among three, where ours is 1 / 0 / 0), and it reads
      ``(query, [documents])`` rows as ``(query, document)`` pairs, the other way round from this recipe's
      ``(category, text)`` pairs.

    Inputs: ``(text_a, text_b)`` pair rows with a 0/1 ``label``; with ``listwise_weight``, rows of one text_b with all
    its categories, ``text_a`` a list and ``label`` a list as long (:func:`plm_recipes.matching.data.group_pairs`).
    """

    def __init__(self, model, listwise_weight: float = 0.0, pieces: int = 1, **kwargs):
        super().__init__(model, **kwargs)
        self.listwise_weight = listwise_weight
        self.pieces = pieces

    def forward(self, inputs: list[list], labels, prompt: str | None = None, task: str | None = None) -> Tensor:
        if len(inputs) != 2:
            raise ValueError(f"{type(self).__name__} expects two text columns (text_a, text_b), found {len(inputs)}")
        text_a, text_b = inputs
        groups = None
        if text_a and isinstance(text_a[0], list | tuple):  # a text's pairs in one row
            pairs = [(a, b) for row, b in zip(text_a, text_b) for a in row]
            groups = torch.tensor([i for i, row in enumerate(text_a) for _ in row])
            labels = torch.cat([torch.as_tensor(label).reshape(-1) for label in labels])
        else:
            pairs = list(zip(text_a, text_b))
        logits = self.scores(pairs, prompt=prompt, task=task)
        labels = torch.as_tensor(labels).reshape(-1).to(logits.device, torch.float32)
        if labels.numel() != logits.numel():
            raise ValueError(f"{type(self).__name__} expects one label per pair: {logits.numel()} pairs, "
                             f"{labels.numel()} labels")
        loss = self.bce_with_logits_loss(self.activation_fn(logits), labels)
        if self.listwise_weight and groups is not None:
            loss = loss + self.listwise_weight * listwise_softmax_loss(logits, labels, groups.to(logits.device))
        return loss

    def scores(self, pairs: Sequence[tuple[str, str]], prompt: str | None = None, task: str | None = None) -> Tensor:
        """``(len(pairs),)`` logits of the model, run on length-sorted pieces of the tokenized pairs
        (:func:`plm_recipes.batching.forward_in_pieces`)."""
        features = batch_to_device(self.model.preprocess(list(pairs), prompt=prompt, task=task), self.model.device)
        padding_side = getattr(self.model.tokenizer, "padding_side", "right")
        return forward_in_pieces(self.model, features, self.pieces, padding_side)["scores"].reshape(-1).float()

    def split_rows(self, batch: dict, pieces: int) -> list[dict] | None:
        """The rows of ``batch`` (a ``CrossEncoderDataCollator`` batch of pairs: two text columns as lists, a
        ``label`` tensor, perhaps ``prompt`` / ``task``) as at most ``pieces`` batches of pairs of similar tokenized
        length (:func:`plm_recipes.batching.length_sorted_rows`), each a batch of the same form, for a training
        step that runs them one at a time; ``None`` for rows that hold a text's pairs (the listwise term ranks them
        together) or fewer than two rows. The pairs are tokenized here to measure them, and again by this loss."""
        columns = [key for key, value in batch.items() if key not in ("label", "prompt", "task", "dataset_name")
                   and isinstance(value, list)]
        if len(columns) != 2 or not batch[columns[0]] or isinstance(batch[columns[0]][0], list | tuple):
            return None
        text_a, text_b = (batch[key] for key in columns)
        n = len(text_a)
        if n < 2 or pieces < 2:
            return None
        features = self.model.preprocess(list(zip(text_a, text_b)), prompt=batch.get("prompt"), task=batch.get("task"))
        out = []
        for rows in length_sorted_rows(features["attention_mask"], pieces):
            out.append({key: [value[i] for i in rows.tolist()] if isinstance(value, list)
                        else value[rows] if isinstance(value, Tensor) and value.dim() > 0 and value.shape[0] == n
                        else value
                        for key, value in batch.items()})
        return out

    def get_config_dict(self):
        return {**super().get_config_dict(), "listwise_weight": self.listwise_weight}


def listwise_softmax_loss(logits: Tensor, labels: Tensor, groups: Tensor) -> Tensor:
    """Softmax cross-entropy over the pairs of each group, against the group's labels normalised to sum to 1.

    A cross-encoder scores each ``(category, text)`` pair on its own. Trained only with binary cross-entropy,
    it can call a vague text ("太差了，不能买") a fair match for several categories at once. Putting the pairs of
    one text side by side, ``-sum_i t_i * log softmax(z)_i`` with ``t = labels / sum(labels)``, teaches it which
    category the text belongs to *rather than* the others: ListNet's top-one loss (Cao et al., 2007), or
    softmax cross-entropy when a group has one positive. It is meant to be added to the pointwise binary
    cross-entropy, which keeps ``sigmoid(z)`` a match probability; the cross-encoder's counterpart of
    sentence-transformers' ``MultipleNegativesRankingLoss`` with hard negatives. The softmax keeps pushing the
    negatives' scores down, so check the decision threshold: on comment_matching it improved the ranking
    (best-threshold F1 0.911 against 0.906) while the best threshold fell to about 0.01.

    Args:
        logits: ``(n_pairs,)`` one score per pair.
        labels: ``(n_pairs,)`` 1 for a match, 0 otherwise (graded relevance also works: the target is
            proportional to it).
        groups: ``(n_pairs,)`` integer id of each pair's group (the pairs of one text).

    Returns:
        The mean over groups with at least one positive and at least two pairs (the others have nothing to
        rank); zero, still attached to the graph, when there is none.

    Reference: Cao et al., "Learning to Rank: From Pairwise Approach to Listwise Approach", ICML 2007.

    Example: two texts, with three and two categories; the first's match scores 2.0, the second's 3.0 (below a
    non-match at 5.0). Their losses are ``log(e^2 + e^0 + e^1) - 2 = 0.408`` and ``log(e^5 + e^3) - 3 = 2.127``::

        >>> import torch
        >>> logits = torch.tensor([2.0, 0.0, 1.0, 5.0, 3.0])
        >>> labels = torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0])
        >>> groups = torch.tensor([0, 0, 0, 1, 1])
        >>> round(listwise_softmax_loss(logits, labels, groups).item(), 4)
        1.2673
    """
    logits = logits.reshape(-1).float()
    labels = labels.reshape(-1).to(logits.dtype)
    groups = groups.reshape(-1).long()
    if not logits.shape == labels.shape == groups.shape:
        raise ValueError(f"expected one label and one group id per pair; got {logits.numel()} logits, "
                         f"{labels.numel()} labels, {groups.numel()} group ids")
    _, groups = torch.unique(groups, return_inverse=True)  # ids 0..G-1
    n_groups = int(groups.max()) + 1 if groups.numel() else 0

    # log softmax within each group, stabilised by the group's maximum
    group_max = torch.full((n_groups,), float("-inf"), device=logits.device)
    group_max = group_max.scatter_reduce(0, groups, logits.detach(), reduce="amax")
    shifted = logits - group_max[groups]
    log_norm = torch.zeros(n_groups, device=logits.device).index_add(0, groups, shifted.exp()).log()
    log_prob = shifted - log_norm[groups]

    positives = torch.zeros(n_groups, device=logits.device).index_add(0, groups, labels)
    sizes = torch.bincount(groups, minlength=n_groups)
    target = labels / positives[groups].clamp(min=torch.finfo(logits.dtype).tiny)
    per_group = -torch.zeros(n_groups, device=logits.device).index_add(0, groups, target * log_prob)
    ranked = (positives > 0) & (sizes > 1)
    if not ranked.any():
        return logits.sum() * 0.0
    return per_group[ranked].mean()
