"""Matching pairs as datasets: --dataset_name on a local folder laid out as a Hub dataset repository (the
cross-encoder and the bi-encoder train on it and the run record names it), its column and label errors, and the
listwise groups a rerun loads from the cache."""

from __future__ import annotations

import os
import types

import datasets
import pytest
from helpers import DATA, load_recipe

from plm_recipes.errors import ArgumentError, DataFormatError
from plm_recipes.matching import PairDataArguments
from plm_recipes.matching.data import group_pairs, load_pair_splits
from plm_recipes.pairs import read_pairs

M = DATA / "matching"


def lcqmc_like(tmp_path, labels=None):
    """A dataset repository folder (parquet under data/) with LCQMC's column names, from the sample pairs."""
    pairs = read_pairs(M / "train.txt")
    rows = {"sentence1": pairs["text_a"], "sentence2": pairs["text_b"], "score": labels or pairs["label"]}
    folder = tmp_path / "lcqmc"
    (folder / "data").mkdir(parents=True)
    for split in ("train", "validation", "test"):
        datasets.Dataset.from_dict(rows).to_parquet(folder / "data" / f"{split}-00000-of-00001.parquet")
    return folder


def stages(train=True, evaluate=False, predict=False):
    return types.SimpleNamespace(do_train=train, do_eval=evaluate, do_predict=predict, eval_strategy="no",
                                 max_steps=-1, seed=0)


COLUMNS = ["--text_a_column", "sentence1", "--text_b_column", "sentence2", "--label_column", "score"]


def run(name, model, folder, out, *extra):
    return load_recipe(name).main([
        "--model_name_or_path", str(model), "--dataset_name", str(folder), *COLUMNS,
        "--do_train", "--do_eval", "--do_predict", "--output_dir", str(out), "--max_steps", "2",
        "--per_device_train_batch_size", "8", "--use_cpu", "--disable_tqdm", "true", "--log_level", "error", *extra,
    ])


def test_cross_encoder_trains_on_a_dataset_folder(tiny_bert, tmp_path):
    """sentence-transformers tokenizes the pairs batch by batch (in the loss, in ``predict``): no tokenization
    cache, as for the bi-encoders."""
    folder = lcqmc_like(tmp_path)
    results = run("matching_pointwise", tiny_bert, folder, tmp_path / "first")
    assert "eval_f1" in results["eval"] and "test_f1" in results["test"]
    record = (tmp_path / "first" / "run_config.yaml").read_text(encoding="utf-8")
    assert f"dataset_name: {folder}" in record and "text_a_column: sentence1" in record
    predictions = (tmp_path / "first" / "predict_results.tsv").read_text(encoding="utf-8").splitlines()
    assert len(predictions) == 121 and predictions[1].split("\t")[1] == read_pairs(M / "train.txt")["text_a"][0]


def test_bi_encoder_trains_on_a_dataset_folder(tiny_bert, tmp_path):
    folder = lcqmc_like(tmp_path)
    results = run("matching_sentence_transformer", tiny_bert, folder, tmp_path / "out", "--eval_strategy", "no",
                  "--load_best_model_at_end", "false")
    assert "eval_best_f1" in results["eval"]
    assert f"dataset_name: {folder}" in (tmp_path / "out" / "run_config.yaml").read_text(encoding="utf-8")
    assert len((tmp_path / "out" / "predict_results.tsv").read_text(encoding="utf-8").splitlines()) == 121


def test_a_missing_column_lists_the_columns_and_names_the_flag(tiny_bert, tmp_path):
    folder = lcqmc_like(tmp_path)
    with pytest.raises(ArgumentError, match=r"lcqmc \(split 'train'\) has no column 'text_a' \(its columns: "
                                            r"sentence1, sentence2, score\); name the column with --text_a_column"):
        load_recipe("matching_dssm").main(["--model_name_or_path", str(tiny_bert), "--dataset_name", str(folder),
                                           "--do_train", "--output_dir", str(tmp_path / "out"), "--use_cpu"])


def test_a_label_other_than_0_or_1_names_the_dataset_row(tmp_path):
    labels = [1, 0] + [2] + [0] * 117
    data_args = PairDataArguments(dataset_name=str(lcqmc_like(tmp_path, labels)), text_a_column="sentence1",
                                  text_b_column="sentence2", label_column="score")
    with pytest.raises(DataFormatError, match=r"lcqmc \(split 'train'\): row 3: label must be 0 or 1, found '2'"):
        load_pair_splits(data_args, stages())


def test_labels_and_listwise_groups_load_from_the_cache_on_a_rerun(tmp_path):
    path = tmp_path / "train.txt"
    path.write_text((M / "train.txt").read_text(encoding="utf-8"), encoding="utf-8")
    data_args = PairDataArguments(train_file=str(path))

    def grouped():
        return group_pairs(load_pair_splits(data_args, stages())["train"].dataset.select_columns(
            ["text_a", "text_b", "label"]))

    first = grouped()
    [cache] = {f["filename"] for f in first.cache_files}
    written = os.stat(cache).st_mtime_ns
    second = grouped()
    assert {f["filename"] for f in second.cache_files} == {cache} and os.stat(cache).st_mtime_ns == written
    texts = list(dict.fromkeys(read_pairs(path)["text_b"]))
    assert second["text_b"] == texts and sum(map(len, second["label"])) == 120


def test_read_pairs_keeps_the_file_errors(tmp_path):
    path = tmp_path / "pairs.jsonl"
    path.write_text('{"a": "一", "b": "二", "y": 1}\n{"a": "三", "b": "", "y": 0}\n', encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"pairs\.jsonl, line 2: empty key 'text_b'"):
        read_pairs(path, {"text_a": "a", "text_b": "b", "label": "y"})
