"""Runs that cannot learn (plm_recipes.sanity): the watch over the trainable parameters that warns after a run that
changed none, the distinct-values check the families run on their training data, and the check of a checkpoint's
files before resuming from it."""

from __future__ import annotations

import shutil

import pytest
import torch
from helpers import DATA, load_recipe

from plm_recipes.errors import DataFormatError
from plm_recipes.sanity import ParameterWatch, check_checkpoint_files, require_distinct

TC = DATA / "classification"


def classification_args(model, out, *extra):
    return ["--model_name_or_path", str(model), "--train_file", str(TC / "train.txt"), "--label_mapping_file",
            str(TC / "label_mapping.txt"), "--do_train", "--output_dir", str(out), "--use_cpu", "--disable_tqdm",
            "true", "--eval_strategy", "no", "--load_best_model_at_end", "false", "--log_level", "error", *extra]


def test_the_watch_tells_a_run_that_changed_nothing_from_one_that_learned():
    model = torch.nn.Sequential(torch.nn.Linear(4, 300), torch.nn.Linear(300, 2))
    watch = ParameterWatch(model, samples=8)
    assert watch.changed() == ([], 4) and watch.warn_if_unchanged(steps=3)
    with torch.no_grad():
        model[1].weight[1, 299] += 1.0  # one element no evenly spaced sample may see: the tensor's sum does
    assert watch.changed() == (["1.weight"], 4) and not watch.warn_if_unchanged(steps=3)
    model[1].requires_grad_(False)  # frozen after the snapshot (as create_optimizer freezes): not compared
    assert watch.changed() == ([], 2)
    model.requires_grad_(False)
    assert watch.warn_if_unchanged(steps=3)  # every weight frozen
    assert not watch.warn_if_unchanged(steps=0)  # no step was taken: nothing to say


def test_the_watch_reaches_the_last_element_of_a_large_matrix():
    # 2**24 + 4 values: a float32 linspace to the last index (2**24 + 3) rounds past it, as it did on e5's
    # 96M-value embedding matrix (an IndexError before the first step)
    weight = torch.nn.Parameter(torch.zeros(2**24 + 4))
    watch = ParameterWatch(torch.nn.ParameterList([weight]))
    with torch.no_grad():
        weight[-1] = 1.0  # only the last element moves
    assert watch.changed()[0] == ["0"]


def test_a_recipe_run_that_changes_no_weight_is_warned_about(tiny_bert, tmp_path, capsys):
    recipe = load_recipe("text_classification")
    recipe.main(classification_args(tiny_bert, tmp_path / "zero", "--max_steps", "2", "--learning_rate", "0",
                                    "--log_level", "warning"))
    printed = capsys.readouterr().out  # the recipes log to stdout, as transformers' examples do
    assert "Training ran 2 steps and changed none of the" in printed and "the learning rate was 0" in printed
    recipe.main(classification_args(tiny_bert, tmp_path / "learns", "--max_steps", "2", "--learning_rate", "1e-3",
                                    "--log_level", "warning"))
    assert "changed none of the" not in capsys.readouterr().out


def test_require_distinct():
    assert require_distinct(["a", "b", "a"], "train.txt", "label", "why") == 2
    with pytest.raises(DataFormatError, match=r"^train.txt: 1 distinct label \('a'\); a classifier needs two, so "
                                              r"training needs at least 2$"):
        require_distinct(["a", "a"], "train.txt", "label", "a classifier needs two")
    with pytest.raises(DataFormatError, match=r"0 distinct sentences; .* at least 3"):
        require_distinct([], "s.txt", "sentence", "x", minimum=3)


def test_a_cut_off_checkpoint_file_is_named_before_resuming(tiny_bert, tmp_path):
    checkpoint = tmp_path / "checkpoint-2"
    checkpoint.mkdir()
    torch.save({"state": {}, "param_groups": []}, checkpoint / "optimizer.pt")
    shutil.copy(tiny_bert / "model.safetensors", checkpoint / "model.safetensors")
    check_checkpoint_files(checkpoint)  # whole files pass
    check_checkpoint_files(None)
    for name in ("optimizer.pt", "model.safetensors"):
        good = (checkpoint / name).read_bytes()
        (checkpoint / name).write_bytes(good[: len(good) * 2 // 3])
        with pytest.raises(DataFormatError, match=rf"{name}: damaged or incomplete .*start over: drop "
                                                  r"--resume_from_checkpoint and pass --overwrite_output_dir"):
            check_checkpoint_files(checkpoint)
        (checkpoint / name).write_bytes(good)


def test_lora_targets_that_match_nothing_are_refused():
    from peft import LoraConfig
    from transformers import LlamaConfig, LlamaForCausalLM

    from plm_recipes.errors import ArgumentError
    from plm_recipes.sanity import check_lora_targets

    model = LlamaForCausalLM(LlamaConfig(vocab_size=32, hidden_size=16, intermediate_size=24, num_hidden_layers=2,
                                         num_attention_heads=2, num_key_value_heads=2))
    check_lora_targets(model, LoraConfig(target_modules=["q_proj", "v_proj"], layers_to_transform=[0, 1]))
    check_lora_targets(model, LoraConfig(target_modules="all-linear"))
    check_lora_targets(model, None)  # no LoRA
    with pytest.raises(ArgumentError, match=r"--lora_target_modules: query matches no module of LlamaForCausalLM; "
                                            r"its linear layers are down_proj, gate_proj, k_proj, o_proj, q_proj"):
        check_lora_targets(model, LoraConfig(target_modules=["q_proj", "query"]))
    with pytest.raises(ArgumentError, match=r"--lora_target_modules: dense, qkv match no module"):
        check_lora_targets(model, LoraConfig(target_modules=["qkv", "dense"]))
    for layers, beyond in (([1, 2, 3], "2,3"), (5, "5")):
        with pytest.raises(ArgumentError, match=rf"--lora_layers {beyond}: LlamaForCausalLM has 2 layers, numbered "
                                                r"0 to 1"):
            check_lora_targets(model, LoraConfig(target_modules=["q_proj"], layers_to_transform=layers))
