"""Data for supervised fine-tuning, in the forms TRL's ``SFTTrainer`` takes, one JSON object per line:

- ``{"prompt": ..., "completion": ...}``: prompt-completion, both strings (plain text, no chat template) or both lists
  of messages (conversational: the chat template renders them); the loss is on the completion only;
- ``{"messages": [{"role": ..., "content": ...}, ...]}``: conversational language modeling, the loss on every token
  (TRL's default; ``--assistant_only_loss true`` with a chat template that marks the assistant's turns keeps it on
  the answers);
- ``{"context": ..., "target": ...}`` (optionally ``"system"``): this project's earlier form, read as a
  conversational prompt-completion.

Conversational records get the ``system`` message when they have none, and ``chat_template_kwargs`` that turn
thinking off (TRL reads a record's ``chat_template_kwargs``), so that answers are trained as the ``plm-recipes llm``
commands ask for them.

>>> record = instruction_record({"context": "苹果很甜。类别？", "target": "水果"})
>>> record["prompt"], record["completion"]
([{'role': 'user', 'content': '苹果很甜。类别？'}], [{'role': 'assistant', 'content': '水果'}])
"""

from __future__ import annotations

import os
from typing import Any

from ..chat import TEMPLATE_KWARGS
from ..data import read_json_lines
from ..errors import DataFormatError

EXPECTED = ('one JSON object per line: {"prompt", "completion"} (strings, or lists of messages), {"messages": '
            '[{"role", "content"}, ...]}, or {"context": instruction and input, "target": the answer}')


def instruction_record(record: dict[str, Any], system: str | None = None) -> dict[str, Any]:
    """One ``{"context", "target"[, "system"]}`` record as ``{"prompt": [messages], "completion": [message],
    "chat_template_kwargs": {"enable_thinking": False}}``; a ``system`` field (or the ``system`` argument) opens the
    chat."""
    system = record.get("system", system)
    prompt = [{"role": "system", "content": system}] if system else []
    prompt.append({"role": "user", "content": record["context"]})
    return {"prompt": prompt, "completion": [{"role": "assistant", "content": record["target"]}],
            "chat_template_kwargs": dict(TEMPLATE_KWARGS)}


def record_format(value: dict[str, Any], context_column: str = "context") -> str:
    """``"prompt-completion"``, ``"messages"`` or ``"context-target"``: the form of one record, by its keys."""
    if "messages" in value:
        return "messages"
    if "prompt" in value or "completion" in value:
        return "prompt-completion"
    return "context-target" if context_column in value else "unknown"


def _messages_error(messages: Any, name: str) -> str | None:
    """What is wrong with a list of chat messages, or ``None``."""
    if not isinstance(messages, list) or not messages:
        return f"{name!r} must be a non-empty list of messages"
    for message in messages:
        if not isinstance(message, dict) or not isinstance(message.get("role"), str) or \
                not isinstance(message.get("content"), str):
            return f"each message of {name!r} must be an object with a string 'role' and 'content', found {message!r}"
    return None


def _conversational(record: dict[str, Any], system: str | None) -> dict[str, Any]:
    """A conversational record with the ``system`` message when it has none, and thinking turned off."""
    key = "messages" if "messages" in record else "prompt"
    if system and record[key][0]["role"] != "system":
        record = {**record, key: [{"role": "system", "content": system}, *record[key]]}
    return {**record, "chat_template_kwargs": record.get("chat_template_kwargs") or dict(TEMPLATE_KWARGS)}


def _checked(value: Any, kind: str, context_column: str, target_column: str) -> str | None:
    """What is wrong with one record of ``kind``, or ``None``."""
    if kind == "messages":
        error = _messages_error(value["messages"], "messages")
        if error is None and not any(m["role"] == "assistant" for m in value["messages"]):
            error = "'messages' has no assistant turn to learn"
        return error
    if kind == "prompt-completion":
        prompt, completion = value.get("prompt"), value.get("completion")
        if isinstance(prompt, str) and isinstance(completion, str):
            return None if prompt.strip() and completion.strip() else "'prompt' and 'completion' must not be empty"
        if isinstance(prompt, list) or isinstance(completion, list):
            return _messages_error(prompt, "prompt") or _messages_error(completion, "completion")
        return "'prompt' and 'completion' must both be strings or both lists of messages"
    for column in (context_column, target_column):
        if not isinstance(value.get(column), str) or not value[column].strip():
            return f"{column!r} is missing or not a non-empty string"
    if "system" in value and not isinstance(value["system"], str):
        return "'system' must be a string"
    return None


def read_instructions(path: str | os.PathLike, *, context_column: str = "context", target_column: str = "target",
                      system: str | None = None) -> list[dict[str, Any]]:
    """Read an SFT file (one of the forms above, the same on every line) as TRL's records; a line of another form,
    or one that is malformed, is an error naming the file and the line."""
    path = os.fspath(path)
    records: list[dict[str, Any]] = []
    first: tuple[str, int] | None = None
    for line, value in read_json_lines(path):
        if not isinstance(value, dict):
            raise DataFormatError(path, line, f"expected {EXPECTED}, found a {type(value).__name__}")
        kind = record_format(value, context_column)
        if kind == "unknown":
            raise DataFormatError(path, line, f"found the keys {sorted(value)}; expected {EXPECTED}")
        form = "conversational prompt-completion" if isinstance(value.get("prompt"), list) else kind
        if first is None:
            first = (form, line)
        elif form != first[0]:
            raise DataFormatError(path, line, f"a {form} record in a file of {first[0]} records (line {first[1]}): "
                                              "one form per file")
        error = _checked(value, kind, context_column, target_column)
        if error:
            raise DataFormatError(path, line, f"{error}; expected {EXPECTED}")
        if kind == "context-target":
            records.append(instruction_record({"context": value[context_column], "target": value[target_column],
                                               **({"system": value["system"]} if "system" in value else {})}, system))
        elif kind == "messages" or isinstance(value["prompt"], list):
            records.append(_conversational(value, system))
        else:
            records.append(value)
    if not records:
        raise DataFormatError(path, None, f"no examples; expected {EXPECTED}")
    return records


def prompt_and_answer(record: dict[str, Any]) -> tuple[list[dict[str, str]], str]:
    """A conversational record (as :func:`read_instructions` returns it) as the chat to answer and its reference
    answer: the prompt and the completion's text, or the messages before the last assistant turn and its text."""
    if "messages" in record:
        messages = record["messages"]
        last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
        return messages[:last], messages[last]["content"]
    if not isinstance(record["prompt"], list):
        raise ValueError("a plain-text prompt (not a list of messages) has no chat to answer")
    return record["prompt"], "".join(m["content"] for m in record["completion"])
