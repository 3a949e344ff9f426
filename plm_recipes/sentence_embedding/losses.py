"""Losses for unsupervised sentence embeddings that sentence-transformers does not ship.

SimCSE itself is sentence-transformers' ``MultipleNegativesRankingLoss`` on ``(sentence, sentence)`` pairs (the
two copies are encoded separately, so dropout makes them differ). What is here:

* :func:`word_repetition`: ESimCSE's augmentation, on token ids;
* :class:`ESimCSELoss`: word repetition for the positive and a queue of momentum-encoder embeddings as extra
  negatives;
* :class:`ProjectedMultipleNegativesRankingLoss`: SimCSE through an MLP head that exists only in the loss
  (SimCSE's "MLP during training only").
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterable, Sequence
from typing import Any

import torch
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
from sentence_transformers.util import cos_sim
from torch import Tensor, nn

ESIMCSE_CITATION = """\
@inproceedings{wu-etal-2022-esimcse,
    title = "{ESimCSE}: Enhanced Sample Building Method for Contrastive Learning of Unsupervised Sentence Embedding",
    author = "Wu, Xing and Gao, Chaochen and Zang, Liangjun and Han, Jizhong and Wang, Zhongyuan and Hu, Songlin",
    booktitle = "Proceedings of the 29th International Conference on Computational Linguistics",
    year = "2022",
    pages = "3898--3907",
    url = "https://aclanthology.org/2022.coling-1.342",
}"""


class TrainingHead(nn.Module):
    """SimCSE's MLP over the sentence embedding: dense + tanh (the shape of BERT's pooler), used in training only.

    It lives in the loss, not in the model: evaluation and the saved model see the embedding without it
    (:meth:`as_dense` turns it into a sentence-transformers ``Dense`` module when it is to be kept)."""

    def __init__(self, dim: int):
        super().__init__()
        self.linear = nn.Linear(dim, dim)

    def forward(self, embeddings: Tensor) -> Tensor:
        return torch.tanh(self.linear(embeddings))

    def as_dense(self):
        from sentence_transformers.sentence_transformer.modules import Dense

        dim = self.linear.in_features
        return Dense(dim, dim, activation_function=nn.Tanh(), init_weight=self.linear.weight.detach().clone(),
                     init_bias=self.linear.bias.detach().clone())


def word_repetition(
    features: dict[str, Any],
    dup_rate: float,
    special_ids: Iterable[int],
    pad_id: int,
    max_length: int | None = None,
    rng: random.Random | None = None,
) -> dict[str, Any]:
    """ESimCSE's word repetition: each sentence repeats some of its tokens in place (``a b c`` -> ``a a b c c``).

    For a sentence of ``n`` ordinary tokens (special tokens and padding excluded), ``k`` is drawn uniformly from
    ``0 .. max(2, int(dup_rate * n))`` (at most ``n``; ``dup_rate=0`` turns repetition off) and ``k`` distinct tokens
    are doubled, so the length changes
    while the meaning does not: the positive no longer shares the anchor's length, which plain SimCSE lets the
    model use as a shortcut. The tokens keep their order. Works on a tokenized batch (``input_ids``,
    ``attention_mask``, optional ``token_type_ids``; padded on the right, or on the left as causal LMs' tokenizers
    do); returns a new batch, padded on the same side to its longest row.
    A row that would grow past ``max_length`` repeats fewer tokens (the last choices are dropped), so the
    sentence's own tokens all stay; a row longer than ``max_length`` to begin with is cut, keeping its final
    special token. When the batch carries a ``prompt_length`` (sentence-transformers adds it to texts tokenized with a
    prompt such as ``"query: "``), the first ``prompt_length`` tokens are the prompt's and are never repeated or
    counted: the sentence alone is augmented.

    >>> batch = {"input_ids": torch.tensor([[0, 5, 6, 7, 8, 9, 2, 1]]),
    ...          "attention_mask": torch.tensor([[1, 1, 1, 1, 1, 1, 1, 0]])}
    >>> out = word_repetition(batch, 0.32, special_ids=[0, 1, 2], pad_id=1, rng=random.Random(5))
    >>> out["input_ids"].tolist(), out["attention_mask"].tolist()
    ([[0, 5, 6, 7, 7, 8, 9, 9, 2]], [[1, 1, 1, 1, 1, 1, 1, 1, 1]])
    """
    rng = rng or random.Random()
    special = set(special_ids)
    input_ids, mask = features["input_ids"], features["attention_mask"]
    prompt_length = features.get("prompt_length")
    if isinstance(prompt_length, Tensor):  # an int, or a tensor holding one length per row (all equal)
        prompt_length = int(prompt_length.reshape(-1)[0]) if prompt_length.numel() else 0
    prompt_length = prompt_length or 0
    types = features.get("token_type_ids")
    left = bool((mask[:, 0] == 0).any())  # left padding (causal LMs' tokenizers): a row that starts with padding
    rows_ids, rows_types = [], []
    for row in range(input_ids.shape[0]):
        real = mask[row].bool()
        ids = input_ids[row][real].tolist()
        row_types = types[row][real].tolist() if types is not None else [0] * len(ids)
        ordinary = [i for i, token in enumerate(ids) if i >= prompt_length and token not in special]
        k = min(len(ordinary), rng.randint(0, max(2, int(dup_rate * len(ordinary))))) if dup_rate > 0 else 0
        doubled = sorted(rng.sample(ordinary, k))
        if max_length is not None:  # too long: the last repeats go first, the sentence's own tokens stay
            doubled = doubled[:max(0, max_length - len(ids))]
        doubled = set(doubled)
        new_ids, new_types = [], []
        for i, token in enumerate(ids):
            copies = 2 if i in doubled else 1
            new_ids += [token] * copies
            new_types += [row_types[i]] * copies
        if max_length is not None and len(new_ids) > max_length:  # longer than max_length before any repeat
            keep = 1 if new_ids[-1] in special else 0  # the final special token stays
            new_ids = new_ids[:max_length - keep] + new_ids[len(new_ids) - keep:]
            new_types = new_types[:max_length - keep] + new_types[len(new_types) - keep:]
        rows_ids.append(new_ids)
        rows_types.append(new_types)
    width = max(len(r) for r in rows_ids)

    def padded(rows: list[list[int]], value: int, like: Tensor) -> Tensor:
        rows = [[value] * (width - len(r)) + r if left else r + [value] * (width - len(r)) for r in rows]
        return torch.tensor(rows, dtype=like.dtype, device=like.device)

    out = dict(features)
    out["input_ids"] = padded(rows_ids, pad_id, input_ids)
    out["attention_mask"] = padded([[1] * len(r) for r in rows_ids], 0, mask)
    if types is not None:
        out["token_type_ids"] = padded(rows_types, 0, types)
    return out


def _embed(model: nn.Module, features: dict[str, Any], head: nn.Module | None) -> Tensor:
    embeddings = model(dict(features))["sentence_embedding"]
    return head(embeddings) if head is not None else embeddings


class ProjectedMultipleNegativesRankingLoss(MultipleNegativesRankingLoss):
    """sentence-transformers' ``MultipleNegativesRankingLoss`` computed on ``head(embedding)`` instead of the
    embedding: SimCSE's unsupervised training through an MLP that is dropped afterwards.

    Args:
        model: the SentenceTransformer being trained.
        head: a module applied to every column's embedding before the similarities (e.g. :class:`TrainingHead`);
            its parameters are trained with the model's (sentence-transformers' trainer optimizes a loss's own
            parameters).
        scale: ``1 / temperature``.

    Inputs: ``(anchor, positive)`` pairs, as for ``MultipleNegativesRankingLoss``; no labels.
    """

    def __init__(self, model: SentenceTransformer, head: nn.Module, scale: float = 20.0):
        super().__init__(model, scale=scale)
        self.head = head

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor) -> Tensor:
        embeddings = [_embed(self.model, features, self.head) for features in sentence_features]
        return self.compute_loss_from_embeddings(embeddings, labels)


class ESimCSELoss(nn.Module):
    """ESimCSE (Wu et al., 2022): SimCSE with two changes to how samples are built.

    * **Word repetition** (:func:`word_repetition`) makes the positive: the sentence with some tokens doubled, so
      that a positive pair no longer always has equal lengths (a cue plain SimCSE's dropout positives give away).
    * **Momentum contrast**: a copy of the model whose weights follow the model's slowly (``m * momentum + (1 -
      momentum) * model`` before each batch, no gradient) embeds each batch's sentences; those embeddings are
      queued, and the ``queue_size`` most recent ones from *earlier* batches are extra negatives for every anchor.
      The queue holds embeddings, not texts: encoding queued texts again with the current model would be a bigger
      batch, not the method.

    The loss is the InfoNCE of the paper (eq. 3): for anchor ``h_i`` with positive ``h_i+``,
    ``-log exp(s(h_i, h_i+) / t) / (sum_j exp(s(h_i, h_j+) / t) + sum_m exp(s(h_i, q_m) / t))`` with ``s`` the
    cosine, ``h_j+`` the batch's positives and ``q_m`` the queue.

    Args:
        model: the SentenceTransformer being trained.
        scale: ``1 / temperature`` (20 = 0.05, the paper's).
        dup_rate: word repetition's rate (the paper's best: 0.32 for BERT-base).
        queue_size: queued negatives (the paper's best: 2.5 x the batch size); 0 turns the queue off.
        momentum: the momentum encoder's rate (the paper: 0.995).
        head: an optional module applied to every embedding (SimCSE's training-only MLP); the momentum encoder
            gets its own momentum copy of it.
        seed: seeds word repetition's random choices.

    Inputs: ``(anchor, positive)`` pairs where the positive is the anchor's own text (the recipe's dataset); the
    repetition is applied to the positive column's tokens. No labels.

    The momentum encoder and the queue are training state, not part of the model: they are made from the model at
    the first batch (after a resume: from the resumed weights, with an empty queue) and never saved.

    Reference: ESimCSE, COLING 2022, https://aclanthology.org/2022.coling-1.342 (citation: :data:`ESIMCSE_CITATION`).
    """

    def __init__(self, model: SentenceTransformer, scale: float = 20.0, dup_rate: float = 0.32,
                 queue_size: int = 160, momentum: float = 0.995, head: nn.Module | None = None,
                 seed: int | None = None):
        super().__init__()
        self.model = model
        self.scale = scale
        self.dup_rate = dup_rate
        self.queue_size = queue_size
        self.momentum = momentum
        self.head = head
        self.rng = random.Random(seed)
        self.cross_entropy = nn.CrossEntropyLoss()
        # training state kept out of the module tree, so that no trainer moves, optimizes or saves it
        self.__dict__["_momentum_model"] = None
        self.__dict__["_momentum_head"] = None
        self.__dict__["queue"] = None  # (n, dim), newest last

    @property
    def momentum_encoder(self) -> tuple[nn.Module, nn.Module | None] | None:
        """The momentum copies of the model and head, once training has begun."""
        if self._momentum_model is None:
            return None
        return self._momentum_model, self._momentum_head

    def forward(self, sentence_features: Sequence[dict[str, Tensor]], labels: Tensor | None = None) -> Tensor:
        anchor_features, positive_features = sentence_features[0], sentence_features[1]
        model = _unwrap(self.model)
        tokenizer = model.tokenizer
        positive_features = word_repetition(
            positive_features, self.dup_rate, tokenizer.all_special_ids, tokenizer.pad_token_id,
            max_length=model.max_seq_length, rng=self.rng,
        )
        anchors = _embed(self.model, anchor_features, self.head)
        positives = _embed(self.model, positive_features, self.head)

        training = torch.is_grad_enabled()  # an evaluation loss neither moves the momentum encoder nor queues
        candidates = positives
        if self.queue_size:
            if training:
                with torch.no_grad():
                    momentum_model, momentum_head = self._update_momentum_encoder(model)
                    keys = _embed(momentum_model, anchor_features, momentum_head).detach()
            if self.queue is not None:
                candidates = torch.cat([positives, self.queue.to(positives.dtype)])
        scores = cos_sim(anchors, candidates) * self.scale
        loss = self.cross_entropy(scores, torch.arange(len(anchors), device=scores.device))
        if self.queue_size and training:  # enqueue after the loss: never this batch's own
            self._enqueue(keys)
        return loss

    @torch.no_grad()
    def _update_momentum_encoder(self, model: nn.Module) -> tuple[nn.Module, nn.Module | None]:
        if self._momentum_model is None:
            self.__dict__["_momentum_model"] = _frozen_copy(model)
            self.__dict__["_momentum_head"] = _frozen_copy(self.head) if self.head is not None else None
        else:
            for target, source in ((self._momentum_model, model), (self._momentum_head, self.head)):
                if target is None:
                    continue
                for t, s in zip(target.parameters(), source.parameters()):
                    t.mul_(self.momentum).add_(s.detach(), alpha=1 - self.momentum)
        self._momentum_model.train(model.training)  # dropout as in the model being trained
        return self._momentum_model, self._momentum_head

    def _enqueue(self, keys: Tensor) -> None:
        queue = keys if self.queue is None else torch.cat([self.queue, keys])
        self.__dict__["queue"] = queue[-self.queue_size:]

    def get_config_dict(self) -> dict[str, Any]:
        return {"scale": self.scale, "dup_rate": self.dup_rate, "queue_size": self.queue_size,
                "momentum": self.momentum, "head": self.head is not None}

    @property
    def citation(self) -> str:
        return ESIMCSE_CITATION


def _unwrap(model: nn.Module) -> nn.Module:
    """The model inside a DistributedDataParallel (or similar) wrapper."""
    return getattr(model, "module", model)


def _frozen_copy(module: nn.Module) -> nn.Module:
    copied = copy.deepcopy(_unwrap(module))
    for parameter in copied.parameters():
        parameter.requires_grad_(False)
    return copied
