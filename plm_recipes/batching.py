"""Length-sorted micro-batches: the same training batch, padded in pieces.

A batch of texts is padded to its longest text, so one long comment makes fifteen short ones pay for its length.
Grouping batches by length (``--train_sampling_strategy group_by_length``) cuts that padding by changing which texts
are trained together, and over a full run that costs quality (bench/defaults.py: text classification on
multilingual-e5-small). Splitting each batch instead, after the sampler chose it, into pieces of similar length,
each padded to its own longest text, and adding up the pieces' gradients (each piece's mean loss weighted by its
share of the batch's rows) gives the gradient of the whole batch with a fraction of the padding: the optimizer
takes the steps it would take without it. Only dropout draws its random masks per piece.

This holds for a loss that is the mean of independent per-row losses (cross-entropy of a classifier, binary
cross-entropy of a pair): the trainer says so (``row_mean_loss``). A model that encodes each row on its own (a
bi-encoder's texts, a cross-encoder's pairs) can also run its forward pass in pieces and put the outputs back in the
batch's row order (:func:`forward_in_pieces`, :class:`ForwardInPieces`): then any loss, one across rows too
(in-batch negatives, CoSENT's pairs, a listwise softmax), sees the whole batch and takes one backward pass.

>>> import torch
>>> batch = {"input_ids": torch.tensor([[5, 6, 7, 8], [5, 0, 0, 0], [5, 6, 7, 0], [5, 6, 0, 0]]),
...          "attention_mask": torch.tensor([[1, 1, 1, 1], [1, 0, 0, 0], [1, 1, 1, 0], [1, 1, 0, 0]]),
...          "labels": torch.tensor([0, 1, 2, 3])}
>>> [(piece["labels"].tolist(), piece["input_ids"].shape[1]) for piece in split_by_length(batch, 2)]
[([0, 2], 4), ([1, 3], 2)]
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import torch
import torch.nn.functional as F

#: the inputs a tokenizer pads along the sequence: cut to each piece's longest row
SEQUENCE_KEYS = ("input_ids", "attention_mask", "token_type_ids", "position_ids")


def split_by_length(
    batch: Mapping[str, Any], pieces: int, padding_side: str = "right", sequence_keys: tuple[str, ...] = SEQUENCE_KEYS
) -> list[dict[str, Any]] | None:
    """``batch`` (a padded batch with an ``attention_mask``) as at most ``pieces`` batches of rows of similar length,
    longest first, each cut to its own longest row; ``None`` when it cannot be split (no 2-D attention mask, a
    tensor that is not one entry per row, a tensor as long as the padded rows that is not in ``sequence_keys``,
    fewer than two rows).

    Every tensor whose first dimension is the batch's rows is split by row; those of ``sequence_keys`` are cut on the
    padding side as well (``"left"`` for a tokenizer that pads on the left). Another tensor as wide as the padded
    rows (per-token labels, or a multi-label target that happens to be as wide) is not guessed at: the batch is not
    split, unless its key is added to ``sequence_keys``. Values that are not tensors are passed to every piece as
    they are. Rows keep their relative order within a piece, and the pieces' sizes differ by at most one.
    """
    split = _split_rows(batch, pieces, padding_side, sequence_keys)
    return None if split is None else [piece for _, piece in split]


def length_sorted_rows(attention_mask: torch.Tensor, pieces: int) -> list[torch.Tensor]:
    """The row numbers of each of :func:`split_by_length`'s pieces of a batch with this 2-D ``attention_mask``:
    the longest rows first, at most ``pieces`` groups whose sizes differ by at most one, each in the rows' order."""
    lengths = attention_mask.sum(dim=1)
    order = torch.argsort(lengths, descending=True, stable=True)
    return [part.sort().values for part in torch.tensor_split(order, min(pieces, attention_mask.shape[0]))]


def _split_rows(
    batch: Mapping[str, Any], pieces: int, padding_side: str, sequence_keys: tuple[str, ...] = SEQUENCE_KEYS
) -> list[tuple[torch.Tensor, dict[str, Any]]] | None:
    """:func:`split_by_length`'s pieces, each with the row numbers it holds."""
    mask = batch.get("attention_mask")
    if not isinstance(mask, torch.Tensor) or mask.dim() != 2 or pieces < 2 or mask.shape[0] < 2:
        return None
    rows, width = mask.shape
    for key, value in batch.items():
        if not isinstance(value, torch.Tensor):
            continue
        if value.dim() == 0 or value.shape[0] != rows:
            return None
        if key not in sequence_keys and value.dim() >= 2 and value.shape[1] == width:
            return None
    lengths = mask.sum(dim=1)
    out = []
    for part in length_sorted_rows(mask, pieces):
        keep = int(lengths[part].max())
        columns = slice(0, keep) if padding_side == "right" else slice(width - keep, width)
        piece = {}
        for key, value in batch.items():
            if not isinstance(value, torch.Tensor):
                piece[key] = value
                continue
            value = value[part.to(value.device)]
            if key in sequence_keys and value.dim() >= 2:
                value = value[:, columns]
            piece[key] = value
        out.append((part, piece))
    return out


def forward_in_pieces(
    forward: Callable[[dict[str, Any]], Any], batch: Mapping[str, Any], pieces: int, padding_side: str = "right"
) -> Any:
    """``forward(batch)`` for a model that encodes each row of a padded batch on its own (a bi-encoder's texts, a
    cross-encoder's pairs), run on up to ``pieces`` length-sorted pieces of ``batch`` (:func:`split_by_length`),
    each padded to its own longest row, with the outputs put back in the batch's row order: the whole batch's
    outputs, up to float rounding (and dropout's masks, drawn per piece), with a fraction of the padding. Whatever
    comes next (a loss across rows, its one backward pass) sees the whole batch. A batch that cannot be split, or
    whose rows are all as long, runs whole.

    Outputs: a tensor, or a dict (a list, a tuple) of them. A tensor with one row per row of the batch, or a list
    with one value per row, is put back in row order; a tensor with a row per token (token embeddings) is padded
    back to the batch's width with zeros, at the positions the batch's attention mask marks as padding. A dict's
    entries that are the batch's own inputs are returned as the batch has them, uncut. Anything else is the first
    piece's. (A model that pads on the left and numbers positions from the first column, as BERT does, gives a
    row positions that depend on its padding: there the pieces, padded less, do not match the whole batch.)
    """
    split = _split_rows(batch, pieces, padding_side)
    widths = [piece["attention_mask"].shape[1] for _, piece in split or ()]
    if len(set(widths)) < 2:  # no split, or rows all of one length: no padding to save between them
        return forward(batch)
    outputs = [forward(piece) for _, piece in split]
    merge = _PieceMerger([rows for rows, _ in split], widths, batch["attention_mask"].shape[1], padding_side)
    if isinstance(outputs[0], Mapping):
        return {key: batch[key] if key in batch else merge([out[key] for out in outputs]) for key in outputs[0]}
    return merge(outputs)


class _PieceMerger:
    """Puts :func:`forward_in_pieces`' outputs of the pieces back together as the whole batch's."""

    def __init__(self, rows: list[torch.Tensor], widths: list[int], width: int, padding_side: str):
        self.rows, self.widths, self.width, self.padding_side = rows, widths, width, padding_side
        self.order = torch.argsort(torch.cat(rows))  # the pieces' rows, back in the batch's order

    def __call__(self, values: list[Any]) -> Any:
        first = values[0]
        if isinstance(first, list | tuple) and first and isinstance(first[0], torch.Tensor):  # per layer, say
            return type(first)(self(list(column)) for column in zip(*values))
        rows = [len(piece_rows) for piece_rows in self.rows]
        if isinstance(first, list) and [len(v) for v in values] == rows:  # a value per row
            joined = [value for v in values for value in v]
            return [joined[i] for i in self.order.tolist()]
        if not isinstance(first, torch.Tensor) or [v.shape[0] if v.dim() else 0 for v in values] != rows:
            return first
        # a row per token: as wide as each piece (whose widths differ); a row per row is as wide in every piece
        if first.dim() >= 2 and all(v.shape[1] == w for v, w in zip(values, self.widths)):
            values = [F.pad(v, [0, 0] * (v.dim() - 2) + ([0, self.width - w] if self.padding_side == "right"
                                                          else [self.width - w, 0]))
                      for v, w in zip(values, self.widths)]
        return torch.cat(values)[self.order.to(first.device)]


class ForwardInPieces(torch.nn.Module):
    """``module`` (a sentence-transformers model: a dict of a padded batch of texts in, the dict with each text's
    embedding out), called on a batch as :func:`forward_in_pieces` does: a bi-encoder embeds each text on its own,
    so a loss given this wrapper as its model sees the whole batch's embeddings, whatever it does with them
    (in-batch negatives, CoSENT's pairs across the batch), and its one backward pass gives the whole batch's
    gradient, with a fraction of the padding. Like DDP's wrapper it holds the model as ``module``, whose attributes it
    passes on; as the model does, it updates the call's dict with the outputs and returns it."""

    def __init__(self, module: torch.nn.Module, pieces: int, padding_side: str = "right"):
        super().__init__()
        self.module = module
        self.pieces = pieces
        self.padding_side = padding_side

    def __getattr__(self, name: str) -> Any:  # the model's own methods (``get_embedding_dimension``, ...)
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.module, name)

    def forward(self, features: Any, *args, **kwargs) -> Any:
        if args or kwargs or not isinstance(features, dict):
            return self.module(features, *args, **kwargs)
        outputs = forward_in_pieces(self.module, features, self.pieces, self.padding_side)
        if outputs is not features and isinstance(outputs, Mapping):
            features.update(outputs)
            return features
        return outputs


@contextlib.contextmanager
def sparse_embedding_gradients(word_embeddings: torch.nn.Module | None, enabled: bool = True) -> Iterator[None]:
    """Within the block, backward passes give ``word_embeddings`` (the model's input ``nn.Embedding``, when it
    trains) sparse gradients, the rows of the tokens seen; on leaving, their sum is made dense once, for the
    optimizer and gradient clipping. A step that runs the embedding several times (pieces, a bi-encoder's text
    columns) would otherwise write a gradient the size of the whole vocabulary at each backward pass through it
    (96M values for multilingual-e5-small) and add them up. Not for DDP, which reduces dense gradients: pass
    ``enabled=False`` there."""
    sparse = (enabled and isinstance(word_embeddings, torch.nn.Embedding) and word_embeddings.weight.requires_grad
              and not word_embeddings.sparse)
    if not sparse:
        yield
        return
    word_embeddings.sparse = True
    try:
        yield
    finally:
        word_embeddings.sparse = False
        grad = word_embeddings.weight.grad
        if grad is not None and grad.is_sparse:
            word_embeddings.weight.grad = grad.to_dense()


def batch_rows(batch: Mapping[str, Any]) -> int:
    """The number of rows of ``batch``: its attention mask's, or its labels' for a batch of texts that its loss
    tokenizes (sentence-transformers' cross-encoder batches)."""
    for key in ("attention_mask", "input_ids", "label", "labels"):
        value = batch.get(key)
        if isinstance(value, torch.Tensor) and value.dim() > 0:
            return value.shape[0]
        if isinstance(value, list):
            return len(value)
    raise ValueError(f"cannot count the rows of a batch with keys {sorted(batch)}: "
                     "expected an attention_mask or labels")


def training_step_in_pieces(
    trainer,
    model: torch.nn.Module,
    pieces: list[dict[str, Any]],
    num_items_in_batch: torch.Tensor | int | None = None,
    word_embeddings: torch.nn.Module | None = None,
) -> torch.Tensor:
    """One training step of ``trainer`` (a ``transformers.Trainer`` whose ``compute_loss`` returns the mean of
    per-row losses) on a batch split by :func:`split_by_length` (or any split of its rows, :func:`batch_rows`): a
    forward and backward pass per piece, its loss weighted by the piece's share of the batch's rows, so that the
    gradients add up to the whole batch's. Returns
    the batch's loss as ``Trainer.training_step`` does, scaled for gradient accumulation by the same rule
    (``num_items_in_batch`` is only read for that rule: a row-mean loss does not use it). Under DDP the gradients
    are reduced once, after the last piece.

    ``word_embeddings``, the model's input ``nn.Embedding`` when it trains: each backward pass would write a
    gradient the size of the whole vocabulary (96M values for multilingual-e5-small) and add it to the last one;
    in a single process the pieces give it sparse gradients instead (the rows of their tokens), made dense once,
    after the last piece, for the optimizer and gradient clipping."""
    rows = sum(batch_rows(piece) for piece in pieces)
    model.train()
    if callable(getattr(trainer.optimizer, "train", None)):
        trainer.optimizer.train()
    if getattr(trainer, "loss_is_scaled_for_ga", None) is not None:  # transformers >= 5.3
        scaled_for_accumulation = trainer.loss_is_scaled_for_ga
    else:  # Trainer.training_step's rule
        scaled_for_accumulation = ((trainer.model_accepts_loss_kwargs and num_items_in_batch is not None)
                                   or trainer.compute_loss_func is not None)
    with sparse_embedding_gradients(word_embeddings, enabled=trainer.args.world_size <= 1):
        return _pieces_forward_backward(trainer, model, pieces, rows, scaled_for_accumulation)


def _pieces_forward_backward(trainer, model, pieces, rows: int, scaled_for_accumulation: bool) -> torch.Tensor:
    total = None
    for i, piece in enumerate(pieces):
        last = i == len(pieces) - 1
        sync = contextlib.nullcontext() if last or trainer.args.world_size <= 1 else trainer.accelerator.no_sync(model)
        with sync:
            inputs = trainer._prepare_inputs(piece)
            share = batch_rows(inputs) / rows
            with trainer.compute_loss_context_manager():
                loss = trainer.compute_loss(model, inputs) * share
            if not scaled_for_accumulation:
                loss = loss / trainer.current_gradient_accumulation_steps
            trainer.accelerator.backward(loss)
        total = loss.detach() if total is None else total + loss.detach()
    return total
