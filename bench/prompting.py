#!/usr/bin/env python
"""Benchmark: few-shot classification on comment_fewshot (62 training comments): PET and p-tuning against
fine-tuning, with a masked LM (multilingual-e5-small) and a causal LM (gemma-3-270m).

    python bench/prompting.py                       # every method below
    python bench/prompting.py --methods pet_e5 finetune_e5

Every method trains on the same 62 comments for the same epochs and batch size, with no checkpoint chosen on dev
(the last one is evaluated: choosing by dev F1 and reporting dev F1 would flatter every method), and is scored on
the dev comments whose label the verbalizer has (415 of 417: the 2 lines labelled 电器, a class with no label word
and no training example, are left out for every method). The fine-tuning baseline is the text-classification
recipe with the verbalizer's 9 labels (手机 has no training example: only the prompt methods can answer it).

Figures: dev accuracy and macro F1, training samples/s (training examples x epochs / training time), peak memory
(RSS of the whole process). Needs ../shared/data/comment_fewshot and the models of
../shared/tools/prepare_models.py; skips cleanly without them.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from common import models_dir, print_table, require, run_recipe, save

# The causal LM reads the text first and fills the blank last (see recipes/pet.py): the template of the data,
# turned around.
CAUSAL_TEMPLATE = "{textA}。这是一条{MASK}评论"

METHODS = {
    # name: (recipe, model folder, extra flags)
    "finetune_e5": ("text_classification", "multilingual-e5-small", []),
    # the classifier head at the rate the prompt recipes give weights the checkpoint lacks
    "finetune_e5_head_lr": ("text_classification", "multilingual-e5-small", ["--new_parameters_learning_rate", "1e-3"]),
    "pet_e5": ("pet", "multilingual-e5-small", []),
    "p_tuning_e5": ("p_tuning", "multilingual-e5-small", []),
    # the baseline on the causal LM: its last token's hidden state through a new linear head (the classification
    # recipe's sequence-classification model for gemma), word embeddings frozen as in the prompt runs below
    "finetune_gemma": ("text_classification", "gemma-3-270m", ["--new_parameters_learning_rate", "1e-3",
                                                               "--freeze_word_embeddings", "true"]),
    "pet_gemma_zero_shot": ("pet", "gemma-3-270m", ["--template", CAUSAL_TEMPLATE, "--zero_shot"]),
    # gemma's 262k x 640 embedding matrix (170M of its 268M parameters) is tied to its output layer, so the default
    # would train it; frozen here to fit a 2-core CPU (the label words' output rows stay as pretrained)
    "pet_gemma": ("pet", "gemma-3-270m", ["--template", CAUSAL_TEMPLATE, "--freeze_word_embeddings", "true"]),
    "p_tuning_gemma": ("p_tuning", "gemma-3-270m", ["--template", "{soft:6}" + CAUSAL_TEMPLATE,
                                                    "--freeze_word_embeddings", "true"]),
}


def prepare(data: Path, work: Path) -> dict[str, Path]:
    """The dev file restricted to the verbalizer's labels, and a label mapping file for the baseline."""
    labels = [line.split("\t")[0] for line in (data / "verbalizer.txt").read_text(encoding="utf-8").splitlines()
              if line.strip()]
    lines = [line for line in (data / "dev.txt").read_text(encoding="utf-8").splitlines() if line.strip()]
    kept = [line for line in lines if line.split("\t")[0] in labels]
    print(f"dev: {len(kept)} of {len(lines)} lines have a verbalizer label ({len(lines) - len(kept)} left out)")
    dev = work / "dev.txt"
    dev.write_text("\n".join(kept) + "\n", encoding="utf-8")
    mapping = work / "labels.txt"
    mapping.write_text("\n".join(labels) + "\n", encoding="utf-8")
    return {"dev": dev, "labels": mapping}


def run(method: str, data: Path, files: dict[str, Path], work: Path, args: argparse.Namespace) -> dict:
    recipe, model_name, extra = METHODS[method]
    model = models_dir() / model_name
    out = work / method
    zero_shot = "--zero_shot" in extra
    extra = [flag for flag in extra if flag != "--zero_shot"]
    argv = [
        "--model_name_or_path", str(model), "--train_file", str(data / "train.txt"),
        "--validation_file", str(files["dev"]), "--output_dir", str(out), "--do_eval",
        "--num_train_epochs", str(args.epochs), "--per_device_train_batch_size", str(args.batch_size),
        "--per_device_eval_batch_size", "16", "--eval_strategy", "no", "--save_strategy", "no",
        "--load_best_model_at_end", "false", "--seed", str(args.seed), "--use_cpu", "--disable_tqdm", "true",
        "--logging_steps", "8", "--max_seq_length", str(args.max_seq_length),
    ]
    argv += [] if zero_shot else ["--do_train"]
    if recipe == "text_classification":
        argv += ["--label_mapping_file", str(files["labels"])]
    else:
        argv += ["--verbalizer_file", str(data / "verbalizer.txt")]
        if "--template" not in extra:
            argv += ["--template_file", str(data / "prompt.txt")] if recipe == "pet" else []
    argv += extra + args.extra
    print(f"{method}: {recipe} on {model_name} ... (log: {out}/bench.log)", flush=True)
    measured = run_recipe(recipe, argv, out / "bench.log")
    results = measured["results"]
    row = {"method": method, "model": model_name, "dev_accuracy": round(results["eval"]["eval_accuracy"], 4),
           "dev_macro_f1": round(results["eval"]["eval_f1"], 4), "peak_rss_MiB": round(measured["peak_rss_mib"])}
    if "train" in results:
        train = results["train"]
        row["train_samples/s"] = round(train["train_samples_per_second"], 2)
        row["train_s"] = round(train["train_runtime"], 1)
    row["eval_samples/s"] = round(results["eval"]["eval_samples_per_second"], 2)
    per_class = {k.removeprefix("eval_per_class/"): round(v, 3) for k, v in results["eval"].items()
                 if k.startswith("eval_per_class/") and k.endswith("/f1")}
    return {"row": row, "per_class_f1": per_class, "argv": argv}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--epochs", type=float, default=10)
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--max_seq_length", type=int, default=128)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("extra", nargs="*", help="More recipe flags for every method, after --")
    args = parser.parse_args()
    _, data = require("multilingual-e5-small", "comment_fewshot")
    work = Path(tempfile.mkdtemp(prefix="bench_prompting_"))
    files = prepare(data, work)
    runs = {}
    for method in args.methods:
        if not (models_dir() / METHODS[method][1]).exists():
            print(f"SKIP {method}: {models_dir() / METHODS[method][1]} not found")
            continue
        runs[method] = run(method, data, files, work, args)
        print_table([runs[method]["row"]], [(k, k) for k in runs[method]["row"]])
        save(f"prompting_{method}", {"args": vars(args), **runs[method]})  # each as it finishes
    rows = [r["row"] for r in runs.values()]
    print()
    print_table(rows, [(k, k) for k in ("method", "model", "dev_accuracy", "dev_macro_f1", "train_samples/s",
                                         "train_s", "eval_samples/s", "peak_rss_MiB")])
    for method, r in runs.items():
        print(method, "per-class F1:", json.dumps(r["per_class_f1"], ensure_ascii=False))
    print(f"results saved to {save('prompting_last', {'args': vars(args), 'runs': runs, 'work': str(work)}, table=rows)} "
          "(and one file per method)")


if __name__ == "__main__":
    main()
