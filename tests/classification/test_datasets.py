"""Text classification from a dataset (--dataset_name: a local folder laid out as a Hub dataset repository), the
tokenization cache on a rerun, and memory that does not grow with the training file."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import datasets
import pytest
import yaml
from helpers import ROOT

from plm_recipes.errors import ArgumentError

FEATURES = datasets.Features({"sentence": datasets.Value("string"),
                              "category": datasets.ClassLabel(names=["水果", "电脑", "书籍"])})
ROWS = {"sentence": ["苹果很甜", "电脑很快", "这本书好看", "香蕉很新鲜", "笔记本电脑", "小说写得好"] * 4,
        "category": [0, 1, 2, 0, 1, 2] * 4}


@pytest.fixture(scope="module")
def hub_dataset(tmp_path_factory):
    """A dataset repository as `huggingface-cli download --repo-type dataset` leaves it: parquet under data/."""
    folder = tmp_path_factory.mktemp("hub") / "user--comments"
    (folder / "data").mkdir(parents=True)
    dataset = datasets.Dataset.from_dict(ROWS, features=FEATURES)
    dataset.to_parquet(folder / "data" / "train-00000-of-00001.parquet")
    dataset.select(range(6)).to_parquet(folder / "data" / "validation-00000-of-00001.parquet")
    dataset.select(range(3)).remove_columns("category").to_parquet(folder / "data" / "test-00000-of-00001.parquet")
    return folder


def dataset_args(model, folder, out, *extra):
    return ["--model_name_or_path", str(model), "--dataset_name", str(folder),
            "--text_column", "sentence", "--label_column", "category",
            "--do_train", "--do_eval", "--do_predict", "--output_dir", str(out), "--num_train_epochs", "1",
            "--use_cpu", "--disable_tqdm", "true", "--report_to", "none", *extra]


def test_trains_on_a_dataset_folder_with_its_class_label_names(tiny_bert, hub_dataset, tmp_path, recipe):
    out = tmp_path / "model"
    results = recipe("text_classification").main(dataset_args(tiny_bert, hub_dataset, out))
    assert results["train"]["train_samples"] == 24
    config = json.loads((out / "config.json").read_text())
    assert [config["id2label"][str(i)] for i in range(3)] == ["水果", "电脑", "书籍"]  # the ClassLabel's names
    run = yaml.safe_load((out / "run_config.yaml").read_text(encoding="utf-8"))
    assert run["dataset_name"] == str(hub_dataset)
    predictions = (out / "predict_results.tsv").read_text(encoding="utf-8").splitlines()
    assert [line.split("\t")[1] for line in predictions[1:]] == ROWS["sentence"][:3]  # the test split, no labels
    assert str(hub_dataset.name) in (out / "README.md").read_text(encoding="utf-8")


def test_a_missing_column_names_the_columns_and_the_flag(tiny_bert, hub_dataset, tmp_path, recipe):
    args = dataset_args(tiny_bert, hub_dataset, tmp_path / "m")
    args[args.index("--text_column") + 1] = "text"
    with pytest.raises(ArgumentError, match=r"has no column 'text' \(its columns: sentence, category\); name the "
                                            r"column with --text_column"):
        recipe("text_classification").main(args)


def test_a_second_run_tokenizes_nothing(tiny_bert, tmp_path, recipe):
    train = tmp_path / "train.txt"
    train.write_text("".join(f"{'水果' if i % 2 else '电脑'}\t第{i}个苹果电脑\n" for i in range(64)), encoding="utf-8")
    args = ["--model_name_or_path", str(tiny_bert), "--train_file", str(train), "--do_train", "--max_steps", "1",
            "--eval_strategy", "no", "--save_strategy", "no", "--load_best_model_at_end", "false",
            "--use_cpu", "--disable_tqdm", "true", "--report_to", "none", "--overwrite_output_dir"]
    recipe("text_classification").main([*args, "--output_dir", str(tmp_path / "a")])
    written = _cache_files(train)
    assert len(written) >= 3  # the file as read, its label ids, its tokens
    recipe("text_classification").main([*args, "--output_dir", str(tmp_path / "b")])
    assert _cache_files(train) == written  # nothing read, encoded or tokenized again


def _cache_files(data_file) -> dict[str, int]:
    """The datasets cache files of ``data_file`` and of the maps over it, with their modification times."""
    from plm_recipes.data import file_dataset

    folder = os.path.dirname(file_dataset(data_file, ("label", "text")).cache_files[0]["filename"])
    return {f: os.stat(os.path.join(folder, f)).st_mtime_ns for f in os.listdir(folder) if f.endswith(".arrow")}


MEMORY_RUN = """
import resource, sys
sys.argv[1:] = {args!r}
import runpy
runpy.run_path({recipe!r}, run_name="__main__")
"""


def peak_rss_mb(tmp_path, model, lines: int) -> float:
    """Peak resident memory of a 1-step text classification run on a ``lines``-line training file."""
    train = tmp_path / f"train{lines}.txt"
    with open(train, "w", encoding="utf-8") as f:
        for i in range(lines):
            f.write(f"{('水果', '电脑', '书籍')[i % 3]}\t第{i}条评论说这个苹果电脑和书都很好用\n")
    args = ["--model_name_or_path", str(model), "--train_file", str(train), "--do_train", "--max_steps", "1",
            "--eval_strategy", "no", "--save_strategy", "no", "--load_best_model_at_end", "false",
            "--output_dir", str(tmp_path / f"out{lines}"), "--use_cpu", "--disable_tqdm", "true",
            "--report_to", "none", "--preprocessing_num_workers", "1"]
    code = MEMORY_RUN.format(args=args, recipe=str(ROOT / "recipes" / "text_classification.py"))
    code += "\nprint('PEAK_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    [line] = [line for line in done.stdout.splitlines() if line.startswith("PEAK_KB")]
    return int(line.split()[1]) / 1024


def test_peak_memory_does_not_grow_with_the_training_file(tiny_bert, tmp_path):
    """Memory, not time: 50,000 lines against 1,000. Records kept as Python objects cost ~1.4 KB a line (~68 MB
    here); Arrow data stays on disk, memory-mapped."""
    small = peak_rss_mb(tmp_path, tiny_bert, 1_000)
    large = peak_rss_mb(tmp_path, tiny_bert, 50_000)
    assert large - small < 25, f"peak RSS {small:.0f} MB -> {large:.0f} MB"


def test_a_hub_dataset_is_named_in_the_cards_metadata(tiny_bert, hub_dataset, tmp_path, recipe, monkeypatch):
    """A Hub id (served here from the local folder: there is no Hub) goes into the card's `datasets` and its
    model-index, which is what the Hub shows and links."""
    from huggingface_hub import ModelCard

    load = datasets.load_dataset
    monkeypatch.setattr(datasets, "load_dataset",
                        lambda name, *args, **kwargs: load(str(hub_dataset) if name == "user/comments" else name,
                                                           *args, **kwargs))
    out = tmp_path / "model"
    args = dataset_args(tiny_bert, hub_dataset, out, "--license", "apache-2.0")
    args[args.index("--dataset_name") + 1] = "user/comments"
    recipe("text_classification").main(args)
    card = ModelCard.load(out / "README.md")
    assert card.data.datasets == ["user/comments"] and card.data.license == "apache-2.0"
    [result, *_] = card.data.eval_results
    assert (result.dataset_type, result.dataset_name, result.dataset_split) == ("user/comments", "user/comments",
                                                                                "validation")
