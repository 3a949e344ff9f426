#!/usr/bin/env python
"""P-tuning: few-shot text classification with learned prompt vectors and a verbalizer.

P-tuning (Liu et al., 2021, "GPT Understands, Too") replaces a hand-written template's words with continuous
vectors, learned with the task: ``{soft:6}{MASK}{textA}`` puts six of them before the blank. The vectors come out
of a small prompt encoder (a bidirectional LSTM + MLP over learned embeddings, as in the paper; --prompt_encoder
mlp / none), started from the embeddings of random vocabulary tokens. The label words are scored at the blank as in
PET (``recipes/pet.py``, which this recipe runs with its own defaults); with --freeze_backbone only the prompt
encoder trains, and the language model stays as it was.

Usage:

    python recipes/p_tuning.py \
        --model_name_or_path bert-base-chinese \
        --train_file data/prompting/train.txt --validation_file data/prompting/dev.txt \
        --verbalizer_file data/prompting/verbalizer.txt \
        --do_train --do_eval --output_dir outputs/p_tuning

    accelerate launch recipes/p_tuning.py --config recipes/configs/p_tuning.yaml

    # only the prompt vectors train (the language model is frozen): more steps, a larger learning rate
    python recipes/p_tuning.py --config recipes/configs/p_tuning.yaml --freeze_backbone \
        --learning_rate 1e-3 --num_train_epochs 30

Data, template syntax and the saved model: as for ``recipes/pet.py``. The learned vectors are positions of the
input like any token, so they count toward --max_seq_length (the model's position limit); the blank is found
where the template puts it, wherever the vectors are. Predict with
``plm-recipes predict p-tuning --model output_dir --text "..."``.
"""

from __future__ import annotations

from plm_recipes.args import TRAINING_DEFAULTS
from plm_recipes.utils import run_cli, sibling_recipe

DEFAULT_TEMPLATE = "{soft:6}{MASK}{textA}"

RECIPE_DEFAULTS = {
    **TRAINING_DEFAULTS,
    "output_dir": "outputs/p_tuning",
    "learning_rate": 2e-5,
    "new_parameters_learning_rate": 1e-3,  # the prompt encoder starts from nothing (and an MLM head e5 lacks)
    "num_train_epochs": 10,
    "per_device_train_batch_size": 8,
    "metric_for_best_model": "f1",
}


def main(args: list[str] | None = None) -> dict[str, dict[str, float]]:
    """Run the recipe; returns the metrics of each stage (``train``, ``eval``, ``test``)."""
    pet = sibling_recipe(__file__, "pet")
    return pet.main(args, recipe="p_tuning", defaults=RECIPE_DEFAULTS, default_template=DEFAULT_TEMPLATE)


if __name__ == "__main__":
    run_cli(main)
