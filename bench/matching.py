#!/usr/bin/env python
"""Benchmark: supervised text matching on comment_matching with multilingual-e5-small.

Trains the three matching recipes on ``../shared/data/comment_matching`` (1416 train / 352 dev pairs of
category description and product comment, 10 categories) and reports, for each: dev P/R/F1 at the model's
threshold, the best-threshold F1, spearman, training pairs/s, peak memory; then the latency of ranking the 10
categories for 1 and for 32 queries, with the bi-encoders' category embeddings cached and not cached.

    python bench/matching.py [--recipes pointwise dssm sentence_transformer] [--epochs 3] [--pointwise_epochs 6]

Targets (issue #3): pointwise F1 >= 0.90, DSSM F1 >= 0.72, sentence-transformer F1 >= 0.72 (the seed's
figures with bert-base-chinese: 0.937 / 0.72); a cached query >= 5x faster than an uncached one.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, print_table, require, run_recipe, save

RECIPES = {
    "pointwise": "matching_pointwise",
    "dssm": "matching_dssm",
    "sentence_transformer": "matching_sentence_transformer",
}


def train(recipe: str, model: Path, data: Path, args: argparse.Namespace) -> tuple[dict, Path]:
    out = Path(tempfile.mkdtemp(prefix=f"bench_{recipe}_"))
    batch_size = args.batch_size
    if recipe == "pointwise" and args.listwise_weight:  # a batch of texts, each with 1 + negatives pairs
        batch_size = max(1, args.batch_size // (1 + args.pointwise_negatives))
    argv = [
        "--model_name_or_path", str(model),
        "--train_file", str(data / "train.txt"), "--validation_file", str(data / "dev.txt"),
        "--do_train", "--do_eval", "--output_dir", str(out),
        "--max_seq_length", str(args.max_seq_length), "--num_train_epochs", str(args.epochs[recipe]),
        "--learning_rate", str(args.lr[recipe]),
        "--per_device_train_batch_size", str(batch_size),
        "--per_device_eval_batch_size", "64", "--logging_steps", "20", "--use_cpu", "--seed", str(args.seed),
        "--disable_tqdm", "true", "--freeze_word_embeddings", "--train_sampling_strategy", "group_by_length",
    ]
    if recipe == "pointwise":
        if args.pointwise_negatives:
            argv += ["--categories_file", str(data / "types_desc.txt"),
                     "--negatives_per_positive", str(args.pointwise_negatives)]
        if args.listwise_weight:
            argv += ["--listwise_weight", str(args.listwise_weight)]
        if args.new_parameters_learning_rate:
            argv += ["--new_parameters_learning_rate", str(args.new_parameters_learning_rate)]
    print(f"training {recipe} ... (log: {out}/bench.log)", flush=True)
    return run_recipe(RECIPES[recipe], argv, out / "bench.log"), out


def latency(model_dir: Path, data: Path, batch: int, cached: bool) -> float:
    """Median seconds to rank all categories for ``batch`` comments at once.

    One comment per call: each of the first 64 distinct dev comments ranked once (5 to 128 tokens, median 27.5,
    for multilingual-e5-small), so the figure is that of a typical comment, not of one chosen text. A batch:
    the first ``batch`` comments, five times.
    """
    sys.path.insert(0, str(ROOT))
    from plm_recipes.matching import Matcher, read_categories

    categories = read_categories(data / "types_desc.txt")
    lines = (data / "dev.txt").read_text(encoding="utf-8").splitlines()
    comments = list(dict.fromkeys(line.split("\t")[1] for line in lines))
    calls = [[c] for c in comments[:64]] if batch == 1 else [comments[:batch]] * 5
    matcher = Matcher.from_pretrained(str(model_dir), device="cpu", use_cache=cached)
    matcher.rank(calls[0], categories)  # warm up (and fill the cache)
    times = []
    for queries in calls:
        start = time.perf_counter()
        matcher.rank(queries, categories)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipes", nargs="+", choices=list(RECIPES), default=list(RECIPES))
    parser.add_argument("--epochs", type=float, default=3, help="Bi-encoders.")
    parser.add_argument("--pointwise_epochs", type=float, default=6)
    parser.add_argument("--batch_size", type=int, default=16, help="Pairs per batch.")
    parser.add_argument("--listwise_weight", type=float, default=0.0,
                        help="Pointwise: weight of the listwise softmax loss over a text's categories (batches then "
                             "hold batch_size / (1 + negatives) texts with all their pairs).")
    parser.add_argument("--max_seq_length", type=int, default=128)
    parser.add_argument("--pointwise_lr", type=float, default=5e-5)
    parser.add_argument("--bi_encoder_lr", type=float, default=3e-5)
    parser.add_argument("--new_parameters_learning_rate", type=float, default=1e-3,
                        help="Pointwise: learning rate of the head and pooler e5 lacks (0 to disable).")
    parser.add_argument("--pointwise_negatives", type=int, default=3,
                        help="Pointwise: sampled negative pairs per positive one (other categories, same comment).")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--results_name", default="matching", help="Saved as bench/results/<name>.json.")
    args = parser.parse_args()
    args.lr = {"pointwise": args.pointwise_lr, "dssm": args.bi_encoder_lr, "sentence_transformer": args.bi_encoder_lr}
    args.epochs = {"pointwise": args.pointwise_epochs, "dssm": args.epochs, "sentence_transformer": args.epochs}
    model, data = require("multilingual-e5-small", "comment_matching")

    quality, speed = [], []
    for recipe in args.recipes:
        m, out = train(recipe, model, data, args)
        ev, tr = m["results"]["eval"], m["results"]["train"]
        quality.append({
            "recipe": recipe, "threshold": f"{ev.get('eval_threshold', 0.5):.3f}",
            "dev_P": f"{ev['eval_precision']:.4f}", "dev_R": f"{ev['eval_recall']:.4f}", "dev_F1": f"{ev['eval_f1']:.4f}",
            "best_thr_F1": f"{ev['eval_best_f1']:.4f}", "spearman": f"{ev['eval_spearman']:.4f}",
            "train_pairs/s": f"{tr['train_samples'] * args.epochs[recipe] / tr['train_runtime']:.2f}",
            "peak_rss_MiB": f"{m['peak_rss_mib']:.0f}",
            "process_s": f"{m['process_s']:.0f}",
        })
        for n in (1, 32):
            row = {"recipe": recipe, "queries": n}
            for cached in ((True, False) if recipe != "pointwise" else (False,)):
                row["cached_ms" if cached else "uncached_ms"] = f"{1000 * latency(out, data, n, cached):.1f}"
            if "cached_ms" in row:
                row["speedup"] = f"{float(row['uncached_ms']) / float(row['cached_ms']):.1f}x"
            speed.append(row)
        print(quality[-1], flush=True)

    print("\nquality and training speed (dev set, 352 pairs):")
    print_table(quality, [(k, k) for k in quality[0]])
    print("\nranking the 10 categories (median ms per call; 1 query: 64 different comments, 32: five calls):")
    print_table(speed, [(k, k) for k in ("recipe", "queries", "uncached_ms", "cached_ms", "speedup")])
    print("results saved to", save(args.results_name, {"args": {k: v for k, v in vars(args).items()},
                                                "quality": quality, "latency": speed}, table=quality))


if __name__ == "__main__":
    main()
