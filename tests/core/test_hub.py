"""Pushing to the Hub with no Hub: the run saves everything locally first, then the push fails in one line that
names the command pushing the saved folder later. A push that reaches the Hub is not exercised here (no network)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest
from datasets import Dataset
from helpers import DATA, ROOT, load_recipe
from huggingface_hub import ModelCard, constants
from test_trainer_mixin import (  # noqa: F401 (tokenizer: the fixture)
    TEXTS,
    LlamaForSequenceClassification,
    PPORecipeConfig,
    RecipePPOTrainer,
    RecipeSFTTrainer,
    SFTRecipeConfig,
    card,
    tiny_llama,
    tokenizer,
)

from plm_recipes import cli
from plm_recipes.hub import HubPushError, push_command, push_folder

TC = DATA / "classification"


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)


@pytest.fixture
def unreachable_hub(monkeypatch):
    """Online mode, with the Hub's endpoint a closed local port (so no request leaves the machine)."""
    endpoint = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    monkeypatch.setattr(constants, "ENDPOINT", endpoint)
    monkeypatch.setenv("HF_TOKEN", "hf_not_a_real_token")
    return endpoint


@pytest.mark.parametrize("hub", ["offline", "unreachable_hub"])
def test_push_folder_fails_in_one_line_naming_the_later_command(hub, request, tmp_path):
    request.getfixturevalue(hub)
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(HubPushError) as raised:
        push_folder(tmp_path, "someone/tiny", private=True)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"push of {tmp_path} to the Hub repo someone/tiny failed (")
    assert message.endswith(f"push it later with `plm-recipes push --model {tmp_path} --repo_id someone/tiny "
                            "--private`")
    assert ("offline mode is enabled" if hub == "offline" else "Connection refused") in message
    assert raised.value.exit_code == 3
    assert os.listdir(tmp_path) == ["config.json"]  # untouched


def test_push_command_quotes_paths():
    assert push_command("my models/a b", "me/x") == "plm-recipes push --model 'my models/a b' --repo_id me/x"


def test_push_of_a_missing_folder(offline, tmp_path):
    with pytest.raises(HubPushError, match="nothing to push: .* is not a folder"):
        push_folder(tmp_path / "nope", "me/x")


def test_cli_push_offline_is_one_line_and_exit_code_3(offline, tmp_path, capsys):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(SystemExit) as exited:
        cli.main(["push", "--model", str(tmp_path), "--repo_id", "me/x", "--commit_message", "first"])
    assert exited.value.code == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: push of") and "plm-recipes push --model" in err[0]


def _classification_args(model, out, *extra):
    return [
        "--model_name_or_path", str(model), "--train_file", str(TC / "train.txt"),
        "--validation_file", str(TC / "dev.txt"), "--label_mapping_file", str(TC / "label_mapping.txt"),
        "--do_train", "--do_eval", "--output_dir", str(out), "--max_steps", "2", "--eval_strategy", "no",
        "--save_strategy", "no", "--load_best_model_at_end", "false", "--use_cpu", "--disable_tqdm", "true",
        "--report_to", "none", *extra,
    ]


def test_recipe_saves_then_push_fails_in_one_line(tiny_bert, tmp_path, offline):
    # transformers' Trainer would create the repo in __init__ (a traceback before training); the recipe trains,
    # saves, writes the card, then fails to push
    out = tmp_path / "model"
    with pytest.raises(HubPushError) as raised:
        load_recipe("text_classification").main(_classification_args(
            tiny_bert, out, "--push_to_hub", "--hub_model_id", "someone/tnews-tiny"))
    assert f"push it later with `plm-recipes push --model {out} --repo_id someone/tnews-tiny`" in str(raised.value)
    for name in ("model.safetensors", "config.json", "README.md", "run_config.yaml", "eval_results.json"):
        assert (out / name).is_file(), name
    assert not (out / ".plm-recipes.lock").exists()
    assert json.loads((out / "training_args.json").read_text())["push_to_hub"] is True  # as it was given
    assert "push_to_hub: true" in (out / "run_config.yaml").read_text()
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "# someone/tnews-tiny" in card and 'pipeline("text-classification", model="someone/tnews-tiny")' in card


def test_repo_id_defaults_to_the_folder_name(tiny_bert, tmp_path, offline):
    out = tmp_path / "my-model"
    with pytest.raises(HubPushError, match="--repo_id my-model`$"):
        load_recipe("text_classification").main(_classification_args(tiny_bert, out, "--push_to_hub"))


def test_sentence_transformers_recipe_pushes_after_the_save(tiny_bert, tmp_path, offline):
    out = tmp_path / "simcse"
    S = DATA / "sentence_embedding"
    with pytest.raises(HubPushError, match="--repo_id me/simcse-tiny`$"):
        load_recipe("simcse").main([
            "--model_name_or_path", str(tiny_bert), "--train_file", str(S / "sentences.txt"), "--do_train",
            "--output_dir", str(out), "--max_steps", "2", "--per_device_train_batch_size", "8",
            "--eval_strategy", "no", "--save_strategy", "no", "--load_best_model_at_end", "false", "--use_cpu",
            "--disable_tqdm", "true", "--push_to_hub", "--hub_model_id", "me/simcse-tiny",
        ])
    assert (out / "modules.json").is_file() and (out / "model.safetensors").is_file()
    assert (out / "README.md").is_file()


def test_recipe_command_with_an_unreachable_hub(tiny_bert, tmp_path):
    """The recipe as a person runs it: exit code 3 after the local save, one line on stderr, no traceback."""
    out = tmp_path / "model"
    env = {**os.environ, "HF_HUB_OFFLINE": "0", "HF_ENDPOINT": f"http://127.0.0.1:{closed_port()}",
           "HF_TOKEN": "hf_not_a_real_token"}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "recipes" / "text_classification.py"),
         *_classification_args(tiny_bert, out, "--push_to_hub", "--hub_model_id", "me/tiny", "--log_level", "error")],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert proc.returncode == 3, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: push of {out} to the Hub repo me/tiny failed ([Errno 111] Connection refused); the "
                      f"model is saved in {out}: push it later with `plm-recipes push --model {out} --repo_id "
                      "me/tiny`"]
    assert (out / "model.safetensors").is_file() and (out / "README.md").is_file()


# --- TRL's trainers create the repo in __init__ too -------------------------------------------------------


def test_trl_sft_trainer_pushes_after_the_save(offline, tokenizer, tmp_path):  # noqa: F811
    args = SFTRecipeConfig(str(tmp_path / "out"), max_steps=1, per_device_train_batch_size=4, use_cpu=True,
                           report_to="none", save_strategy="no", disable_tqdm=True, max_length=32,
                           push_to_hub=True, hub_model_id="me/sft-tiny")
    trainer = RecipeSFTTrainer(model=tiny_llama(tokenizer), args=args, processing_class=tokenizer,
                               train_dataset=Dataset.from_dict({"text": TEXTS}), model_card=card("llm_sft"))
    trainer.train_and_report(len(TEXTS))
    with pytest.raises(HubPushError, match="--repo_id me/sft-tiny`$"):
        trainer.finish(tags=["sft"])
    assert (tmp_path / "out" / "model.safetensors").is_file() and (tmp_path / "out" / "README.md").is_file()


def test_trl_ppo_trainer_with_positional_args_pushes_after_the_save(offline, tokenizer, tmp_path):  # noqa: F811
    prompts = Dataset.from_dict({"input_ids": [tokenizer(t[:3], add_special_tokens=False)["input_ids"] for t in TEXTS]})
    args = PPORecipeConfig(str(tmp_path / "out"), total_episodes=4, per_device_train_batch_size=4, num_mini_batches=1,
                           response_length=4, num_ppo_epochs=1, use_cpu=True, report_to="none", save_strategy="no",
                           disable_tqdm=True, num_sample_generations=0, local_rollout_forward_batch_size=4,
                           push_to_hub=True)
    reward = tiny_llama(tokenizer, LlamaForSequenceClassification, num_labels=1)
    value = tiny_llama(tokenizer, LlamaForSequenceClassification, num_labels=1)
    # PPOTrainer(args, processing_class, model, ref_model, reward_model, train_dataset, value_model)
    trainer = RecipePPOTrainer(args, tokenizer, tiny_llama(tokenizer), tiny_llama(tokenizer), reward, prompts, value,
                               model_card=card("rlhf_sentiment"))
    trainer.train_and_report(len(prompts))
    with pytest.raises(HubPushError, match="--repo_id out`$"):
        trainer.finish(tags=["ppo"])
    assert (tmp_path / "out" / "model.safetensors").is_file()



def test_push_command_makes_the_card_name_the_repo(offline, tmp_path, capsys):
    from plm_recipes.modelcard import ModelCardInfo, render_model_card

    folder = tmp_path / "outputs" / "tc"
    folder.mkdir(parents=True)
    info = ModelCardInfo(recipe="text_classification", pipeline_tag="text-classification",
                         base_model="bert-base-chinese", data_files={"validation": "dev.txt"},
                         metrics={"validation": {"eval_f1": 0.5}}, usage=load_recipe("text_classification").USAGE)
    (folder / "README.md").write_text(render_model_card(info, model_name=str(folder), hyperparameters={}),
                                      encoding="utf-8")
    with pytest.raises(SystemExit):
        cli.main(["push", "--model", str(folder), "--repo_id", "me/tc"])
    card = (folder / "README.md").read_text(encoding="utf-8")
    assert str(folder) not in card
    assert "# me/tc\n" in card and 'pipeline("text-classification", model="me/tc")' in card
    assert "--model me/tc --text" in card
    assert ModelCard(card).data.model_name == "me/tc"  # the model-index's name
