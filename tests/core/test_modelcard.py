"""Model cards the Hub understands, checked offline with huggingface_hub's own parsers (``metadata_load``,
``ModelCard``): model-index with the run's final metrics, base_model, license; and the card's usage snippet run as
written against the folder the test trained."""

from __future__ import annotations

import json
import re
import runpy
from pathlib import Path

import pytest
from helpers import DATA, load_recipe
from huggingface_hub import ModelCard, metadata_load

from plm_recipes.modelcard import ModelCardInfo, eval_results, hub_base_model, render_model_card

TC = DATA / "classification"


def run_card_snippet(folder: Path, tmp_path: Path) -> dict:
    """Run the Python block of ``folder/README.md`` as written; returns its globals."""
    card = (folder / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", card, re.S)
    assert len(blocks) == 1, card
    script = tmp_path / "snippet.py"
    script.write_text(blocks[0], encoding="utf-8")
    return runpy.run_path(str(script))


# --- rendering --------------------------------------------------------------------------------------------


def _info(base_model, **kwargs):
    return ModelCardInfo(
        recipe="text_classification", pipeline_tag="text-classification", base_model=base_model,
        data_files={"train": "data/x/train.txt", "validation": "data/x/dev.jsonl"},
        metrics={"validation": {"eval_f1": 0.5, "eval_accuracy": 0.75, "eval_runtime": 1.0, "eval_samples": 8,
                                "eval_per_class/a/f1": 1.0, "epoch": 3.0, "eval_num_tokens": 633.0}},
        **kwargs,
    )


def test_model_index_holds_the_final_metrics_on_the_local_file(tmp_path):
    card = render_model_card(_info("bert-base-chinese"), model_name="me/tc", hyperparameters={}, license="mit")
    (tmp_path / "README.md").write_text(card, encoding="utf-8")
    metadata = metadata_load(tmp_path / "README.md")
    assert metadata["license"] == "mit" and metadata["base_model"] == "bert-base-chinese"
    assert "datasets" not in metadata  # local files: named in the text only
    [index] = metadata["model-index"]
    assert index["name"] == "me/tc"
    [result] = index["results"]
    assert result["task"] == {"type": "text-classification"}
    assert result["dataset"] == {"name": "dev.jsonl", "type": "json", "split": "validation"}
    assert {m["type"]: m["value"] for m in result["metrics"]} == {"f1": 0.5, "accuracy": 0.75}
    data = ModelCard.load(tmp_path / "README.md").data
    assert {(r.metric_type, r.metric_value, r.dataset_split) for r in data.eval_results} == {
        ("f1", 0.5, "validation"), ("accuracy", 0.75, "validation")}


def test_hub_dataset_goes_into_datasets_and_model_index():
    info = _info("bert-base-chinese", dataset_id="fewclue/tnews", dataset_config="default")
    [result, _] = eval_results(info)
    assert (result.dataset_type, result.dataset_name, result.dataset_config) == ("fewclue/tnews",) * 2 + ("default",)
    card = render_model_card(info, model_name="m", hyperparameters={})
    assert ModelCard(card).data.datasets == ["fewclue/tnews"]


def test_no_task_no_model_index():
    info = _info(None, config_name="bert")
    info.pipeline_tag = None
    assert eval_results(info) == []
    assert "model-index" not in ModelCard(render_model_card(info, model_name="m", hyperparameters={})).data.to_dict()


def test_base_model_of_a_local_folder(tmp_path):
    assert hub_base_model("bert-base-chinese") == ("bert-base-chinese", None)
    assert hub_base_model(None) == (None, None)
    cached = tmp_path / "models--google-bert--bert-base-chinese" / "snapshots" / "abc123"
    cached.mkdir(parents=True)
    assert hub_base_model(str(cached)) == ("google-bert/bert-base-chinese", None)
    recorded = tmp_path / "my-copy"
    recorded.mkdir()
    (recorded / "config.json").write_text(json.dumps({"_name_or_path": "hfl/chinese-roberta-wwm-ext"}))
    name, note = hub_base_model(str(recorded))
    assert name == "hfl/chinese-roberta-wwm-ext" and "config records" in note
    (recorded / "config.json").write_text(json.dumps({"_name_or_path": str(tmp_path)}))  # a path: not a name
    name, note = hub_base_model(str(recorded) + "/")
    assert name == "my-copy" and "local folder" in note


# --- a trained folder -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def classifier(tiny_bert, tmp_path_factory):
    out = tmp_path_factory.mktemp("card") / "tc"
    results = load_recipe("text_classification").main([
        "--model_name_or_path", str(tiny_bert), "--train_file", str(TC / "train.txt"),
        "--validation_file", str(TC / "dev.txt"), "--label_mapping_file", str(TC / "label_mapping.txt"),
        "--do_train", "--do_eval", "--output_dir", str(out), "--max_steps", "2", "--eval_strategy", "no",
        "--save_strategy", "no", "--load_best_model_at_end", "false", "--use_cpu", "--disable_tqdm", "true",
        "--report_to", "none", "--license", "apache-2.0",
    ])
    return out, results


def test_trained_card_parses_with_the_runs_metrics(classifier, tiny_bert):
    out, results = classifier
    card = ModelCard.load(out / "README.md")
    data = card.data
    assert data.license == "apache-2.0" and data.library_name == "transformers"
    assert data.pipeline_tag == "text-classification"
    assert data.base_model == tiny_bert.name and f"local folder the model was fine-tuned from (`{tiny_bert.name}`)" \
        in card.text
    by_type = {r.metric_type: r for r in data.eval_results}
    assert by_type["f1"].metric_value == pytest.approx(results["eval"]["eval_f1"])
    assert by_type["accuracy"].metric_value == pytest.approx(results["eval"]["eval_accuracy"])
    assert {(r.task_type, r.dataset_name, r.dataset_type, r.dataset_split) for r in data.eval_results} == {
        ("text-classification", "dev.txt", "text", "validation")}
    assert "license: apache-2.0" in (out / "run_config.yaml").read_text(encoding="utf-8")


def test_trained_card_snippet_runs(classifier, tmp_path):
    out, _ = classifier
    found = run_card_snippet(out, tmp_path)
    assert found["classifier"]("这个笔记本电脑运行很快", top_k=3)[0]["label"]


def test_pet_usage_shows_single_braces():
    pet = load_recipe("pet")
    assert "{{" not in pet.USAGE and "{'label': ..., 'score': ..., 'scores': {...}}" in pet.USAGE


# --- every family's card: metadata the Hub parses and a snippet that runs ------------------------------------

QUICK = ["--max_steps", "2", "--eval_strategy", "no", "--save_strategy", "no", "--load_best_model_at_end", "false",
         "--use_cpu", "--disable_tqdm", "true", "--report_to", "none", "--license", "cc-by-4.0"]
M, S, SEQ, RLHF = DATA / "matching", DATA / "sentence_embedding", DATA / "seq2seq", DATA / "rlhf"

FAMILIES = {  # recipe: (its data arguments, library_name, pipeline_tag, a metric of its model-index)
    "matching_pointwise": (["--train_file", M / "train.txt", "--validation_file", M / "dev.txt", "--do_eval",
                            "--categories_file", M / "types_desc.txt"], "transformers", "text-classification", "f1"),
    "matching_dssm": (["--train_file", M / "train.txt", "--validation_file", M / "dev.txt", "--do_eval"],
                      "sentence-transformers", "sentence-similarity", None),
    "simcse": (["--train_file", S / "sentences.txt", "--validation_file", S / "dev.txt", "--do_eval",
                "--per_device_train_batch_size", "8"], "sentence-transformers", "sentence-similarity", None),
    "reward_model": (["--train_file", RLHF / "ranklist_train.tsv", "--validation_file", RLHF / "ranklist_dev.tsv",
                      "--do_eval"], "transformers", "text-classification", "accuracy"),
    "t5_qa": (["--train_file", SEQ / "qa_train.jsonl", "--validation_file", SEQ / "qa_dev.jsonl", "--do_eval",
               "--generation_max_length", "4"], "transformers", "text2text-generation", "exact_match"),
}


@pytest.mark.parametrize("recipe", sorted(FAMILIES))
def test_each_familys_card(recipe, tiny_bert, tiny_t5, tmp_path):
    data_args, library, pipeline_tag, metric = FAMILIES[recipe]
    base = tiny_t5 if recipe.startswith("t5") else tiny_bert
    out = tmp_path / recipe
    results = load_recipe(recipe).main(["--model_name_or_path", str(base), "--do_train", "--output_dir", str(out),
                                        *map(str, data_args), *QUICK])
    data = ModelCard.load(out / "README.md").data
    assert (data.library_name, data.pipeline_tag, data.license, data.base_model) == (
        library, pipeline_tag, "cc-by-4.0", base.name)
    values = {r.metric_type: r.metric_value for r in data.eval_results or []}
    assert values, "no model-index"
    if metric is not None:
        assert values[metric] == pytest.approx(results["eval"][f"eval_{metric}"])
    run_card_snippet(out, tmp_path)
