"""Predicting labels with a saved prompt model (PET, p-tuning)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import AutoConfig

from ..errors import ModelLoadError
from ..loading import load_or_explain, load_tokenizer_from
from .configuration import PromptLMConfig
from .modeling import PromptLMModel


class PromptClassifier:
    """A saved :class:`~plm_recipes.prompting.modeling.PromptLMModel` (the output of ``recipes/pet.py`` or
    ``recipes/p_tuning.py``) with its tokenizer; the template and the verbalizer come from its config.

    Example (a trained model answers ``[{'label': '酒店', 'score': 0.93, ...}]``)::

        >>> classifier = PromptClassifier("outputs/pet")
        >>> classifier.labels
        ['电脑', '水果', '酒店', '书籍']
        >>> classifier.predict(["房间干净，早餐也不错"])
        [{'label': '...', 'score': ..., 'scores': {...}}]

    Args:
        model: the recipe's output folder.
        device: ``"cpu"``, ``"cuda"``, ...; ``None`` picks the accelerator when there is one.
        batch_size: texts per forward pass.
    """

    def __init__(self, model: str, *, device: str | None = None, batch_size: int = 32):
        config = load_or_explain(lambda: AutoConfig.from_pretrained(model), model, "model config")
        if getattr(config, "model_type", None) != PromptLMConfig.model_type:
            raise ModelLoadError(f"{model} is not a prompt model (PET / p-tuning): its config's model_type is "
                                 f"{getattr(config, 'model_type', None)!r}, expected 'prompt_lm'")
        self.model = load_or_explain(lambda: PromptLMModel.from_pretrained(model), model, "prompt model")
        self.tokenizer = load_tokenizer_from(model)
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model.to(self.device).eval()
        self.batch_size = batch_size

    @property
    def labels(self) -> list[str]:
        return self.model.config.labels

    @torch.no_grad()
    def predict(self, texts: str | Sequence[str], texts_b: Sequence[str] | None = None) -> list[dict]:
        """For each text, ``{"label", "score", "scores"}``: the best label, its probability (a softmax over the
        label scores) and every label's probability."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        if texts_b is not None and len(texts_b) != len(texts):
            raise ValueError(f"texts_b has {len(texts_b)} texts for {len(texts)} texts")
        results = []
        for start in range(0, len(texts), self.batch_size):
            chunk_b = None if texts_b is None else list(texts_b[start : start + self.batch_size])
            inputs = self.model.prompt_inputs(self.tokenizer, texts[start : start + self.batch_size], chunk_b)
            probs = self.model(**inputs).logits.softmax(-1).cpu()
            for row in probs:
                best = int(row.argmax())
                results.append({"label": self.labels[best], "score": float(row[best]),
                                "scores": {label: float(p) for label, p in zip(self.labels, row)}})
        return results
