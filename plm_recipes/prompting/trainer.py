"""``PromptTrainer``: the recipes' trainer with the verbalizer loss (and R-Drop's second pass)."""

from __future__ import annotations

from typing import Any

from ..trainer import RecipeTrainer
from .losses import VerbalizerLoss


class PromptTrainer(RecipeTrainer):
    """:class:`~plm_recipes.trainer.RecipeTrainer` whose loss is :class:`VerbalizerLoss` over the model's label
    scores. With ``rdrop_alpha > 0`` a training batch is read twice (two dropout masks) for R-Drop; evaluation
    reads it once."""

    def __init__(self, *args, rdrop_alpha: float = 0.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.verbalizer_loss = VerbalizerLoss(rdrop_alpha)

    def compute_loss(self, model, inputs: dict[str, Any], return_outputs: bool = False, num_items_in_batch=None):
        inputs = dict(inputs)
        labels = inputs.pop("labels")
        outputs = model(**inputs)
        second = None
        if self.verbalizer_loss.rdrop_alpha and model.training:
            second = model(**inputs).logits
        loss = self.verbalizer_loss(outputs.logits, labels, second)
        return (loss, outputs) if return_outputs else loss
