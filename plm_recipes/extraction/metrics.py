"""Span-level precision, recall and F1: a predicted span counts when its start and end are both exact."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from .schema import DEFAULT_RELATION_TEMPLATE


def span_f1(predictions: Sequence[set[tuple[int, int]]], references: Sequence[set[tuple[int, int]]],
            groups: Sequence[str] | None = None) -> dict[str, float]:
    """Micro-averaged span P/R/F1 over examples, and the same per group (:func:`prompt_group`).

    Args:
        predictions, references: per example, the set of ``(start, end)`` spans predicted and gold.
        groups: per example, the group it is reported under (``per_class/<group>/precision|recall|f1|support``,
            with ``support`` the number of gold spans).

    >>> r = span_f1([{(0, 2), (3, 5)}, set()], [{(0, 2)}, {(1, 4)}], groups=["人物", "*的父亲"])
    >>> round(r["precision"], 4), round(r["recall"], 4), round(r["f1"], 4)
    (0.5, 0.5, 0.5)
    >>> r["per_class/人物/precision"], r["per_class/*的父亲/recall"], r["per_class/*的父亲/support"]
    (0.5, 0.0, 1)
    """
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references")
    counts: dict[str, list[int]] = {}
    total = [0, 0, 0]  # true positives, predicted, gold
    for i, (predicted, gold) in enumerate(zip(predictions, references)):
        row = (len(predicted & gold), len(predicted), len(gold))
        for target in [total] + ([counts.setdefault(groups[i], [0, 0, 0])] if groups is not None else []):
            for k in range(3):
                target[k] += row[k]
    result = _prf(*total)
    for group in sorted(counts):
        tp, predicted, gold = counts[group]
        for name, value in _prf(tp, predicted, gold).items():
            result[f"per_class/{group}/{name}"] = value
        result[f"per_class/{group}/support"] = gold
    return result


def _prf(tp: int, predicted: int, gold: int) -> dict[str, float]:
    precision = tp / predicted if predicted else 0.0
    recall = tp / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def prompt_group(prompt: str, relation_template: str = DEFAULT_RELATION_TEMPLATE) -> str:
    """What a prompt is reported under: an entity prompt is its own group (``人物``), and every relation prompt of
    one relation is one group, its subject written ``*`` (``谭孝曾的父亲`` -> ``*的父亲``). A prompt is read as a
    relation prompt when it fits ``relation_template``; when the template's literal text appears in the prompt
    more than once, the subject takes the longest part it can (``《我的祖国》的作者`` -> subject ``《我的祖国》``).
    An entity type that itself fits the template, like ``目的地`` under ``{subject}的{relation}``, is grouped as a
    relation (``*的地``).

    >>> prompt_group("人物"), prompt_group("谭孝曾的父亲"), prompt_group("《我的祖国》的作者")
    ('人物', '*的父亲', '*的作者')
    """
    match = _template_pattern(relation_template).match(prompt)
    if match is None:
        return prompt
    return relation_template.format(subject="*", relation=match.group("relation"))


@lru_cache(maxsize=8)
def _template_pattern(template: str) -> re.Pattern:
    parts = re.split(r"(\{subject\}|\{relation\})", template)
    pattern = "".join({"{subject}": "(?P<subject>.+)", "{relation}": "(?P<relation>.+?)"}.get(p, re.escape(p))
                      for p in parts)
    return re.compile(f"^{pattern}$", re.DOTALL)
