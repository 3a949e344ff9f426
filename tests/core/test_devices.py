"""Device policy: what changes when a run trains on a CPU."""

from __future__ import annotations

import torch

from plm_recipes.devices import trl_cpu_defaults


def test_trl_cpu_defaults_turn_off_bf16_autocast_and_checkpointing_on_a_cpu(monkeypatch):
    off = {"bf16": False, "gradient_checkpointing": False}
    assert trl_cpu_defaults(["--use_cpu"]) == off
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert trl_cpu_defaults([]) == off
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert trl_cpu_defaults([]) == {} and trl_cpu_defaults(["--use_cpu"]) == off  # a GPU keeps TRL's defaults


def test_a_distributed_launch_without_an_accelerator_trains_on_the_cpu(monkeypatch):
    from plm_recipes import devices

    monkeypatch.setattr(devices, "has_accelerator", lambda: False)
    assert devices.launch_defaults({"WORLD_SIZE": "2", "LOCAL_RANK": "1"}) == {"use_cpu": True}
    assert devices.launch_defaults({"WORLD_SIZE": "1"}) == {} and devices.launch_defaults({}) == {}
    monkeypatch.setattr(devices, "has_accelerator", lambda: True)
    assert devices.launch_defaults({"WORLD_SIZE": "2"}) == {}  # GPUs: accelerate picks nccl as before


def test_accelerate_launch_of_several_cpu_processes_says_it_started_one(caplog):
    from plm_recipes.devices import launch_defaults

    assert launch_defaults({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500", "ACCELERATE_USE_CPU": "True"}) == {}
    assert "accelerate launch started one process" in caplog.text and "torchrun --nproc_per_node 2" in caplog.text
    caplog.clear()
    launch_defaults({"ACCELERATE_USE_CPU": "True"})  # --num_processes 1: nothing to say
    launch_defaults({"MASTER_ADDR": "127.0.0.1", "ACCELERATE_USE_CPU": "True", "PMI_SIZE": "2"})  # through MPI
    assert caplog.text == ""


def test_the_parser_applies_the_launch_defaults_to_training_arguments(monkeypatch, tmp_path):
    from transformers import TrainingArguments

    import plm_recipes.parsing as parsing

    monkeypatch.setattr(parsing, "launch_defaults", lambda: {"use_cpu": True})  # as under torchrun on a CPU
    (training,) = parsing.parse_args((TrainingArguments,), ["--output_dir", str(tmp_path)])
    assert training.use_cpu is True
    (training,) = parsing.parse_args((TrainingArguments,), ["--output_dir", str(tmp_path), "--use_cpu", "false"])
    assert training.use_cpu is False  # the user's flag wins
