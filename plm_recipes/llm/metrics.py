"""Scores of the LLM tasks: accuracy of choices (an answer naming no label counts as wrong) and precision /
recall / F1 of extracted relation triples, strict (the whole triple) and field-level (each role's value).

>>> gold = [[{"subject": "喜剧之王", "predicate": "主演", "object": "周星驰"}]]
>>> pred = [[{"subject": "喜剧之王", "predicate": "主演", "object": "张柏芝"}]]
>>> triple_f1(pred, gold)["f1"], field_f1(pred, gold)["f1"]
(0.0, 0.5)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def choice_accuracy(predicted: Sequence[str | None], gold: Sequence[str]) -> dict[str, float]:
    """``accuracy`` and ``invalid`` (the share of answers that named no label)."""
    n = len(gold)
    return {"accuracy": sum(p == g for p, g in zip(predicted, gold)) / n if n else 0.0,
            "invalid": sum(p is None for p in predicted) / n if n else 0.0}


def _prf(correct: int, predicted: int, gold: int) -> dict[str, float]:
    precision = correct / predicted if predicted else 0.0
    recall = correct / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def _micro(predicted: Sequence[set], gold: Sequence[set]) -> dict[str, float]:
    correct = sum(len(p & g) for p, g in zip(predicted, gold))
    return _prf(correct, sum(map(len, predicted)), sum(map(len, gold)))


def triple_f1(predicted: Sequence[Sequence[dict[str, Any]] | None],
              gold: Sequence[Sequence[dict[str, Any]]]) -> dict[str, float]:
    """Micro P/R/F1 over ``(subject, predicate, object)`` triples; an unreadable answer (``None``) predicts none."""
    def key(items):
        return {(t["subject"], t["predicate"], t["object"]) for t in items or []}

    return _micro([key(p) for p in predicted], [key(g) for g in gold])


def field_f1(predicted: Sequence[Sequence[dict[str, Any]] | None],
             gold: Sequence[Sequence[dict[str, Any]]]) -> dict[str, float]:
    """Micro P/R/F1 over ``(predicate, role, value)`` fields, role being subject or object: a triple with the
    right relation and subject but a wrong object earns half."""
    def key(items):
        return {(t["predicate"], role, t[role]) for t in items or [] for role in ("subject", "object")}

    return _micro([key(p) for p in predicted], [key(g) for g in gold])
