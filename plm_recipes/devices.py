"""Device policy: settings that depend on what the run trains on (a GPU, or only a CPU)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import torch


def trl_cpu_defaults(argv: Sequence[str] | None) -> dict[str, Any]:
    """Defaults for a TRL trainer's config (``SFTConfig``, ``RLOOConfig``, ``PPOConfig``) when training runs on a
    CPU (no GPU, or ``--use_cpu``): TRL turns on ``bf16`` (autocast to bfloat16) and ``gradient_checkpointing``.
    On a CPU without bfloat16 instructions the autocast's matrix products fall back to PyTorch's generic,
    single-threaded kernel (on these 2-core machines a LoRA SFT step of qwen2.5-0.5b took minutes and the first
    RLOO step of gemma-3-270m did not finish in 25 minutes), and checkpointing recomputes activations to save
    accelerator memory; both are turned off. A flag on the command line or in ``--config`` still wins."""
    if torch.cuda.is_available() and "--use_cpu" not in (argv if argv is not None else sys.argv[1:]):
        return {}
    return {"bf16": False, "gradient_checkpointing": False}
