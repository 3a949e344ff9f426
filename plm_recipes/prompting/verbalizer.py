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

from ..data import read_lines
from ..errors import ArgumentError, DataFormatError
from .modeling_prompt_lm import TOKEN_REDUCTIONS, WORD_REDUCTIONS, label_scores  # noqa: F401 (their home here)
from .template import piece_ids


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

