"""The SFT recipe's settings by TRL's names (``ModelConfig``: ``--use_peft``, ``--load_in_4bit`` ...) with the earlier
names still read, its data in TRL's forms (prompt / completion, messages) and the earlier one, and 4-/8-bit loading
refused in one line where it cannot run. No training here (test_sft.py trains)."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json

import pytest
import torch
from helpers import DATA

from plm_recipes.parsing import parse_args
from plm_recipes.errors import ArgumentError, DataFormatError
from plm_recipes.llm.arguments import (
    ChatModelArguments,
    InstructionDataArguments,
    LLMSFTConfig,
)
from plm_recipes.llm.data import prompt_and_answer, read_instructions

LLM = DATA / "llm"
SYSTEM = "你是助手。"


def parse(argv: list[str]):
    return parse_args((ChatModelArguments, InstructionDataArguments, LLMSFTConfig),
                      [*argv, "--output_dir", "unused", "--use_cpu", "--report_to", "none"])


# --- TRL's names, and the earlier ones -------------------------------------------------------------------------


def test_trl_model_config_flags_reach_the_lora_config():
    model_args, _, _ = parse(["--lora_r", "4", "--lora_alpha", "8", "--lora_target_modules", "q_proj", "v_proj",
                              "--use_rslora", "--lora_modules_to_save", "lm_head"])
    config = model_args.lora_config()
    assert (config.r, config.lora_alpha, config.use_rslora) == (4, 8, True)
    assert config.target_modules == {"q_proj", "v_proj"} and config.modules_to_save == ["lm_head"]
    assert parse([])[0].lora_config().target_modules == "all-linear"  # the recipe's default: every linear layer
    assert parse(["--use_peft", "false"])[0].lora_config() is None


def test_use_lora_is_read_as_use_peft_on_the_command_line_and_in_earlier_run_configs(tmp_path):
    assert parse(["--use_lora", "false"])[0].use_peft is False
    # what an earlier run_config.yaml of this recipe holds for the settings that were renamed or retyped
    earlier = tmp_path / "run_config.yaml"
    earlier.write_text("use_lora: false\nlora_target_modules: q_proj,v_proj\ndtype: null\nlora_r: 8\n"
                       "lora_layers: '1'\nmax_new_tokens: 4\n", encoding="utf-8")
    model_args, _, training_args = parse(["--config", str(earlier)])
    assert model_args.use_peft is False and model_args.use_lora is None  # the record keeps one name
    assert model_args.lora_target_modules == ["q_proj", "v_proj"] and model_args.lora_r == 8
    assert training_args.max_new_tokens == 4
    assert parse(["--config", str(earlier), "--use_peft"])[0].use_peft is True  # the command line wins


@pytest.mark.parametrize(("argv", "message"), [
    (["--load_in_4bit", "--load_in_8bit"], "--load_in_4bit and --load_in_8bit exclude each other"),
    (["--load_in_8bit", "--use_peft", "false"], "--load_in_8bit trains a LoRA adapter over quantized weights"),
    (["--lora_layers", "a,b"], "--lora_layers 'a,b': expected layer indices"),
])
def test_settings_that_cannot_work_together_are_one_line(argv, message):
    with pytest.raises(ArgumentError, match=message) as e:
        parse(argv)
    assert "\n" not in str(e.value)


# --- 4-bit / 8-bit loading -------------------------------------------------------------------------------------


def pretend(monkeypatch, gpu: bool, bitsandbytes: bool) -> None:
    """Make this machine look as if it had (or had not) a CUDA GPU and bitsandbytes."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpu)
    find_spec = importlib.util.find_spec
    spec = importlib.machinery.ModuleSpec("bitsandbytes", None) if bitsandbytes else None
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: spec if name == "bitsandbytes" else
                        find_spec(name, *a))


def test_quantized_loading_on_a_cpu_or_without_bitsandbytes_is_one_line(monkeypatch):
    pretend(monkeypatch, gpu=False, bitsandbytes=True)
    with pytest.raises(ArgumentError, match=r"^--load_in_4bit needs a CUDA GPU .* this machine has no CUDA GPU"):
        parse(["--load_in_4bit"])[0].model_kwargs()
    pretend(monkeypatch, gpu=True, bitsandbytes=True)
    with pytest.raises(ArgumentError, match="--load_in_8bit needs a CUDA GPU .* --use_cpu was given"):
        parse(["--load_in_8bit"])[0].model_kwargs(use_cpu=True)
    pretend(monkeypatch, gpu=True, bitsandbytes=False)
    with pytest.raises(ArgumentError, match="--load_in_4bit needs bitsandbytes, which is not installed: pip install"):
        parse(["--load_in_4bit"])[0].model_kwargs()


def test_quantized_loading_where_it_can_run_is_trls_bitsandbytes_config(monkeypatch):
    pretend(monkeypatch, gpu=True, bitsandbytes=True)
    kwargs = parse(["--load_in_4bit", "--dtype", "bfloat16", "--bnb_4bit_quant_type", "fp4",
                    "--use_bnb_nested_quant"])[0].model_kwargs()
    config = kwargs["quantization_config"]
    assert config.load_in_4bit and not config.load_in_8bit and config.bnb_4bit_quant_type == "fp4"
    assert config.bnb_4bit_use_double_quant and config.bnb_4bit_compute_dtype == torch.bfloat16
    assert kwargs["device_map"] == {"": 0} and kwargs["dtype"] == torch.bfloat16  # this process's GPU
    config = parse(["--load_in_8bit"])[0].model_kwargs()["quantization_config"]
    assert config.load_in_8bit and not config.load_in_4bit
    plain = parse([])[0].model_kwargs()
    assert "quantization_config" not in plain and "device_map" not in plain and plain["dtype"] == torch.float32


# --- data: TRL's forms and the earlier one ----------------------------------------------------------------------


def write_lines(path, rows) -> str:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def test_prompt_completion_and_messages_read_as_the_earlier_context_target(tmp_path):
    earlier = [json.loads(line) for line in (LLM / "instructions_train.jsonl").read_text(encoding="utf-8").splitlines()]
    chats = [([{"role": "user", "content": r["context"]}], r["target"]) for r in earlier]
    pairs = write_lines(tmp_path / "pairs.jsonl", [
        {"prompt": prompt, "completion": [{"role": "assistant", "content": answer}]} for prompt, answer in chats])
    conversations = write_lines(tmp_path / "messages.jsonl", [
        {"messages": [*prompt, {"role": "assistant", "content": answer}]} for prompt, answer in chats])
    expected = read_instructions(LLM / "instructions_train.jsonl", system=SYSTEM)
    assert expected[0]["prompt"][0] == {"role": "system", "content": SYSTEM}
    assert read_instructions(pairs, system=SYSTEM) == expected  # the same records TRL trains on
    messages = read_instructions(conversations, system=SYSTEM)
    assert [m["messages"] for m in messages] == [r["prompt"] + r["completion"] for r in expected]
    assert all(m["chat_template_kwargs"] == {"enable_thinking": False} for m in messages)
    assert [prompt_and_answer(m) for m in messages] == [prompt_and_answer(r) for r in expected]
    plain = write_lines(tmp_path / "plain.jsonl", [{"prompt": "1 + 1 =", "completion": " 2"}])
    assert read_instructions(plain, system=SYSTEM) == [{"prompt": "1 + 1 =", "completion": " 2"}]  # no chat


@pytest.mark.parametrize(("rows", "message"), [
    ([{"prompt": "a", "completion": "b"}, {"messages": [{"role": "assistant", "content": "b"}]}],
     r"line 2: a messages record in a file of prompt-completion records \(line 1\): one form per file"),
    ([{"prompt": [{"role": "user", "content": "a"}], "completion": [{"role": "assistant", "content": "b"}]},
      {"prompt": "a", "completion": "b"}],
     "line 2: a prompt-completion record in a file of conversational prompt-completion records"),
    ([{"prompt": "a", "completion": [{"role": "assistant", "content": "b"}]}], "line 1: 'prompt' must be a non-empty list"),
    ([{"messages": [{"role": "user", "content": "a"}]}], "line 1: 'messages' has no assistant turn"),
    ([{"messages": [{"role": "user"}]}], "line 1: each message of 'messages' must be an object with a string"),
    ([{"prompt": "a"}], "line 1: 'prompt' and 'completion' must both be strings"),
    ([{"text": "a"}], r"line 1: found the keys \['text'\]; expected one JSON object per line"),
    ([{"context": "a"}], "line 1: 'target' is missing"),
])
def test_sft_data_errors_name_the_line(tmp_path, rows, message):
    with pytest.raises(DataFormatError, match=message):
        read_instructions(write_lines(tmp_path / "sft.jsonl", rows))
