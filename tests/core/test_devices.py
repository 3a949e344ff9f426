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
