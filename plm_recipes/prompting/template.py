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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from ..errors import ArgumentError
from .template_pieces import (  # noqa: F401 (their names here too)
    batch_piece_ids,
    encode_prompts,
    iter_prompts,
    piece_ids,
)

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
        return list(self.iter_batch(tokenizer, texts_a, texts_b, blank_length=blank_length, max_length=max_length,
                                    placeholder_id=placeholder_id))

    def iter_batch(
        self,
        tokenizer,
        texts_a: Sequence[str],
        texts_b: Sequence[str | None] | None = None,
        *,
        blank_length: int,
        max_length: int,
        placeholder_id: int,
    ) -> Iterator[EncodedPrompt]:
        """:meth:`encode_batch` one example at a time (:func:`iter_prompts`; errors at the call)."""
        texts_b = [None] * len(texts_a) if texts_b is None else list(texts_b)
        if "textB" in self.texts and any(text_b is None for text_b in texts_b):
            raise ArgumentError(f"template {self.template!r} has {{textB}} but the example has no second text")
        try:
            encoded = iter_prompts(tokenizer, self.template, list(texts_a), texts_b, blank_length=blank_length,
                                   max_length=max_length, placeholder_id=placeholder_id)
        except ValueError as error:  # no room for the text, a tokenizer whose special tokens cannot be found
            raise ArgumentError(str(error)) from None
        return (EncodedPrompt(*fields) for fields in encoded)


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
