"""Scoring texts with a reward model or any sequence classifier, each with its own tokenizer: the predictor behind
``plm-recipes predict reward`` and, as :class:`ClassifierReward`, the reward function of RLOO."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import torch

from ..errors import ArgumentError, ModelLoadError
from ..loading import load_tokenizer_from, load_trained_sequence_classifier

logger = logging.getLogger(__name__)


class RewardScorer:
    """Scores texts with a sequence classifier, through its own tokenizer and special tokens.

    A one-output model (``recipes/reward_model.py``) gives its logit; a classifier with several labels (e.g. a
    sentiment classifier from ``recipes/text_classification.py``) gives the probability of ``label``.

    Args:
        model: a model folder or hub id.
        label: for a classifier with several labels, the label whose probability is the score: a name from its
            ``id2label`` or an index. Refused for a one-output model; required otherwise.
        max_length: longest text in tokens (longer ones are truncated).
        batch_size: texts per forward pass.
        device: ``"cpu"``, ``"cuda"``, ... (default: a GPU when there is one).

    Example (a reward model trained on ``ranklist.tsv`` answers about ``[3.1, -2.9]``)::

        scorer = RewardScorer("outputs/reward_model")
        scorer(["这部电影很好看", "质量太差了"])
    """

    def __init__(self, model: str, label: str | int | None = None, max_length: int = 256, batch_size: int = 32,
                 device: str | None = None):
        self.model = load_trained_sequence_classifier(model, "reward scoring")
        self.tokenizer = load_tokenizer_from(model)
        if self.tokenizer.pad_token is None:  # a causal LM's tokenizer: the score is read at the last real token
            self.tokenizer.pad_token = self.tokenizer.eos_token
        if self.model.config.pad_token_id is None:
            self.model.config.pad_token_id = self.tokenizer.pad_token_id
        self.label_index = self._label_index(model, label)
        self.max_length = max_length
        self.batch_size = batch_size
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model.to(self.device).eval()

    def _label_index(self, name: str, label: str | int | None) -> int | None:
        n = self.model.config.num_labels
        if n == 1:
            if label is not None:
                raise ArgumentError(f"{name} is a reward model with one output; --reward_label applies to "
                                    "classifiers with several labels")
            return None
        names = {str(v): int(k) for k, v in self.model.config.id2label.items()}
        if label is None:
            raise ModelLoadError(f"{name} is a classifier with {n} labels ({', '.join(names)}), not a one-output "
                                 "reward model: pass the label whose probability is the reward (--reward_label / "
                                 "--label)")
        label = str(label)
        if label in names:
            return names[label]
        if label.lstrip("-").isdigit() and -n <= int(label) < n:
            return int(label) % n
        raise ArgumentError(f"label {label!r} is not one of {name}'s labels: {', '.join(names)}")

    @torch.no_grad()
    def __call__(self, texts: str | Sequence[str]) -> list[float]:
        """One score per text (a single text gives a list of one)."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        scores: list[float] = []
        for start in range(0, len(texts), self.batch_size):
            batch = self.tokenizer(texts[start:start + self.batch_size], truncation=True, max_length=self.max_length,
                                   padding=True, return_tensors="pt").to(self.device)
            logits = self.model(**batch).logits.float()
            if self.label_index is None:
                scores += logits[:, 0].tolist()
            else:
                scores += logits.softmax(-1)[:, self.label_index].tolist()
        return scores


class ClassifierReward:
    """An RLOO / GRPO reward function (``reward_funcs=...``) that scores completions with :class:`RewardScorer`:
    the classifier reads the decoded text with its own tokenizer, so its vocabulary need not be the policy's (which
    TRL's ``PPOTrainer`` requires; TRL issue #3595).

    Args:
        scorer: the classifier.
        with_prompt: score ``prompt + completion`` (a whole comment), else the completion alone.
    """

    def __init__(self, scorer: RewardScorer, with_prompt: bool = True):
        self.scorer = scorer
        self.with_prompt = with_prompt
        self.__name__ = "classifier_reward"  # TRL names the logged reward after it

    def __call__(self, prompts: list[str], completions: list[str], **kwargs) -> list[float]:
        texts = [p + c for p, c in zip(prompts, completions)] if self.with_prompt else list(completions)
        return self.scorer(texts)
