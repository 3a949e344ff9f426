"""Extraction by schema with a trained UIE model: entities, then the relations of each entity, level by level."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence

import numpy as np
import torch
from transformers import AutoModel

from ..errors import ModelLoadError
from ..loading import describe_model_folder, from_pretrained, load_tokenizer_from, model_max_length
from .data import SpanCollator, UIEExample, encode_examples, text_room
from .decoding import Span, decode_examples
from .modeling import UIEModel
from .schema import parse_schema

logger = logging.getLogger(__name__)


class UIEPredictor:
    """A saved :class:`~plm_recipes.extraction.modeling.UIEModel` that extracts what a schema asks for.

    Every prompt of a level (each entity type, for every text; then each relation, for every entity found) goes
    through the model in one batched pass, long texts in overlapping windows. Each result carries the span's
    ``text``, ``start``, ``end`` (character offsets, end exclusive) and ``probability``; an entity of a type with
    relations carries ``relations``: relation name -> its spans (an empty list when there is none), so each
    relation stays with its own subject.

    Example (trained on relation data, the answer looks like this)::

        >>> uie = UIEPredictor("outputs/uie", schema={"人物": ["父亲"]})
        >>> uie("谭孝曾是谭元寿的长子，也是谭派第六代传人")  # doctest: +SKIP
        [{'人物': [{'text': '谭孝曾', 'start': 0, 'end': 3, 'probability': 0.97,
                    'relations': {'父亲': [{'text': '谭元寿', 'start': 4, 'end': 7, 'probability': 0.94}]}},
                   {'text': '谭元寿', 'start': 4, 'end': 7, 'probability': 0.95, 'relations': {'父亲': []}}]}]

    Args:
        model: the output folder of ``recipes/uie.py`` (or a converted PaddleNLP UIE checkpoint).
        schema: what to extract (:func:`~plm_recipes.extraction.schema.parse_schema`); can also be given per call.
        threshold: span start/end probability above which a token counts (default: the model's, 0.5).
        batch_size: windows per forward pass.
        device: ``"cpu"``, ``"cuda"``, ...; default: the GPU when there is one.
        max_seq_length, doc_stride: the windows long texts are read in (default: the model's, as trained).

    A relation prompt built from a very long entity can leave a window no room for text; such a prompt is skipped
    (its relation list stays empty) with a warning naming it, and the rest of the schema is answered.
    """

    def __init__(self, model: str, *, schema=None, threshold: float | None = None, batch_size: int = 32,
                 device: str | None = None, max_seq_length: int | None = None, doc_stride: int | None = None):
        self.model = load_uie_model(model)
        self.tokenizer = load_tokenizer_from(model)
        config = self.model.config
        self.threshold = config.threshold if threshold is None else threshold
        if not 0 < self.threshold < 1:
            raise ValueError(f"threshold must be between 0 and 1, got {self.threshold}")
        limit = model_max_length(self.tokenizer, config.encoder)
        self.max_seq_length = min(max_seq_length or config.max_seq_length, limit)
        self.doc_stride = config.doc_stride if doc_stride is None else doc_stride
        self.batch_size = batch_size
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model.to(self.device).eval()
        self.collator = SpanCollator(self.tokenizer)
        self.schema = parse_schema(schema) if schema is not None else None

    def set_schema(self, schema) -> None:
        self.schema = parse_schema(schema)

    def __call__(self, texts: str | Sequence[str], schema=None) -> list[dict]:
        return self.predict(texts, schema=schema)

    def predict(self, texts: str | Sequence[str], schema=None) -> list[dict]:
        """For each text, ``{type: [span, ...]}`` for the schema's types that were found, each span a dict of
        ``text, start, end, probability`` (and ``relations`` for types with relations)."""
        nodes = parse_schema(schema) if schema is not None else self.schema
        if nodes is None:
            raise ValueError("no schema: pass schema= here or to UIEPredictor(...)")
        texts = [texts] if isinstance(texts, str) else list(texts)
        results: list[dict] = [{} for _ in texts]
        # the frontier: (where the answers go, the node asked, the text's index, the prompt)
        frontier = [(results[t], node, t, node.name) for t in range(len(texts)) for node in nodes]
        template = self.model.config.relation_template
        while frontier:
            answers = self.extract([(prompt, texts[t]) for _, _, t, prompt in frontier])
            next_frontier = []
            for (target, node, t, _), spans in zip(frontier, answers):
                entries = []
                for span in spans:
                    entry = {"text": texts[t][span.start:span.end], "start": span.start, "end": span.end,
                             "probability": span.probability}
                    if node.children:
                        entry["relations"] = {}
                        for child in node.children:
                            entry["relations"][child.name] = []
                            prompt = template.format(subject=entry["text"], relation=child.name)
                            next_frontier.append((entry["relations"], child, t, prompt))
                    entries.append(entry)
                if entries:
                    target[node.name] = entries
            frontier = next_frontier
        return results

    def extract(self, queries: Sequence[tuple[str, str]]) -> list[list[Span]]:
        """The spans answering each ``(prompt, text)`` (one batched pass; repeated queries are run once)."""
        fits = {}
        for prompt, text in dict.fromkeys(queries):
            if prompt not in fits:
                fits[prompt] = text_room(self.tokenizer, prompt, self.max_seq_length) > self.doc_stride
                if not fits[prompt]:
                    logger.warning("Skipped the prompt %r: it leaves no room for text in windows of %d tokens "
                                   "(UIEPredictor(max_seq_length=...) raises that)", prompt, self.max_seq_length)
        unique = [q for q in dict.fromkeys(queries) if fits[q[0]]]
        if not unique:
            return [[] for _ in queries]
        examples = [UIEExample(text, prompt) for prompt, text in unique]
        encoded = encode_examples(examples, self.tokenizer, self.max_seq_length, self.doc_stride, with_labels=False)
        rows = [{name: values[i] for name, values in encoded.inputs.items()} for i in range(len(encoded))]
        order = np.argsort([-len(r["input_ids"]) for r in rows], kind="stable")  # similar lengths together
        length = max(len(r["input_ids"]) for r in rows)
        start_logits = np.full((len(rows), length), -1e4, dtype=np.float32)
        end_logits = start_logits.copy()
        with torch.inference_mode():
            for first in range(0, len(rows), self.batch_size):
                batch_rows = order[first:first + self.batch_size]
                batch = self.collator([rows[i] for i in batch_rows])
                out = self.model(**{k: v.to(self.device) for k, v in batch.items()})
                width = out.start_logits.shape[1]
                start_logits[batch_rows, :width] = out.start_logits.float().cpu().numpy()
                end_logits[batch_rows, :width] = out.end_logits.float().cpu().numpy()
        spans = decode_examples(start_logits, end_logits, encoded.example_index, encoded.offsets, len(examples),
                                self.threshold)
        by_query = dict(zip(unique, spans))
        return [by_query.get(q, []) for q in queries]


def load_uie_model(folder: str, **kwargs) -> UIEModel:
    """A trained :class:`UIEModel`, refusing (in one sentence) a folder that holds another kind of model."""
    if os.path.isdir(folder):
        config_path = os.path.join(folder, "config.json")
        try:
            with open(config_path, encoding="utf-8") as f:
                model_type = json.load(f).get("model_type")
        except (OSError, ValueError, AttributeError):
            model_type = None
        if model_type != "uie":
            raise ModelLoadError(f"{folder} is {describe_model_folder(folder)}, not a UIE model: train one with "
                                 "recipes/uie.py, or convert a PaddleNLP checkpoint with `plm-recipes uie "
                                 "convert-paddle`.")
    model = from_pretrained(AutoModel, folder, "model", **kwargs)
    if not isinstance(model, UIEModel):
        raise ModelLoadError(f"{folder} is a {type(model).__name__}, not a UIE model")
    return model
