"""Instruction data for supervised fine-tuning: JSON lines ``{"context", "target"}`` (and optionally ``"system"``),
turned into TRL's conversational prompt-completion records, so that ``SFTTrainer`` renders them with the model's
chat template (the same one the ``plm-recipes llm`` commands use, thinking turned off as they do) and computes the
loss on the answer only.

>>> record = instruction_record({"context": "苹果很甜。类别？", "target": "水果"})
>>> record["prompt"], record["completion"]
([{'role': 'user', 'content': '苹果很甜。类别？'}], [{'role': 'assistant', 'content': '水果'}])
"""

from __future__ import annotations

import os
from typing import Any

from ..data import read_json_lines
from ..errors import DataFormatError
from .chat import TEMPLATE_KWARGS

EXPECTED = 'one JSON object {"context": instruction and input, "target": the answer} per line'


def instruction_record(record: dict[str, Any], system: str | None = None) -> dict[str, Any]:
    """One ``{"context", "target"[, "system"]}`` record as ``{"prompt": [messages], "completion": [message],
    "chat_template_kwargs": {"enable_thinking": False}}``; a ``system`` field (or the ``system`` argument) opens the
    chat."""
    system = record.get("system", system)
    prompt = [{"role": "system", "content": system}] if system else []
    prompt.append({"role": "user", "content": record["context"]})
    # TRL reads a record's chat_template_kwargs: answers are trained as the commands ask for them, not thinking
    return {"prompt": prompt, "completion": [{"role": "assistant", "content": record["target"]}],
            "chat_template_kwargs": dict(TEMPLATE_KWARGS)}


def read_instructions(path: str | os.PathLike, *, context_column: str = "context", target_column: str = "target",
                      system: str | None = None) -> list[dict[str, Any]]:
    """Read an instruction file; a line without a non-empty string context or target is an error naming the
    file and the line."""
    path = os.fspath(path)
    records = []
    for line, value in read_json_lines(path):
        if not isinstance(value, dict):
            raise DataFormatError(path, line, f"expected {EXPECTED}, found a {type(value).__name__}")
        for column in (context_column, target_column):
            if not isinstance(value.get(column), str) or not value[column].strip():
                raise DataFormatError(path, line, f"{column!r} is missing or not a non-empty string; expected {EXPECTED}")
        if "system" in value and not isinstance(value["system"], str):
            raise DataFormatError(path, line, "'system' must be a string")
        records.append(instruction_record({"context": value[context_column], "target": value[target_column],
                                           **({"system": value["system"]} if "system" in value else {})}, system))
    if not records:
        raise DataFormatError(path, None, f"no examples; expected {EXPECTED}")
    return records
