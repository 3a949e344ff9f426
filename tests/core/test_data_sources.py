"""The recipes' splits as datasets: local files validated into the Arrow cache, --dataset_name (a dataset repository
folder, a save_to_disk folder, an unreachable Hub id), column and split errors, label encoding, the map cache."""

from __future__ import annotations

import os
import types

import datasets
import pytest

from plm_recipes.args import DataArguments, StreamingDataArguments
from plm_recipes.data import (
    LINE_COLUMN,
    LabelMap,
    encode_labels,
    file_dataset,
    has_values,
    label_names,
    load_splits,
    map_split,
)
from plm_recipes.errors import ArgumentError, DataFormatError


def stages(train=True, evaluate=False, predict=False, max_steps=-1):
    return types.SimpleNamespace(do_train=train, do_eval=evaluate, do_predict=predict, eval_strategy="no",
                                 max_steps=max_steps)


def hub_folder(tmp_path, splits=("train", "test")):
    """A local folder laid out as a Hub dataset repository: parquet files under data/, a ClassLabel column."""
    features = datasets.Features({"sentence": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=["负面", "正面"])})
    rows = {"sentence": ["很好", "太差了", "不错", "失望"], "label": [1, 0, 1, 0]}
    folder = tmp_path / "hub"
    (folder / "data").mkdir(parents=True)
    for split in splits:
        datasets.Dataset.from_dict(rows, features=features).to_parquet(folder / "data" / f"{split}-00000-of-00001.parquet")
    return folder


def test_file_dataset_keeps_fields_as_text_and_the_line_of_each_record(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text('{"text": "甲", "label": 1}\n\n{"text": "乙", "label": 0}\n', encoding="utf-8")
    dataset = file_dataset(path, ("label", "text"))
    assert dataset.features["label"] == datasets.Value("string")
    assert dataset[:] == {"label": ["1", "0"], "text": ["甲", "乙"], LINE_COLUMN: [1, 3]}


def test_file_dataset_raises_the_readers_errors_and_caches_nothing_broken(tmp_path):
    path = tmp_path / "train.txt"
    path.write_text("好\t很好\n差 不好\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"train\.txt, line 2: expected 2 tab-separated fields"):
        file_dataset(path, ("label", "text"))
    path.write_text("好\t很好\n差\t不好\n", encoding="utf-8")  # fixed: read again, not an earlier cache
    assert file_dataset(path, ("label", "text"))["label"] == ["好", "差"]
    (tmp_path / "empty.txt").write_text("\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"empty\.txt: the file is empty"):
        file_dataset(tmp_path / "empty.txt", ("label", "text"))


def test_an_unchanged_file_and_function_load_from_the_cache(tmp_path, tiny_bert):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    path = tmp_path / "train.txt"
    path.write_text("".join(f"好\t很好{i}\n" for i in range(50)), encoding="utf-8")
    data_args = DataArguments(train_file=str(path))

    def tokenized():
        split = load_splits(data_args, stages(), ("label", "text"))["train"]
        return map_split(split, lambda batch: tokenizer(batch["text"]), data_args=data_args, desc="tokenizing")

    first = tokenized().dataset
    [cache] = {f["filename"] for f in first.cache_files}
    written = os.stat(cache).st_mtime_ns
    second = tokenized().dataset
    assert {f["filename"] for f in second.cache_files} == {cache}
    assert os.stat(cache).st_mtime_ns == written  # loaded, not tokenized and written again
    assert second["input_ids"] == first["input_ids"]


def test_unknown_label_names_its_line_also_from_a_worker_process(tmp_path):
    path = tmp_path / "train.txt"
    path.write_text("好\t很好\n好\t不错\n坏\t不好\n", encoding="utf-8")
    for workers in (None, 2):
        data_args = DataArguments(train_file=str(path), preprocessing_num_workers=workers)
        split = load_splits(data_args, stages(), ("label", "text"))["train"]
        with pytest.raises(DataFormatError, match=r"train\.txt, line 3: unknown label '坏'; known labels: 好"):
            encode_labels(split, LabelMap(["好"]), data_args=data_args)


def test_dataset_name_reads_a_dataset_repository_folder_with_its_class_labels(tmp_path):
    data_args = DataArguments(dataset_name=str(hub_folder(tmp_path)))
    splits = load_splits(data_args, stages(predict=True), ("label", "text"), columns={"text": "sentence"})
    assert set(splits) == {"train", "test"}
    train = splits["train"]
    assert train.dataset.column_names == ["label", "text"]  # renamed to the fields
    assert label_names(train) == LabelMap(["负面", "正面"])
    # a label map that orders the names otherwise still gets the right ids
    encoded = encode_labels(train, LabelMap(["正面", "负面"]), data_args=data_args)
    assert encoded.dataset["label"] == [0, 1, 0, 1]
    assert has_values(train, "label")


def test_dataset_name_reads_a_save_to_disk_folder(tmp_path):
    datasets.DatasetDict({"train": datasets.Dataset.from_dict({"text": ["甲", "乙"], "label": ["a", "b"]}),
                          "dev": datasets.Dataset.from_dict({"text": ["丙"], "label": ["a"]})}
                         ).save_to_disk(tmp_path / "saved")
    splits = load_splits(DataArguments(dataset_name=str(tmp_path / "saved")), stages(evaluate=True),
                         ("label", "text"))
    assert splits["validation"].origin.endswith("(split 'dev')")  # no 'validation': its 'dev' split
    assert splits["train"].dataset["text"] == ["甲", "乙"]


def test_dataset_errors_name_the_columns_the_splits_and_the_row(tmp_path):
    folder = str(hub_folder(tmp_path))
    with pytest.raises(ArgumentError, match=r"hub \(split 'train'\) has no column 'text' \(its columns: sentence, "
                                            r"label\)"):
        load_splits(DataArguments(dataset_name=folder), stages(), ("label", "text"))
    with pytest.raises(ArgumentError, match=r"has no split 'validation' \(its splits: train, test\); choose one "
                                            r"with --validation_split"):
        load_splits(DataArguments(dataset_name=folder), stages(evaluate=True), ("label", "text"),
                    columns={"text": "sentence"})
    datasets.Dataset.from_dict({"text": ["甲", " "], "label": ["a", "b"]}).save_to_disk(tmp_path / "blank")
    with pytest.raises(DataFormatError, match=r"blank \(split 'train'\): row 2: empty 'text'"):
        load_splits(DataArguments(dataset_name=str(tmp_path / "blank")), stages(), ("label", "text"),
                    text_fields=("text",))


def test_a_hub_id_that_cannot_be_reached_says_how_to_pass_a_local_folder(monkeypatch):
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    with pytest.raises(ArgumentError, match=r"--dataset_name nobody/nothing: not a local folder.*pass a local "
                                            r"folder instead"):
        load_splits(DataArguments(dataset_name="nobody/nothing"), stages(), ("label", "text"))


def test_dataset_name_and_data_files_are_not_both_taken(tmp_path):
    path = tmp_path / "train.txt"
    path.write_text("好\t很好\n", encoding="utf-8")
    with pytest.raises(ArgumentError, match="either --dataset_name or data files"):
        DataArguments(dataset_name="x/y", train_file=str(path))


def test_max_samples_and_streaming(tmp_path):
    path = tmp_path / "train.txt"
    path.write_text("".join(f"好\t第{i}条\n" for i in range(10)), encoding="utf-8")
    data_args = DataArguments(train_file=str(path), max_train_samples=3)
    assert len(load_splits(data_args, stages(), ("label", "text"))["train"].dataset) == 3
    data_args = StreamingDataArguments(train_file=str(path), max_train_samples=3, streaming=True)
    with pytest.raises(ArgumentError, match="pass --max_steps"):
        load_splits(data_args, stages(), ("label", "text"))
    split = load_splits(data_args, stages(max_steps=5), ("label", "text"))["train"]
    assert split.streaming
    assert [row["text"] for row in split.dataset] == ["第0条", "第1条", "第2条"]


def test_what_the_collator_rebuilds_is_not_stored(tiny_bert):
    from transformers import AutoTokenizer, DataCollatorWithPadding

    from plm_recipes.data import collator_rebuilds

    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    kwargs = collator_rebuilds(tokenizer)
    assert kwargs == {"return_attention_mask": False, "return_token_type_ids": False}
    lean = [tokenizer(text, **kwargs) for text in ("苹果很甜", "电脑")]
    full = [tokenizer(text) for text in ("苹果很甜", "电脑")]
    assert set(lean[0]) == {"input_ids"}
    padded, expected = (DataCollatorWithPadding(tokenizer)(rows) for rows in (lean, full))
    assert padded["attention_mask"].tolist() == expected["attention_mask"].tolist()

    def xlnet_like(text, **kwargs):  # token types that say something for one text are kept
        return {"input_ids": [5, 6, 3], "token_type_ids": [0, 0, 2]}

    assert collator_rebuilds(xlnet_like) == {"return_attention_mask": False}
