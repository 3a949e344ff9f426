"""Converting a doccano relation export into UIE training data (``plm-recipes uie convert``).

doccano's relation projects export one JSON line per text::

    {"text": "...", "entities": [{"id": 1, "label": "人物", "start_offset": 0, "end_offset": 3}, ...],
     "relations": [{"id": 0, "from_id": 1, "to_id": 2, "type": "父亲"}, ...]}

Each text becomes (as PaddleNLP's ``doccano.py`` does):

- one entity example per entity label present (prompt ``人物``, every span of that label);
- one relation example per subject and relation (prompt ``谭孝曾的父亲`` from the relation template, every object);
- negative examples (empty ``result_list``): entity labels absent from the text, and relation prompts that pair
  an entity of the text with a relation it does not have. Training data gets at most ``negative_ratio`` of each
  per positive example of the text, sampled; dev and test get every one, so that evaluation counts false
  positives on every prompt a schema would ask.

The label set and the relation set are those of the whole file, so a split that lacks a label still gets its
negatives (PaddleNLP takes them from the split alone).
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import ArgumentError, DataFormatError
from ..files import atomic_write
from .data import json_lines
from .schema import DEFAULT_RELATION_TEMPLATE, check_relation_template

logger = logging.getLogger(__name__)

SPLIT_NAMES = ("train", "dev", "test")


@dataclass(frozen=True)
class Entity:
    id: object
    label: str
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Relation:
    subject: Entity
    object: Entity
    type: str


@dataclass(frozen=True)
class AnnotatedText:
    text: str
    entities: tuple[Entity, ...]
    relations: tuple[Relation, ...]


def read_doccano(path: str | os.PathLike) -> list[AnnotatedText]:
    """The texts of a doccano relation export, checked: offsets inside the text, an entity's ``text`` (when given)
    equal to the text at its offsets, relations pointing at entity ids of the same line."""
    path = os.fspath(path)
    return [_annotated(record, path, number) for number, record in json_lines(path, "texts")]


def _annotated(record: object, path: str, line: int) -> AnnotatedText:
    def fail(message: str):
        raise DataFormatError(path, line, message)

    if not isinstance(record, dict) or not isinstance(record.get("text"), str) or not record["text"]:
        fail('expected a JSON object with a non-empty "text", "entities" and "relations" (doccano relation export)')
    text = record["text"]
    raw_entities, raw_relations = record.get("entities", []), record.get("relations", [])
    if not isinstance(raw_entities, list) or not isinstance(raw_relations, list):
        fail('"entities" and "relations" must be lists')
    entities: dict[object, Entity] = {}
    for i, e in enumerate(raw_entities):
        where = f"entities[{i}]"
        if not isinstance(e, dict) or not {"id", "label", "start_offset", "end_offset"} <= e.keys():
            fail(f'{where}: expected {{"id", "label", "start_offset", "end_offset"}}, found '
                 f"{json.dumps(e, ensure_ascii=False)}")
        start, end, label = e["start_offset"], e["end_offset"], e["label"]
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (start, end)) or \
                not 0 <= start < end <= len(text):
            fail(f"{where}: offsets {start!r}..{end!r} are outside the text (its length is {len(text)})")
        if not isinstance(label, str) or not label.strip():
            fail(f"{where}: the label must be a non-empty string, found {label!r}")
        if "text" in e and e["text"] != text[start:end]:
            fail(f"{where}: text {e['text']!r} is not text[{start}:{end}], which is {text[start:end]!r}")
        if not isinstance(e["id"], str | int) or isinstance(e["id"], bool):
            fail(f"{where}: the id must be a number or a string, found {e['id']!r}")
        if e["id"] in entities:
            fail(f"{where}: entity id {e['id']!r} appears twice")
        entities[e["id"]] = Entity(e["id"], label.strip(), start, end, text[start:end])
    relations = []
    for i, r in enumerate(raw_relations):
        where = f"relations[{i}]"
        if not isinstance(r, dict) or not {"from_id", "to_id", "type"} <= r.keys():
            fail(f'{where}: expected {{"from_id", "to_id", "type"}}, found {json.dumps(r, ensure_ascii=False)}')
        for end_name in ("from_id", "to_id"):
            if not isinstance(r[end_name], str | int) or r[end_name] not in entities:
                known = ", ".join(repr(k) for k in list(entities)[:10]) or "none"
                fail(f"{where}: {end_name} {r[end_name]!r} is not an entity id of this line (ids: {known})")
        if not isinstance(r["type"], str) or not r["type"].strip():
            fail(f"{where}: the relation type must be a non-empty string, found {r['type']!r}")
        relations.append(Relation(entities[r["from_id"]], entities[r["to_id"]], r["type"].strip()))
    return AnnotatedText(text, tuple(entities.values()), tuple(relations))


def check_splits(splits: Sequence[float]) -> tuple[float, float, float]:
    """Train/dev/test fractions: three numbers >= 0 that sum to 1."""
    if len(splits) != 3 or any(not math.isfinite(s) or s < 0 for s in splits) or \
            not math.isclose(sum(splits), 1.0, abs_tol=1e-6):
        raise ArgumentError(f"--splits {' '.join(map(str, splits))}: expected three fractions (train dev test) "
                            ">= 0 that sum to 1, e.g. 0.8 0.1 0.1")
    return tuple(splits)


def convert_doccano(
    texts: Sequence[AnnotatedText],
    splits: Sequence[float] = (0.8, 0.1, 0.1),
    negative_ratio: int = 5,
    relation_template: str = DEFAULT_RELATION_TEMPLATE,
    seed: int = 1000,
    shuffle: bool = True,
) -> dict[str, list[dict]]:
    """UIE examples (``{"content", "result_list", "prompt"}`` dicts) for each split of ``texts``.

    Args:
        splits: fractions of the texts for train, dev and test (texts are split, not examples: every prompt of a
            text lands in the same split).
        negative_ratio: at most this many negative examples of each kind per positive one, per training text;
            ``-1`` keeps them all (dev and test always keep them all).
        shuffle: shuffle the texts (with ``seed``) before splitting, and the training examples after.
    """
    splits = check_splits(splits)
    check_relation_template(relation_template)
    if negative_ratio < -1:
        raise ArgumentError(f"--negative_ratio must be >= 0, or -1 for all negatives; got {negative_ratio}")
    rng = random.Random(seed)
    order = list(range(len(texts)))
    if shuffle:
        rng.shuffle(order)
    first = int(len(order) * splits[0])
    second = int(len(order) * (splits[0] + splits[1]))
    parts = {"train": order[:first], "dev": order[first:second], "test": order[second:]}
    labels = sorted({e.label for t in texts for e in t.entities})
    relation_types = sorted({r.type for t in texts for r in t.relations})
    converted = {}
    for name, indices in parts.items():
        ratio = negative_ratio if name == "train" else -1
        examples = []
        for i in indices:
            examples += text_examples(texts[i], labels, relation_types, ratio, relation_template, rng)
        if name == "train" and shuffle:
            rng.shuffle(examples)
        converted[name] = examples
    return converted


def text_examples(text: AnnotatedText, labels: Sequence[str], relation_types: Sequence[str], negative_ratio: int,
                  relation_template: str, rng: random.Random) -> list[dict]:
    """The positive and negative examples of one text (see the module's docstring)."""
    content = text.text
    entity_spans: dict[str, set[tuple[int, int]]] = {}
    for e in text.entities:
        entity_spans.setdefault(e.label, set()).add((e.start, e.end))
    relation_spans: dict[str, set[tuple[int, int]]] = {}
    for r in text.relations:
        prompt = relation_template.format(subject=r.subject.text, relation=r.type)
        relation_spans.setdefault(prompt, set()).add((r.object.start, r.object.end))

    def example(prompt: str, spans=()) -> dict:
        return {"content": content,
                "result_list": [{"text": content[s:e], "start": s, "end": e} for s, e in sorted(spans)],
                "prompt": prompt}

    positives = [example(p, s) for p, s in entity_spans.items()] + [example(p, s) for p, s in relation_spans.items()]
    entity_negatives = [label for label in labels if label not in entity_spans]
    subjects = list(dict.fromkeys(e.text for e in text.entities))
    relation_negatives = [
        prompt for subject in subjects for relation in relation_types
        if (prompt := relation_template.format(subject=subject, relation=relation)) not in relation_spans
        and prompt not in entity_spans
    ]
    negatives = (_sample(entity_negatives, len(entity_spans), negative_ratio, rng)
                 + _sample(relation_negatives, len(relation_spans), negative_ratio, rng))
    return positives + [example(p) for p in negatives]


def _sample(candidates: list[str], positives: int, ratio: int, rng: random.Random) -> list[str]:
    if ratio == -1:
        return candidates
    keep = ratio * max(positives, 1)
    return candidates if len(candidates) <= keep else sorted(rng.sample(candidates, keep), key=candidates.index)


def write_splits(converted: dict[str, list[dict]], output_dir: str | os.PathLike,
                 overwrite: bool = False) -> dict[str, str]:
    """Write ``train.txt``, ``dev.txt``, ``test.txt`` (JSON lines) into ``output_dir``; returns their paths. Splits
    with no examples are not written. Files already there are refused (nothing is written) unless ``overwrite``."""
    paths = {name: os.path.join(output_dir, f"{name}.txt") for name in SPLIT_NAMES if converted.get(name)}
    existing = [path for path in paths.values() if os.path.exists(path)]
    if existing and not overwrite:
        raise ArgumentError(f"{', '.join(existing)} already exist; pass --overwrite to replace them, or choose "
                            "another --output_dir")
    os.makedirs(output_dir, exist_ok=True)
    for name, path in paths.items():
        with atomic_write(path) as f:
            for example in converted[name]:
                f.write(json.dumps(example, ensure_ascii=False) + "\n")
    return paths
