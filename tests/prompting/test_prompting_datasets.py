"""PET / p-tuning data as datasets: --dataset_name on a local dataset repository folder (ClassLabel names, the run
record), column errors, the verbalizer and template checks at the file line or the dataset row, the templates
written by Dataset.map (the same as encode_prompts, loaded from the cache on a rerun)."""

from __future__ import annotations

import os
import types

import datasets
import pytest
from helpers import DATA, load_recipe
from test_prompting import lm_folder, tokenizer  # noqa: F401 (the fixture)

from plm_recipes.data import LabelMap, read_records
from plm_recipes.errors import ArgumentError, DataFormatError
from plm_recipes.prompting import Template, encode_prompts
from plm_recipes.prompting.arguments import PromptDataArguments
from plm_recipes.prompting.data import FIELDS
from plm_recipes.prompting.dataset import check_prompt_split, encode_prompt_split, load_prompt_splits

PROMPTING = DATA / "prompting"
LABELS = ["电脑", "水果", "酒店", "书籍"]  # the verbalizer's order
TEMPLATE = Template("这是一条{MASK}评论：{textA}。")


def stages(train=True, evaluate=False, predict=False):
    return types.SimpleNamespace(do_train=train, do_eval=evaluate, do_predict=predict, eval_strategy="no",
                                 max_steps=-1)


def hub_folder(tmp_path):
    """The bundled samples as a dataset repository folder: parquet under data/, the texts in a 'sentence' column
    and the labels a ClassLabel whose names are in another order than the verbalizer's."""
    names = sorted(LABELS)
    features = datasets.Features({"sentence": datasets.Value("string"), "label": datasets.ClassLabel(names=names)})
    folder = tmp_path / "hub"
    (folder / "data").mkdir(parents=True)
    for split, name in (("train", "train.txt"), ("validation", "dev.txt"), ("test", "test.txt")):
        pairs = [line.split("\t") for line in (PROMPTING / name).read_text(encoding="utf-8").splitlines()]
        rows = {"sentence": [text for _, text in pairs], "label": [names.index(label) for label, _ in pairs]}
        datasets.Dataset.from_dict(rows, features=features).to_parquet(
            folder / "data" / f"{split}-00000-of-00001.parquet")
    return folder


def test_dataset_name_with_class_labels_trains_and_the_run_record_names_it(tmp_path, tokenizer):  # noqa: F811
    folder = hub_folder(tmp_path)
    model, out = lm_folder(tmp_path / "lm", tokenizer, "masked"), tmp_path / "out"
    argv = ["--model_name_or_path", str(model), "--dataset_name", str(folder), "--verbalizer_file",
            str(PROMPTING / "verbalizer.txt"), "--do_train", "--do_eval", "--do_predict", "--output_dir", str(out),
            "--max_steps", "2", "--per_device_train_batch_size", "4", "--eval_strategy", "no", "--save_strategy",
            "no", "--load_best_model_at_end", "false", "--use_cpu", "--disable_tqdm", "true", "--report_to", "none"]
    with pytest.raises(ArgumentError, match=r"hub \(split 'train'\) has no column 'text' \(its columns: sentence, "
                                            r"label\); name the column with --text_column"):
        load_recipe("pet").main(argv)
    results = load_recipe("pet").main(argv + ["--text_column", "sentence", "--train_sampling_strategy",
                                              "group_by_length"])  # with the length column
    assert {"train", "eval", "test"} <= set(results)
    assert f"dataset_name: {folder}" in (out / "run_config.yaml").read_text(encoding="utf-8")
    predicted = (out / "predict_results.tsv").read_text(encoding="utf-8").splitlines()[1:]
    texts = [line.split("\t")[1] for line in (PROMPTING / "test.txt").read_text(encoding="utf-8").splitlines()]
    assert [row.split("\t")[1] for row in predicted] == texts


def test_class_labels_are_read_by_name(tmp_path, tokenizer):  # noqa: F811
    data_args = PromptDataArguments(dataset_name=str(hub_folder(tmp_path)), text_column="sentence")
    split = load_prompt_splits(data_args, stages(), TEMPLATE)["train"]
    check_prompt_split(split, TEMPLATE, LABELS, training=True)
    encoded = encode_prompt_split(split, TEMPLATE, tokenizer, LabelMap(LABELS), lm_type="masked", blank_length=3,
                                  max_length=64, data_args=data_args, desc="template")
    expected = [LABELS.index(line.split("\t")[0])
                for line in (PROMPTING / "train.txt").read_text(encoding="utf-8").splitlines()]
    assert encoded.dataset["labels"] == expected


def test_the_map_writes_what_encode_prompts_writes_and_a_rerun_loads_the_cache(tmp_path, tokenizer):  # noqa: F811
    path = tmp_path / "train.txt"
    path.write_bytes((PROMPTING / "train.txt").read_bytes())
    data_args = PromptDataArguments(train_file=str(path))

    def encoded():
        split = load_prompt_splits(data_args, stages(), TEMPLATE)["train"]
        return encode_prompt_split(split, TEMPLATE, tokenizer, LabelMap(LABELS), lm_type="masked", blank_length=3,
                                   max_length=20, data_args=data_args, desc="template").dataset

    first = encoded()
    expected = encode_prompts(read_records(path, FIELDS, optional=("text_b",)), TEMPLATE, tokenizer,
                              lm_type="masked", blank_length=3, max_length=20, label_map=LabelMap(LABELS))
    assert first.to_dict() == expected
    [cache] = {f["filename"] for f in first.cache_files}
    written = os.stat(cache).st_mtime_ns
    second = encoded()
    assert {f["filename"] for f in second.cache_files} == {cache}
    assert os.stat(cache).st_mtime_ns == written  # loaded, not encoded and written again


def test_a_label_outside_the_verbalizer_names_the_line_or_the_row(tmp_path):
    path = tmp_path / "train.txt"
    path.write_text("水果\t苹果很甜\n电器\t冰箱很好\n", encoding="utf-8")
    split = load_prompt_splits(PromptDataArguments(train_file=str(path)), stages(), TEMPLATE)["train"]
    with pytest.raises(DataFormatError, match=r"train.txt, line 2: label '电器' is not in the verbalizer \(it has 水果, "
                                              r"电脑\); add a line 电器<TAB>word"):
        check_prompt_split(split, TEMPLATE, ["水果", "电脑"])
    datasets.Dataset.from_dict({"text": ["苹果很甜", "冰箱很好"], "label": ["水果", "电器"]}).save_to_disk(tmp_path / "saved")
    split = load_prompt_splits(PromptDataArguments(dataset_name=str(tmp_path / "saved")), stages(), TEMPLATE)["train"]
    with pytest.raises(DataFormatError, match=r"saved \(split 'train'\): row 2: label '电器' is not in the verbalizer"):
        check_prompt_split(split, TEMPLATE, ["水果", "电脑"])


def test_a_second_text_template_needs_the_second_text(tmp_path):
    path = tmp_path / "train.txt"
    path.write_text("水果\t苹果很甜\t很好\n水果\t香蕉\n", encoding="utf-8")
    template = Template("{textA}{MASK}{textB}")
    split = load_prompt_splits(PromptDataArguments(train_file=str(path)), stages(), template)["train"]
    with pytest.raises(DataFormatError, match=r"train.txt, line 2: the template .* has \{textB\}, and this example has "
                                              r"no second text"):
        check_prompt_split(split, template, ["水果"])
    datasets.Dataset.from_dict({"text": ["苹果很甜"], "label": ["水果"]}).save_to_disk(tmp_path / "saved")
    with pytest.raises(ArgumentError, match=r"has no column 'text_b' .*name the column with --text_b_column"):
        load_prompt_splits(PromptDataArguments(dataset_name=str(tmp_path / "saved")), stages(), template)
