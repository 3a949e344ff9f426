#!/usr/bin/env python
"""Benchmark: unsupervised SimCSE / ESimCSE on LCQMC with multilingual-e5-small (and an encoder trained from
scratch, never trained for similarity).

Training text: the sentences of ``../shared/data/lcqmc/unlabeled.tsv`` (12,500 lines of two sentences, no labels).
Evaluation: ``lcqmc/dev.tsv`` pairs. The issue measures on the **first 2,000 dev pairs**; they are the test pairs
here and are used for nothing else. The next 1,000 dev pairs are the validation pairs: the best checkpoint
(spearman, evaluated every ``--eval_steps``) and the saved match threshold are chosen on them, so the F1 on the
test pairs is at a threshold chosen elsewhere.

Runs, one after the other:

* ``untouched``: the encoder as it comes, mean pooled (no training; threshold chosen on the validation pairs);
  multilingual-e5-small reads ``query: `` before each text (``--e5_prompt``: its model card's prefix for symmetric
  tasks), in every run, and its saved models keep it as their default prompt;
* ``simcse``, ``esimcse``: ``recipes/simcse.py`` with its defaults and the given steps;
* with ``--scratch``: the same for a 4-layer BERT (hidden 256) built from a config with bert-base-chinese's
  vocabulary (``untouched`` is its random initialisation), to show the lift from an encoder that knows nothing
  of similarity;
* with ``--gemma``: the same for gemma-3-270m, a causal language model never trained for similarity, mean pooled
  over its last hidden states (``--gemma_steps``, ``--gemma_batch_size``, ``--gemma_learning_rate``).

Reports spearman and P/R/F1 on the test pairs, the best validation spearman and its step, the spearman curve over
steps (validation), train sentences/s (each sentence is encoded twice; evaluation time left out) and peak memory
(RSS of the training process).

    python bench/simcse.py [--max_steps 300] [--eval_steps 25] [--methods simcse esimcse] \
        [--scratch [--scratch_steps 200]] [--gemma [--gemma_steps 60]] [--skip_e5]

Target (issue #16): spearman >= 0.72 on the test pairs for SimCSE and for ESimCSE with multilingual-e5-small
(untouched: 0.689; public BERT figures on LCQMC: SimCSE 0.704, ESimCSE 0.716).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from common import FROZEN_AS_DOCUMENTED, ROOT, models_dir, print_table, require, run_recipe, save

sys.path.insert(0, str(ROOT))


def split_dev(dev: Path, folder: Path, test_size: int, validation_size: int) -> tuple[Path, Path]:
    """The first ``test_size`` pairs of dev.tsv as test.tsv, the next ``validation_size`` as validation.tsv."""
    lines = [line for line in dev.read_text(encoding="utf-8").splitlines() if line.strip()]
    test, validation = folder / "test.tsv", folder / "validation.tsv"
    test.write_text("\n".join(lines[:test_size]) + "\n", encoding="utf-8")
    validation.write_text("\n".join(lines[test_size:test_size + validation_size]) + "\n", encoding="utf-8")
    return test, validation


def untouched(model: Path, test: Path, validation: Path, prompt: str | None) -> dict:
    """The encoder as it is, mean pooled, with ``prompt`` before each text: test metrics at the best-F1 threshold
    of the validation pairs, and the validation spearman (step 0 of the curves)."""
    from types import SimpleNamespace

    from sentence_transformers import SentenceTransformer

    from plm_recipes.pairs.bi_encoder import PairMatchEvaluator, apply_prompt, calibrate_threshold
    from plm_recipes.pairs import read_pairs

    start = time.perf_counter()
    encoder = SentenceTransformer(str(model), device="cpu")
    encoder.max_seq_length = 64
    apply_prompt(encoder, SimpleNamespace(prompts=prompt))  # as the recipe does
    val = read_pairs(validation)
    validation_spearman = PairMatchEvaluator(val["text_a"], val["text_b"], val["label"], batch_size=64)(encoder)
    threshold = calibrate_threshold(encoder, val["text_a"], val["text_b"], val["label"], 64, source="validation")
    pairs = read_pairs(test)
    metrics = PairMatchEvaluator(pairs["text_a"], pairs["text_b"], pairs["label"], threshold=threshold,
                                 batch_size=64)(encoder)
    return {"test_spearman": metrics["spearman"], "test_precision": metrics["precision"],
            "test_recall": metrics["recall"], "test_f1": metrics["f1"], "threshold": threshold,
            "validation_spearman": validation_spearman["spearman"], "seconds": time.perf_counter() - start}


def train(method: str, model: Path, data: Path, test: Path, validation: Path, args: argparse.Namespace,
          name: str) -> dict:
    out = Path(tempfile.mkdtemp(prefix=f"bench_simcse_{name}_"))
    argv = [
        "--model_name_or_path", str(model), "--train_file", str(data / "unlabeled.tsv"),
        "--validation_file", str(validation), "--test_file", str(test),
        "--do_train", "--do_predict", "--output_dir", str(out), "--overwrite_output_dir",
        "--method", method, "--max_steps", str(args.max_steps), "--eval_steps", str(args.eval_steps),
        "--save_steps", str(args.eval_steps), "--per_device_train_batch_size", str(args.batch_size),
        "--learning_rate", str(args.learning_rate), "--per_device_eval_batch_size", "128",
        "--seed", str(args.seed), "--use_cpu", "--disable_tqdm", "true", "--logging_steps", "25",
        *(["--prompts", args.prompt] if args.prompt else []), *args.extra,
    ]
    print(f"training {name} ({method}) ... (log: {out}/bench.log)", flush=True)
    measured = run_recipe("simcse", argv, out / "bench.log")
    results = measured["results"]
    state = json.loads((out / "trainer_state.json").read_text(encoding="utf-8"))
    curve = [(entry["step"], round(entry["eval_spearman"], 4)) for entry in state["log_history"]
             if "eval_spearman" in entry]
    best_step, best = max(curve, key=lambda point: point[1])
    train_metrics, test_metrics = results["train"], results["test"]
    # the trainer's train_runtime includes the evaluations during training: count training alone
    eval_seconds = sum(entry.get("eval_runtime", 0.0) for entry in state["log_history"] if "eval_spearman" in entry)
    train_seconds = train_metrics["train_runtime"] - eval_seconds
    return {
        "test_spearman": test_metrics["test_spearman"], "test_precision": test_metrics["test_precision"],
        "test_recall": test_metrics["test_recall"], "test_f1": test_metrics["test_f1"],
        "threshold": test_metrics["test_threshold"], "best_validation_spearman": best, "best_step": best_step,
        "train_sentences/s": 2 * args.batch_size * state["global_step"] / train_seconds,
        "seconds": measured["process_s"], "peak_rss_MiB": measured["peak_rss_mib"], "curve": curve,
        "output_dir": str(out),
    }


def scratch_model(folder: Path) -> Path:
    """A 4-layer BERT (hidden 256) with random weights and bert-base-chinese's vocabulary."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    tokenizer_dir = models_dir() / "bert-base-chinese-tokenizer"
    if not tokenizer_dir.exists():
        print(f"SKIP scratch: {tokenizer_dir} not found (run ../shared/tools/prepare_models.py)")
        return None
    tokenizer = BertTokenizerFast.from_pretrained(str(tokenizer_dir))
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=256, num_hidden_layers=4, num_attention_heads=4,
                        intermediate_size=1024, max_position_embeddings=512)
    torch.manual_seed(0)
    path = folder / "bert-scratch"
    BertModel(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--methods", nargs="+", choices=["simcse", "esimcse"], default=["simcse", "esimcse"])
    parser.add_argument("--max_steps", type=int, default=300)
    parser.add_argument("--eval_steps", type=int, default=25)
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--learning_rate", type=float, default=3e-5)
    parser.add_argument("--test_pairs", type=int, default=2000)
    parser.add_argument("--validation_pairs", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--scratch", action="store_true", help="Also train a BERT built from a config.")
    parser.add_argument("--scratch_learning_rate", type=float, default=1e-4)
    parser.add_argument("--scratch_steps", type=int, default=200)
    parser.add_argument("--gemma", action="store_true", help="Also train gemma-3-270m (a causal LM), mean pooled.")
    parser.add_argument("--gemma_learning_rate", type=float, default=3e-5)
    parser.add_argument("--gemma_steps", type=int, default=60)
    parser.add_argument("--gemma_batch_size", type=int, default=32)
    parser.add_argument("--gemma_eval_steps", type=int, default=15)
    parser.add_argument("--skip_e5", action="store_true")
    parser.add_argument("--e5_prompt", default="query: ",
                        help="The text E5 models expect before each text of a symmetric task (their model card); "
                             "'' for none.")
    parser.add_argument("--e5_folder", help="Another copy of multilingual-e5-small to run (say, with a config.json "
                                            "that sets other dropout rates); default: the models folder's.")
    parser.add_argument("--results_name", default="simcse", help="bench/results/NAME.json")
    parser.add_argument("extra", nargs="*", help="More recipe flags, after --.")
    args = parser.parse_args()

    model, data = require("multilingual-e5-small", "lcqmc")
    model = Path(args.e5_folder) if args.e5_folder else model
    folder = Path(tempfile.mkdtemp(prefix="bench_simcse_data_"))
    test, validation = split_dev(data / "dev.tsv", folder, args.test_pairs, args.validation_pairs)
    # (label, folder, settings that differ from the e5 run's)
    # The checkpoints' word embeddings stay frozen, as in the runs the docs report (--freeze_word_embeddings false
    # after -- trains them)
    e5 = ("e5-small", model, {"prompt": args.e5_prompt or None, "extra": FROZEN_AS_DOCUMENTED})
    encoders = [] if args.skip_e5 else [e5]
    if args.scratch:
        path = scratch_model(folder)
        if path is not None:  # its word embeddings are random: train them
            encoders.append(("bert-scratch", path, {"learning_rate": args.scratch_learning_rate,
                                                    "max_steps": args.scratch_steps,
                                                    "extra": ["--freeze_word_embeddings", "false"]}))
    if args.gemma:
        path = models_dir() / "gemma-3-270m"
        if path.exists():  # its 262k x 640 word embeddings stay frozen
            encoders.append(("gemma-3-270m", path, {"learning_rate": args.gemma_learning_rate,
                                                    "max_steps": args.gemma_steps, "batch_size": args.gemma_batch_size,
                                                    "eval_steps": args.gemma_eval_steps,
                                                    "extra": FROZEN_AS_DOCUMENTED}))
        else:
            print(f"SKIP gemma: {path} not found (run ../shared/tools/prepare_models.py)")

    rows, curves = [], {}
    for label, path, settings in encoders:
        print(f"{label}: untouched ...", flush=True)
        prompt = settings.get("prompt")
        measured = {"untouched": untouched(path, test, validation, prompt)}
        for method in args.methods:
            run_args = argparse.Namespace(**{**vars(args), "prompt": prompt, **settings,
                                             "extra": [*settings.get("extra", []), *args.extra]})
            measured[method] = train(method, path, data, test, validation, run_args, f"{label}_{method}")
            start = (0, round(measured["untouched"]["validation_spearman"], 4))
            curves[f"{label} {method}"] = [start, *measured[method].pop("curve")]
        for run, m in measured.items():
            rows.append({
                "encoder": label, "run": run, "test_spearman": f"{m['test_spearman']:.4f}",
                "test_P": f"{m['test_precision']:.4f}", "test_R": f"{m['test_recall']:.4f}",
                "test_F1": f"{m['test_f1']:.4f}", "threshold": f"{m['threshold']:.4f}",
                "best_val_spearman": f"{m['best_validation_spearman']:.4f}" if "best_step" in m else "",
                "best_step": m.get("best_step", ""),
                "train_sent/s": f"{m['train_sentences/s']:.1f}" if "train_sentences/s" in m else "",
                "process_s": f"{m['seconds']:.0f}",
                "peak_rss_MiB": f"{m['peak_rss_MiB']:.0f}" if "peak_rss_MiB" in m else "",
            })
    print()
    print_table(rows, [(k, k) for k in rows[0]])
    print("\nvalidation spearman over steps:")
    for name, curve in curves.items():
        print(f"  {name}: " + ", ".join(f"{step}:{value:.3f}" for step, value in curve))
    print("\ntarget: test spearman >= 0.72 for SimCSE and ESimCSE with multilingual-e5-small (untouched: 0.689)")
    print("results saved to", save(args.results_name, {"args": vars(args), "rows": rows, "curves": curves}, table=rows))


if __name__ == "__main__":
    main()
