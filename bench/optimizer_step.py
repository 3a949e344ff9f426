#!/usr/bin/env python
"""Benchmark: what one optimizer step costs with multilingual-e5-small's word embeddings trained and frozen.

The recipes' optimizer (transformers' default for the run: fused AdamW on a CPU) and gradient clipping at 1.0, as
``Trainer`` runs them after each backward pass, on the encoder's parameters with gradients already in place; the
median of five steps after a first one. Tells how much of a training step's cost with trained embeddings is the
update of their 96M weights (bench/defaults.py measures whole steps).

    python bench/optimizer_step.py [--steps 6]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch
from common import models_dir, print_table, save
from transformers import AutoModel, Trainer, TrainingArguments


def step_seconds(model_path, frozen: bool, steps: int) -> tuple[float, float, str]:
    model = AutoModel.from_pretrained(model_path)
    if frozen:
        model.get_input_embeddings().requires_grad_(False)
    args = TrainingArguments(tempfile.mkdtemp(prefix="bench_optimizer_"), use_cpu=True, report_to="none")
    optimizer_cls, kwargs = Trainer.get_optimizer_cls_and_kwargs(args, model)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = optimizer_cls(params, **kwargs)
    times = []
    for _ in range(steps):
        for p in params:
            p.grad = torch.randn_like(p) * 1e-3
        start = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(params, args.max_grad_norm)
        optimizer.step()
        times.append(time.perf_counter() - start)
        optimizer.zero_grad(set_to_none=True)
    name = f"{optimizer_cls.__name__}" + (" (fused)" if kwargs.get("fused") else "")
    return sum(p.numel() for p in params) / 1e6, statistics.median(times[1:]), name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=6)
    args = parser.parse_args()
    model = models_dir() / "multilingual-e5-small"
    if not model.is_dir():
        print(f"SKIP: model {model} not found (run ../shared/tools/prepare_models.py or set $PLM_MODELS)")
        return
    rows = []
    for frozen in (False, True):
        trained, seconds, name = step_seconds(model, frozen, args.steps)
        rows.append({"word_embeddings": "frozen" if frozen else "trained", "weights_trained": f"{trained:.1f}M",
                     "optimizer": name, "clip+step_s": f"{seconds:.3f}"})
    print_table(rows, [(k, k) for k in rows[0]])
    print("results saved to", save("optimizer_step", {"args": vars(args), "rows": rows}, table=rows))


if __name__ == "__main__":
    main()
