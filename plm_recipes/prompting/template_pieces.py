"""A text written into a template as token ids, piece by piece: what :class:`~plm_recipes.prompting.template.Template`
and the standalone :mod:`~plm_recipes.prompting.modeling_prompt_lm` share. It imports nothing but the standard
library, since a p-tuning folder over a masked LM carries it beside ``modeling_prompt_lm.py`` (``trust_remote_code``).
The template syntax and its checks are :class:`~plm_recipes.prompting.template.Template`'s.

    >>> template_parts("{soft:2}这是{MASK}：{textA}")
    [('soft', 2), ('text', '这是'), ('MASK', ''), ('text', '：'), ('textA', '')]
"""

from __future__ import annotations

import re

# sentencepiece's word-start marker: XLM-R's tokenizer gives a piece written on its own a bare "▁" token first.
_WORD_START = "\u2581"


def template_parts(template: str) -> list[tuple[str, str | int]]:
    """``(kind, value)`` pieces of a (valid) template: ``("text", literal)``, ``("soft", count)``, ``("MASK", "")``,
    ``("textA", "")``, ``("textB", "")``."""
    parts: list[tuple[str, str | int]] = []
    position = 0
    for match in re.finditer(r"\{([^{}]*)\}", template):
        if match.start() > position:
            parts.append(("text", template[position : match.start()]))
        name = match.group(1)
        parts.append(("soft", int(name.partition(":")[2] or 1)) if name.startswith("soft") else (name, ""))
        position = match.end()
    return parts + ([("text", template[position:])] if position < len(template) else [])


def encode_prompt(tokenizer, template: str, text_a: str, text_b: str | None, *, blank_length: int, max_length: int,
                  placeholder_id: int) -> tuple[list[int], list[int], list[int], list[int], bool]:
    """``(prefix, suffix, prefix_soft, suffix_soft, truncated)``: the ids before and after the blank, special tokens
    included, 1 where a learned vector goes (``placeholder_id`` there), and whether a text was cut. Every piece is
    tokenized on its own (:func:`piece_ids`); the texts lose tokens from their end, the longer first, until the
    input with ``blank_length`` blank tokens fits in ``max_length``, and the template is never cut.

    Raises:
        ValueError: the template alone (with the blank) leaves no room for the text.
    """
    parts = template_parts(template)
    texts = {"textA": piece_ids(tokenizer, text_a), "textB": piece_ids(tokenizer, text_b or "")}
    pieces = [(kind, piece_ids(tokenizer, value) if kind == "text" else [placeholder_id] * value if kind == "soft"
               else [] if kind == "MASK" else texts[kind]) for kind, value in parts]
    first, last = special_tokens(tokenizer)
    fixed = len(first) + len(last) + blank_length + sum(len(ids) for kind, ids in pieces if kind in ("text", "soft"))
    if max_length - fixed < 1:
        raise ValueError(f"template {template!r} takes {fixed} of --max_seq_length {max_length} tokens (special "
                         "tokens and the blank included), leaving no room for the text; raise --max_seq_length or "
                         "shorten the template")
    lengths = truncated_lengths({kind: len(texts[kind]) for kind, _ in parts if kind in texts}, max_length - fixed)
    prefix, suffix, prefix_soft, suffix_soft = list(first), [], [0] * len(first), []
    ids, soft = prefix, prefix_soft
    for kind, piece in pieces:
        if kind == "MASK":
            ids, soft = suffix, suffix_soft
            continue
        piece = piece[: lengths[kind]] if kind in texts else piece
        ids.extend(piece)
        soft.extend([1 if kind == "soft" else 0] * len(piece))
    suffix.extend(last)
    suffix_soft.extend([0] * len(last))
    return prefix, suffix, prefix_soft, suffix_soft, any(lengths[k] < len(texts[k]) for k in lengths)


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
    if not text:
        return []
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    if len(ids) > 1 and tokenizer.convert_ids_to_tokens(ids[0]) == _WORD_START and not text[0].isspace():
        ids = ids[1:]
    return list(ids)


def special_tokens(tokenizer) -> tuple[list[int], list[int]]:
    """The special token ids a tokenizer puts before and after one text (``[CLS]`` / ``[SEP]``, ``<bos>``, ...)."""
    ids = tokenizer("一", add_special_tokens=True)["input_ids"]
    plain = tokenizer("一", add_special_tokens=False)["input_ids"]
    for start in range(len(ids) - len(plain) + 1):
        if ids[start : start + len(plain)] == plain:
            return list(ids[:start]), list(ids[start + len(plain) :])
    raise ValueError(f"cannot tell where {type(tokenizer).__name__} puts its special tokens")


def truncated_lengths(lengths: dict[str, int], room: int) -> dict[str, int]:
    """Cut the longest text first, one token at a time, until the texts fit in ``room`` (``longest_first``)."""
    lengths = dict(lengths)
    while sum(lengths.values()) > room:
        longest = max(lengths, key=lambda k: (lengths[k], k == "textA"))
        lengths[longest] -= 1
    return lengths
