"""A text written into a template as token ids, piece by piece: what :class:`~plm_recipes.prompting.template.Template`
and the standalone :mod:`~plm_recipes.prompting.modeling_prompt_lm` share. It imports nothing but the standard
library, since a p-tuning folder over a masked LM carries it beside ``modeling_prompt_lm.py`` (``trust_remote_code``).
The template syntax and its checks are :class:`~plm_recipes.prompting.template.Template`'s.

    >>> template_parts("{soft:2}这是{MASK}：{textA}")
    [('soft', 2), ('text', '这是'), ('MASK', ''), ('text', '：'), ('textA', '')]
"""

from __future__ import annotations

import re
from collections.abc import Iterator

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
    return encode_prompts(tokenizer, template, [text_a], [text_b], blank_length=blank_length, max_length=max_length,
                          placeholder_id=placeholder_id)[0]


def encode_prompts(tokenizer, template: str, texts_a: list[str], texts_b: list[str | None] | None = None, *,
                   blank_length: int, max_length: int, placeholder_id: int
                   ) -> list[tuple[list[int], list[int], list[int], list[int], bool]]:
    """:func:`encode_prompt` of many examples: each text field in one tokenizer call, the template's own pieces
    once (as ``Dataset.map`` calls it on a batch)."""
    return list(iter_prompts(tokenizer, template, texts_a, texts_b, blank_length=blank_length, max_length=max_length,
                             placeholder_id=placeholder_id))


def iter_prompts(tokenizer, template: str, texts_a: list[str], texts_b: list[str | None] | None = None, *,
                 blank_length: int, max_length: int, placeholder_id: int
                 ) -> Iterator[tuple[list[int], list[int], list[int], list[int], bool]]:
    """:func:`encode_prompts` one example at a time (the texts tokenized, and the template checked, at the call):
    a batch's examples need not all be held at once. Each example's lists, kept until the batch is written,
    would outlive the garbage collector's young generations, and have it walk the whole process again and again."""
    parts = template_parts(template)
    fields = [kind for kind, _ in parts if kind in ("textA", "textB")]
    pieces = [(kind, piece_ids(tokenizer, value) if kind == "text" else [placeholder_id] * value if kind == "soft"
               else []) for kind, value in parts]
    first, last = special_tokens(tokenizer)
    fixed = len(first) + len(last) + blank_length + sum(len(ids) for kind, ids in pieces if kind in ("text", "soft"))
    if max_length - fixed < 1:
        raise ValueError(f"template {template!r} takes {fixed} of --max_seq_length {max_length} tokens (special "
                         "tokens and the blank included), leaving no room for the text; raise --max_seq_length or "
                         "shorten the template")
    texts_b = [None] * len(texts_a) if texts_b is None else texts_b
    ids = {"textA": batch_piece_ids(tokenizer, texts_a),
           "textB": batch_piece_ids(tokenizer, [t or "" for t in texts_b]) if "textB" in fields else None}
    return _assembled(texts_a, fields, pieces, ids, first, last, max_length - fixed)


def _assembled(texts_a: list[str], fields: list[str], pieces: list[tuple[str, list[int]]],
               ids: dict[str, list[list[int]] | None], first: list[int], last: list[int], room: int
               ) -> Iterator[tuple[list[int], list[int], list[int], list[int], bool]]:
    """Each example written into the template's ``pieces`` (:func:`iter_prompts`), its texts cut to ``room``."""
    for i in range(len(texts_a)):
        texts = {kind: ids[kind][i] for kind in fields}
        lengths = truncated_lengths({kind: len(texts[kind]) for kind in texts}, room)
        prefix, suffix, prefix_soft, suffix_soft = list(first), [], [0] * len(first), []
        out, soft = prefix, prefix_soft
        for kind, piece in pieces:
            if kind == "MASK":
                out, soft = suffix, suffix_soft
                continue
            piece = texts[kind][: lengths[kind]] if kind in texts else piece
            out.extend(piece)
            soft.extend([1 if kind == "soft" else 0] * len(piece))
        suffix.extend(last)
        suffix_soft.extend([0] * len(last))
        yield prefix, suffix, prefix_soft, suffix_soft, any(lengths[k] < len(texts[k]) for k in lengths)


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


def batch_piece_ids(tokenizer, texts: list[str]) -> list[list[int]]:
    """:func:`piece_ids` of each text, in one tokenizer call."""
    if not texts:
        return []
    batch = tokenizer([t or "" for t in texts], add_special_tokens=False, return_attention_mask=False,
                      return_token_type_ids=False)["input_ids"]  # the ids alone: the rest costs as much again
    word_start = tokenizer.convert_tokens_to_ids(_WORD_START)  # its id, asked once, not of every text's first token
    if tokenizer.convert_ids_to_tokens(word_start) != _WORD_START:
        word_start = None  # not in the vocabulary (the unknown token's id came back)
    out = []
    for text, ids in zip(texts, batch):
        if not text:
            ids = []
        elif len(ids) > 1 and ids[0] == word_start and not text[0].isspace():
            ids = ids[1:]
        out.append(ids if isinstance(ids, list) else list(ids))
    return out


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
