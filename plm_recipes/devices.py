"""Device policy: settings that depend on what the run trains on (a GPU, or only a CPU) and how it was launched."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import torch

logger = logging.getLogger(__name__)


def has_accelerator() -> bool:
    """Whether torch sees a GPU (CUDA or ROCm), an Intel XPU or Apple's MPS."""
    xpu = getattr(torch, "xpu", None)
    mps = getattr(torch.backends, "mps", None)
    return bool(torch.cuda.is_available() or (xpu is not None and xpu.is_available())
                or (mps is not None and mps.is_available()))


# the world size that MPI launchers (Intel MPI / MPICH, Open MPI, MVAPICH) give their processes
_MPI_SIZES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")


def launch_defaults(env: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """Training-argument defaults that follow from how the run was launched.

    Several processes (``torchrun --nproc_per_node 2``, ``WORLD_SIZE`` > 1) on a machine without an accelerator
    train on the CPU, joined by gloo: ``use_cpu`` true. Without it each process sets itself up alone ("rank 0, world
    size 1") and both then claim the output folder. A ``--use_cpu false`` given by the user still wins.

    And ``accelerate launch --num_processes 2`` on a CPU starts one process (accelerate's CPU launcher starts
    several only through MPI, ``--mpirun_hostfile``): that is said in a warning, with the command that starts two.
    """
    if int(env.get("WORLD_SIZE", "1") or 1) > 1:
        return {} if has_accelerator() else {"use_cpu": True}
    under_mpi = any(int(env.get(name, "1") or 1) > 1 for name in _MPI_SIZES)  # accelerate's MPI launch works
    asked_for_several = "MASTER_ADDR" in env and env.get("ACCELERATE_USE_CPU", "").lower() == "true"
    if asked_for_several and not under_mpi:  # accelerate's simple launcher sets MASTER_ADDR for num_processes > 1
        logger.warning("accelerate launch started one process: on a CPU it starts several only through MPI "
                       "(--mpirun_hostfile). For two processes without MPI: torchrun --nproc_per_node 2 "
                       "recipes/<recipe>.py ...")
    return {}


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
