"""LLM SFT data the datasets way (#34): --dataset_name on a local folder laid out as a Hub dataset repository (an
instruction/output dataset named by the column flags, a messages dataset), its column error, --streaming on a JSON
lines file, and an unchanged file read from the datasets cache."""

from __future__ import annotations

import json
import os

import datasets
import pytest
import yaml
from helpers import DATA, load_recipe

from plm_recipes.errors import ArgumentError, DataFormatError
from plm_recipes.llm.data import instruction_file_dataset, read_instructions

LLM = DATA / "llm"
FAST = ["--max_steps", "2", "--use_cpu", "--disable_tqdm", "true", "--report_to", "none", "--eval_strategy", "no",
        "--save_strategy", "no", "--load_best_model_at_end", "false", "--max_new_tokens", "4", "--lora_r", "4",
        "--lora_alpha", "8", "--per_device_train_batch_size", "2"]


def earlier_records():
    return [json.loads(line) for line in (LLM / "instructions_train.jsonl").read_text(encoding="utf-8").splitlines()]


def hub_folder(folder, rows, splits=("train", "test")):
    (folder / "data").mkdir(parents=True)
    for split in splits:
        datasets.Dataset.from_list(rows).to_parquet(folder / "data" / f"{split}-00000-of-00001.parquet")
    return str(folder)


def test_dataset_name_with_column_flags_trains_predicts_and_is_recorded(tiny_chat, tmp_path):
    rows = [{"instruction": r["context"], "output": r["target"], "id": i} for i, r in enumerate(earlier_records())]
    folder = hub_folder(tmp_path / "hub", rows)
    out = tmp_path / "out"
    results = load_recipe("llm_sft").main([
        "--model_name_or_path", str(tiny_chat), "--dataset_name", folder, "--context_column", "instruction",
        "--target_column", "output", "--do_train", "--do_predict", "--max_predict_samples", "2",
        "--output_dir", str(out), *FAST])
    assert results["train"]["train_samples"] == len(rows) and results["test"]["test_samples"] == 2
    record = yaml.safe_load((out / "run_config.yaml").read_text(encoding="utf-8"))
    assert record["dataset_name"] == folder and record["context_column"] == "instruction"
    predictions = [json.loads(line) for line in (out / "predictions.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [p["target"] for p in predictions] == [r["output"] for r in rows[:2]]
    assert folder in (out / "README.md").read_text(encoding="utf-8")


def test_a_messages_dataset_trains_and_a_dataset_without_the_columns_lists_its_columns(tiny_chat, tmp_path):
    chats = [{"messages": [{"role": "user", "content": r["context"]}, {"role": "assistant", "content": r["target"]}]}
             for r in earlier_records()]
    folder = hub_folder(tmp_path / "chats", chats, splits=("train",))
    results = load_recipe("llm_sft").main([
        "--model_name_or_path", str(tiny_chat), "--dataset_name", folder, "--do_train",
        "--output_dir", str(tmp_path / "out"), *FAST])
    assert results["train"]["train_samples"] == len(chats)

    other = hub_folder(tmp_path / "other", [{"question": "a", "answer": "b"}], splits=("train",))
    with pytest.raises(ArgumentError, match=r"has none of the columns 'messages', .* \(its columns: question, "
                                            r"answer\); name the columns with --context_column, --target_column"):
        load_recipe("llm_sft").main(["--model_name_or_path", str(tiny_chat), "--dataset_name", other, "--do_train",
                                     "--output_dir", str(tmp_path / "x"), *FAST])
    blank = hub_folder(tmp_path / "blank", [{"context": "a", "target": "b"}, {"context": "c", "target": " "}],
                       splits=("train",))
    with pytest.raises(DataFormatError, match=r"row 2: 'target' is missing or not a non-empty string"):
        load_recipe("llm_sft").main(["--model_name_or_path", str(tiny_chat), "--dataset_name", blank, "--do_train",
                                     "--output_dir", str(tmp_path / "y"), *FAST])


def test_streaming_trains_on_a_json_lines_file_and_needs_max_steps(tiny_chat, tmp_path):
    out = tmp_path / "stream"
    args = ["--model_name_or_path", str(tiny_chat), "--train_file", str(LLM / "instructions_train.jsonl"),
            "--do_train", "--streaming", "--output_dir", str(out), *FAST]
    results = load_recipe("llm_sft").main(args)
    assert results["train"]["train_samples"] == 4  # 2 steps of 2
    assert (out / "adapter_model.safetensors").is_file()
    assert "streaming: true" in (out / "run_config.yaml").read_text(encoding="utf-8")
    with pytest.raises(ArgumentError, match="--streaming .* pass --max_steps"):
        load_recipe("llm_sft").main([*args[:-len(FAST)], "--use_cpu", "--report_to", "none"])


def test_an_unchanged_file_is_read_from_the_cache_with_the_records_of_the_reader(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text((LLM / "instructions_train.jsonl").read_text(encoding="utf-8"), encoding="utf-8")
    first = instruction_file_dataset(path, system="你是助手")
    [cache] = {f["filename"] for f in first.cache_files}
    written = os.stat(cache).st_mtime_ns
    second = instruction_file_dataset(path, system="你是助手")
    assert {f["filename"] for f in second.cache_files} == {cache} and os.stat(cache).st_mtime_ns == written
    # read row by row, as the recipe and TRL read it (datasets 4.7's to_list leaves Json inside lists encoded)
    assert list(second) == read_instructions(path, system="你是助手")  # TRL's records, as the reader gives them
    with open(path, "a", encoding="utf-8") as f:
        f.write('{"context": "x"}\n')
    with pytest.raises(DataFormatError, match=r"train\.jsonl, line \d+: 'target' is missing"):
        instruction_file_dataset(path, system="你是助手")  # a changed file is read again, its error at its line
