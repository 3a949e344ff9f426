"""Preference data for reward models: rank lists (best first) and chosen/rejected pairs, read with ``file:line``
errors, expanded into ordered pairs, split by text (not by line), tokenized and batched.

Formats, chosen by the file's suffix:

* ``.txt`` / ``.tsv``: one rank list per line, its texts tab-separated, best first (``ranklist.tsv``: four comments a
  line, the most positive first). A pair is a rank list of two.
* ``.jsonl`` / ``.json``: one object per line, either a rank list ``{"ranking": [best, ..., worst]}`` (what
  ``plm-recipes label reward --mode rank`` writes) or a pair ``{"chosen": ..., "rejected": ...}`` (TRL's names;
  ``"selected"`` is read as ``"chosen"``, the older project's name). An optional ``"prompt"`` is put before every
  text of the line with ``with_prompt=True``.

Every list needs at least two texts, all different: a list of one says nothing about an order, and a text ranked
both above and below itself is a contradiction the loss would be asked to fit.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import torch

from ..data import collator_rebuilds, data_format, iter_json_lines, iter_lines
from ..errors import DataFormatError

# The keys a JSON line may name its better / worse text by (TRL's names first, then the older project's).
CHOSEN_KEYS = ("chosen", "selected")
REJECTED_KEY = "rejected"
RANKING_KEY = "ranking"


@dataclass(frozen=True)
class RankList:
    """Texts ordered best first, and where they were read.

    Attributes:
        texts: ``K >= 2`` distinct texts, best first.
        path, line: the file and line they came from (for messages; ``line`` is ``None`` for derived lists).
    """

    texts: tuple[str, ...]
    path: str = ""
    line: int | None = None

    def pairs(self) -> list[tuple[str, str]]:
        """The ``K(K-1)/2`` ordered pairs ``(better, worse)`` of the list (see :func:`ordered_pairs`)."""
        return ordered_pairs(self.texts)


def ordered_pairs(texts: Sequence[str]) -> list[tuple[str, str]]:
    """Every ``(better, worse)`` pair of a rank list ``texts`` (best first): ``K(K-1)/2`` pairs for ``K`` texts.

    >>> ordered_pairs(["好", "一般", "差"])
    [('好', '一般'), ('好', '差'), ('一般', '差')]
    """
    return list(combinations(texts, 2))


def check_rank_list(texts: Sequence[str], path: str, line: int | None) -> RankList:
    """A :class:`RankList` of ``texts``, refusing (``file:line``) fewer than two texts, an empty one or a repeat."""
    texts = tuple(texts)
    if len(texts) < 2:
        raise DataFormatError(path, line, f"a rank list needs at least 2 texts (best first), found {len(texts)}")
    for i, text in enumerate(texts):
        if not isinstance(text, str) or not text.strip():
            raise DataFormatError(path, line, f"text {i + 1} of the rank list is empty or not a string: {text!r}")
    seen: dict[str, int] = {}
    for i, text in enumerate(texts):
        if text in seen:
            raise DataFormatError(path, line, f"text {i + 1} repeats text {seen[text] + 1} ({_short(text)!r}); the "
                                              "texts of a rank list must all differ")
        seen[text] = i
    return RankList(texts, path, line)


def _short(text: str, n: int = 20) -> str:
    return text if len(text) <= n else text[:n] + "..."


def read_rank_lists(path: str | os.PathLike, *, with_prompt: bool = False) -> list[RankList]:
    """Rank lists from a ``.txt``/``.tsv`` file (tab-separated texts, best first) or a JSON-lines file of rank
    lists and/or pairs (see the module docstring).

    Args:
        with_prompt: put a JSON line's ``"prompt"`` before each of its texts (a reward model that scores a
            response to a prompt); by default the texts are scored alone.

    Raises:
        DataFormatError: naming the file, the line and what was expected.
    """
    return list(iter_rank_lists(path, with_prompt=with_prompt))


def iter_rank_lists(path: str | os.PathLike, *, with_prompt: bool = False) -> Iterator[RankList]:
    """:func:`read_rank_lists`, one list at a time (an empty file is an error once the reading reaches its end)."""
    path = os.fspath(path)
    fmt = data_format(path)
    if fmt not in ("tsv", "json"):
        raise DataFormatError(path, None, "rank lists are read from .txt/.tsv (tab-separated texts, best first) "
                                          "or .jsonl files ({\"ranking\": [...]} or {\"chosen\", \"rejected\"})")
    empty = True
    if fmt == "tsv":
        for number, text in iter_lines(path):
            empty = False
            yield check_rank_list(text.split("\t"), path, number)
    else:
        for number, obj in iter_json_lines(path):
            empty = False
            yield _json_rank_list(obj, path, number, with_prompt)
    if empty:
        raise DataFormatError(path, None, "the file is empty; expected one rank list or pair per line")


def _json_rank_list(obj: Any, path: str, number: int, with_prompt: bool) -> RankList:
    if not isinstance(obj, dict):
        raise DataFormatError(path, number, f"expected a JSON object, found {type(obj).__name__}")
    if RANKING_KEY in obj:
        texts = obj[RANKING_KEY]
        if not isinstance(texts, list):
            raise DataFormatError(path, number, f"{RANKING_KEY!r} should be a list of texts, best first")
    else:
        chosen = next((k for k in CHOSEN_KEYS if k in obj), None)
        if chosen is None or REJECTED_KEY not in obj:
            raise DataFormatError(path, number, f"expected {RANKING_KEY!r} (a list, best first) or 'chosen' (or "
                                                f"'selected') and 'rejected'; found keys {sorted(obj)}")
        texts = [obj[chosen], obj[REJECTED_KEY]]
    ranked = check_rank_list(texts, path, number)
    if with_prompt:
        prompt = obj.get("prompt")
        if not isinstance(prompt, str):
            raise DataFormatError(path, number, "--with_prompt: expected a 'prompt' string on every line")
        ranked = RankList(tuple(prompt + t for t in ranked.texts), path, number)
    return ranked


def split_by_text(lists: Sequence[RankList], fraction: float, seed: int = 42) -> tuple[list[RankList], list[RankList]]:
    """Hold out about a ``fraction`` of the distinct texts, so that no held-out text is ever seen in training,
    however many lines share it.

    The held-out texts are those of whole lists drawn at random (seeded) until they make up ``fraction`` of the
    distinct texts, so that the held-out texts still form lists of several texts. Then every list is cut into the
    part made of training texts and the part made of held-out texts (each keeps its order, so it is still a rank
    list); parts of fewer than two texts are dropped. Where no text is shared between lines this is a split by
    line; where texts recur, a line that shares a text with a held-out line loses that text from training.

    Returns:
        ``(train, held_out)`` rank lists.

    >>> lists = [RankList(("a", "b", "c")), RankList(("b", "d", "e")), RankList(("f", "g"))]
    >>> train, held = split_by_text(lists, 0.3, seed=0)
    >>> sorted({t for r in train for t in r.texts} & {t for r in held for t in r.texts})
    []
    """
    held = held_out_texts(lambda i: lists[i].texts, len(lists), len({t for r in lists for t in r.texts}), fraction,
                          seed)
    train, held_out = [], []
    for r in lists:
        for part, keep in ((train, False), (held_out, True)):
            sub = tuple(t for t in r.texts if (t in held) == keep)
            if len(sub) >= 2:
                part.append(RankList(sub, r.path, r.line))
    return train, held_out


def held_out_texts(texts_of: Callable[[int], Sequence[str]], count: int, distinct: int, fraction: float,
                   seed: int) -> set[str]:
    """The texts :func:`split_by_text` holds out: those of whole lists (``texts_of(i)`` for ``i < count``) drawn at
    random (seeded) until they make up ``fraction`` of the ``distinct`` texts."""
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be between 0 and 1, got {fraction}")
    target = fraction * distinct
    order = list(range(count))
    random.Random(seed).shuffle(order)
    held: set[str] = set()
    for i in order:
        if len(held) >= target:
            break
        held.update(texts_of(i))
    return held


def count_pairs(lists: Iterable[RankList]) -> int:
    """The number of ordered pairs the lists hold: the sum of ``K(K-1)/2``."""
    return sum(len(r.texts) * (len(r.texts) - 1) // 2 for r in lists)


def encode_rank_lists(lists: Sequence[RankList], tokenizer, max_length: int) -> dict[str, list]:
    """Tokenize each list's texts (truncated to ``max_length`` tokens, never dropped): column ``input_ids`` (and
    ``token_type_ids`` when the tokenizer's say something for one text), a list of ``K`` token lists per rank list,
    for :class:`RankListCollator`, whose padding writes the attention mask (and the model defaults all-0 token
    types: :func:`~plm_recipes.data.collator_rebuilds`)."""
    return encode_text_lists([r.texts for r in lists], tokenizer, max_length)


def encode_text_lists(lists: Sequence[Sequence[str]], tokenizer, max_length: int) -> dict[str, list]:
    """:func:`encode_rank_lists` of lists of texts (a batch of a dataset's ``texts`` column)."""
    flat = [t for texts in lists for t in texts]
    encoded = tokenizer(flat, truncation=True, max_length=max_length, **collator_rebuilds(tokenizer))
    columns: dict[str, list] = {}
    for key, values in encoded.items():
        column, start = [], 0
        for texts in lists:
            column.append(values[start:start + len(texts)])
            start += len(texts)
        columns[key] = column
    return columns


class RankListCollator:
    """Batches rank lists of any lengths: the ``B`` lists' texts flattened into one padded batch of ``N = sum K``
    rows (list after list, best first), plus ``list_lengths`` (``B``), which :class:`PairwiseRankLoss` reads.

    Args:
        tokenizer: pads the batch (its ``padding_side``; a causal LM's reward is read at its last non-pad token
            either way).
        pad_to_multiple_of: as for ``tokenizer.pad``.
    """

    def __init__(self, tokenizer, pad_to_multiple_of: int | None = None):
        self.tokenizer = tokenizer
        self.pad_to_multiple_of = pad_to_multiple_of

    def __call__(self, features: list[dict[str, list]]) -> dict[str, torch.Tensor]:
        keys = [k for k in features[0] if k in ("input_ids", "attention_mask", "token_type_ids")]
        rows = [{k: f[k][i] for k in keys} for f in features for i in range(len(f["input_ids"]))]
        batch = self.tokenizer.pad(rows, padding=True, pad_to_multiple_of=self.pad_to_multiple_of,
                                   return_tensors="pt")
        batch["list_lengths"] = torch.tensor([len(f["input_ids"]) for f in features], dtype=torch.long)
        return dict(batch)
