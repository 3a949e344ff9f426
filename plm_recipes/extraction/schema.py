"""Extraction schemas, as PaddleNLP's Taskflow takes them: what to extract, and what to ask about each finding.

A schema is a list of entity types, a dict from a type to the relations (or attributes) asked about each
entity of that type, or a mix; relations nest the same way::

    ["人物", "地点"]                          # NER: two entity types
    {"人物": ["父亲", "出生地"]}               # each 人物 found, asked "<人物>的父亲" and "<人物>的出生地"
    ["时间", {"竞赛名称": ["主办方", "承办方"]}]
    {"歌曲": {"歌手": ["国籍"]}}               # nested: the singer of each song, then each singer's nationality

On the command line the same is written as JSON or a Python literal (``'{"人物": ["父亲"]}'``,
``"['人物', '地点']"``), or as names separated by commas (``人物,地点``).
"""

from __future__ import annotations

import ast
import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..errors import ArgumentError

# How PaddleNLP's Chinese UIE writes a relation prompt: 谭孝曾的父亲.
DEFAULT_RELATION_TEMPLATE = "{subject}的{relation}"


class SchemaError(ArgumentError):
    """A schema that is not a list / dict of names; the message names the part."""


@dataclass(frozen=True)
class SchemaNode:
    """A type (entity type, or relation name below another node) and what to ask about each of its spans."""

    name: str
    children: tuple[SchemaNode, ...] = field(default=())


def parse_schema(schema: str | Sequence | dict) -> tuple[SchemaNode, ...]:
    """The nodes of a schema (see the module's docstring); raises :class:`SchemaError` naming the bad part.

    >>> [(n.name, [c.name for c in n.children]) for n in parse_schema({"人物": ["父亲"], "地点": []})]
    [('人物', ['父亲']), ('地点', [])]
    >>> [n.name for n in parse_schema("人物，地点")]
    ['人物', '地点']
    >>> parse_schema({"人物": [3]})
    Traceback (most recent call last):
    ...
    plm_recipes.extraction.schema.SchemaError: schema['人物'][0]: expected a name (a string) or a dict of names, found 3
    """
    if isinstance(schema, tuple) and schema and all(isinstance(n, SchemaNode) for n in schema):
        return schema  # parsed already
    if isinstance(schema, str):
        schema = _parse_text(schema)
    nodes = _nodes(schema, "schema")
    if not nodes:
        raise SchemaError("the schema is empty: give at least one entity type")
    return nodes


def _parse_text(text: str):
    stripped = text.strip()
    if not stripped:
        raise SchemaError("the schema is empty: give at least one entity type")
    if stripped[0] in "[{\"'":
        try:
            return json.loads(stripped)
        except json.JSONDecodeError:
            pass
        try:
            return ast.literal_eval(stripped)
        except (ValueError, SyntaxError) as e:
            raise SchemaError(f"cannot read the schema {text!r}: expected JSON or a Python list/dict of names "
                              f"({type(e).__name__}: {e})") from None
    return [name.strip() for name in stripped.replace("，", ",").split(",") if name.strip()]


def _nodes(value, where: str) -> tuple[SchemaNode, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (_leaf(value, where),)
    if isinstance(value, dict):
        nodes = []
        for key, children in value.items():
            name = _name(key, f"{where} key {key!r}")
            nodes.append(SchemaNode(name, _nodes(children, f"{where}[{key!r}]")))
        return _unique(nodes, where)
    if isinstance(value, (list, tuple)):
        nodes = []
        for i, item in enumerate(value):
            if isinstance(item, str):
                nodes.append(_leaf(item, f"{where}[{i}]"))
            elif isinstance(item, dict):
                nodes.extend(_nodes(item, f"{where}[{i}]"))
            else:
                raise SchemaError(f"{where}[{i}]: expected a name (a string) or a dict of names, found {item!r}")
        return _unique(nodes, where)
    raise SchemaError(f"{where}: expected a name, a list or a dict of names, found {value!r}")


def _leaf(name: str, where: str) -> SchemaNode:
    return SchemaNode(_name(name, where))


def _name(name, where: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise SchemaError(f"{where}: expected a non-empty name, found {name!r}")
    name = name.strip()
    if "[" in name and name.endswith("]"):
        raise SchemaError(f"{where}: {name!r} is a classification prompt with options, which UIE here does not "
                          "support; ask for spans only")
    return name


def _unique(nodes: list[SchemaNode], where: str) -> tuple[SchemaNode, ...]:
    seen = set()
    for node in nodes:
        if node.name in seen:
            raise SchemaError(f"{where}: {node.name!r} appears twice")
        seen.add(node.name)
    return tuple(nodes)


def check_relation_template(template: str) -> str:
    """``template`` when it has both ``{subject}`` and ``{relation}`` and nothing else to fill in."""
    try:
        filled = template.format(subject="S", relation="R")
    except (KeyError, IndexError, ValueError) as e:
        raise ArgumentError(f"relation template {template!r}: only {{subject}} and {{relation}} may be filled in "
                            f"({type(e).__name__}: {e})") from None
    if "S" not in filled or "R" not in filled or "{subject}" not in template or "{relation}" not in template:
        raise ArgumentError(f"relation template {template!r}: needs both {{subject}} and {{relation}}")
    return template
