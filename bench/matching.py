#!/usr/bin/env python
"""Benchmark: supervised text matching on comment_matching with multilingual-e5-small.

Trains the three matching recipes on ``../shared/data/comment_matching`` (1416 train / 352 dev pairs of
category description and product comment, 10 categories) and reports, for each: dev P/R/F1 at the model's
threshold, the best-threshold F1, spearman, train samples/s, peak memory; then the latency of ranking the 10
categories for 1 and for 32 queries, with the bi-encoders' category embeddings cached and not cached.

    python bench/matching.py [--recipes pointwise dssm sentence_transformer] [--epochs 3]

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
    argv = [
        "--model_name_or_path", str(model),
        "--train_file", str(data / "train.txt"), "--validation_file", str(data / "dev.txt"),
        "--do_train", "--do_eval", "--output_dir", str(out),
        "--max_seq_length", str(args.max_seq_length), "--num_train_epochs", str(args.epochs),
        "--learning_rate", str(args.lr[recipe]), "--per_device_train_batch_size", str(args.batch_size),
        "--per_device_eval_batch_size", "64", "--logging_steps", "20", "--use_cpu", "--seed", "42",
        "--disable_tqdm", "true", "--freeze_word_embeddings", "--train_sampling_strategy", "group_by_length",
    ]
    if recipe == "pointwise":
        if args.pointwise_negatives:
            argv += ["--categories_file", str(data / "types_desc.txt"),
                     "--negatives_per_positive", str(args.pointwise_negatives)]
        if args.new_parameters_learning_rate:
            argv += ["--new_parameters_learning_rate", str(args.new_parameters_learning_rate)]
    print(f"training {recipe} ... (log: {out}/bench.log)", flush=True)
    return run_recipe(RECIPES[recipe], argv, out / "bench.log"), out


def latency(model_dir: Path, data: Path, n_queries: int, cached: bool, repeats: int = 5) -> float:
    """Median seconds to rank all categories for ``n_queries`` comments."""
    sys.path.insert(0, str(ROOT))
    from plm_recipes.data.matching import read_categories
    from plm_recipes.inference import Matcher

    categories = read_categories(data / "types_desc.txt")
    queries = [line.split("\t")[1] for line in (data / "dev.txt").read_text(encoding="utf-8").splitlines()][:n_queries]
    matcher = Matcher.from_pretrained(str(model_dir), device="cpu", use_cache=cached)
    matcher.rank(queries, categories)  # warm up (and fill the cache)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        matcher.rank(queries, categories)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipes", nargs="+", choices=list(RECIPES), default=list(RECIPES))
    parser.add_argument("--epochs", type=float, default=3)
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--max_seq_length", type=int, default=128)
    parser.add_argument("--pointwise_lr", type=float, default=5e-5)
    parser.add_argument("--bi_encoder_lr", type=float, default=3e-5)
    parser.add_argument("--new_parameters_learning_rate", type=float, default=1e-3,
                        help="Pointwise: learning rate of the head and pooler e5 lacks (0 to disable).")
    parser.add_argument("--pointwise_negatives", type=int, default=3,
                        help="Pointwise: sampled negative pairs per positive one (other categories, same comment).")
    args = parser.parse_args()
    args.lr = {"pointwise": args.pointwise_lr, "dssm": args.bi_encoder_lr, "sentence_transformer": args.bi_encoder_lr}
    model, data = require("multilingual-e5-small", "comment_matching")

    quality, speed = [], []
    for recipe in args.recipes:
        m, out = train(recipe, model, data, args)
        ev, tr = m["results"]["eval"], m["results"]["train"]
        quality.append({
            "recipe": recipe, "threshold": f"{ev.get('eval_threshold', 0.5):.3f}",
            "dev_P": f"{ev['eval_precision']:.4f}", "dev_R": f"{ev['eval_recall']:.4f}", "dev_F1": f"{ev['eval_f1']:.4f}",
            "best_thr_F1": f"{ev['eval_best_f1']:.4f}", "spearman": f"{ev['eval_spearman']:.4f}",
            "train_samples/s": f"{tr['train_samples_per_second']:.2f}", "peak_rss_MiB": f"{m['peak_rss_mib']:.0f}",
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
    print("\nranking the 10 categories (median of 5):")
    print_table(speed, [(k, k) for k in ("recipe", "queries", "uncached_ms", "cached_ms", "speedup")])
    print("results saved to", save("matching", {"args": {k: v for k, v in vars(args).items()},
                                                "quality": quality, "latency": speed}))


if __name__ == "__main__":
    main()
