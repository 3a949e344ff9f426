"""Reading a chat model's extraction answer: JSON repaired, checked against the schema, grounded in the text.

A model writes JSON with a code fence around it, single quotes, Chinese quotes, a missing bracket or a trailing
comma; ``json-repair`` (https://github.com/mangiucugna/json_repair) parses all of these. What it cannot turn
into an object or list of the schema's shape is reported for that item (:attr:`Extraction.error`), never
raised. A value that does not occur in the text is not kept: it is listed in :attr:`Extraction.not_in_text`,
and a field left with no value reads :data:`~plm_recipes.llm.prompts.NOT_MENTIONED` (``原文中未提及``).

>>> e = parse_extraction('```json\\n{"姓名": ["张译"], "性别": ["男"], "出生日期": ["1978年"]}\\n```',
...                      ["姓名", "性别", "出生日期"], "张译，男，演员。")
>>> e.result
{'姓名': ['张译'], '性别': ['男'], '出生日期': ['原文中未提及']}
>>> e.not_in_text
[{'field': '出生日期', 'value': '1978年'}]
>>> parse_extraction("抱歉，我无法回答", ["姓名"], "张译，男").error
'no JSON object or list in the answer'
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from .prompts import NOT_MENTIONED

_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)(?:```|$)", re.S)


@dataclass
class Extraction:
    """One item's extraction.

    Attributes:
        result: for a field list, ``{field: [values]}`` with every field of the schema; for a relation schema, a
            list of ``{"subject", "predicate", "object"}`` (plus ``subject_type``); ``None`` when ``error``.
        not_in_text: values the model wrote that the text does not contain (dropped from ``result``), and for
            a relation schema triples with an unknown relation.
        error: why the answer could not be read (``None`` when it was).
        raw: the model's answer as written.
    """

    result: Any
    not_in_text: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    raw: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"result": self.result, "not_in_text": self.not_in_text, "error": self.error, "raw": self.raw}


def repair_json(answer: str) -> Any:
    """The JSON object or list in ``answer`` (a fenced block when there is one), repaired; ``None`` when there is
    none.

    >>> repair_json("{'姓名': ['张译'], '性别': ['男']")
    {'姓名': ['张译'], '性别': ['男']}
    >>> repair_json('答案：[{"subject": "喜剧之王", "predicate": "主演", "object": "周星驰"},]')
    [{'subject': '喜剧之王', 'predicate': '主演', 'object': '周星驰'}]
    """
    import json_repair

    fenced = _FENCE.search(answer)
    text = fenced.group(1) if fenced else answer
    starts = [i for i in (text.find("{"), text.find("[")) if i >= 0]
    if not starts:
        return None
    text = text[min(starts):]
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        try:
            value = json_repair.repair_json(text, return_objects=True)
        except Exception:  # json-repair's own failures (it has raised RecursionError on deep garbage)
            return None
    return value if isinstance(value, dict | list) else None


def _normalise(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _values(value: Any) -> list[str]:
    """A field's values as strings: a string, a number or a list of them; the not-mentioned marker dropped."""
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items:
        if isinstance(item, str | int | float) and not isinstance(item, bool):
            text = str(item).strip()
            if text and text != NOT_MENTIONED and text not in out:
                out.append(text)
    return out


def parse_extraction(answer: str, schema: list[str] | dict[str, list[str]], text: str) -> Extraction:
    """Read ``answer`` (a model's reply) against ``schema`` (see :func:`~plm_recipes.llm.prompts.parse_schema`)
    for the source ``text``."""
    value = repair_json(answer)
    if value is None:
        return Extraction(None, error="no JSON object or list in the answer", raw=answer)
    in_text = _normalise(text)
    dropped: list[dict[str, Any]] = []
    if isinstance(schema, list):
        if isinstance(value, list) and len(value) == 1 and isinstance(value[0], dict):
            value = value[0]  # [{...}]: one record
        if not isinstance(value, dict):
            return Extraction(None, error=f"expected a JSON object of fields, found a {type(value).__name__}",
                              raw=answer)
        result = {}
        for name in schema:
            kept = []
            for v in _values(value.get(name, [])):
                if _normalise(v) in in_text:
                    kept.append(v)
                else:
                    dropped.append({"field": name, "value": v})
            result[name] = kept or [NOT_MENTIONED]
        dropped += [{"field": k, "value": v, "reason": "not in the schema"} for k, v in value.items()
                    if k not in schema]
        return Extraction(result, dropped, raw=answer)

    if isinstance(value, dict):
        value = [value] if {"subject", "predicate", "object"} & set(value) else next(
            (v for v in value.values() if isinstance(v, list)), None)
    if not isinstance(value, list):
        return Extraction(None, error="expected a JSON list of {subject, predicate, object}", raw=answer)
    relations = {r: s for s, rs in schema.items() for r in rs}
    triples = []
    for item in value:
        if not isinstance(item, dict):
            dropped.append({"triple": item, "reason": "not an object"})
            continue
        subject, predicate, obj = (_values(item.get(k))[:1] for k in ("subject", "predicate", "object"))
        if not (subject and predicate and obj):
            dropped.append({"triple": item, "reason": "subject, predicate or object missing"})
            continue
        subject, predicate, obj = subject[0], predicate[0], obj[0]
        if predicate not in relations:
            dropped.append({"triple": item, "reason": "relation not in the schema"})
        elif _normalise(subject) not in in_text or _normalise(obj) not in in_text:
            dropped.append({"triple": item, "reason": "not in the text"})
        else:
            triple = {"subject": subject, "predicate": predicate, "object": obj,
                      "subject_type": relations[predicate]}
            if triple not in triples:
                triples.append(triple)
    return Extraction(triples, dropped, raw=answer)
