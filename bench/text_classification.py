#!/usr/bin/env python
"""Benchmark: text classification on comment_classify with multilingual-e5-small.

Fine-tunes the real pretrained encoder on ``../shared/data/comment_classify`` (402 train / 63 dev, 8 classes) twice,
identical but for padding: dynamic padding (batches padded to their longest text, grouped by length) and
padding every text to 128 tokens. Prints dev macro P/R/F1, train samples/s (Trainer's and whole process),
eval samples/s and peak memory of each run.

    python bench/text_classification.py [--epochs 6] [--learning_rate 1e-4] [--new_parameters_learning_rate 1e-3]
                                        [--only dynamic]

Targets (issue #2): dev macro F1 >= 0.84; dynamic padding >= 1.5x the padded run's train samples/s.
The dev set has 63 examples: one example moves F1 by about 0.02.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from common import print_table, require, run_recipe, save


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=float, default=6)
    parser.add_argument("--learning_rate", type=float, default=1e-4)
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--max_seq_length", type=int, default=128)
    parser.add_argument("--no_freeze", action="store_true", help="Also train the 96M-parameter word embeddings.")
    parser.add_argument("--new_parameters_learning_rate", type=float, default=1e-3,
                        help="Learning rate of the weights e5 lacks (classifier, pooler); 0: --learning_rate.")
    parser.add_argument("--only", choices=["dynamic", "padded"])
    args = parser.parse_args()
    model, data = require("multilingual-e5-small", "comment_classify")

    rows = []
    for mode in ("dynamic", "padded"):
        if args.only and mode != args.only:
            continue
        out = Path(tempfile.mkdtemp(prefix=f"bench_tc_{mode}_"))
        argv = [
            "--model_name_or_path", str(model),
            "--train_file", str(data / "train.txt"), "--validation_file", str(data / "dev.txt"),
            "--label_mapping_file", str(data / "label_mapping.txt"),
            "--do_train", "--do_eval", "--output_dir", str(out),
            "--max_seq_length", str(args.max_seq_length),
            "--learning_rate", str(args.learning_rate), "--num_train_epochs", str(args.epochs),
            "--per_device_train_batch_size", str(args.batch_size), "--per_device_eval_batch_size", "32",
            "--save_strategy", "epoch", "--eval_strategy", "epoch", "--logging_steps", "10",
            "--use_cpu", "--seed", "42", "--disable_tqdm", "true",
        ]
        if args.new_parameters_learning_rate:
            argv += ["--new_parameters_learning_rate", str(args.new_parameters_learning_rate)]
        argv += ["--freeze_word_embeddings", "false" if args.no_freeze else "true"]
        if mode == "padded":
            argv += ["--pad_to_max_length", "--train_sampling_strategy", "random"]
        else:
            argv += ["--train_sampling_strategy", "group_by_length"]
        print(f"running {mode} padding ... (log: {out}/bench.log)", flush=True)
        m = run_recipe("text_classification", argv, out / "bench.log")
        train, ev = m["results"]["train"], m["results"]["eval"]
        samples = train["train_samples"] * args.epochs
        rows.append({
            "padding": mode,
            "dev_P": f"{ev['eval_precision']:.4f}", "dev_R": f"{ev['eval_recall']:.4f}", "dev_F1": f"{ev['eval_f1']:.4f}",
            "train_samples/s": f"{train['train_samples_per_second']:.2f}",
            "process_samples/s": f"{samples / m['process_s']:.2f}",
            "eval_samples/s": f"{ev['eval_samples_per_second']:.1f}",
            "peak_rss_MiB": f"{m['peak_rss_mib']:.0f}",
            "process_s": f"{m['process_s']:.0f}",
        })
    print()
    print_table(rows, [(k, k) for k in rows[0]])
    if len(rows) == 2:
        ratio = float(rows[0]["train_samples/s"]) / float(rows[1]["train_samples/s"])
        print(f"\ndynamic / padded train samples/s: {ratio:.2f}x (target >= 1.5x); "
              f"dev macro F1 target >= 0.84")
    print("results saved to", save("text_classification", {"args": vars(args), "rows": rows}, table=rows))


if __name__ == "__main__":
    main()
