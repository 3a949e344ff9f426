"""Mask filling's data the datasets way (#34): --dataset_name on a local folder laid out as a Hub dataset repository
(its text column named by --text_column, blank rows skipped), a missing column, --streaming on a local corpus, and
a rerun of the corpus and its span corruption loaded from the datasets cache."""

from __future__ import annotations

import os
import types

import datasets
import pytest
import yaml
from helpers import DATA, load_recipe
from transformers import AutoTokenizer

from plm_recipes.data import DataSplit
from plm_recipes.errors import ArgumentError
from plm_recipes.seq2seq import FillingDataArguments
from plm_recipes.seq2seq.corpus import corpus_dataset, span_corruption, text_pieces
from plm_recipes.seq2seq.data import read_corpus
from plm_recipes.seq2seq.masking import sentinel_separator, sentinel_tokens

CORPUS = DATA / "seq2seq" / "corpus.txt"
FAST = ["--max_steps", "2", "--per_device_train_batch_size", "4", "--eval_strategy", "no", "--save_strategy", "no",
        "--load_best_model_at_end", "false", "--use_cpu", "--disable_tqdm", "true", "--log_level", "error",
        "--report_to", "none"]


def test_dataset_name_trains_on_a_text_column_and_the_run_record_names_it(tiny_t5, tmp_path):
    lines = CORPUS.read_text(encoding="utf-8").splitlines()
    folder = tmp_path / "hub"
    (folder / "data").mkdir(parents=True)
    rows = {"content": [*lines, None, ""], "id": list(range(len(lines) + 2))}  # a corpus's blank rows are skipped
    datasets.Dataset.from_dict(rows).to_parquet(folder / "data" / "train-00000-of-00001.parquet")
    out = tmp_path / "out"
    results = load_recipe("t5_filling").main([
        "--model_name_or_path", str(tiny_t5), "--dataset_name", str(folder), "--text_column", "content",
        "--do_train", "--output_dir", str(out), *FAST])
    assert results["train"]["train_samples"] == len(read_corpus(CORPUS, min_length=8))  # 16 lines, none cut
    record = yaml.safe_load((out / "run_config.yaml").read_text(encoding="utf-8"))
    assert record["dataset_name"] == str(folder) and record["text_column"] == "content"
    assert (out / "seq2seq_config.json").is_file()

    with pytest.raises(ArgumentError, match=r"has no column 'text' \(its columns: content, id\); name the column "
                                            r"with --text_column"):
        load_recipe("t5_filling").main(["--model_name_or_path", str(tiny_t5), "--dataset_name", str(folder),
                                        "--do_train", "--output_dir", str(tmp_path / "x"), *FAST])


def test_streaming_trains_on_a_local_corpus_and_needs_max_steps(tiny_t5, tmp_path):
    out = tmp_path / "stream"
    args = ["--model_name_or_path", str(tiny_t5), "--train_file", str(CORPUS), "--do_train", "--streaming",
            "--output_dir", str(out)]
    results = load_recipe("t5_filling").main([*args, *FAST])
    assert results["train"]["train_samples"] == 8  # 2 steps of 4
    assert "streaming: true" in (out / "run_config.yaml").read_text(encoding="utf-8")
    with pytest.raises(ArgumentError, match="--streaming .* pass --max_steps"):
        load_recipe("t5_filling").main([*args, "--use_cpu", "--report_to", "none"])


def test_a_rerun_loads_the_pieces_and_the_masked_pairs_from_the_cache(tiny_t5, tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text(CORPUS.read_text(encoding="utf-8"), encoding="utf-8")
    tokenizer = AutoTokenizer.from_pretrained(tiny_t5)
    sentinels = sentinel_tokens(tokenizer)
    data_args = FillingDataArguments(train_file=str(path), max_text_length=20)
    training_args = types.SimpleNamespace()

    def pairs():
        pieces = corpus_dataset(path, min_length=8, max_length=20)
        split = DataSplit(pieces, str(path), str(path))
        return pieces, span_corruption(split, tokenizer, sentinels, sentinel_separator(sentinels), data_args=data_args,
                                       training_args=training_args, max_source_length=64, copies=2, seed=7).dataset

    pieces, first = pairs()
    assert pieces["text"] == list(text_pieces(read_corpus(path, min_length=8), 8, 20))
    assert len(first) == 2 * len(pieces)
    caches = {f["filename"] for f in first.cache_files}
    written = {name: os.stat(name).st_mtime_ns for name in caches}
    _, second = pairs()
    assert {f["filename"] for f in second.cache_files} == caches
    assert {name: os.stat(name).st_mtime_ns for name in caches} == written  # loaded, not masked again
    assert second["input_ids"] == first["input_ids"] and second["labels"] == first["labels"]
