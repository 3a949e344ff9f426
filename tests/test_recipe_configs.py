"""Every shipped recipe config runs as written (on the bundled samples, with a tiny local model)."""

from __future__ import annotations

import pytest
from conftest import ROOT, load_recipe

CONFIGS = {
    "text_classification": "recipes/configs/text_classification.yaml",
    "matching_pointwise": "recipes/configs/matching_pointwise.yaml",
    "matching_dssm": "recipes/configs/matching_dssm.yaml",
    "matching_sentence_transformer": "recipes/configs/matching_sentence_transformer.yaml",
}


@pytest.mark.parametrize("recipe", sorted(CONFIGS))
def test_recipe_config(recipe, tiny_bert, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)  # the configs name data/ paths relative to the repository
    results = load_recipe(recipe).main([
        "--config", CONFIGS[recipe],
        "--model_name_or_path", str(tiny_bert),  # the config's hub id cannot be reached in tests
        "--output_dir", str(tmp_path), "--max_steps", "2", "--use_cpu", "--disable_tqdm", "true",
    ])
    assert {"train", "eval"} <= set(results)
    assert (tmp_path / "README.md").is_file() and (tmp_path / "model.safetensors").is_file()
    assert (tmp_path / "predict_results.tsv").is_file()
