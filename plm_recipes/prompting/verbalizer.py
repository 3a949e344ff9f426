"""Verbalizers: the words that stand for each label, and how their log-probabilities become one score per label.

A verbalizer file has a line per label, ``label<TAB>word,word,...`` (``水果<TAB>水果,果子``)::

    >>> verbalizer = Verbalizer({"水果": ["水果", "果子"], "电脑": ["电脑"]})
    >>> verbalizer.labels, verbalizer.words
    (['水果', '电脑'], ['水果', '果子', '电脑'])
    >>> verbalizer.word_labels
    [0, 0, 1]
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import torch

from ..data import read_lines
from ..errors import ArgumentError, DataFormatError
from .template import piece_ids

TOKEN_REDUCTIONS = ("mean", "sum", "first")
WORD_REDUCTIONS = ("mean", "max", "logsumexp")


class Verbalizer:
    """Label names and their label words, in order.

    Args:
        label_words: each label's words, e.g. ``{"水果": ["水果", "果子"]}``; label ids follow its order.

    Raises:
        ArgumentError: no labels, a label without words, an empty word, a word given to two labels.
    """

    def __init__(self, label_words: Mapping[str, Sequence[str]]):
        if not label_words:
            raise ArgumentError("the verbalizer is empty: it needs a line label<TAB>word,word per label")
        self.label_words = {str(label): [str(w).strip() for w in words] for label, words in label_words.items()}
        owner: dict[str, str] = {}
        for label, words in self.label_words.items():
            if not words or not all(words):
                raise ArgumentError(f"verbalizer: label {label!r} has an empty label word; give it one or more "
                                    "words separated by commas")
            for word in words:
                if word in owner and owner[word] != label:
                    raise ArgumentError(f"verbalizer: the word {word!r} stands for both {owner[word]!r} and "
                                        f"{label!r}")
                owner[word] = label

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> Verbalizer:
        """Read ``label<TAB>word,word`` lines (also ``，`` between words); errors name the file and line."""
        path = os.fspath(path)
        lines = read_lines(path)
        if not lines:
            raise DataFormatError(path, None, "the verbalizer file is empty; expected lines of label<TAB>word,word")
        label_words: dict[str, list[str]] = {}
        for number, text in lines:
            label, tab, words = text.partition("\t")
            label = label.strip()
            if not tab or not label:
                raise DataFormatError(path, number, f"expected label<TAB>word,word, found {text!r}")
            if label in label_words:
                raise DataFormatError(path, number, f"label {label!r} is listed twice")
            words_list = [w.strip() for w in words.replace("，", ",").split(",")]
            if not any(words_list) or not all(words_list):
                raise DataFormatError(path, number, f"label {label!r}: expected comma-separated label words, "
                                      f"found {words!r}")
            label_words[label] = words_list
        try:
            return cls(label_words)
        except ArgumentError as error:
            raise DataFormatError(path, None, str(error)) from None

    def __len__(self) -> int:
        return len(self.label_words)

    @property
    def labels(self) -> list[str]:
        return list(self.label_words)

    @property
    def words(self) -> list[str]:
        """Every label word, label by label."""
        return [word for words in self.label_words.values() for word in words]

    @property
    def word_labels(self) -> list[int]:
        """The label id of each of :attr:`words`."""
        return [i for i, words in enumerate(self.label_words.values()) for _ in words]

    def word_ids(self, tokenizer) -> list[list[int]]:
        """Each label word's token ids (tokenized as a template piece: :func:`piece_ids`).

        Raises:
            ArgumentError: a word the tokenizer cannot write without its unknown token, naming the word.
        """
        ids = []
        for label, word in zip([self.labels[i] for i in self.word_labels], self.words):
            word_ids = piece_ids(tokenizer, word)
            if not word_ids or (tokenizer.unk_token_id is not None and tokenizer.unk_token_id in word_ids):
                raise ArgumentError(f"verbalizer: the label word {word!r} (label {label!r}) tokenizes to "
                                    f"{tokenizer.convert_ids_to_tokens(word_ids)}, with the unknown token: the model "
                                    "cannot score it; choose a word in the tokenizer's vocabulary")
            ids.append(word_ids)
        return ids


def label_scores(
    token_logprobs: torch.Tensor,
    word_lengths: torch.Tensor,
    word_labels: torch.Tensor,
    num_labels: int,
    token_reduction: str = "mean",
    word_reduction: str = "mean",
    extra_word_scores: torch.Tensor | None = None,
) -> torch.Tensor:
    """One score per label from the log-probabilities of its words' tokens at the blank.

    Args:
        token_logprobs: ``(batch, words, tokens)``: ``log p(token k of word w)`` at the blank; positions past a
            word's length are ignored.
        word_lengths: ``(words,)`` tokens in each word.
        word_labels: ``(words,)`` the label id of each word.
        num_labels: how many labels.
        token_reduction: a word's score from its tokens': ``mean`` (default; long words are not penalised for their
            length), ``sum`` (the word's log-probability), ``first`` (its first token only).
        word_reduction: a label's score from its words': ``mean`` (PET's choice, Schick & Schütze 2021), ``max``,
            ``logsumexp`` (the probability that any of its words is there, in log space).
        extra_word_scores: ``(batch, words)`` added to each word's score before the words are combined (a causal
            LM's log-probability of the text after the blank, given the word).

    Returns:
        ``(batch, labels)``: scores to use as logits (a softmax over them gives the label probabilities).

        >>> lp = torch.log(torch.tensor([[[0.5, 0.2], [0.1, 0.0], [0.4, 0.3]]]))  # 1 example, 3 words
        >>> label_scores(lp, torch.tensor([2, 1, 2]), torch.tensor([0, 0, 1]), 2, "sum", "max").exp()
        tensor([[0.1000, 0.1200]])
    """
    if token_reduction not in TOKEN_REDUCTIONS:
        raise ValueError(f"token_reduction must be one of {TOKEN_REDUCTIONS}, got {token_reduction!r}")
    if word_reduction not in WORD_REDUCTIONS:
        raise ValueError(f"word_reduction must be one of {WORD_REDUCTIONS}, got {word_reduction!r}")
    positions = torch.arange(token_logprobs.shape[-1], device=token_logprobs.device)
    valid = positions[None, :] < word_lengths[:, None]  # (words, tokens)
    masked = token_logprobs.masked_fill(~valid, 0.0)
    if token_reduction == "first":
        words = token_logprobs[..., 0]
    else:
        words = masked.sum(-1)
        if token_reduction == "mean":
            words = words / word_lengths.to(words.dtype)
    if extra_word_scores is not None:
        words = words + extra_word_scores
    # (batch, words) -> (batch, labels): each label's words, reduced
    one_hot = torch.nn.functional.one_hot(word_labels, num_labels).T.bool()  # (labels, words)
    expanded = words[:, None, :].expand(-1, num_labels, -1)  # (batch, labels, words)
    if word_reduction == "mean":
        return (expanded * one_hot).sum(-1) / one_hot.sum(-1).to(words.dtype)
    filled = expanded.masked_fill(~one_hot, float("-inf"))
    return filled.amax(-1) if word_reduction == "max" else filled.logsumexp(-1)
