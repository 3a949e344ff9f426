"""Templates: a text with a blank for a language model to fill, e.g. ``这是一条{MASK}评论：{textA}。``.

A template string mixes literal text with placeholders:

- ``{MASK}`` (exactly once): the blank. A masked LM reads as many mask tokens there as the longest label word has
  tokens; a causal LM reads the text up to the blank and is scored on each label word, then on what follows it.
- ``{textA}`` (required) and ``{textB}`` (optional): the example's texts. Only they are truncated, never the
  template: when an example is too long, the longer text loses tokens from its end first.
- ``{soft}`` or ``{soft:N}``: one (N) learned prompt vectors (p-tuning); their token ids are placeholders the model
  replaces by its prompt encoder's output.

    >>> template = Template("这是一条{MASK}评论：{textA}。")
    >>> [part.kind if part.kind != "text" else part.text for part in template.parts]
    ['这是一条', 'MASK', '评论：', 'textA', '。']
    >>> template.texts, template.num_soft_tokens, Template("{soft:6}{MASK}{textA}").num_soft_tokens
    (('textA',), 0, 6)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import ArgumentError

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_TEXT_FIELDS = ("textA", "textB")


@dataclass(frozen=True)
class TemplatePart:
    """One piece of a template: ``kind`` is ``"text"`` (literal ``text``), ``"MASK"``, ``"textA"``, ``"textB"`` or
    ``"soft"`` (``length`` learned vectors)."""

    kind: str
    text: str = ""
    length: int = 0


@dataclass
class EncodedPrompt:
    """An example written into a template, as token ids.

    ``prefix`` holds the ids before the blank (special tokens included), ``suffix`` those after it; ``soft`` marks
    (1) the placeholder positions of learned vectors in ``prefix + blank + suffix``. A masked LM reads
    ``prefix + [MASK] * blank_length + suffix``; a causal LM reads ``prefix`` and is scored on ``word + suffix``.
    """

    prefix: list[int]
    suffix: list[int]
    prefix_soft: list[int]
    suffix_soft: list[int]
    truncated: bool


class Template:
    """A parsed template string; see the module's docstring for the syntax.

    Args:
        template: e.g. ``这是一条{MASK}评论：{textA}。`` or ``{soft:6}{MASK}{textA}``.

    Raises:
        ArgumentError: an unknown placeholder, a missing ``{MASK}`` or ``{textA}``, a placeholder used twice.
    """

    def __init__(self, template: str):
        self.template = template
        self.parts: list[TemplatePart] = []
        position = 0
        for match in _PLACEHOLDER.finditer(template):
            if match.start() > position:
                self.parts.append(TemplatePart("text", template[position : match.start()]))
            self.parts.append(_placeholder(match.group(1), template))
            position = match.end()
        if position < len(template):
            self.parts.append(TemplatePart("text", template[position:]))
        kinds = [part.kind for part in self.parts]
        for kind in ("MASK", "textA"):
            if kinds.count(kind) != 1:
                found = "no" if kind not in kinds else f"{kinds.count(kind)}"
                raise ArgumentError(f"template {template!r} has {found} {{{kind}}}; it needs exactly one "
                                    "({MASK} where the label word goes, {textA} where the text goes)")
        if kinds.count("textB") > 1:
            raise ArgumentError(f"template {template!r} has {{textB}} more than once")
        if any("{" in part.text or "}" in part.text for part in self.parts if part.kind == "text"):
            raise ArgumentError(f"template {template!r} has an unmatched brace")

    def __repr__(self) -> str:
        return f"Template({self.template!r})"

    @property
    def texts(self) -> tuple[str, ...]:
        """The text fields the template reads, ``("textA",)`` or ``("textA", "textB")``."""
        return tuple(kind for kind in _TEXT_FIELDS if any(part.kind == kind for part in self.parts))

    @property
    def num_soft_tokens(self) -> int:
        """How many learned prompt vectors the template holds."""
        return sum(part.length for part in self.parts if part.kind == "soft")

    @property
    def soft_after_blank(self) -> bool:
        """Whether a ``{soft}`` placeholder follows ``{MASK}`` (a causal LM cannot have one there)."""
        kinds = [part.kind for part in self.parts]
        return "soft" in kinds[kinds.index("MASK") :]

    def encode(
        self,
        tokenizer,
        text_a: str,
        text_b: str | None = None,
        *,
        blank_length: int,
        max_length: int,
        placeholder_id: int,
    ) -> EncodedPrompt:
        """Write an example into the template as token ids, with the tokenizer's special tokens around it.

        Args:
            tokenizer: a ``transformers`` tokenizer; every piece is tokenized on its own (see
                :func:`piece_ids`), so the blank and the learned vectors sit at known positions.
            text_a, text_b: the example's texts (``text_b`` when the template has ``{textB}``).
            blank_length: the tokens the blank takes (the longest label word's token count).
            max_length: the longest input in tokens, special tokens, blank and learned vectors included.
            placeholder_id: the token id written where a learned vector goes.

        Raises:
            ArgumentError: the template alone (with the blank) leaves no room for the text.
        """
        return self.encode_batch(tokenizer, [text_a], [text_b], blank_length=blank_length, max_length=max_length,
                                 placeholder_id=placeholder_id)[0]

    def encode_batch(
        self,
        tokenizer,
        texts_a: Sequence[str],
        texts_b: Sequence[str | None] | None = None,
        *,
        blank_length: int,
        max_length: int,
        placeholder_id: int,
    ) -> list[EncodedPrompt]:
        """:meth:`encode` of many examples: the texts in one tokenizer call each (the template's own pieces
        once), as ``Dataset.map`` calls it on a batch."""
        texts_b = [None] * len(texts_a) if texts_b is None else list(texts_b)
        if "textB" in self.texts and any(text_b is None for text_b in texts_b):
            raise ArgumentError(f"template {self.template!r} has {{textB}} but the example has no second text")
        pieces: list[tuple[str, list[int]]] = []
        for part in self.parts:
            if part.kind == "text":
                pieces.append(("text", piece_ids(tokenizer, part.text)))
            elif part.kind == "soft":
                pieces.append(("soft", [placeholder_id] * part.length))
            else:
                pieces.append((part.kind, []))
        special = _special_tokens(tokenizer)
        fixed = len(special[0]) + len(special[1]) + blank_length + sum(
            len(ids) for kind, ids in pieces if kind in ("text", "soft"))
        room = max_length - fixed
        if room < 1:
            raise ArgumentError(f"template {self.template!r} takes {fixed} of --max_seq_length {max_length} tokens "
                                "(special tokens and the blank included), leaving no room for the text; raise "
                                "--max_seq_length or shorten the template")
        ids_a = batch_piece_ids(tokenizer, texts_a)
        ids_b = batch_piece_ids(tokenizer, [t or "" for t in texts_b]) if "textB" in self.texts else None
        encoded = []
        for i, text_a in enumerate(ids_a):
            texts = {"textA": text_a, "textB": ids_b[i] if ids_b is not None else []}
            lengths = _truncated_lengths({k: len(texts[k]) for k in self.texts}, room)
            truncated = any(lengths[k] < len(texts[k]) for k in self.texts)
            prefix, suffix, prefix_soft, suffix_soft = list(special[0]), [], [0] * len(special[0]), []
            ids, soft = prefix, prefix_soft
            for kind, piece in pieces:
                if kind == "MASK":
                    ids, soft = suffix, suffix_soft
                    continue
                if kind in _TEXT_FIELDS:
                    piece = texts[kind][: lengths[kind]]
                ids.extend(piece)
                soft.extend([1 if kind == "soft" else 0] * len(piece))
            suffix.extend(special[1])
            suffix_soft.extend([0] * len(special[1]))
            encoded.append(EncodedPrompt(prefix, suffix, prefix_soft, suffix_soft, truncated))
        return encoded


def _placeholder(name: str, template: str) -> TemplatePart:
    if name in ("MASK", *_TEXT_FIELDS):
        return TemplatePart(name)
    if name == "soft" or name.startswith("soft:"):
        count = name.partition(":")[2] or "1"
        if not count.isdigit() or int(count) < 1:
            raise ArgumentError(f"template {template!r}: {{{name}}} needs a whole number of vectors >= 1, "
                                "e.g. {soft:6}")
        return TemplatePart("soft", length=int(count))
    raise ArgumentError(f"template {template!r}: unknown placeholder {{{name}}}; the placeholders are {{MASK}}, "
                        "{textA}, {textB} and {soft} / {soft:N}")


def _truncated_lengths(lengths: dict[str, int], room: int) -> dict[str, int]:
    """Cut the longest text first, one token at a time, until the texts fit in ``room`` (``longest_first``)."""
    lengths = dict(lengths)
    while sum(lengths.values()) > room:
        longest = max(lengths, key=lambda k: (lengths[k], k == "textA"))
        lengths[longest] -= 1
    return lengths


# sentencepiece's word-start marker: XLM-R's tokenizer gives a piece written on its own a bare "▁" token first.
_WORD_START = "\u2581"


def piece_ids(tokenizer, text: str) -> list[int]:
    """Token ids of a piece of a template (or a label word), without special tokens.

    Pieces are tokenized one by one, so that the blank sits at a known place; a sentencepiece tokenizer (XLM-R,
    multilingual-e5) then starts every piece with a bare word-start token ``▁``, which Chinese text written in one
    run would not have, and which would make every label word start with the same token. It is dropped.

        >>> from transformers import BertTokenizerFast
        >>> tokenizer = BertTokenizerFast(vocab={t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]",
        ...                                                                      "[MASK]", "电", "脑"])})
        >>> piece_ids(tokenizer, "电脑")
        [5, 6]
    """
    return batch_piece_ids(tokenizer, [text])[0]


def batch_piece_ids(tokenizer, texts: Sequence[str]) -> list[list[int]]:
    """:func:`piece_ids` of each text, in one tokenizer call."""
    texts = list(texts)
    if not texts:
        return []
    batch = tokenizer([t or "" for t in texts], add_special_tokens=False)["input_ids"]
    out = []
    for text, ids in zip(texts, batch):
        if not text:
            ids = []
        elif len(ids) > 1 and tokenizer.convert_ids_to_tokens(ids[0]) == _WORD_START and not text[0].isspace():
            ids = ids[1:]
        out.append(list(ids))
    return out


def _special_tokens(tokenizer) -> tuple[list[int], list[int]]:
    """The special token ids a tokenizer puts before and after one text (``[CLS]`` / ``[SEP]``, ``<bos>``, ...)."""
    ids = tokenizer("一", add_special_tokens=True)["input_ids"]
    plain = tokenizer("一", add_special_tokens=False)["input_ids"]
    for start in range(len(ids) - len(plain) + 1):
        if ids[start : start + len(plain)] == plain:
            return list(ids[:start]), list(ids[start + len(plain) :])
    raise ArgumentError(f"cannot tell where {type(tokenizer).__name__} puts its special tokens")
