"""Argument parsing: dataclass defaults < recipe defaults < --config file < command line."""

from __future__ import annotations

import json

import pytest
from transformers import TrainingArguments

from plm_recipes.args import DEFAULT_MODEL, DataArguments, ModelArguments
from plm_recipes.errors import ArgumentError
from plm_recipes.parsing import parse_args

TYPES = (ModelArguments, DataArguments, TrainingArguments)


def test_priority_of_defaults_config_and_command_line(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("learning_rate: 2e-5\nnum_train_epochs: 4\nmax_seq_length: 64\noutput_dir: from_yaml\n")
    model, data, training = parse_args(
        TYPES,
        ["--config", str(config), "--num_train_epochs", "7"],
        defaults={"learning_rate": 1e-3, "logging_steps": 3, "output_dir": "from_defaults"},
    )
    assert training.learning_rate == 2e-5  # YAML's "2e-5" is a string to PyYAML: converted like a flag
    assert training.num_train_epochs == 7  # the command line wins
    assert training.logging_steps == 3  # recipe default
    assert training.output_dir == "from_yaml"
    assert data.max_seq_length == 64
    assert model.model_name_or_path == DEFAULT_MODEL


def test_json_config(tmp_path):
    config = tmp_path / "run.json"
    config.write_text(json.dumps({"per_device_train_batch_size": 3, "pad_to_max_length": True}))
    _, data, training = parse_args(TYPES, ["--config", str(config)])
    assert training.per_device_train_batch_size == 3 and data.pad_to_max_length is True


def test_unknown_config_key_suggests_the_right_one(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("learning_rat: 1e-4\n")
    with pytest.raises(ArgumentError, match=r"--config .*run\.yaml: unknown argument 'learning_rat'; did you mean "
                                            r"learning_rate"):
        parse_args(TYPES, ["--config", str(config)])


def test_missing_config_file(tmp_path):
    with pytest.raises(ArgumentError, match="file not found"):
        parse_args(TYPES, ["--config", str(tmp_path / "nope.yaml")])


def test_missing_data_file(tmp_path):
    with pytest.raises(ArgumentError, match=r"--train_file .*nope\.txt: file not found"):
        parse_args(TYPES, ["--train_file", str(tmp_path / "nope.txt")])


def test_training_from_scratch_needs_a_tokenizer():
    with pytest.raises(ArgumentError, match="needs a tokenizer"):
        parse_args(TYPES, ["--config_name", "bert"])
    model, _, _ = parse_args(TYPES, ["--config_name", "bert", "--train_tokenizer_vocab_size", "100"])
    assert model.from_scratch and model.model_name_or_path is None


def test_config_overrides_only_from_scratch():
    with pytest.raises(ArgumentError, match="only applies when training from scratch"):
        parse_args(TYPES, ["--config_overrides", "hidden_size=8"])


def test_a_run_that_does_not_train_does_not_evaluate_during_training(tmp_path):
    from plm_recipes.args import TRAINING_DEFAULTS, data_files

    test_file = tmp_path / "test.txt"
    test_file.write_text("文本\n", encoding="utf-8")
    common = ["--output_dir", str(tmp_path / "out"), "--test_file", str(test_file)]
    # predicting with a trained model: no validation file needed, nothing evaluated or saved "during training"
    _, data, training = parse_args((ModelArguments, DataArguments, TrainingArguments), [*common, "--do_predict"],
                                   defaults=TRAINING_DEFAULTS)
    assert str(training.eval_strategy) in ("no", "IntervalStrategy.NO") and not training.do_eval
    assert not training.load_best_model_at_end
    assert data_files(data, training) == {"test": str(test_file)}
    # training keeps the recipe's defaults, and a setting the user gives is kept either way
    train_file = tmp_path / "train.txt"
    train_file.write_text("文本\n", encoding="utf-8")
    _, _, training = parse_args((ModelArguments, DataArguments, TrainingArguments),
                                [*common, "--do_train", "--train_file", str(train_file)], defaults=TRAINING_DEFAULTS)
    assert training.load_best_model_at_end and "epoch" in str(training.eval_strategy).lower()
    _, _, training = parse_args((ModelArguments, DataArguments, TrainingArguments),
                                [*common, "--do_predict", "--eval_strategy", "steps", "--save_strategy", "steps"],
                                defaults=TRAINING_DEFAULTS)
    assert "steps" in str(training.eval_strategy).lower()


def test_dataset_name_on_the_command_line_replaces_the_config_files_data_files_and_back(tmp_path):
    train = tmp_path / "train.txt"
    train.write_text("好\t很好\n", encoding="utf-8")
    config = tmp_path / "run.yaml"
    config.write_text(f"train_file: {train}\nvalidation_file: {train}\noutput_dir: out\n")
    _, data, _ = parse_args(TYPES, ["--config", str(config), "--dataset_name", "user/comments"])
    assert (data.dataset_name, data.train_file, data.validation_file) == ("user/comments", None, None)
    config.write_text("dataset_name: user/comments\noutput_dir: out\n")
    _, data, _ = parse_args(TYPES, ["--config", str(config), "--train_file", str(train)])
    assert (data.dataset_name, data.train_file) == (None, str(train))
    with pytest.raises(ArgumentError, match="either --dataset_name or data files"):
        parse_args(TYPES, ["--dataset_name", "user/comments", "--train_file", str(train), "--output_dir", "out"])
