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
from collections.abc import Iterator
from typing import Any

import datasets

from ..chat import TEMPLATE_KWARGS
from ..data import DataSplit, generated_dataset, iter_json_lines, map_split
from ..errors import ArgumentError, DataFormatError

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


def iter_instructions(path: str | os.PathLike, *, context_column: str = "context", target_column: str = "target",
                      system: str | None = None) -> Iterator[dict[str, Any]]:
    """The records of an SFT file (one of the forms above, the same on every line) as TRL's records, one at a time;
    a line of another form, or one that is malformed, is an error naming the file and the line, and so is a file
    with no record."""
    path = os.fspath(path)
    first: tuple[str, int] | None = None
    for line, value in iter_json_lines(path):
        if not isinstance(value, dict):
            raise DataFormatError(path, line, f"expected {EXPECTED}, found a {type(value).__name__}")
        kind = record_format(value, context_column)
        if kind == "unknown":
            raise DataFormatError(path, line, f"found the keys {sorted(value)}; expected {EXPECTED}")
        form = record_form(value, context_column)
        if first is None:
            first = (form, line)
        elif form != first[0]:
            raise DataFormatError(path, line, f"a {form} record in a file of {first[0]} records (line {first[1]}): "
                                              "one form per file")
        error = _checked(value, kind, context_column, target_column)
        if error:
            raise DataFormatError(path, line, f"{error}; expected {EXPECTED}")
        yield _training_record(value, kind, context_column, target_column, system)
    if first is None:
        raise DataFormatError(path, None, f"no examples; expected {EXPECTED}")


def read_instructions(path: str | os.PathLike, *, context_column: str = "context", target_column: str = "target",
                      system: str | None = None) -> list[dict[str, Any]]:
    """:func:`iter_instructions` as a list (a small file)."""
    return list(iter_instructions(path, context_column=context_column, target_column=target_column, system=system))


def record_form(value: dict[str, Any], context_column: str = "context") -> str:
    """The form a record is trained in: ``"prompt-completion"`` (plain text), ``"conversational prompt-completion"``
    (a ``context``/``target`` record included) or ``"messages"``."""
    kind = record_format(value, context_column)
    if kind == "prompt-completion" and isinstance(value.get("prompt"), list):
        return "conversational prompt-completion"
    return "conversational prompt-completion" if kind == "context-target" else kind


def _training_record(value: dict[str, Any], kind: str, context_column: str, target_column: str,
                     system: str | None) -> dict[str, Any]:
    """A checked record of ``kind`` as the record TRL trains on."""
    if kind == "context-target":
        return instruction_record({"context": value[context_column], "target": value[target_column],
                                   **({"system": value["system"]} if value.get("system") is not None else {})}, system)
    if kind == "messages" or isinstance(value["prompt"], list):
        return _conversational(value, system)
    return value


# -- as datasets: a local file's rows, or a dataset's (--dataset_name) ----------------------------------------------

COLUMNS = ("messages", "prompt", "completion", "system")  # a dataset's columns read besides --context/target_column
MESSAGES = datasets.List(datasets.Json())  # each message as it was written (role, content and any other key)
FEATURES = {
    "prompt-completion": datasets.Features({"prompt": datasets.Value("string"),
                                            "completion": datasets.Value("string")}),
    "conversational prompt-completion": datasets.Features({"prompt": MESSAGES, "completion": MESSAGES,
                                                           "chat_template_kwargs": datasets.Json()}),
    "messages": datasets.Features({"messages": MESSAGES, "chat_template_kwargs": datasets.Json()}),
}


def _file_rows(path: str, stamp: tuple[int, int], context_column: str, target_column: str, form: str,
               system: str | None) -> Iterator[dict[str, Any]]:
    del stamp  # part of the cache key only
    keys = list(FEATURES[form])
    for record in iter_instructions(path, context_column=context_column, target_column=target_column, system=system):
        yield {key: record.get(key) for key in keys}


def file_form(path: str | os.PathLike, context_column: str = "context") -> str:
    """The form of a file's first record (which every other record must share); a first line that is not a record
    of a known form is reported when the file is read."""
    for _, value in iter_json_lines(path):
        if isinstance(value, dict) and record_format(value, context_column) != "unknown":
            return record_form(value, context_column)
        break
    return "prompt-completion"


def instruction_file_dataset(path: str | os.PathLike, *, context_column: str = "context", target_column: str = "target",
                             system: str | None = None, streaming: bool = False):
    """An SFT file as a dataset of TRL's records (:data:`FEATURES` of its form), cached as Arrow, or streamed."""
    return generated_dataset(_file_rows, path, FEATURES[file_form(path, context_column)], streaming=streaming,
                             context_column=context_column, target_column=target_column,
                             form=file_form(path, context_column), system=system)


def dataset_form(split: DataSplit, context_column: str = "context", target_column: str = "target") -> str:
    """The form of a dataset's rows, by its columns; a dataset with none of the forms' columns is an error that lists
    its columns."""
    columns = list(split.dataset.column_names or [])
    if "messages" in columns:
        return "messages"
    if "prompt" in columns and "completion" in columns:
        feature = split.dataset.features["prompt"] if split.dataset.features else None
        plain = isinstance(feature, datasets.Value)
        return "prompt-completion" if plain else "conversational prompt-completion"
    if context_column in columns and target_column in columns:
        return "conversational prompt-completion"
    raise ArgumentError(
        f"{split.origin} has none of the columns of an SFT dataset (its columns: {', '.join(columns)}): expected "
        f"'messages', 'prompt' and 'completion', or {context_column!r} and {target_column!r} (name those with "
        "--context_column and --target_column)")


def instruction_rows(split: DataSplit, *, data_args: Any, training_args: Any = None, context_column: str = "context",
                     target_column: str = "target", system: str | None = None) -> DataSplit:
    """A dataset's rows (``--dataset_name``) as TRL's records, checked as a file's are (a bad row is an error naming
    it), in a cached ``Dataset.map``."""
    form = dataset_form(split, context_column, target_column)
    keys = list(FEATURES[form])
    where = split.where  # not the split itself: the function is hashed for the cache
    columns = list(split.dataset.column_names)

    def convert(batch: dict[str, list], indices: list[int]) -> dict[str, list]:
        out: dict[str, list] = {key: [] for key in keys}
        for i in range(len(indices)):
            value = {column: batch[column][i] for column in columns if batch[column][i] is not None}
            kind = record_format(value, context_column)
            error = "no value" if kind == "unknown" else _checked(value, kind, context_column, target_column)
            if error:
                raise where.error_in(batch, i, indices, f"{error}; expected {EXPECTED}")
            record = _training_record(value, kind, context_column, target_column, system)
            for key in keys:
                out[key].append(record.get(key))
        return out

    return map_split(split, convert, data_args=data_args, training_args=training_args, with_indices=True,
                     remove_columns=columns, features=FEATURES[form], desc=f"Reading {split.origin}")


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
