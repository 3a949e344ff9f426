#!/usr/bin/env python
"""Benchmark baseline: a hand-written PyTorch training loop in the style of the older scripts.

The recipes in this project replaced the hand-written training scripts of HarderThenHarder/transformers_tasks
(``text_classification/train.py``, ``text_matching/supervised/train_pointwise.py``). This file is our own,
minimal re-implementation of the training procedure those scripts follow, written for this project, so the two
can be compared for speed and quality side by side on one machine with the same model and data:

* every text tokenized once, padded to ``--max_seq_length`` (no dynamic padding), rows read through ``datasets``
  and batched by a shuffling ``DataLoader`` with ``default_data_collator``;
* AdamW over all parameters (biases and LayerNorm weights without weight decay), a linear schedule with 6%
  warmup, and a bare loop: forward, cross-entropy, backward, optimizer step, scheduler step, zero_grad;
* classification: ``AutoModelForSequenceClassification``; matching (pointwise): ``AutoModel`` followed by
  dropout and a 2-way linear layer over the pooled output, on the pair ``description, comment``.

The older scripts evaluate every ``valid_steps`` steps; here the dev set is evaluated at the end of every epoch,
as the recipes' benchmarks do, and the best epoch is reported (classification: macro P/R/F1; matching: P/R/F1 of
class 1, prediction = argmax). Measured: training samples/s of the loop alone and of the loop plus evaluations
(what Trainer's ``train_samples_per_second`` covers), whole-process samples/s (from process start, imports,
model loading and evaluations included), eval samples/s and peak RSS. CPU only.

    python bench/reference_loop.py --task classification [--epochs 6] [--learning_rate 5e-5] [--batch_size 16]
                                   [--max_seq_length 128] [--seed 42]
    python bench/reference_loop.py --task matching [--train_file pairs.txt --validation_file dev.txt]
    python bench/reference_loop.py --task matching --max_steps 3 --max_eval_samples 32   # smoke test

Data: ``../shared/data/comment_classify`` (``label_id<TAB>text``) and ``../shared/data/comment_matching``
(``description<TAB>comment<TAB>0/1``, the 1416 training pairs as they are). Results: bench/results/<name>.json.
"""

from __future__ import annotations

import time

_MODULE_START = time.time()

import argparse  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402
from common import print_table, require, save  # noqa: E402
from datasets import load_dataset  # noqa: E402
from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402
from transformers import (  # noqa: E402
    AutoModel,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    default_data_collator,
    get_scheduler,
    set_seed,
)

DATA = {"classification": "comment_classify", "matching": "comment_matching"}
NO_DECAY = ("bias", "LayerNorm.weight")
INPUT_KEYS = ("input_ids", "token_type_ids", "attention_mask")


def process_start() -> float:
    """Epoch seconds at which this process started (from /proc), else when this module began running."""
    try:
        with open("/proc/self/stat", encoding="ascii") as f:
            started_ticks = int(f.read().rsplit(")", 1)[1].split()[19])  # field 22, starttime
        with open("/proc/uptime", encoding="ascii") as f:
            uptime = float(f.read().split()[0])
        started = time.time() - uptime + started_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return _MODULE_START
    return started if 0 <= _MODULE_START - started < 300 else _MODULE_START


class PointwiseMatcher(torch.nn.Module):
    """An encoder, then dropout and a linear layer to 2 logits (no match / match) over its pooled output."""

    def __init__(self, encoder: torch.nn.Module, dropout: float = 0.1):
        super().__init__()
        self.encoder = encoder
        self.dropout = torch.nn.Dropout(dropout)
        self.classifier = torch.nn.Linear(encoder.config.hidden_size, 2)

    def forward(self, **inputs) -> torch.Tensor:
        pooled = self.encoder(**inputs).pooler_output
        return self.classifier(self.dropout(pooled))


def encode_lines(lines: list[str], tokenizer, max_length: int, n_fields: int) -> dict:
    """Tokenize ``label<TAB>text`` (2 fields) or ``a<TAB>b<TAB>label`` (3 fields) lines, each padded to max_length.

    Malformed lines are reported and dropped."""
    out: dict[str, list] = {"labels": []}
    for line in lines:
        fields = line.split("\t")
        if len(fields) != n_fields:
            print(f"skipping malformed line: {line[:60]!r}")
            continue
        if n_fields == 2:
            label, encoded = fields[0], tokenizer(fields[1], truncation=True, max_length=max_length,
                                                  padding="max_length")
        else:
            label, encoded = fields[2], tokenizer(fields[0], fields[1], truncation=True, max_length=max_length,
                                                  padding="max_length")
        for key in INPUT_KEYS:
            if key in encoded:  # e5's XLM-R tokenizer gives no token_type_ids; a BERT tokenizer would
                out.setdefault(key, []).append(encoded[key])
        out["labels"].append(int(label))
    return out


def num_labels(label_mapping: Path, train_file: Path) -> int:
    if label_mapping.exists():
        return sum(1 for line in label_mapping.read_text(encoding="utf-8").splitlines() if line.strip())
    labels = [int(line.split("\t")[0]) for line in train_file.read_text(encoding="utf-8").splitlines() if line]
    return max(labels) + 1


def predict(model: torch.nn.Module, task: str, loader: DataLoader) -> tuple[list[int], list[int]]:
    model.eval()
    predictions, gold = [], []
    with torch.no_grad():
        for batch in loader:
            logits = forward(model, task, batch)
            predictions += logits.argmax(dim=-1).tolist()
            gold += batch["labels"].tolist()
    model.train()
    return predictions, gold


def forward(model: torch.nn.Module, task: str, batch: dict) -> torch.Tensor:
    inputs = {key: batch[key] for key in INPUT_KEYS if key in batch}
    return model(**inputs).logits if task == "classification" else model(**inputs)


def scores(task: str, predictions: list[int], gold: list[int]) -> dict:
    if task == "classification":
        p, r, f1, _ = precision_recall_fscore_support(gold, predictions, average="macro", zero_division=0)
        # the older script ranked evaluations by support-weighted F1; kept for reference
        extra = {"weighted_f1": f1_score(gold, predictions, average="weighted", zero_division=0)}
    else:
        p, r, f1, _ = precision_recall_fscore_support(gold, predictions, average="binary", pos_label=1,
                                                      zero_division=0)
        extra = {}
    return {"precision": float(p), "recall": float(r), "f1": float(f1),
            "accuracy": float(accuracy_score(gold, predictions)), **extra}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", choices=list(DATA), required=True)
    parser.add_argument("--epochs", type=int, default=6, help="The older scripts default to 10.")
    parser.add_argument("--learning_rate", type=float, default=5e-5,
                        help="5e-5: the older classification default, and the rate the pointwise script uses.")
    parser.add_argument("--batch_size", type=int, default=16, help="Training and evaluation, as the scripts do.")
    parser.add_argument("--max_seq_length", type=int, default=128)
    parser.add_argument("--weight_decay", type=float, default=0.0)
    parser.add_argument("--warmup_ratio", type=float, default=0.06)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--logging_steps", type=int, default=10)
    parser.add_argument("--max_steps", type=int, default=0, help="Stop after this many steps (smoke tests).")
    parser.add_argument("--max_eval_samples", type=int, default=0, help="Evaluate on the first N dev rows only.")
    parser.add_argument("--train_file", type=Path, help="Default: the task's train.txt.")
    parser.add_argument("--validation_file", type=Path, help="Default: the task's dev.txt.")
    parser.add_argument("--save_dir", type=Path,
                        help="Save a checkpoint at every evaluation and the best one, as the older scripts do "
                             "(off by default; the time counts as evaluation time).")
    parser.add_argument("--results_name", help="Saved as bench/results/<name>.json; default reference_loop_<task>.")
    args = parser.parse_args()
    model_path, data_path = require("multilingual-e5-small", DATA[args.task])
    train_file = args.train_file or data_path / "train.txt"
    validation_file = args.validation_file or data_path / "dev.txt"
    started = process_start()
    set_seed(args.seed)  # python, numpy and torch (torch.manual_seed): head init, dropout, shuffling
    device = torch.device("cpu")

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    if args.task == "classification":
        model = AutoModelForSequenceClassification.from_pretrained(
            model_path, num_labels=num_labels(data_path / "label_mapping.txt", train_file))
    else:
        model = PointwiseMatcher(AutoModel.from_pretrained(model_path))
    model.to(device)
    # from_pretrained leaves the encoder in eval mode; the older scripts only switch to train mode after their
    # first evaluation, so their first valid_steps steps ran without dropout. Here every step trains with dropout.
    model.train()

    n_fields = 2 if args.task == "classification" else 3
    raw = load_dataset("text", data_files={"train": str(train_file), "dev": str(validation_file)})
    data = raw.map(lambda rows: encode_lines(rows["text"], tokenizer, args.max_seq_length, n_fields),
                   batched=True, remove_columns=["text"])
    train_set, dev_set = data["train"], data["dev"]
    if args.max_eval_samples:
        dev_set = dev_set.select(range(min(args.max_eval_samples, len(dev_set))))
    train_loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True, collate_fn=default_data_collator)
    dev_loader = DataLoader(dev_set, batch_size=args.batch_size, collate_fn=default_data_collator)

    groups = [
        {"params": [p for n, p in model.named_parameters() if not any(k in n for k in NO_DECAY)],
         "weight_decay": args.weight_decay},
        {"params": [p for n, p in model.named_parameters() if any(k in n for k in NO_DECAY)], "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(groups, lr=args.learning_rate)
    total_steps = args.epochs * len(train_loader)
    if args.max_steps:
        total_steps = min(total_steps, args.max_steps)
    scheduler = get_scheduler("linear", optimizer, num_warmup_steps=int(args.warmup_ratio * total_steps),
                              num_training_steps=total_steps)
    criterion = torch.nn.CrossEntropyLoss()

    step, seen, train_s, eval_s, evaluated = 0, 0, 0.0, 0.0, 0
    losses: list[float] = []
    history: list[dict] = []
    best: dict | None = None
    for epoch in range(1, args.epochs + 1):
        tic = time.perf_counter()
        for batch in train_loader:
            batch = {key: value.to(device) for key, value in batch.items()}
            loss = criterion(forward(model, args.task, batch), batch["labels"])
            loss.backward()
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            losses.append(float(loss.detach()))
            step += 1
            seen += len(batch["labels"])
            if step % args.logging_steps == 0:
                print(f"step {step} epoch {epoch} loss {sum(losses) / len(losses):.5f} "
                      f"({step / (train_s + time.perf_counter() - tic):.2f} steps/s)", flush=True)
            if step >= total_steps:
                break
        train_s += time.perf_counter() - tic

        tic = time.perf_counter()
        result = {"epoch": epoch, "step": step, **scores(args.task, *predict(model, args.task, dev_loader))}
        history.append(result)
        print(f"epoch {epoch} step {step} dev P {result['precision']:.4f} R {result['recall']:.4f} "
              f"F1 {result['f1']:.4f}", flush=True)
        improved = best is None or result["f1"] > best["f1"]
        if improved:
            best = result
        if args.save_dir:
            for name in [f"model_{step}"] + (["model_best"] if improved else []):
                folder = args.save_dir / name
                folder.mkdir(parents=True, exist_ok=True)
                if args.task == "classification":
                    model.save_pretrained(folder)
                else:
                    torch.save(model.state_dict(), folder / "model.pt")
                tokenizer.save_pretrained(folder)
        eval_s += time.perf_counter() - tic
        evaluated += len(dev_set)
        if step >= total_steps:
            break

    process_s = time.time() - started
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    row = {
        "task": args.task,
        "epochs": history[-1]["epoch"], "steps": step, "train_rows": len(train_set),
        "best_epoch": best["epoch"],
        "dev_P": f"{best['precision']:.4f}", "dev_R": f"{best['recall']:.4f}", "dev_F1": f"{best['f1']:.4f}",
        "last_F1": f"{history[-1]['f1']:.4f}",
        "train_samples/s": f"{seen / train_s:.2f}",
        "train+eval_samples/s": f"{seen / (train_s + eval_s):.2f}",
        "process_samples/s": f"{seen / process_s:.2f}",
        "eval_samples/s": f"{evaluated / eval_s:.1f}",
        "peak_rss_MiB": f"{peak_mib:.0f}",
        "process_s": f"{process_s:.0f}",
    }
    print()
    print_table([row], [(k, k) for k in row])
    measured = {"train_samples_seen": seen, "train_loop_s": train_s, "eval_s": eval_s, "process_s": process_s,
                "peak_rss_mib": peak_mib, "torch_threads": torch.get_num_threads()}
    payload = {"args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
               "train_file": str(train_file), "validation_file": str(validation_file),
               "row": row, "measured": measured, "history": history}
    print("results saved to", save(args.results_name or f"reference_loop_{args.task}", payload, table=[row]))


if __name__ == "__main__":
    main()
