#!/usr/bin/env python
"""Benchmark: generative QA on DuReader-QG with pretrained causal LMs, beside the T5 trained from scratch
(``bench/seq2seq.py``; issue #38).

Every run is ``recipes/t5_qa.py`` in a child process, on ``../shared/data/dureader_qg/train.json`` (799 examples)
and ``dev.json`` (185), the dev file given as ``--test_file`` so that one generation pass gives the metrics (EM,
character F1, ROUGE-L, BLEU-4) and ``predictions.jsonl``:

* ``zero_shot``: qwen2.5-coder-0.5b-instruct, never trained for QA: ``--do_predict`` only, the default causal
  template (an instruction) inside its chat template; what ``plm-recipes predict qa`` does with a chat model;
* ``qwen_lora``: the same model after LoRA SFT (r 16, all linear layers) on the training items;
* ``gemma_full``: gemma-3-270m (a base model, no chat template: the instruction ends with ``答案：``), every weight
  fine-tuned.

Reported per run: the metrics, train examples/s, generation items/s, peak RSS (the child's ``ru_maxrss``), and how the answers relate to their context: the share of predictions that are spans of
their context, and EM on the items whose gold answer is one. The from-scratch T5's figures are
``bench/results/seq2seq.json`` (EM 0.038, char F1 0.25), not rerun here.

    python bench/qa.py                        # the full protocol: every dev item, every training item, 1 epoch
    python bench/qa.py --only zero_shot gemma_full --train_items 200 --max_seq_length 384   # a CPU budget

On a GPU (cuda) it runs as is; on a CPU ``--use_cpu`` is added and a run of a 0.5B model on all 799 training items
takes hours on one core: ``--train_items``, ``--dev_items`` and ``--max_seq_length`` (prompt tokens: only the
context is cut) cut it down, and the saved results say what ran.

Target (issue #38): the best trained causal model at EM >= 0.60 and char F1 >= 0.75 on all dev items, above its
zero-shot figure.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from common import RESULTS, ROOT, print_table, require, run_recipe, save

sys.path.insert(0, str(ROOT))

QWEN, GEMMA = "qwen2.5-coder-0.5b-instruct", "gemma-3-270m"
RUNS = {
    "zero_shot": (QWEN, None),
    "qwen_lora": (QWEN, ["--use_lora", "true", "--learning_rate", "2e-4"]),
    "gemma_full": (GEMMA, ["--learning_rate", "1e-4"]),
}


def span_figures(rows: list[dict]) -> dict[str, float]:
    """How answers relate to their context: predictions that are spans of it; the gold answers that are; EM on
    those."""
    from plm_recipes.seq2seq.metrics import exact_match

    gold_spans = [r for r in rows if r["answer"] and r["answer"] in r["context"]]
    return {
        "prediction_is_span": sum(bool(r["prediction"]) and r["prediction"] in r["context"] for r in rows) / len(rows),
        "gold_is_span": len(gold_spans) / len(rows),
        "exact_match_on_span_golds": (sum(exact_match(r["prediction"], r["answer"]) for r in gold_spans)
                                      / max(len(gold_spans), 1)),
    }


def predictions_path(results_name: str, run_name: str) -> Path:
    return RESULTS / f"{results_name}_{run_name}.predictions.jsonl"


def save_predictions(results_name: str, run_name: str, rows: list[dict]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    predictions_path(results_name, run_name).write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def zero_shot_on_same_items(results_name: str, count: int) -> dict[str, float] | None:
    """The zero-shot run's figures on the first ``count`` dev items (a trained run evaluated on fewer items than
    the zero-shot one is compared on the same ones)."""
    from plm_recipes.seq2seq import GenerationMetrics

    path = predictions_path(results_name, "zero_shot")
    if not path.exists():
        return None
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()][:count]
    if len(rows) < count:
        return None
    scores = GenerationMetrics(keep_in_memory=True).compute(predictions=[r["prediction"] for r in rows],
                                                            references=[r["answer"] for r in rows])
    return {"dev_items": count, "exact_match": scores["exact_match"], "char_f1": scores["f1"],
            "rouge_l": scores["rouge_l"], **span_figures(rows)}


def subset(path: Path, count: int | None, folder: Path, answers: bool = True) -> Path:
    """The first ``count`` records of ``path``; without ``answers``, their answers left out (a file to predict:
    the recipe then generates without computing a loss, which would cost another pass over every prompt)."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()][:count]
    out = folder / f"{path.stem}_{count or 'all'}{'' if answers else '_questions'}.json"
    out.write_text("".join(json.dumps(r if answers else {k: v for k, v in r.items() if k != "answer"},
                                      ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return out


def run(name: str, args: argparse.Namespace, data: Path, folder: Path) -> dict:
    import torch

    from plm_recipes.seq2seq import GenerationMetrics

    model_name, training = RUNS[name]
    model, _ = require(model_name, "dureader_qg")
    train = subset(data / "train.json", args.train_items, folder)
    dev = subset(data / "dev.json", args.dev_items, folder, answers=False)
    golds = [json.loads(line)["answer"] for line in subset(data / "dev.json", args.dev_items, folder)
             .read_text(encoding="utf-8").splitlines()]
    out = folder / name
    argv = ["--model_name_or_path", str(model), "--test_file", str(dev), "--do_predict", "--output_dir", str(out),
            "--max_seq_length", str(args.max_seq_length), "--max_target_length", "64",
            "--generation_max_length", "64", "--per_device_eval_batch_size", str(args.eval_batch_size),
            "--seed", "42", "--disable_tqdm", "true", "--report_to", "none"]
    if training is not None:
        argv += ["--train_file", str(train), "--do_train", *training, "--num_train_epochs", str(args.epochs),
                 "--per_device_train_batch_size", str(args.train_batch_size), "--warmup_steps", "0.05",
                 "--eval_strategy", "no", "--save_strategy", "no", "--load_best_model_at_end", "false",
                 "--logging_steps", "5"]
    if not torch.cuda.is_available():
        argv.append("--use_cpu")
    else:
        argv += ["--bf16", "true"]
    print(f"--- {name}: {' '.join(argv)}", flush=True)
    measured = run_recipe("t5_qa", argv, folder / f"{name}.log")
    results = measured["results"]
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text(encoding="utf-8").splitlines()]
    for r, gold in zip(rows, golds, strict=True):
        r["answer"] = gold
    save_predictions(args.results_name, name, rows)
    scores = GenerationMetrics(keep_in_memory=True).compute(predictions=[r["prediction"] for r in rows],
                                                          references=golds)
    row = {
        "run": name, "model": model_name, "train_items": None if training is None else len(
            train.read_text(encoding="utf-8").splitlines()), "dev_items": len(rows),
        "exact_match": scores["exact_match"], "char_f1": scores["f1"], "rouge_l": scores["rouge_l"],
        "bleu_4": scores["bleu_4"], "generation_items/s": results["test"]["test_samples_per_second"],
        "peak_rss_MiB": measured["peak_rss_mib"], "process_s": measured["process_s"], **span_figures(rows),
        "examples": rows[:5],
    }
    if training is not None:
        row["train_examples/s"] = results["train"]["train_samples_per_second"]
        row["train_runtime_s"] = results["train"]["train_runtime"]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="+", choices=list(RUNS), default=list(RUNS))
    parser.add_argument("--train_items", type=int, default=None, help="The first N training items (default: all).")
    parser.add_argument("--dev_items", type=int, default=None, help="The first N dev items (default: all).")
    parser.add_argument("--max_seq_length", type=int, default=1024, help="Prompt tokens; only the context is cut.")
    parser.add_argument("--epochs", type=float, default=1)
    parser.add_argument("--train_batch_size", type=int, default=8)
    parser.add_argument("--eval_batch_size", type=int, default=8)
    parser.add_argument("--results_name", default="qa")
    parser.add_argument("--zero_shot_results", default=None,
                        help="The results name whose zero-shot predictions a trained run is compared with on the "
                             "same dev items (default: --results_name).")
    args = parser.parse_args()
    _, data = require(None, "dureader_qg")
    previous = ROOT / "bench" / "results" / f"{args.results_name}.json"
    rows = {r["run"]: r for r in json.loads(previous.read_text(encoding="utf-8"))["runs"]} if previous.exists() else {}
    with tempfile.TemporaryDirectory(prefix="bench_qa_") as tmp:
        for name in args.only:
            rows[name] = {**run(name, args, data, Path(tmp)), "settings": vars(args)}
            if name != "zero_shot":
                rows[name]["zero_shot_same_items"] = zero_shot_on_same_items(args.zero_shot_results or
                                                                             args.results_name, rows[name]["dev_items"])
            # after each run: a later one may not finish
            save(args.results_name, {"runs": list(rows.values())}, table=table_rows(rows.values()))
            print(json.dumps({k: v for k, v in rows[name].items() if k != "examples"}, ensure_ascii=False),
                  flush=True)
    print_table(table_rows(rows.values()), [(title, title) for _, title in TABLE])


# the columns of the printed (and kept) table: (key in a run's results, title)
TABLE = [("run", "run"), ("train_items", "train"), ("dev_items", "dev"), ("exact_match", "EM"), ("char_f1", "char F1"),
         ("rouge_l", "ROUGE-L"), ("prediction_is_span", "span"), ("train_examples/s", "train ex/s"),
         ("generation_items/s", "gen items/s"), ("peak_rss_MiB", "peak RSS MiB")]


def table_rows(runs) -> list[dict]:
    def shown(key: str, value) -> str:
        if value is None:
            return ""
        return f"{value:.0f}" if key == "peak_rss_MiB" else f"{value:.3f}" if isinstance(value, float) else str(value)

    return [{title: shown(key, r.get(key)) for key, title in TABLE} for r in runs]


if __name__ == "__main__":
    main()
