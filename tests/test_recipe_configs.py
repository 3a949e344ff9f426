"""Every shipped recipe config runs as written (on the bundled samples, with a tiny local model), and the
run_config.yaml it leaves reruns the same run."""

from __future__ import annotations

import pytest
import yaml
from helpers import ROOT, load_recipe

CONFIGS = {
    "text_classification": "recipes/configs/text_classification.yaml",
    "matching_pointwise": "recipes/configs/matching_pointwise.yaml",
    "matching_dssm": "recipes/configs/matching_dssm.yaml",
    "matching_sentence_transformer": "recipes/configs/matching_sentence_transformer.yaml",
    "simcse": "recipes/configs/simcse.yaml",
    "t5_qa": "recipes/configs/t5_qa.yaml",
    "t5_filling": "recipes/configs/t5_filling.yaml",
    "uie": "recipes/configs/uie.yaml",
    "pet": "recipes/configs/pet.yaml",
    "p_tuning": "recipes/configs/p_tuning.yaml",
}
# What each config's run writes besides the model: its predictions.
PREDICTIONS = {"t5_qa": "predictions.jsonl", "t5_filling": None, "uie": "predictions.jsonl"}
# Settings each config sets that are the recipe's own: the model card and run_config.yaml must show them.
OWN_SETTINGS = {
    "text_classification": {"label_mapping_file": "data/classification/label_mapping.txt"},
    "matching_pointwise": {"negatives_per_positive": 3, "new_parameters_learning_rate": 1e-3},
    "matching_dssm": {"learning_rate": 3e-5},
    "matching_sentence_transformer": {"objective": "cosent", "metric_for_best_model": "best_f1"},
    "simcse": {"method": "simcse", "pooling": "mean", "batch_sampler": "no_duplicates"},
    "t5_qa": {"max_target_length": 32, "learning_rate": 3e-4},
    "t5_filling": {"masks_per_text": 2, "metric_for_best_model": "span_f1"},
    "uie": {"num_train_epochs": 10, "metric_for_best_model": "f1", "relation_template": "{subject}的{relation}"},
    "pet": {"template_file": "data/prompting/prompt.txt", "verbalizer_file": "data/prompting/verbalizer.txt",
            "token_reduction": "mean"},
    "p_tuning": {"template": "{soft:6}{MASK}{textA}", "prompt_encoder": "lstm", "new_parameters_learning_rate": 1e-3},
}
WHERE = {"output_dir", "logging_dir", "run_name"}


@pytest.mark.parametrize("recipe", sorted(CONFIGS))
def test_recipe_config_runs_and_its_record_reruns_it(recipe, request, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)  # the configs name data/ paths relative to the repository
    model = request.getfixturevalue("tiny_t5" if recipe.startswith("t5_") else "tiny_bert")
    first, second = tmp_path / "first", tmp_path / "second"
    results = load_recipe(recipe).main([
        "--config", CONFIGS[recipe],
        "--model_name_or_path", str(model),  # the config's hub id cannot be reached in tests
        "--output_dir", str(first), "--max_steps", "2", "--use_cpu", "--disable_tqdm", "true",
    ])
    assert {"train", "eval"} <= set(results)
    assert (first / "README.md").is_file() and (first / "model.safetensors").is_file()
    predictions = PREDICTIONS.get(recipe, "predict_results.tsv")
    assert predictions is None or (first / predictions).is_file()

    record = yaml.safe_load((first / "run_config.yaml").read_text(encoding="utf-8"))
    assert record["model_name_or_path"] == str(model) and record["max_steps"] == 2
    card = (first / "README.md").read_text(encoding="utf-8")
    for name, value in OWN_SETTINGS[recipe].items():
        assert record[name] == value, name
        assert f"- {name}: `{value}`" in card, name

    load_recipe(recipe).main(["--config", str(first / "run_config.yaml"), "--output_dir", str(second)])
    again = yaml.safe_load((second / "run_config.yaml").read_text(encoding="utf-8"))
    assert {k: v for k, v in again.items() if k not in WHERE} == {k: v for k, v in record.items() if k not in WHERE}
