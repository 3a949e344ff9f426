"""Predicting label names with scores from a saved text classifier."""

from __future__ import annotations

from collections.abc import Sequence

from transformers import pipeline

from ..errors import ModelLoadError
from ..families import folder_kind
from ..loading import load_tokenizer_from, load_trained_sequence_classifier, model_max_length


class TextClassifier:
    """A saved text classifier (any ``AutoModelForSequenceClassification`` folder with ``id2label``).

    Example (a trained model answers ``[[{'label': '电脑', 'score': 0.97}, {'label': '平板', 'score': 0.01}]]``)::

        >>> classifier = TextClassifier("outputs/text_classification")
        >>> classifier.labels
        ['电脑', '水果', '平板', '书籍', '衣服', '酒店', '蒙牛', '洗浴']
        >>> classifier.predict(["这个笔记本电脑运行很快"], top_k=2)
        [[{'label': '...', 'score': ...}, {'label': '...', 'score': ...}]]

    Args:
        model: the output folder of ``recipes/text_classification.py`` (or a hub id).
        device: ``"cpu"``, ``"cuda"``, a device index; ``None`` picks the accelerator when there is one.
        batch_size: texts per forward pass.
    """

    def __init__(self, model: str, *, device: str | int | None = None, batch_size: int = 32):
        other = folder_kind(model)  # another family's folder: a cross-encoder is a 1-output classifier, say
        if other is not None:
            raise ModelLoadError(f"{model} is {other[1]}.")
        classifier = load_trained_sequence_classifier(model, "text classification")
        tokenizer = load_tokenizer_from(model)
        self.pipeline = pipeline("text-classification", model=classifier, tokenizer=tokenizer, device=device)
        self.batch_size = batch_size
        self.max_length = model_max_length(self.pipeline.tokenizer, self.pipeline.model.config)

    @property
    def labels(self) -> list[str]:
        id2label = self.pipeline.model.config.id2label
        return [id2label[i] for i in range(len(id2label))]

    def predict(self, texts: str | Sequence[str], top_k: int | None = 1) -> list[list[dict]]:
        """For each text, its ``top_k`` labels (all when ``None``) as ``{"label", "score"}``, best first."""
        if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
            raise ValueError(f"top_k must be a whole number >= 1 or None, got {top_k!r}")
        texts = [texts] if isinstance(texts, str) else list(texts)
        if not texts:
            return []
        top_k = len(self.labels) if top_k is None else min(top_k, len(self.labels))
        outputs = self.pipeline(texts, top_k=top_k, batch_size=self.batch_size, truncation=True,
                                max_length=self.max_length)
        return [[{"label": o["label"], "score": float(o["score"])} for o in out] for out in outputs]
