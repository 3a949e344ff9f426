"""LoRA SFT with TRL's SFTTrainer (recipes/llm_sft.py) on the tiny random chat model (tiny_chat.py): end to end, the
saved adapter reloaded by the commands' loader and by PEFT alone, the run record rerunning the run, TRL's data forms
with every weight trained, and what cannot run here refused before any loading."""

from __future__ import annotations

import json
import re
import runpy

import numpy as np
import pytest
import torch
from helpers import DATA, load_recipe
from huggingface_hub import ModelCard, metadata_load

from plm_recipes.errors import ArgumentError
from plm_recipes.llm import TransformersBackend
from plm_recipes.llm.data import read_instructions

LLM = DATA / "llm"


def test_llm_sft_recipe_end_to_end_and_reload(tiny_chat, tmp_path, capsys):
    out = tmp_path / "sft"
    results = load_recipe("llm_sft").main([
        "--model_name_or_path", str(tiny_chat), "--train_file", str(LLM / "instructions_train.jsonl"),
        "--validation_file", str(LLM / "instructions_dev.jsonl"), "--test_file", str(LLM / "instructions_dev.jsonl"),
        "--do_train", "--do_eval", "--do_predict", "--output_dir", str(out), "--max_steps", "8",
        "--learning_rate", "5e-2", "--per_device_train_batch_size", "4", "--eval_strategy", "no",
        "--save_strategy", "no", "--load_best_model_at_end", "false", "--logging_steps", "2", "--use_cpu",
        "--disable_tqdm", "true", "--report_to", "none", "--max_new_tokens", "8", "--lora_r", "4",
        "--lora_alpha", "8", "--license", "apache-2.0"])
    assert results["train"]["train_samples"] == 8 and "eval_loss" in results["eval"]
    assert 0 <= results["test"]["test_exact_match"] <= 1
    for name in ("adapter_config.json", "adapter_model.safetensors", "run_config.yaml", "README.md",
                 "predictions.jsonl", "tokenizer_config.json"):
        assert (out / name).is_file(), name
    assert not (out / "model.safetensors").exists()  # the adapter only
    assert "global step " in capsys.readouterr().out
    # TRL's bf16 autocast and activation checkpointing are off on a CPU (a generic single-threaded kernel there)
    record = (out / "run_config.yaml").read_text(encoding="utf-8")
    assert "bf16: false" in record and "gradient_checkpointing: false" in record

    # the card as the Hub reads it (huggingface_hub's own parsers, offline): the base model, the license, and the run's
    # evaluation results in model-index; its usage snippet runs as written
    metadata = metadata_load(out / "README.md")
    assert (metadata["license"], metadata["base_model"]) == ("apache-2.0", tiny_chat.name)
    assert (metadata["library_name"], metadata["pipeline_tag"]) == ("peft", "text-generation")
    card = ModelCard.load(out / "README.md")
    found = {(r.dataset_split, r.metric_type): r for r in card.data.eval_results}
    assert ("validation", "num_tokens") not in found  # TRL's count of tokens trained on: no result of the model
    for split, metric, value in (("validation", "loss", results["eval"]["eval_loss"]),
                                 ("validation", "mean_token_accuracy", results["eval"]["eval_mean_token_accuracy"]),
                                 ("test", "exact_match", results["test"]["test_exact_match"])):
        result = found[split, metric]
        assert result.metric_value == pytest.approx(value), (split, metric)
        assert (result.task_type, result.dataset_name, result.dataset_type) == (
            "text-generation", "instructions_dev.jsonl", "json")
    [snippet] = re.findall(r"```python\n(.*?)```", card.text, re.DOTALL)
    (tmp_path / "usage.py").write_text(snippet, encoding="utf-8")
    runpy.run_path(str(tmp_path / "usage.py"))

    # reload through the commands' loader: the adapter over its base model, and it learned the training answers
    base = TransformersBackend.from_pretrained(str(tiny_chat), progress=False)
    tuned = TransformersBackend.from_pretrained(str(out), progress=False)
    records = read_instructions(LLM / "instructions_train.jsonl")
    prompts = [r["prompt"] for r in records]
    targets = [r["completion"][0]["content"] for r in records]
    gain = [tuned.score_options([p], [t])[0, 0] - base.score_options([p], [t])[0, 0] for p, t in zip(prompts, targets)]
    assert np.mean(gain) > 1.0, gain

    from peft import (
        AutoPeftModelForCausalLM,  # and with PEFT alone, as anyone downstream loads it
    )

    peft_model = AutoPeftModelForCausalLM.from_pretrained(str(out)).merge_and_unload()
    ids = torch.tensor([[5, 6, 7, 8]])
    with torch.no_grad():
        torch.testing.assert_close(peft_model(ids).logits, tuned.model(ids).logits, atol=1e-4, rtol=1e-4)


def test_llm_sft_config_runs_and_its_record_reruns_it(tiny_chat, tmp_path, monkeypatch):
    import yaml
    from helpers import ROOT

    monkeypatch.chdir(ROOT)  # the config names data/ paths relative to the repository
    first, second = tmp_path / "first", tmp_path / "second"
    results = load_recipe("llm_sft").main([
        "--config", "recipes/configs/llm_sft.yaml", "--model_name_or_path", str(tiny_chat),
        "--output_dir", str(first), "--max_steps", "2", "--use_cpu", "--disable_tqdm", "true", "--max_new_tokens", "4",
        "--lora_layers", "1",  # all-linear spelled out for the one layer
        "--report_to", "none"])
    assert {"train", "eval", "test"} <= set(results)
    record = yaml.safe_load((first / "run_config.yaml").read_text(encoding="utf-8"))
    assert record["lora_r"] == 16 and record["system_prompt"].startswith("你是") and record["lora_layers"] == "1"
    adapter = json.loads((first / "adapter_config.json").read_text(encoding="utf-8"))
    assert adapter["layers_to_transform"] == [1] and "q_proj" in adapter["target_modules"]
    card = (first / "README.md").read_text(encoding="utf-8")
    assert "- lora_layers: `1`" in card and "recipes/llm_sft.py" in card
    load_recipe("llm_sft").main(["--config", str(first / "run_config.yaml"), "--output_dir", str(second)])
    again = yaml.safe_load((second / "run_config.yaml").read_text(encoding="utf-8"))
    where = {"output_dir", "logging_dir", "run_name"}
    assert {k: v for k, v in again.items() if k not in where} == {k: v for k, v in record.items() if k not in where}


FAST = ["--max_steps", "2", "--use_cpu", "--disable_tqdm", "true", "--report_to", "none", "--eval_strategy", "no",
        "--save_strategy", "no", "--load_best_model_at_end", "false", "--max_new_tokens", "4"]


def write_lines(path, rows) -> str:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def test_trl_data_forms_with_every_weight_trained(tiny_chat, tmp_path):
    """messages to train, conversational prompt-completion to evaluate and answer; --use_lora false (the earlier
    name of --use_peft false) trains every weight: a full model folder, no adapter."""
    earlier = [json.loads(line) for line in (LLM / "instructions_train.jsonl").read_text(encoding="utf-8").splitlines()]
    train = write_lines(tmp_path / "train.jsonl", [{"messages": [{"role": "user", "content": r["context"]},
                                                                 {"role": "assistant", "content": r["target"]}]}
                                                   for r in earlier])
    test = write_lines(tmp_path / "test.jsonl", [{"prompt": [{"role": "user", "content": r["context"]}],
                                                  "completion": [{"role": "assistant", "content": r["target"]}]}
                                                 for r in earlier[:3]])
    out = tmp_path / "full"
    results = load_recipe("llm_sft").main([
        "--model_name_or_path", str(tiny_chat), "--train_file", train, "--validation_file", test, "--test_file", test,
        "--do_train", "--do_eval", "--do_predict", "--output_dir", str(out), "--use_lora", "false", *FAST])
    assert results["train"]["train_samples"] == len(earlier) and results["test"]["test_samples"] == 3
    assert (out / "model.safetensors").is_file() and not (out / "adapter_config.json").exists()
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["target"] for r in rows] == [r["target"] for r in earlier[:3]]
    assert "use_peft: false" in (out / "run_config.yaml").read_text(encoding="utf-8")
    TransformersBackend.from_pretrained(str(out), progress=False).generate([[{"role": "user", "content": "你好"}]], 2)


def test_what_cannot_run_is_refused_before_loading(tiny_chat, tmp_path):
    plain = write_lines(tmp_path / "plain.jsonl", [{"prompt": "1 + 1 =", "completion": " 2"}])
    with pytest.raises(ArgumentError, match="--do_predict answers chats: .*plain.jsonl has plain-text prompts"):
        load_recipe("llm_sft").main(["--model_name_or_path", str(tmp_path / "missing"), "--train_file", plain,
                                     "--test_file", plain, "--do_train", "--do_predict", "--output_dir",
                                     str(tmp_path / "out"), *FAST])
    if not torch.cuda.is_available():  # this machine: no GPU for bitsandbytes' 4-bit layers
        with pytest.raises(ArgumentError, match="^--load_in_4bit needs a CUDA GPU") as e:
            load_recipe("llm_sft").main(["--model_name_or_path", str(tmp_path / "missing"), "--train_file", plain,
                                         "--do_train", "--output_dir", str(tmp_path / "out"), "--load_in_4bit", *FAST])
        assert "\n" not in str(e.value)
