"""SimCSE's corpus as a dataset: a local file read into the Arrow cache (its line errors kept) or streamed
(--streaming --max_steps), and --dataset_name on a local folder laid out as a Hub dataset repository, whose
--text_columns are the sentences and whose evaluation splits are the pairs."""

from __future__ import annotations

import logging
import types

import datasets
import pytest
from helpers import DATA, load_recipe

from plm_recipes.errors import ArgumentError, DataFormatError
from plm_recipes.pairs import read_pairs
from plm_recipes.sentence_embedding import SentenceDataArguments, load_sentences, sentence_pairs
from plm_recipes.sentence_embedding.data import sentence_file_dataset

S = DATA / "sentence_embedding"


def stages(max_steps=-1):
    return types.SimpleNamespace(do_train=True, do_eval=False, do_predict=False, eval_strategy="no",
                                 max_steps=max_steps)


def dataset_folder(tmp_path):
    """A dataset repository folder (parquet under data/) with LCQMC's column names: pairs in every split."""
    pairs = read_pairs(S / "dev.txt")
    rows = {"sentence1": pairs["text_a"], "sentence2": pairs["text_b"], "score": pairs["label"]}
    folder = tmp_path / "lcqmc"
    (folder / "data").mkdir(parents=True)
    for split in ("train", "validation"):
        datasets.Dataset.from_dict(rows).to_parquet(folder / "data" / f"{split}-00000-of-00001.parquet")
    return folder, pairs


def _run(tiny_bert, out, *data):
    return load_recipe("simcse").main([
        "--model_name_or_path", str(tiny_bert), *data, "--do_train", "--output_dir", str(out),
        "--max_steps", "2", "--per_device_train_batch_size", "8", "--use_cpu", "--disable_tqdm", "true",
        "--log_level", "error", "--seed", "3",
    ])


def test_simcse_trains_streaming_a_local_corpus(tiny_bert, tmp_path):
    results = _run(tiny_bert, tmp_path / "out", "--train_file", str(S / "sentences.txt"), "--streaming",
                   "--validation_file", str(S / "dev.txt"), "--eval_steps", "1", "--save_steps", "2")
    assert results["train"]["train_samples"] == 16  # 2 steps of 8 sentences, read as training went
    record = (tmp_path / "out" / "run_config.yaml").read_text(encoding="utf-8")
    assert "streaming: true" in record and "batch_sampler: batch_sampler" in record
    assert (tmp_path / "out" / "matching_config.json").is_file()


def test_streaming_needs_max_steps(tiny_bert, tmp_path):
    with pytest.raises(ArgumentError, match="pass --max_steps"):
        load_recipe("simcse").main(["--model_name_or_path", str(tiny_bert), "--train_file", str(S / "sentences.txt"),
                                    "--streaming", "--do_train", "--eval_strategy", "no", "--save_strategy", "epoch",
                                    "--load_best_model_at_end", "false", "--output_dir", str(tmp_path), "--use_cpu"])


def test_simcse_trains_on_a_dataset_folder_and_the_run_record_names_it(tiny_bert, tmp_path):
    folder, pairs = dataset_folder(tmp_path)
    results = _run(tiny_bert, tmp_path / "out", "--dataset_name", str(folder),
                   "--text_columns", "sentence1", "sentence2", "--text_a_column", "sentence1",
                   "--text_b_column", "sentence2", "--label_column", "score", "--eval_steps", "1",
                   "--save_steps", "2")
    assert results["train"]["train_samples"] == 2 * len(pairs)  # both texts of each row are sentences
    assert f"dataset_name: {folder}" in (tmp_path / "out" / "run_config.yaml").read_text(encoding="utf-8")


def test_a_dataset_without_the_sentence_column_says_which_flag_names_it(tmp_path):
    folder, _ = dataset_folder(tmp_path)
    with pytest.raises(ArgumentError, match=r"has no column 'text' \(its columns: sentence1, sentence2, score\); "
                                            r"name the columns holding the sentences with --text_columns"):
        load_sentences(SentenceDataArguments(dataset_name=str(folder)), stages())


def test_dataset_sentences_stream_from_every_named_column(tmp_path):
    folder, pairs = dataset_folder(tmp_path)
    data_args = SentenceDataArguments(dataset_name=str(folder), text_columns=["sentence1", "sentence2"],
                                      streaming=True, max_train_samples=2)
    split = load_sentences(data_args, stages(max_steps=2))
    assert split.streaming
    rows = list(sentence_pairs(split, data_args=data_args))
    assert rows == [{"anchor": t, "positive": t} for t in (pairs["text_a"][0], pairs["text_b"][0],
                                                           pairs["text_a"][1], pairs["text_b"][1])]


def test_a_cached_corpus_keeps_the_line_errors_and_refuses_one_sentence(tmp_path):
    path = tmp_path / "corpus.tsv"
    path.write_text("一\t二\n三\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"corpus\.tsv, line 2: expected at least 2 tab-separated fields"):
        sentence_file_dataset(path, ["1", "2"])
    path.write_text("同一句\n\n同一句\n", encoding="utf-8")
    data_args = SentenceDataArguments(train_file=str(path))
    split = load_sentences(data_args, stages())
    assert split.dataset["text"] == ["同一句", "同一句"]
    with pytest.raises(DataFormatError, match=r"corpus\.tsv: 1 distinct sentence \('同一句'\)"):
        sentence_pairs(split, data_args=data_args)


def test_distinct_sentences_are_counted_chunk_by_chunk_as_arrow_counts_them(caplog):
    import pyarrow as pa
    import pyarrow.compute as pc

    from plm_recipes.data import DataSplit
    from plm_recipes.sentence_embedding.data import count_distinct_texts

    texts = [f"第{i % 7}句" for i in range(50)] + [None, "", "第1句"]
    column = pa.chunked_array([texts[:20], texts[20:]])
    for chunk_size in (1, 3, 64):  # chunks that cross Arrow's own
        assert count_distinct_texts(column, chunk_size) == pc.count_distinct(column).as_py() == 8
    assert count_distinct_texts(pa.chunked_array([], pa.string())) == 0
    split = DataSplit(datasets.Dataset.from_dict({"text": ["甲", "乙", "甲"]}), "corpus.txt", "corpus.txt")
    log = logging.getLogger("plm_recipes.sentence_embedding.data")
    log.addHandler(caplog.handler)  # a recipe's logging setup, in an earlier test, stops plm_recipes at its own
    try:
        with caplog.at_level("INFO", logger=log.name):
            pairs = sentence_pairs(split, data_args=types.SimpleNamespace(preprocessing_num_workers=None))
    finally:
        log.removeHandler(caplog.handler)
    assert "corpus.txt: 3 sentences (2 distinct)" in caplog.text and pairs["anchor"] == pairs["positive"]
