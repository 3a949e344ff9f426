"""The reward model's data the datasets way (#34): --dataset_name on a local folder laid out as a Hub dataset
repository (TRL's chosen/rejected columns, a "dev" split, --validation_split_texts), its column and row errors, and
an unchanged rank-list file with its tokenization loaded from the datasets cache."""

from __future__ import annotations

import json
import os

import datasets
import pytest
import yaml
from helpers import load_recipe
from rlhf_helpers import RLHF
from transformers import AutoTokenizer

from plm_recipes.args import DataArguments
from plm_recipes.data import DataSplit
from plm_recipes.errors import ArgumentError, DataFormatError
from plm_recipes.rlhf import read_rank_lists
from plm_recipes.rlhf.preference import rank_list_dataset, tokenize_rank_lists

QUICK = ["--use_cpu", "--disable_tqdm", "true", "--log_level", "error", "--max_steps", "2", "--report_to", "none"]


def hub_folder(folder, splits):
    (folder / "data").mkdir(parents=True)
    for split, rows in splits.items():
        datasets.Dataset.from_list(rows).to_parquet(folder / "data" / f"{split}-00000-of-00001.parquet")
    return str(folder)


def pairs():
    return [json.loads(line) for line in (RLHF / "pairs.json").read_text(encoding="utf-8").splitlines()]


def test_dataset_name_with_chosen_and_rejected_trains_and_the_run_record_names_it(tiny_bert, tmp_path):
    rows = pairs()
    folder = hub_folder(tmp_path / "hub", {"train": rows, "dev": rows[:3]})
    out = tmp_path / "out"
    results = load_recipe("reward_model").main([
        "--model_name_or_path", str(tiny_bert), "--dataset_name", folder, "--with_prompt", "--do_train", "--do_eval",
        "--output_dir", str(out), *QUICK])
    assert results["train"]["train_samples"] == len(rows) and results["eval"]["eval_pairs"] == 3
    record = yaml.safe_load((out / "run_config.yaml").read_text(encoding="utf-8"))
    assert record["dataset_name"] == folder and record["with_prompt"] is True

    held = load_recipe("reward_model").main([
        "--model_name_or_path", str(tiny_bert), "--dataset_name", folder, "--validation_split_texts", "0.3",
        "--do_train", "--output_dir", str(tmp_path / "held"), *QUICK])
    assert held["eval"]["eval_pairs"] > 0


def test_a_dataset_without_the_columns_or_with_a_bad_row_is_one_error(tiny_bert, tmp_path):
    other = hub_folder(tmp_path / "other", {"train": [{"question": "a", "answer": "b"}]})
    with pytest.raises(ArgumentError, match=r"has none of the columns 'ranking', 'chosen', .* \(its columns: "
                                            r"question, answer\)"):
        load_recipe("reward_model").main(["--model_name_or_path", str(tiny_bert), "--dataset_name", other,
                                          "--do_train", "--eval_strategy", "no", "--load_best_model_at_end", "false", "--output_dir", str(tmp_path / "x"),
                                          *QUICK])
    same = hub_folder(tmp_path / "same", {"train": [{"chosen": "好", "rejected": "差"},
                                                    {"chosen": "好", "rejected": "好"}]})
    with pytest.raises(DataFormatError, match=r"split 'train'\): row 2: text 2 repeats text 1"):
        load_recipe("reward_model").main(["--model_name_or_path", str(tiny_bert), "--dataset_name", same,
                                          "--do_train", "--eval_strategy", "no", "--load_best_model_at_end", "false", "--output_dir", str(tmp_path / "y"),
                                          *QUICK])


def test_an_unchanged_file_and_its_tokenization_load_from_the_cache(tiny_bert, tmp_path):
    path = tmp_path / "ranklist.tsv"
    path.write_text((RLHF / "ranklist_train.tsv").read_text(encoding="utf-8"), encoding="utf-8")
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)

    def tokenized():
        lists = rank_list_dataset(path)
        return lists, tokenize_rank_lists(DataSplit(lists, str(path), str(path)), tokenizer, 16,
                                          data_args=DataArguments()).dataset

    lists, first = tokenized()
    assert lists["texts"] == [list(r.texts) for r in read_rank_lists(path)]
    caches = {f["filename"] for f in first.cache_files}
    written = {name: os.stat(name).st_mtime_ns for name in caches}
    _, second = tokenized()
    assert {f["filename"] for f in second.cache_files} == caches
    assert {name: os.stat(name).st_mtime_ns for name in caches} == written  # loaded, not tokenized again
    assert second["input_ids"] == first["input_ids"]
