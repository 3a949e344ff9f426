#!/usr/bin/env python
"""DSSM text matching: two towers sharing one encoder, mean-pooled embeddings, cosine similarity.

Usage:

    python recipes/matching_dssm.py \
        --model_name_or_path bert-base-chinese \
        --train_file data/matching/train.txt --validation_file data/matching/dev.txt \
        --do_train --do_eval --output_dir outputs/matching_dssm

    accelerate launch recipes/matching_dssm.py --config recipes/configs/matching_dssm.yaml

    plm-recipes predict matching --model outputs/matching_dssm --labels data/matching/types_desc.txt \
        --text "屏幕很清晰，追剧很爽"

Data: ``text_a<TAB>text_b<TAB>0/1`` lines, or csv/json with --text_a_column / --text_b_column / --label_column.

Each text is embedded on its own (mean pooling over the encoder's tokens) and a pair scores the cosine of its two
embeddings; training pulls the cosine of a matching pair towards 1 and of a non-matching one towards 0 (mean
squared error, sentence-transformers' ``CosineSimilarityLoss``), so 0.5 is the natural match threshold. Because the
towers are independent, a category's embedding is computed once and reused for every query: ranking N categories
costs one encoder pass per query instead of N. The output folder is a sentence-transformers model:
``SentenceTransformer(output_dir)``.

DSSM is the bi-encoder recipe ``recipes/matching_sentence_transformer.py`` with ``--objective dssm``: this file runs
it with DSSM's defaults (the objective, the output folder, F1 at 0.5 choosing the best checkpoint), so the two take
the same flags.
"""


from __future__ import annotations

from plm_recipes.args import TRAINING_DEFAULTS
from plm_recipes.utils import run_cli, sibling_recipe

RECIPE_DEFAULTS = {
    **TRAINING_DEFAULTS,
    "objective": "dssm",
    "output_dir": "outputs/matching_dssm",
    "learning_rate": 3e-5,
    "metric_for_best_model": "f1",
}


def main(args: list[str] | None = None) -> dict[str, dict[str, float]]:
    """Run the recipe; returns the metrics of each stage (``train``, ``eval``); --do_predict writes scores."""
    bi_encoder = sibling_recipe(__file__, "matching_sentence_transformer")
    return bi_encoder.main(args, recipe="matching_dssm", defaults=RECIPE_DEFAULTS)


if __name__ == "__main__":
    run_cli(main)
