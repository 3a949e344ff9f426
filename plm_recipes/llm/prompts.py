"""Prompts for a chat model: label sets, few-shot example files and extraction schemas (files, not code), and the
chat messages built from them.

A task is asked as one user turn; each few-shot example is a user turn (the same wording, the example's input)
followed by an assistant turn (its answer), before the real question, so that the model sees the answer's exact
form and option scoring (:mod:`plm_recipes.llm.scoring`) scores what it would write in the assistant turn.

>>> labels = parse_labels(["水果", "酒店"])
>>> messages = classification_messages("苹果很甜", labels, [ChoiceExample("房间很干净", "酒店")])
>>> [m["role"] for m in messages]
['system', 'user', 'assistant', 'user']
>>> messages[2]["content"]
'酒店'
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..data import read_json_lines, read_lines
from ..errors import ArgumentError, DataFormatError

# What the model is asked to write for a field the text does not mention (the wording the older project's
# prompts used); the extraction parser also puts it in place of values that are not in the text.
NOT_MENTIONED = "原文中未提及"

SYSTEM_PROMPT = "你是一个严谨的中文信息处理助手，严格按照要求回答，不要解释。"

CLASSIFY_TEMPLATE = "下面这句话属于哪一个类别？只能从这些类别中选一个回答：{labels}。\n\n句子：{text}"
MATCH_TEMPLATE = "下面两句话表达的意思相同吗？只回答“是”或“不是”。\n\n句子一：{text_a}\n句子二：{text_b}"
MATCH_OPTIONS = ("是", "不是")
EXTRACT_FIELDS_TEMPLATE = (
    "从下面的句子中抽取这些字段：{fields}。用 JSON 回答，键是字段名，值是字符串列表，只写句子里出现的原文；句子中没有的字段，"
    "值写 [\"" + NOT_MENTIONED + "\"]。\n\n句子：{text}"
)
EXTRACT_TRIPLES_TEMPLATE = (
    "从下面的句子中抽取关系三元组。可选的主体类型和关系：{schema}。用 JSON 列表回答，每个元素是 "
    "{{\"subject\": 主体, \"predicate\": 关系, \"object\": 客体}}，主体和客体必须是句子里出现的原文；没有就回答 []。\n\n"
    "句子：{text}"
)


@dataclass(frozen=True)
class ChoiceExample:
    """A few-shot example of a choice task: the input (a text, or two for matching) and its answer."""

    text: str
    label: str
    text_b: str | None = None


@dataclass(frozen=True)
class ExtractionExample:
    """A few-shot example of extraction: a text and its answer (the JSON the model should write)."""

    text: str
    answer: Any


# --- label sets -----------------------------------------------------------------------------------------------


def parse_labels(labels: Sequence[str], source: str = "the label set") -> list[str]:
    """Check a label set: at least two distinct, non-empty labels (order kept, surrounding spaces removed).

    >>> parse_labels([" 是 ", "不是"])
    ['是', '不是']
    >>> parse_labels(["是"])
    Traceback (most recent call last):
    ...
    plm_recipes.errors.ArgumentError: the label set: expected at least 2 labels to choose from, found 1
    """
    cleaned = [str(label).strip() for label in labels]
    if any(not label for label in cleaned):
        raise ArgumentError(f"{source}: a label is empty")
    duplicated = sorted({label for label in cleaned if cleaned.count(label) > 1})
    if duplicated:
        raise ArgumentError(f"{source}: labels given twice: {', '.join(duplicated)}")
    if len(cleaned) < 2:
        raise ArgumentError(f"{source}: expected at least 2 labels to choose from, found {len(cleaned)}")
    return cleaned


def read_labels(path: str | os.PathLike) -> list[str]:
    """A label set file: one label per line (UTF-8; blank lines skipped). An empty file is an error."""
    path = os.fspath(path)
    lines = read_lines(path)
    if not lines:
        raise DataFormatError(path, None, "the label set is empty; expected one label per line")
    return parse_labels([text for _, text in lines], source=path)


def labels_from_argument(value: str) -> list[str]:
    """``--labels``: a label set file, or labels separated by commas (``水果,酒店,平板``)."""
    if os.path.isfile(value):
        return read_labels(value)
    if os.sep in value or value.endswith((".txt", ".tsv")):
        raise ArgumentError(f"--labels {value}: file not found")
    return parse_labels([label for label in value.replace("，", ",").split(",")], source=f"--labels {value!r}")


# --- few-shot example files -----------------------------------------------------------------------------------


def _string_field(path: str, line: int, record: Any, key: str, expected: str) -> str:
    if not isinstance(record, dict):
        raise DataFormatError(path, line, f"expected a JSON object {expected}, found {type(record).__name__}")
    value = record.get(key)
    if not isinstance(value, str) or not value.strip():
        raise DataFormatError(path, line, f"expected a non-empty string in {key!r} ({expected})")
    return value.strip()


def read_choice_examples(path: str | os.PathLike, labels: Sequence[str] | None = None, *,
                         pairs: bool = False) -> list[ChoiceExample]:
    """Few-shot examples of classification (``{"text", "label"}`` per line) or, with ``pairs``, of matching
    (``{"text_a", "text_b", "label"}``). A label outside ``labels`` is an error naming the line."""
    path = os.fspath(path)
    expected = '{"text_a", "text_b", "label"}' if pairs else '{"text", "label"}'
    examples = []
    for line, record in read_json_lines(path):
        label = _string_field(path, line, record, "label", expected)
        if labels is not None and label not in labels:
            raise DataFormatError(path, line, f"label {label!r} is not in the label set ({', '.join(labels)})")
        if pairs:
            examples.append(ChoiceExample(_string_field(path, line, record, "text_a", expected), label,
                                          _string_field(path, line, record, "text_b", expected)))
        else:
            examples.append(ChoiceExample(_string_field(path, line, record, "text", expected), label))
    if not examples:
        raise DataFormatError(path, None, f"no examples; expected one JSON object {expected} per line")
    return examples


def read_extraction_examples(path: str | os.PathLike) -> list[ExtractionExample]:
    """Few-shot examples of extraction: ``{"text", "answer"}`` per line, the answer being the JSON the model
    should write (an object of fields for a list schema, a list of triples for a relation schema)."""
    path = os.fspath(path)
    examples = []
    for line, record in read_json_lines(path):
        text = _string_field(path, line, record, "text", '{"text", "answer"}')
        if "answer" not in record or not isinstance(record["answer"], dict | list):
            raise DataFormatError(path, line, "expected 'answer': a JSON object or list (what the model should write)")
        examples.append(ExtractionExample(text, record["answer"]))
    if not examples:
        raise DataFormatError(path, None, 'no examples; expected one JSON object {"text", "answer"} per line')
    return examples


# --- schemas --------------------------------------------------------------------------------------------------


def parse_schema(value: Any, source: str = "--schema") -> list[str] | dict[str, list[str]]:
    """An extraction schema: a list of field names (``["姓名", "性别"]``: extract each field's values) or a
    mapping of subject type to its relations (``{"人物": ["出生日期", "国籍"]}``: extract triples). Given a
    string: a JSON file's path, JSON text, or names separated by commas.

    >>> parse_schema('["姓名", "出生日期"]')
    ['姓名', '出生日期']
    >>> parse_schema("姓名,性别")
    ['姓名', '性别']
    >>> parse_schema('{"人物": "国籍"}')
    Traceback (most recent call last):
    ...
    plm_recipes.errors.ArgumentError: --schema: expected a list of strings or a mapping of strings to lists of strings; '人物' maps to str
    """
    if isinstance(value, str):
        text = value.strip()
        if os.path.isfile(text):
            with open(text, encoding="utf-8") as f:
                source, text = text, f.read()
            value = _json_or_error(text, source)
        elif text[:1] in "[{":
            value = _json_or_error(text, source)
        else:
            value = [name for name in text.replace("，", ",").split(",")]
    expected = "expected a list of strings or a mapping of strings to lists of strings"
    if isinstance(value, list):
        names = [name.strip() if isinstance(name, str) else name for name in value]
        if not names or not all(isinstance(name, str) and name for name in names):
            raise ArgumentError(f"{source}: {expected}; found {json.dumps(value, ensure_ascii=False)[:80]}")
        if len(set(names)) != len(names):
            raise ArgumentError(f"{source}: a field is given twice")
        return names
    if isinstance(value, Mapping):
        if not value:
            raise ArgumentError(f"{source}: the schema is empty")
        schema = {}
        for key, relations in value.items():
            if not isinstance(relations, list) or not relations or not all(
                    isinstance(r, str) and r.strip() for r in relations):
                raise ArgumentError(f"{source}: {expected}; {key!r} maps to {type(relations).__name__}")
            schema[str(key).strip()] = [r.strip() for r in relations]
        return schema
    raise ArgumentError(f"{source}: {expected}; found {type(value).__name__}")


def _json_or_error(text: str, source: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ArgumentError(f"{source}: not valid JSON: {e.msg} (line {e.lineno}, column {e.colno})") from None


# --- messages -------------------------------------------------------------------------------------------------

Message = dict[str, str]


def _with_examples(system: str | None, turns: list[tuple[str, str]], question: str) -> list[Message]:
    messages: list[Message] = [{"role": "system", "content": system}] if system else []
    for user, assistant in turns:
        messages += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
    return messages + [{"role": "user", "content": question}]


def classification_messages(text: str, labels: Sequence[str], examples: Sequence[ChoiceExample] = (), *,
                            system: str | None = SYSTEM_PROMPT, template: str = CLASSIFY_TEMPLATE) -> list[Message]:
    """The chat asking for ``text``'s label among ``labels`` (``template`` with ``{labels}`` and ``{text}``)."""
    joined = "、".join(labels)
    turns = [(template.format(labels=joined, text=e.text), e.label) for e in examples]
    return _with_examples(system, turns, template.format(labels=joined, text=text))


def matching_messages(text_a: str, text_b: str, examples: Sequence[ChoiceExample] = (), *,
                      system: str | None = SYSTEM_PROMPT, template: str = MATCH_TEMPLATE) -> list[Message]:
    """The chat asking whether ``text_a`` and ``text_b`` mean the same (answers :data:`MATCH_OPTIONS`)."""
    turns = [(template.format(text_a=e.text, text_b=e.text_b), e.label) for e in examples]
    return _with_examples(system, turns, template.format(text_a=text_a, text_b=text_b))


def schema_description(schema: list[str] | dict[str, list[str]]) -> str:
    """The schema as the prompt states it: ``姓名、性别`` or ``人物：出生日期、国籍；影视作品：主演``."""
    if isinstance(schema, list):
        return "、".join(schema)
    return "；".join(f"{subject}：{'、'.join(relations)}" for subject, relations in schema.items())


def extraction_messages(text: str, schema: list[str] | dict[str, list[str]],
                        examples: Sequence[ExtractionExample] = (), *,
                        system: str | None = SYSTEM_PROMPT) -> list[Message]:
    """The chat asking for ``schema``'s fields (a list) or triples (a mapping) in ``text``, as JSON."""
    def ask(t: str) -> str:
        if isinstance(schema, list):
            return EXTRACT_FIELDS_TEMPLATE.format(fields="、".join(schema), text=t)
        return EXTRACT_TRIPLES_TEMPLATE.format(schema=schema_description(schema), text=t)

    turns = [(ask(e.text), json.dumps(e.answer, ensure_ascii=False)) for e in examples]
    return _with_examples(system, turns, ask(text))
