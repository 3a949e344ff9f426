"""QA data the datasets way (#34): --dataset_name on a local folder laid out as a Hub dataset repository, its columns
named by the column flags (records without an answer dropped from training), and a missing column."""

from __future__ import annotations

import json

import datasets
import pytest
import yaml
from helpers import DATA, load_recipe

from plm_recipes.errors import ArgumentError

FAST = ["--max_steps", "2", "--per_device_train_batch_size", "4", "--eval_strategy", "no", "--save_strategy", "no",
        "--load_best_model_at_end", "false", "--use_cpu", "--disable_tqdm", "true", "--log_level", "error",
        "--generation_max_length", "4", "--report_to", "none"]


def test_dataset_name_with_column_flags_trains_predicts_and_is_recorded(tiny_t5, tmp_path):
    records = [json.loads(line) for line in (DATA / "seq2seq" / "qa_train.jsonl").read_text(encoding="utf-8").splitlines()]
    rows = [{"passage": r["context"], "query": r["question"], "reply": r["answer"]} for r in records]
    folder = tmp_path / "hub"
    (folder / "data").mkdir(parents=True)
    datasets.Dataset.from_list([*rows, {"passage": "无答案", "query": "?", "reply": ""}]).to_parquet(
        folder / "data" / "train-00000-of-00001.parquet")
    datasets.Dataset.from_list(rows[:2]).to_parquet(folder / "data" / "test-00000-of-00001.parquet")
    out = tmp_path / "out"
    columns = ["--context_column", "passage", "--question_column", "query", "--answer_column", "reply"]
    results = load_recipe("t5_qa").main(["--model_name_or_path", str(tiny_t5), "--dataset_name", str(folder),
                                         *columns, "--do_train", "--do_predict", "--output_dir", str(out), *FAST])
    assert results["train"]["train_samples"] == len(rows)  # the record without an answer dropped
    record = yaml.safe_load((out / "run_config.yaml").read_text(encoding="utf-8"))
    assert record["dataset_name"] == str(folder) and record["answer_column"] == "reply"
    predictions = [json.loads(line) for line in (out / "predictions.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [p["answer"] for p in predictions] == [r["reply"] for r in rows[:2]]

    with pytest.raises(ArgumentError, match=r"has no column 'context' \(its columns: passage, query, reply\); name "
                                            r"the column with --context_column"):
        load_recipe("t5_qa").main(["--model_name_or_path", str(tiny_t5), "--dataset_name", str(folder), "--do_train",
                                   "--output_dir", str(tmp_path / "x"), *FAST])
