#!/usr/bin/env python
"""Benchmark: ``plm-recipes augment fill`` on 1,000 corpus lines, one line at a time (the code before issue #36)
and in batches (today's), side by side on the same machine, with a small T5 built from a config.

The model: ``bench/seq2seq.py``'s T5 from scratch (d_model 128, 2 + 2 layers, 4 heads, a character vocabulary of the
corpus plus ``extra0`` ... ``extra99``), trained briefly by ``recipes/t5_filling.py`` on the corpus lines that are
not augmented (``--train_steps``), so that it ends its fillings as a trained filler does instead of running every
one to ``max_target_length`` as random weights would. The lines: the first ``--lines`` of
``../shared/data/corpus/*.jsonl`` (paragraphs of at least 8 characters). Each run is the command itself in a child
process (``--n 4 --seed 0``): the old code from ``git archive <--before>`` (one line per ``generate`` call and a
transformers warning on each), then today's with ``--batch_size``. Lines/s are over the whole command (start-up and
model loading included, a few seconds). ``--threads`` sets both children's torch threads (``OMP_NUM_THREADS``; on a
CPU shared with other work one thread is faster than two that wait on each other); ``--model`` reuses a filler
trained before (the folder this script printed) instead of training one.

    python bench/fill.py [--lines 1000] [--batch_size 32] [--n 4] [--train_steps 300] [--before 1ce4d6a]
    python bench/fill.py --lines 250 --threads 1 --model /tmp/bench_fill_.../filler
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, print_table, require, run_recipe, save

sys.path.insert(0, str(ROOT))


def train_filler(model: Path, lines: list[str], args: argparse.Namespace) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="bench_fill_"))
    (folder / "train.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / "validation.txt").write_text("\n".join(lines[:50]) + "\n", encoding="utf-8")
    out = folder / "filler"
    # evaluated at the last step, before the model is saved, as the recipe's config does every epoch: the saved
    # generation config is then the one users get (Seq2SeqTrainer's evaluation writes transformers' default
    # max_length into it, which made the old code warn on every line)
    argv = ["--model_name_or_path", str(model), "--train_file", str(folder / "train.txt"),
            "--validation_file", str(folder / "validation.txt"), "--do_train", "--do_eval",
            "--output_dir", str(out), "--max_steps", str(args.train_steps), "--per_device_train_batch_size", "16",
            "--learning_rate", "1e-3", "--learning_rate_mapping", json.dumps({"relative_attention_bias": 0.03}),
            "--max_seq_length", "160", "--eval_strategy", "steps", "--eval_steps", str(args.train_steps),
            "--save_strategy", "no", "--load_best_model_at_end", "false", "--freeze_word_embeddings", "false",
            "--use_cpu", "--disable_tqdm", "true", "--seed", "42"]
    print(f"training t5_filling for {args.train_steps} steps ... (log: {folder}/train.log)", flush=True)
    measured = run_recipe("t5_filling", argv, folder / "train.log")
    print(f"trained in {measured['process_s']:.0f} s, training loss {measured['results']['train']['train_loss']:.3f}",
          flush=True)
    return out


def augment(source_root: Path, model: Path, lines_file: Path, output: Path, extra: list[str],
            args: argparse.Namespace) -> dict:
    """Run ``plm-recipes augment fill`` from the package under ``source_root``; its wall time and what it wrote."""
    command = [sys.executable, "-m", "plm_recipes.cli", "augment", "fill", "--model", str(model),
               "--input", str(lines_file), "--output", str(output), "--n", str(args.n), "--seed", "0",
               "--device", "cpu", *extra]
    env = {**os.environ, "PYTHONPATH": str(source_root)}
    if args.threads:
        env["OMP_NUM_THREADS"] = str(args.threads)
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=source_root, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"augment fill failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    variants = output.read_text(encoding="utf-8").splitlines()
    warnings = sum("max_new_tokens" in line for line in proc.stderr.splitlines())
    return {"wall_s": wall, "variants": len(variants), "warning_lines": warnings, "stderr_tail": proc.stderr[-500:]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=1000, help="Corpus lines to augment.")
    parser.add_argument("--batch_size", type=int, default=32, help="Today's --batch_size.")
    parser.add_argument("--n", type=int, default=4, help="Variants per line (augment fill's --n).")
    parser.add_argument("--train_steps", type=int, default=300)
    parser.add_argument("--model", default=None, help="A filler folder this script trained before: no training.")
    parser.add_argument("--threads", type=int, default=None, help="torch threads of both runs (default: torch's).")
    parser.add_argument("--before", default="1ce4d6a",
                        help="The git revision whose code is 'before' (default: the last one that filled one line "
                             "at a time); 'none' skips it.")
    args = parser.parse_args()

    _, corpus = require(None, "corpus")
    from seq2seq import build_model

    from plm_recipes.seq2seq.data import read_corpus

    corpus_lines = [line for path in sorted(corpus.glob("*.jsonl")) for line in read_corpus(path, "text", 8)]
    lines, training = corpus_lines[:args.lines], corpus_lines[args.lines:]
    work = Path(tempfile.mkdtemp(prefix="bench_fill_runs_"))
    lines_file = work / "lines.txt"
    lines_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    shape = argparse.Namespace(d_model=128, layers=2, heads=4, dropout=0.0)
    model = Path(args.model) if args.model else train_filler(build_model(work, shape, corpus_lines), training, args)

    runs = []
    if args.before != "none":
        old = work / "before"
        old.mkdir()
        archive = subprocess.run(["git", "archive", args.before, "plm_recipes"], cwd=ROOT, capture_output=True,
                                 check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(old)], input=archive, check=True)
        print(f"before ({args.before}): one line at a time ...", flush=True)
        runs.append({"code": f"before ({args.before}), one line at a time", "batch_size": 1,
                     **augment(old, model, lines_file, work / "before.txt", [], args)})
    print(f"after: --batch_size {args.batch_size} ...", flush=True)
    runs.append({"code": "after (batched)", "batch_size": args.batch_size,
                 **augment(ROOT, model, lines_file, work / "after.txt", ["--batch_size", str(args.batch_size),
                                                                       "--no_progress"], args)})

    import torch

    table = [{"code": r["code"], "batch size": r["batch_size"], "lines": len(lines), "wall s": f"{r['wall_s']:.1f}",
              "lines/s": f"{len(lines) / r['wall_s']:.2f}",
              "torch threads": args.threads or torch.get_num_threads(), "variants written": r["variants"]}
             for r in runs]
    if len(runs) == 2:
        table[1]["speed-up"] = f"{runs[0]['wall_s'] / runs[1]['wall_s']:.1f}x"
    print()
    print_table(table, [(k, k) for k in table[-1]])
    payload = {"args": vars(args), "lines": len(lines), "torch_threads": torch.get_num_threads(), "runs": runs}
    print("results saved to", save("fill", payload, table=table))


if __name__ == "__main__":
    main()
