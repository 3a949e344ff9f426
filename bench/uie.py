#!/usr/bin/env python
"""Benchmark: UIE on DuIE with multilingual-e5-small (a cold start: no UIE pretraining exists here).

Data: ``../shared/data/duie``. ``train.txt`` (2,087 prompts about 90 texts) is split **by text**: the prompts of
10% of the texts (seeded) are the validation set, which picks the best checkpoint (span F1, every
``--eval_steps``); the rest is trained on. ``dev.txt`` (232 prompts about 10 texts, 47 gold spans) is the test
set, used for nothing else: span P/R/F1 on it, overall and per prompt (relation prompts grouped by relation). With
47 gold spans, one span moves F1 by about 0.02.

Speed: train windows/s (evaluation time left out), then inference with ``UIEPredictor`` on the 10 dev texts with a
schema of several entity types and relations (the prompts of a level batched across types and texts): prompts/s
and texts/s. Peak memory is the RSS of the training process.

    python bench/uie.py [--epochs 10] [--learning_rate 1e-4] [--eval_steps 50]

Target (issue #17): dev F1 >= 0.60.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import tempfile
import time
from pathlib import Path

from common import FROZEN_AS_DOCUMENTED, ROOT, print_table, require, run_recipe, save

sys.path.insert(0, str(ROOT))

SCHEMA = ["地点", "Date", "学校", "企业", {"人物": ["出生日期", "出生地", "毕业院校", "民族", "国籍"]}]


def split_by_text(train: Path, folder: Path, fraction: float, seed: int) -> tuple[Path, Path]:
    lines = [line for line in train.read_text(encoding="utf-8").splitlines() if line.strip()]
    contents = sorted({json.loads(line)["content"] for line in lines})
    held = set(random.Random(seed).sample(contents, max(1, round(fraction * len(contents)))))
    kept, validation = folder / "train.txt", folder / "validation.txt"
    kept.write_text("".join(l + "\n" for l in lines if json.loads(l)["content"] not in held), encoding="utf-8")
    validation.write_text("".join(l + "\n" for l in lines if json.loads(l)["content"] in held), encoding="utf-8")
    return kept, validation


def inference_speed(model_dir: Path, dev: Path, repeats: int) -> dict:
    """Extraction by ``SCHEMA`` over the dev texts: prompts run per second and texts per second."""
    from plm_recipes.extraction import UIEPredictor

    texts = sorted({json.loads(line)["content"] for line in dev.read_text(encoding="utf-8").splitlines() if line})
    uie = UIEPredictor(str(model_dir), schema=SCHEMA, device="cpu")
    queries = 0
    original = uie.extract

    def counting(batch):
        nonlocal queries
        queries += len(batch)
        return original(batch)

    uie.extract = counting
    uie(texts[:2])  # warm up
    queries = 0
    start = time.perf_counter()
    for _ in range(repeats):
        results = uie(texts)
    seconds = time.perf_counter() - start
    found = sum(len(v) for r in results for v in r.values())
    return {"texts": len(texts), "prompts_per_pass": queries // repeats, "prompts/s": queries / seconds,
            "texts/s": repeats * len(texts) / seconds, "spans_found": found, "example": results[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="multilingual-e5-small")
    parser.add_argument("--epochs", type=float, default=10)
    parser.add_argument("--learning_rate", type=float, default=1e-4)
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--eval_steps", type=int, default=50)
    parser.add_argument("--validation_fraction", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--repeats", type=int, default=3, help="Passes over the dev texts for inference speed.")
    parser.add_argument("--reuse", metavar="OUTPUT_DIR",
                        help="Measure a finished run of this benchmark (its output folder) instead of training.")
    parser.add_argument("extra", nargs="*", help="More recipe flags, after --")
    args = parser.parse_args()
    model, data = require(args.model, "duie")

    if args.reuse:
        out = Path(args.reuse)
        lines = [line for line in (out / "bench.log").read_text(encoding="utf-8").splitlines()
                 if line.startswith("BENCH_RESULT ")]
        measured = json.loads(lines[-1].removeprefix("BENCH_RESULT "))
    else:
        measured = train(model, data, args)
        out = Path(measured["output_dir"])
    report(model, data, out, measured, args)


def train(model: Path, data: Path, args: argparse.Namespace) -> dict:
    work = Path(tempfile.mkdtemp(prefix="bench_uie_"))
    train_file, validation = split_by_text(data / "train.txt", work, args.validation_fraction, args.seed)
    out = work / "out"
    argv = [
        "--model_name_or_path", str(model), "--train_file", str(train_file), "--validation_file", str(validation),
        "--test_file", str(data / "dev.txt"), "--do_train", "--do_predict", "--output_dir", str(out),
        "--num_train_epochs", str(args.epochs), "--learning_rate", str(args.learning_rate),
        "--per_device_train_batch_size", str(args.batch_size), "--eval_strategy", "steps",
        "--eval_steps", str(args.eval_steps), "--save_strategy", "steps", "--save_steps", str(args.eval_steps),
        "--seed", str(args.seed), "--use_cpu", "--disable_tqdm", "true", "--logging_steps", "25",
        *FROZEN_AS_DOCUMENTED, *args.extra,  # --freeze_word_embeddings false after -- trains them
    ]
    print(f"training UIE on {model.name} ... (log: {out}/bench.log)", flush=True)
    return {**run_recipe("uie", argv, out / "bench.log"), "output_dir": str(out)}


def report(model: Path, data: Path, out: Path, measured: dict, args: argparse.Namespace) -> None:
    results = measured["results"]
    state = json.loads((out / "trainer_state.json").read_text(encoding="utf-8"))
    curve = [(e["step"], round(e["eval_f1"], 4)) for e in state["log_history"] if "eval_f1" in e]
    eval_seconds = sum(e.get("eval_runtime", 0.0) for e in state["log_history"] if "eval_f1" in e)
    train_seconds = results["train"]["train_runtime"] - eval_seconds
    logged = re.search(r"train: \d+ examples .*?, (\d+) windows", (out / "bench.log").read_text(encoding="utf-8"))
    windows = int(logged.group(1)) * args.epochs
    test = results["test"]
    row = {
        "model": model.name, "test_precision": round(test["test_precision"], 4),
        "test_recall": round(test["test_recall"], 4), "test_f1": round(test["test_f1"], 4),
        "best_validation_f1": max(f for _, f in curve), "best_step": max(curve, key=lambda p: p[1])[0],
        "train_windows/s": round(windows / train_seconds, 2), "train_s": round(train_seconds, 1),
        "peak_rss_MiB": round(measured["peak_rss_mib"]),
    }
    speed = inference_speed(out, data / "dev.txt", args.repeats)
    row.update({k: round(v, 2) for k, v in speed.items() if k in ("prompts/s", "texts/s")})
    print_table([row], [(k, k) for k in row])
    print("validation F1 curve (step, F1):", curve)
    per_prompt = {k.removeprefix("test_per_class/"): v for k, v in test.items() if k.startswith("test_per_class/")}
    groups = sorted({k.rsplit("/", 1)[0] for k in per_prompt})
    print("per prompt on dev (precision / recall / F1 / gold spans):")
    for group in groups:
        p, r, f, n = (per_prompt[f"{group}/{m}"] for m in ("precision", "recall", "f1", "support"))
        print(f"  {group:12s} {p:.3f} {r:.3f} {f:.3f} {n}")
    print("inference:", {k: v for k, v in speed.items() if k != "example"})
    print("example:", json.dumps(speed["example"], ensure_ascii=False)[:600])
    payload = {"args": vars(args), "row": row, "curve": curve, "per_prompt": per_prompt, "inference": speed,
               "output_dir": str(out)}
    print("results saved to", save("uie", payload, table=[row]))


if __name__ == "__main__":
    main()
