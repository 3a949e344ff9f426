"""The three tasks over any backend: classification and matching by constrained choice (or free generation), and
extraction by schema.

>>> choice_from_answer('["水果"]', ["水果", "酒店"])
'水果'
>>> choice_from_answer("这是一条关于酒店的评论", ["水果", "酒店"])
'酒店'
>>> choice_from_answer("不知道", ["水果", "酒店"]) is None
True
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .backends import Backend
from .extraction import Extraction, parse_extraction
from .prompts import (
    MATCH_OPTIONS,
    ChoiceExample,
    ExtractionExample,
    classification_messages,
    extraction_messages,
    matching_messages,
)
from .scoring import calibrate, option_probabilities

METHODS = ("choice", "generate")


@dataclass
class Choice:
    """One item's answer to a choice task.

    Attributes:
        label: the chosen label; ``None`` only with free generation, when the answer names no label.
        probability: the label's probability (constrained choice: the softmax over options; ``None`` with free
            generation).
        scores: label -> probability of every option (constrained choice), else ``None``.
        answer: the generated text (free generation), else ``None``.
    """

    label: str | None
    probability: float | None = None
    scores: dict[str, float] | None = None
    answer: str | None = None

    def to_dict(self) -> dict[str, Any]:
        row: dict[str, Any] = {"label": self.label, "probability": self.probability}
        if self.scores is not None:
            row["scores"] = self.scores
        if self.answer is not None:
            row["answer"] = self.answer
        return row


def _strip(text: str) -> str:
    return re.sub(r"[\s\"'“”‘’「」『』\[\]【】()（）.,。，:：!！]", "", text)


def choice_from_answer(answer: str, labels: Sequence[str]) -> str | None:
    """The label a free answer names: the answer itself (quotes, brackets and punctuation ignored), else the one
    label it contains (the longest, when one contains another: ``不是`` over ``是``); ``None`` when it names none
    or several."""
    bare = _strip(answer)
    for label in labels:
        if bare == _strip(label):
            return label
    found = [label for label in labels if _strip(label) and _strip(label) in bare]
    found = [label for label in found if not any(label != other and label in other for other in found)]
    return found[0] if len(found) == 1 else None


def choose(backend: Backend, conversations: Sequence[Sequence[dict]], labels: Sequence[str], *,
           method: str = "choice", normalization: str = "sum", max_new_tokens: int = 16,
           content_free: Sequence[Sequence[dict]] = ()) -> list[Choice]:
    """Answer each chat with one of ``labels``: by scoring each label as the answer (``method="choice"``; see
    :mod:`plm_recipes.llm.scoring`) or by generating and reading the label off the answer (``"generate"``).
    ``content_free`` chats (the same prompts with ``N/A`` for the input) calibrate the choice
    (:func:`~plm_recipes.llm.scoring.calibrate`)."""
    if method == "generate":
        answers = backend.generate(conversations, max_new_tokens)
        return [Choice(choice_from_answer(a, labels), answer=a) for a in answers]
    if method != "choice":
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    scores = backend.score_options(conversations, labels)
    lengths = backend.option_lengths(labels) if normalization == "mean" else None
    probabilities = option_probabilities(scores, lengths, normalization)
    if content_free:
        prior = option_probabilities(backend.score_options(content_free, labels), lengths, normalization)
        probabilities = calibrate(probabilities, prior)
    results = []
    for row in probabilities:
        best = int(row.argmax())
        results.append(Choice(labels[best], float(row[best]), {l: float(p) for l, p in zip(labels, row)}))
    return results


# Content-free inputs for calibration (Zhao et al., 2021 use "N/A", "" and "[MASK]").
CONTENT_FREE = ("N/A", "")


def classify(backend: Backend, texts: Sequence[str], labels: Sequence[str],
             examples: Sequence[ChoiceExample] = (), *, calibrated: bool = True, **kwargs) -> list[Choice]:
    """Each text's label among ``labels``, with few-shot ``examples``; ``calibrated`` (the default): contextual
    calibration on :data:`CONTENT_FREE` texts (constrained choice only; ``bench/llm.py`` measures it: it lifted every
    setting it was tried on, 0.20 to 0.57 accuracy for qwen2.5-coder-0.5b zero-shot on 8 product labels);
    ``kwargs`` as for :func:`choose`."""
    free = [classification_messages(t, labels, examples) for t in CONTENT_FREE] if calibrated else []
    return choose(backend, [classification_messages(t, labels, examples) for t in texts], labels,
                  content_free=free, **kwargs)


def match(backend: Backend, pairs: Sequence[tuple[str, str]], examples: Sequence[ChoiceExample] = (), *,
          calibrated: bool = True, **kwargs) -> list[Choice]:
    """Whether each pair means the same: ``是`` or ``不是`` (:data:`MATCH_OPTIONS`); ``calibrated`` as for
    :func:`classify`."""
    free = [matching_messages(t, t, examples) for t in CONTENT_FREE] if calibrated else []
    return choose(backend, [matching_messages(a, b, examples) for a, b in pairs], list(MATCH_OPTIONS),
                  content_free=free, **kwargs)


def extract(backend: Backend, texts: Sequence[str], schema: list[str] | dict[str, list[str]],
            examples: Sequence[ExtractionExample] = (), *, max_new_tokens: int = 256) -> list[Extraction]:
    """The schema's fields or triples in each text; an answer that cannot be read is reported in its item."""
    answers = backend.generate([extraction_messages(t, schema, examples) for t in texts], max_new_tokens)
    return [parse_extraction(answer, schema, text) for answer, text in zip(answers, texts)]
