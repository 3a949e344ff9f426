"""One set of LoRA settings for the recipes that train adapters (QA, LLM SFT), by TRL's names."""

from __future__ import annotations

import pytest
from transformers import HfArgumentParser

from plm_recipes.errors import ArgumentError
from plm_recipes.llm.arguments import ChatModelArguments
from plm_recipes.lora import ALL_LINEAR, LoraArguments
from plm_recipes.seq2seq import Seq2SeqRecipeConfig


def parse(*argv: str) -> LoraArguments:
    return HfArgumentParser(LoraArguments).parse_args_into_dataclasses(list(argv))[0]


def test_the_qa_and_sft_configs_share_the_settings():
    assert issubclass(ChatModelArguments, LoraArguments) and issubclass(Seq2SeqRecipeConfig, LoraArguments)
    assert ChatModelArguments().use_peft is True  # the SFT recipe trains an adapter by default, QA every weight
    assert Seq2SeqRecipeConfig(output_dir="x").use_peft is False


def test_target_modules_as_names_commas_or_all_linear():
    assert parse().lora_target_modules == ALL_LINEAR
    assert parse("--lora_target_modules", "q_proj", "v_proj").lora_target_modules == ["q_proj", "v_proj"]
    assert parse("--lora_target_modules", "q,v").lora_target_modules == ["q", "v"]  # the earlier form


def test_use_lora_is_the_earlier_name_of_use_peft():
    assert parse("--use_lora", "true").use_peft is True
    assert parse("--use_lora", "true").use_lora is None  # the record keeps use_peft only


@pytest.mark.parametrize(("argv", "message"), [
    (("--lora_r", "0"), "--lora_r and --lora_alpha must be 1 or more"),
    (("--lora_dropout", "1"), r"--lora_dropout must be in \[0, 1\)"),
    (("--lora_layers", "a,b"), "expected layer indices separated by commas"),
])
def test_bad_settings_are_refused(argv, message):
    with pytest.raises(ArgumentError, match=message):
        parse(*argv)


def test_lora_config_for_each_model_kind():
    assert parse().lora_config("CAUSAL_LM") is None  # no --use_peft
    config = parse("--use_peft", "--lora_r", "4", "--lora_target_modules", "q,v").lora_config("SEQ_2_SEQ_LM")
    assert (config.r, config.task_type, sorted(config.target_modules)) == (4, "SEQ_2_SEQ_LM", ["q", "v"])


def test_lora_layers_spell_out_all_linear_from_the_model():
    import torch

    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = torch.nn.ModuleList(torch.nn.ModuleDict({"q_proj": torch.nn.Linear(2, 2)}) for _ in range(2))
            self.lm_head = torch.nn.Linear(2, 3)

        def get_output_embeddings(self):
            return self.lm_head

    args = parse("--use_peft", "--lora_layers", "1")
    with pytest.raises(ArgumentError, match="needs the model"):
        args.lora_config("CAUSAL_LM")
    config = args.lora_config("CAUSAL_LM", Tiny())
    assert sorted(config.target_modules) == ["q_proj"] and config.layers_to_transform == [1]
