#!/usr/bin/env python
"""Benchmark (no training): what each way of batching does to the batches of a text classification training set.

For ``../shared/data/comment_classify/train.txt`` tokenized by multilingual-e5-small (max 128 tokens), over 20
epochs' orders (seeds 0-19), batch 16:

* ``random``: Trainer's random sampler, every batch padded to its longest text;
* ``group_by_length``: Trainer's ``LengthGroupedSampler`` (``--train_sampling_strategy group_by_length``);
* ``random, 4 pieces``: the random batches, each run as 4 length-sorted pieces padded to their own longest text
  (``--micro_batches_by_length 4``, ``plm_recipes.batching.split_by_length``): the optimizer sees the random
  batches.

Reports the classes per batch and the batches' label entropy (what the optimizer's batches are made of), and the
padded positions the model computes per epoch (rows x padded length, summed over batches and pieces).

    python bench/batch_composition.py [--data comment_classify] [--batch_size 16] [--pieces 4]
"""

from __future__ import annotations

import argparse
import collections
import math
import statistics

import torch
from common import print_table, require, save
from transformers import AutoTokenizer
from transformers.trainer_pt_utils import get_length_grouped_indices

from plm_recipes.batching import split_by_length


def label_entropy(labels: list[str]) -> float:
    counts = collections.Counter(labels)
    return -sum(c / len(labels) * math.log(c / len(labels)) for c in counts.values())


def describe(order: list[int], labels: list[str], lengths: list[int], batch_size: int, pieces: int) -> dict:
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    padded = 0
    for batch in batches:
        width = max(lengths[i] for i in batch)
        mask = torch.tensor([[1] * lengths[i] + [0] * (width - lengths[i]) for i in batch])
        parts = split_by_length({"attention_mask": mask}, pieces) if pieces > 1 else None
        padded += sum(p["attention_mask"].numel() for p in parts) if parts else mask.numel()
    return {"classes": statistics.mean(len(set(labels[i] for i in b)) for b in batches),
            "entropy": statistics.mean(label_entropy([labels[i] for i in b]) for b in batches),
            "padded": padded}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="comment_classify")
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--pieces", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=20)
    args = parser.parse_args()
    model, data = require("multilingual-e5-small", args.data)
    tokenizer = AutoTokenizer.from_pretrained(model)
    rows = [line.rstrip("\n").split("\t", 1) for line in open(data / "train.txt", encoding="utf-8") if "\t" in line]
    labels = [label for label, _ in rows]
    lengths = [len(ids) for ids in tokenizer([text for _, text in rows], truncation=True, max_length=128)["input_ids"]]
    by_class = collections.defaultdict(list)
    for label, length in zip(labels, lengths):
        by_class[label].append(length)
    print("median tokens per class:", ", ".join(f"{k}: {statistics.median(v):.0f}" for k, v in sorted(by_class.items())))

    measured = collections.defaultdict(list)
    for seed in range(args.epochs):
        generator = torch.Generator().manual_seed(seed)
        order = torch.randperm(len(rows), generator=generator).tolist()
        measured["random"].append(describe(order, labels, lengths, args.batch_size, 1))
        measured[f"random, {args.pieces} pieces"].append(describe(order, labels, lengths, args.batch_size,
                                                                  args.pieces))
        grouped = get_length_grouped_indices(lengths, args.batch_size, generator=torch.Generator().manual_seed(seed))
        measured["group_by_length"].append(describe(grouped, labels, lengths, args.batch_size, 1))
    table = [{"batching": name, "classes per batch": f"{statistics.mean(m['classes'] for m in runs):.2f}",
              "label entropy": f"{statistics.mean(m['entropy'] for m in runs):.3f}",
              "padded positions per epoch": f"{statistics.mean(m['padded'] for m in runs):.0f}"}
             for name, runs in measured.items()]
    table.append({"batching": "(no padding at all)", "padded positions per epoch": str(sum(lengths))})
    print_table(table, [(k, k) for k in table[0]])
    payload = {"args": vars(args), "rows": table,
               "median_tokens_per_class": {k: statistics.median(v) for k, v in by_class.items()}}
    print("results saved to", save("batch_composition", payload, table=table))


if __name__ == "__main__":
    main()
