"""UIE data as datasets: prompt-format files into the Arrow cache with the reader's errors, --dataset_name on a
local dataset repository folder (training, the run record, column and format errors, a bad row), the windows
written by Dataset.map (the same as encode_examples, loaded from the cache on a rerun)."""

from __future__ import annotations

import json
import os
import types

import datasets
import pytest
from helpers import DATA, load_recipe
from transformers import AutoTokenizer

from plm_recipes.errors import ArgumentError, DataFormatError
from plm_recipes.extraction import UIEDataArguments, encode_examples, read_uie_examples
from plm_recipes.extraction.dataset import (
    encode_split,
    load_uie_splits,
    uie_file_dataset,
    window_offsets,
)

EXTRACTION = DATA / "extraction"


def stages(train=True, evaluate=False, predict=False):
    return types.SimpleNamespace(do_train=train, do_eval=evaluate, do_predict=predict, eval_strategy="no",
                                 max_steps=-1)


def rows(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def hub_folder(tmp_path, rename: dict[str, str] | None = None, splits=("train", "validation", "test")):
    """The bundled samples as a local folder laid out as a Hub dataset repository (parquet files under data/)."""
    folder = tmp_path / "hub"
    (folder / "data").mkdir(parents=True)
    for split, name in zip(("train", "validation", "test"), ("train.txt", "dev.txt", "test.txt")):
        if split in splits:
            data = datasets.Dataset.from_list(rows(EXTRACTION / name))
            if rename:
                data = data.rename_columns(rename)
            data.to_parquet(folder / "data" / f"{split}-00000-of-00001.parquet")
    return folder


@pytest.fixture(scope="module")
def tokenizer(tiny_bert):
    return AutoTokenizer.from_pretrained(tiny_bert)


# --- local files -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("row, message", [
    ({"content": "张三在北京", "result_list": [{"text": "上海", "start": 3, "end": 5}], "prompt": "地点"},
     "line 2: result_list[0]: text '上海' is not content[3:5], which is '北京'"),
    ({"content": "张三在北京", "prompt": "地点"}, "line 2: missing 'result_list'"),
    ("{not json", "line 2: invalid JSON"),
])
def test_a_bad_line_names_file_and_line_as_the_reader_does(tmp_path, row, message):
    good = {"content": "张三在北京", "result_list": [{"text": "张三", "start": 0, "end": 2}], "prompt": "人物"}
    path = tmp_path / "train.txt"
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in [good, row]),
                    encoding="utf-8")
    with pytest.raises(DataFormatError) as raised:
        uie_file_dataset(path)
    assert str(path) in str(raised.value) and message in str(raised.value)
    (tmp_path / "empty.txt").write_text("\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"empty\.txt: no examples: the file is empty"):
        uie_file_dataset(tmp_path / "empty.txt")


def test_the_windows_of_the_map_are_those_of_encode_examples(tokenizer):
    data_args = UIEDataArguments(train_file=str(EXTRACTION / "train.txt"))
    split = load_uie_splits(data_args, stages())["train"]
    assert split.dataset.column_names == ["content", "prompt", "result_list", "__line__"]
    windows = encode_split(split, tokenizer, 32, 4, with_labels=True, data_args=data_args, desc="windows")
    expected = encode_examples(read_uie_examples(EXTRACTION / "train.txt"), tokenizer, 32, 4)
    assert len(windows.dataset) == len(expected) > len(split.dataset)  # long texts: several windows each
    for name, column in expected.inputs.items():
        assert windows.dataset[name] == column, name
    assert windows.dataset["example_index"] == expected.example_index
    assert list(window_offsets(windows)) == expected.offsets
    assert sum(windows.dataset["unreachable"]) == expected.unreachable


def test_a_rerun_loads_the_windows_from_the_cache(tmp_path, tokenizer):
    path = tmp_path / "train.txt"
    path.write_bytes((EXTRACTION / "train.txt").read_bytes())
    data_args = UIEDataArguments(train_file=str(path))

    def encoded():
        split = load_uie_splits(data_args, stages())["train"]
        return encode_split(split, tokenizer, 48, 8, with_labels=True, data_args=data_args, desc="windows").dataset

    first = encoded()
    [cache] = {f["filename"] for f in first.cache_files}
    written = os.stat(cache).st_mtime_ns
    second = encoded()
    assert {f["filename"] for f in second.cache_files} == {cache}
    assert os.stat(cache).st_mtime_ns == written  # loaded, not encoded and written again


# --- --dataset_name ----------------------------------------------------------------------------------------------


def test_dataset_name_trains_evaluates_predicts_and_the_run_record_names_it(tiny_bert, tmp_path):
    folder = hub_folder(tmp_path)
    out = tmp_path / "out"
    results = load_recipe("uie").main([
        "--model_name_or_path", str(tiny_bert), "--dataset_name", str(folder), "--do_train", "--do_eval",
        "--do_predict", "--output_dir", str(out), "--max_steps", "2", "--per_device_train_batch_size", "4",
        "--max_seq_length", "64", "--doc_stride", "16", "--eval_strategy", "no", "--save_strategy", "no",
        "--load_best_model_at_end", "false", "--use_cpu", "--disable_tqdm", "true", "--report_to", "none",
        "--train_sampling_strategy", "group_by_length",  # the windows' length column
    ])
    assert {"eval_f1", "eval_precision"} <= set(results["eval"]) and "test_f1" in results["test"]
    assert f"dataset_name: {folder}" in (out / "run_config.yaml").read_text(encoding="utf-8")
    written = [json.loads(line) for line in (out / "predictions.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(r["prompt"], r["content"]) for r in written] == [(r["prompt"], r["content"])
                                                              for r in rows(EXTRACTION / "test.txt")]


def test_dataset_column_errors_name_the_columns_and_the_flag(tmp_path):
    folder = str(hub_folder(tmp_path, rename={"content": "text"}, splits=("train",)))
    with pytest.raises(ArgumentError, match=r"has no column 'content' \(its columns: text, result_list, prompt\); "
                                            r"name the column with --content_column"):
        load_uie_splits(UIEDataArguments(dataset_name=folder), stages())
    split = load_uie_splits(UIEDataArguments(dataset_name=folder, content_column="text"), stages())["train"]
    assert split.dataset.column_names == ["content", "result_list", "prompt"]


def test_a_dataset_in_another_format_is_refused_in_one_sentence(tmp_path):
    datasets.Dataset.from_dict({"content": ["张三在北京"], "prompt": ["人物"], "result_list": [["张三"]]}
                               ).save_to_disk(tmp_path / "strings")
    with pytest.raises(ArgumentError, match=r"column 'result_list' should be UIE's prompt format, a list of "
                                            r"\{text, start, end\}.*must be turned into prompts first"):
        load_uie_splits(UIEDataArguments(dataset_name=str(tmp_path / "strings")), stages())


def test_a_bad_dataset_row_is_named_when_it_is_encoded(tmp_path, tokenizer):
    bad = {"content": ["张三在北京", "李四在上海"], "prompt": ["人物", "人物"],
           "result_list": [[{"text": "张三", "start": 0, "end": 2}], [{"text": "李四", "start": 3, "end": 9}]]}
    datasets.Dataset.from_dict(bad).save_to_disk(tmp_path / "bad")
    data_args = UIEDataArguments(dataset_name=str(tmp_path / "bad"))
    split = load_uie_splits(data_args, stages())["train"]
    with pytest.raises(DataFormatError, match=r"bad \(split 'train'\): row 2: result_list\[0\]: offsets 3..9 are "
                                              r"outside the text"):
        encode_split(split, tokenizer, 48, 8, with_labels=True, data_args=data_args, desc="windows")
