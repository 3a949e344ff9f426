#!/usr/bin/env python
"""Benchmark: a local chat model (qwen2.5-coder-0.5b-instruct) on classification, matching and extraction, zero-shot
and few-shot, constrained choice against free generation, and after a CPU-sized LoRA SFT.

Data (``../shared/data``):

- ``llm_instructions/train.jsonl`` mixes two kinds, told apart by the target: **classification** (402 product
  comments, target ``["水果"]``, 8 labels) and **extraction** (500 DuIE sentences, target a fenced JSON list of
  ``{subject, predicate, object, subject_type, object_type}``). It has no matching items, so
- **matching** comes from ``lcqmc/dev.tsv`` (labelled question pairs: 是 / 不是).

Each kind is shuffled (seeded) and split: the first ``--eval_items`` are evaluated (fewer for extraction,
``--extract_items``: it generates ~60 tokens per item), the few-shot examples and the SFT training items come
from the rest, so no evaluated item is ever shown to the model. The texts are the sentences of the items, asked
with this project's prompts (``plm_recipes.llm.prompts``); the extraction schema (subject types and their
relations) is collected from the training part. Classification texts are cut to ``--max_chars`` characters.

Measured per kind and setting: accuracy and the share of answers naming no label (classification, matching), or
triple and field-level P/R/F1 and the share of unreadable answers (extraction); items/s; peak RSS of the process.
The LoRA adapter is trained by ``recipes/llm_sft.py`` (in a child process: its own wall time and peak RSS) on
``--train_items`` items per kind, in the zero-shot prompt format, then evaluated through the same code.

    nice python bench/llm.py [--eval_items 40] [--extract_items 20] [--train_items 32 | classification=64,matching=256,...]
        [--epochs 1]

Constrained choice is measured plain ("choice") and with contextual calibration ("calibrated", the commands'
default), both from the same option scores.

``--only scorer`` measures the option scorer itself (issue #36), zero-shot and few-shot, classification and matching,
in one process on the one loaded model: the tokens all prompts share encoded once per call and copied into each
batch ("prefix_cache", the code now) against each batch finding and encoding its own shared prefix ("legacy", the
code before), in alternating order, ``--repeats`` times each; items/s of each, and the largest difference between
their scores (``bench/results/llm_scorer.json``):

    nice python bench/llm.py --only scorer --eval_items 40 --batch_size 8 --repeats 3

Targets (issue #21): constrained choice never yields an invalid label and beats free generation's accuracy; LoRA
SFT beats the untuned model.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, print_table, require, run_recipe, save

sys.path.insert(0, str(ROOT))

MODEL = "qwen2.5-coder-0.5b-instruct"


# --- data -----------------------------------------------------------------------------------------------------


def sentence(context: str) -> str:
    """The text of an llm_instructions item: between the instruction's blank line and 'Answer:'."""
    body = context.split("\nAnswer:")[0]
    return body.split("\n\n", 1)[1].strip() if "\n\n" in body else body.split("Input:", 1)[-1].strip()


def load_instructions(path: Path) -> tuple[list[dict], list[dict]]:
    classification, extraction = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        target = row["target"].strip()
        if target.startswith("```json"):
            triples = json.loads(target.removeprefix("```json").removesuffix("```"))
            extraction.append({"text": sentence(row["context"]), "triples": [
                {k: t[k] for k in ("subject", "predicate", "object", "subject_type")} for t in triples]})
        else:
            labels = json.loads(target)
            classification.append({"text": sentence(row["context"]), "label": labels[0]})
    return classification, extraction


def load_lcqmc(path: Path) -> list[dict]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        a, b, label = line.split("\t")
        rows.append({"text_a": a, "text_b": b, "label": "是" if label.strip() == "1" else "不是"})
    return rows


def split(rows: list[dict], n_eval: int, seed: int, balance: str | None = None) -> tuple[list[dict], list[dict]]:
    rows = rows[:]
    random.Random(seed).shuffle(rows)
    if balance:  # as many of each label in the evaluated part (matching: 是 / 不是)
        groups: dict[str, list[dict]] = {}
        for row in rows:
            groups.setdefault(row[balance], []).append(row)
        per = n_eval // len(groups)
        evaluated = [r for g in groups.values() for r in g[:per]]
        random.Random(seed).shuffle(evaluated)
        rest = [r for g in groups.values() for r in g[per:]]
        random.Random(seed + 1).shuffle(rest)
        return evaluated, rest
    return rows[:n_eval], rows[n_eval:]


# --- evaluation -----------------------------------------------------------------------------------------------


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def evaluate(backend, kind: str, items: list[dict], labels: list[str], schema, examples, method: str,
             max_new_tokens: int) -> dict:
    from plm_recipes.llm import classify, extract, match
    from plm_recipes.llm.metrics import choice_accuracy, field_f1, triple_f1

    start = time.perf_counter()
    if method == "calibrated":  # constrained choice, plain and calibrated, from the same scores
        from plm_recipes.llm.prompts import (
            MATCH_OPTIONS,
            classification_messages,
            matching_messages,
        )
        from plm_recipes.llm.scoring import calibrate, option_probabilities
        from plm_recipes.llm.tasks import CONTENT_FREE

        if kind == "classification":
            options, gold = labels, [i["label"] for i in items]
            chats = [classification_messages(i["text"], labels, examples) for i in items]
            free = [classification_messages(t, labels, examples) for t in CONTENT_FREE]
        else:
            options, gold = list(MATCH_OPTIONS), [i["label"] for i in items]
            chats = [matching_messages(i["text_a"], i["text_b"], examples) for i in items]
            free = [matching_messages(t, t, examples) for t in CONTENT_FREE]
        plain = option_probabilities(backend.score_options(chats, options))
        calibrated = calibrate(plain, option_probabilities(backend.score_options(free, options)))
        metrics = {**choice_accuracy([options[j] for j in calibrated.argmax(1)], gold),
                   "uncalibrated_accuracy": choice_accuracy([options[j] for j in plain.argmax(1)], gold)["accuracy"]}
    elif kind == "classification":
        choices = classify(backend, [i["text"] for i in items], labels, examples, method=method,
                           max_new_tokens=max_new_tokens, calibrated=False)  # "calibrated" runs measure it
        metrics = choice_accuracy([c.label for c in choices], [i["label"] for i in items])
    elif kind == "matching":
        choices = match(backend, [(i["text_a"], i["text_b"]) for i in items], examples, method=method,
                        max_new_tokens=max_new_tokens, calibrated=False)
        metrics = choice_accuracy([c.label for c in choices], [i["label"] for i in items])
    else:
        results = extract(backend, [i["text"] for i in items], schema, examples, max_new_tokens=max_new_tokens)
        predicted = [r.result for r in results]
        gold = [i["triples"] for i in items]
        metrics = {**{f"triple_{k}": v for k, v in triple_f1(predicted, gold).items()},
                   **{f"field_{k}": v for k, v in field_f1(predicted, gold).items()},
                   "unreadable": sum(r.error is not None for r in results) / len(results),
                   "sample_answer": results[0].raw[:160]}
    seconds = time.perf_counter() - start
    return {**metrics, "items": len(items), "seconds": round(seconds, 1), "items_per_s": len(items) / seconds,
            "peak_rss_mib": round(peak_rss_mib())}


def score_per_batch(backend, conversations, options):
    """Option scores as the code before issue #36 computed them: each batch of prompts finds and encodes the tokens
    its own prompts share (``OptionScorer`` without a ``prefix``), so a few-shot prompt's examples are encoded once
    per batch."""
    import numpy as np

    option_ids = backend.option_token_ids(options)
    prompts = backend.encode_prompts(conversations, max(map(len, option_ids)))
    size = backend.batch_size
    return np.concatenate([backend.scorer(prompts[i:i + size], option_ids) for i in range(0, len(prompts), size)])


def scorer_ab(backend, evaluated: dict, labels: list[str], shots: dict, repeats: int) -> list[dict]:
    """Items/s of option scoring with the shared prefix encoded once per call against once per batch, alternating
    which runs first; the largest absolute difference between their scores."""
    import numpy as np

    from plm_recipes.llm.prompts import (
        MATCH_OPTIONS,
        classification_messages,
        matching_messages,
    )

    scorers = {"prefix_cache": backend.score_options, "legacy": lambda c, o: score_per_batch(backend, c, o)}
    rows = []
    for kind in ("classification", "matching"):
        for shots_name in ("zero-shot", "few-shot"):
            examples = shots[kind] if shots_name == "few-shot" else []
            items = evaluated[kind]
            if kind == "classification":
                options, chats = labels, [classification_messages(i["text"], labels, examples) for i in items]
            else:
                options = list(MATCH_OPTIONS)
                chats = [matching_messages(i["text_a"], i["text_b"], examples) for i in items]
            prompts = backend.encode_prompts(chats, 8)
            prefix = backend.scorer.shared_prefix(prompts)
            seconds: dict[str, list[float]] = {name: [] for name in scorers}
            scores = {}
            for repeat in range(repeats):
                for name in (list(scorers) if repeat % 2 else list(scorers)[::-1]):
                    start = time.perf_counter()
                    scores[name] = scorers[name](chats, options)
                    seconds[name].append(time.perf_counter() - start)
            difference = float(np.abs(scores["prefix_cache"] - scores["legacy"]).max())
            for name, times in seconds.items():
                row = {"kind": kind, "shots": shots_name, "scorer": name, "items": len(items),
                       "batch_size": backend.batch_size, "options": len(options),
                       "prompt_tokens_mean": round(sum(map(len, prompts)) / len(prompts), 1),
                       "shared_prefix_tokens": prefix.length if prefix else 0,
                       "seconds": [round(t, 2) for t in times], "items_per_s": len(items) / min(times),
                       "items_per_s_mean": len(items) * len(times) / sum(times), "max_score_difference": difference}
                print(json.dumps(row, ensure_ascii=False), flush=True)
                rows.append(row)
    return rows


def sft_records(train: dict[str, list[dict]], labels: list[str], schema) -> list[dict]:
    """The training items as {"system", "context", "target"}: the zero-shot prompts the commands send."""
    from plm_recipes.llm.prompts import (
        classification_messages,
        extraction_messages,
        matching_messages,
    )

    records = []
    for item in train["classification"]:
        messages = classification_messages(item["text"], labels)
        records.append((messages, item["label"]))
    for item in train["matching"]:
        records.append((matching_messages(item["text_a"], item["text_b"]), item["label"]))
    for item in train["extraction"]:
        answer = [{k: t[k] for k in ("subject", "predicate", "object")} for t in item["triples"]]
        records.append((extraction_messages(item["text"], schema), json.dumps(answer, ensure_ascii=False)))
    random.Random(0).shuffle(records)
    return [{"system": m[0]["content"], "context": m[1]["content"], "target": t} for m, t in records]


KINDS = ("classification", "matching", "extraction")


def train_items(value: str) -> dict[str, int]:
    """``--train_items``: ``64`` (every kind) or ``classification=64,matching=256,extraction=64``."""
    if "=" not in value:
        return dict.fromkeys(KINDS, int(value))
    counts = dict.fromkeys(KINDS, 0)
    for part in value.split(","):
        kind, _, number = part.partition("=")
        if kind.strip() not in counts:
            raise argparse.ArgumentTypeError(f"{kind!r} is not one of {', '.join(KINDS)}")
        counts[kind.strip()] = int(number)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--eval_items", type=int, default=20, help="Evaluated items of classification and matching.")
    parser.add_argument("--extract_items", type=int, default=8, help="Evaluated items of extraction.")
    parser.add_argument("--train_items", type=train_items, default="24",
                        help="SFT training items per kind: one number for every kind, or kind=number pairs "
                             "(classification=64,matching=256,extraction=64); 0 everywhere: no SFT.")
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--learning_rate", type=float, default=2e-4)
    parser.add_argument("--lora_r", type=int, default=8)
    parser.add_argument("--lora_layers", default="16,17,18,19,20,21,22,23",
                        help="Layers with adapters (the top 8 of 24: backpropagation stops there, CPU-sized).")
    parser.add_argument("--sft_kinds", default="classification,matching,extraction",
                        help="The kinds the SFT training items come from.")
    parser.add_argument("--few_shot", default="classification,matching,extraction",
                        help="The kinds also evaluated few-shot (base model).")
    parser.add_argument("--max_chars", type=int, default=100, help="Cut classification texts to this length.")
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--repeats", type=int, default=3, help="--only scorer: timed runs of each scorer.")
    parser.add_argument("--only", choices=("base", "sft", "few-shot", "calibration", "scorer"), default=None,
                        help="Run one part only (the others' figures are kept from bench/results/llm.json): base "
                             "(zero-shot), sft (train, then evaluate the adapter), few-shot (base model), "
                             "calibration (constrained choice with contextual calibration: base zero- and few-shot, "
                             "and the adapter bench_llm_sft left, zero-shot), scorer (option scoring with the shared "
                             "prefix encoded once per call against once per batch; bench/results/llm_scorer.json).")
    parser.add_argument("--kinds", default="classification,matching,extraction",
                        help="The kinds evaluated in this run.")
    args = parser.parse_args()

    model_dir, data_dir = require(MODEL, "llm_instructions")
    _, lcqmc_dir = require(MODEL, "lcqmc")
    from plm_recipes.llm import ChoiceExample, ExtractionExample, TransformersBackend

    classification, extraction = load_instructions(data_dir / "train.jsonl")
    for item in classification:
        item["text"] = item["text"][: args.max_chars]
    labels = sorted({i["label"] for i in classification})
    evaluated, train = {}, {}
    evaluated["classification"], train["classification"] = split(classification, args.eval_items, args.seed)
    evaluated["matching"], train["matching"] = split(load_lcqmc(lcqmc_dir / "dev.tsv"), args.eval_items, args.seed,
                                                     balance="label")
    evaluated["extraction"], train["extraction"] = split(extraction, args.extract_items, args.seed)
    schema: dict[str, list[str]] = {}
    for item in train["extraction"]:
        for t in item["triples"]:
            relations = schema.setdefault(t["subject_type"], [])
            if t["predicate"] not in relations:
                relations.append(t["predicate"])

    # few-shot examples from the training part: one per label of the first four labels met (classification),
    # one of each answer (matching), the shortest item with two triples (extraction)
    shots: dict[str, list] = {"classification": [], "matching": [], "extraction": []}
    for item in train["classification"]:
        if len(shots["classification"]) < 4 and item["label"] not in {e.label for e in shots["classification"]} \
                and len(item["text"]) <= 40:
            shots["classification"].append(ChoiceExample(item["text"], item["label"]))
    for answer in ("是", "不是"):
        item = next(i for i in train["matching"] if i["label"] == answer)
        shots["matching"].append(ChoiceExample(item["text_a"], answer, item["text_b"]))
    item = min((i for i in train["extraction"] if len(i["triples"]) == 2), key=lambda i: len(i["text"]))
    shots["extraction"].append(ExtractionExample(item["text"], [
        {k: t[k] for k in ("subject", "predicate", "object")} for t in item["triples"]]))
    sft_kinds = args.sft_kinds.split(",")
    sft_train = {kind: rows[: args.train_items[kind]] if kind in sft_kinds else [] for kind, rows in train.items()}
    for kind in sft_train:  # the few-shot examples are among the training items, never among the evaluated
        assert not {json.dumps(r, sort_keys=True, ensure_ascii=False) for r in evaluated[kind]} & {
            json.dumps(r, sort_keys=True, ensure_ascii=False) for r in sft_train[kind]}

    settings = [("classification", "choice"), ("classification", "generate"), ("matching", "choice"),
                ("matching", "generate"), ("extraction", "generate")]
    max_tokens = {"classification": 16, "matching": 8, "extraction": 160}
    results_path = ROOT / "bench" / "results" / "llm.json"
    results: dict = {"model": MODEL, "eval_items": {k: len(v) for k, v in evaluated.items()},
                     "schema_relations": sum(map(len, schema.values())), "runs": []}
    if results_path.exists() and args.only is not None:
        previous = json.loads(results_path.read_text(encoding="utf-8"))
        replaced = {"base": lambda r: r["model"] == "base" and r["shots"] == "zero-shot",
                    "sft": lambda r: r["model"] == "LoRA SFT", "few-shot": lambda r: r["shots"] == "few-shot",
                    "calibration": lambda r: r["method"] == "calibrated"}[args.only]
        kinds = args.kinds.split(",")
        results["runs"] = [r for r in previous["runs"] if not (replaced(r) and r["kind"] in kinds)]
        results.update({k: v for k, v in previous.items() if k == "sft"})

    calibrated = [("classification", "calibrated"), ("matching", "calibrated")]

    def run_all(backend, name: str, shot_settings: tuple[str, ...], methods=None) -> None:
        for shots_name in shot_settings:
            for kind, method in methods or settings:
                if (shots_name == "few-shot" and kind not in args.few_shot.split(",")) or \
                        kind not in args.kinds.split(","):
                    continue
                examples = shots[kind] if shots_name == "few-shot" else []
                print(f"--- {name} {kind} {shots_name} {method}", flush=True)
                metrics = evaluate(backend, kind, evaluated[kind], labels, schema, examples, method,
                                   max_tokens[kind])
                row = {"model": name, "kind": kind, "shots": shots_name, "method": method, **metrics}
                print(json.dumps(row, ensure_ascii=False), flush=True)
                results["runs"].append(row)
                save("llm", results)  # after every run: a long benchmark leaves what it measured

    def base_model(shot_settings: tuple[str, ...]) -> None:
        backend = TransformersBackend.from_pretrained(str(model_dir), device="cpu", batch_size=args.batch_size,
                                                      progress=False)
        run_all(backend, "base", shot_settings)

    if args.only == "scorer":
        import platform

        import torch

        backend = TransformersBackend.from_pretrained(str(model_dir), device="cpu", batch_size=args.batch_size,
                                                      progress=False)
        rows = scorer_ab(backend, evaluated, labels, shots, args.repeats)
        columns = [("kind", "kind"), ("shots", "shots"), ("scorer", "scorer"), ("prompt_tokens_mean", "prompt tok"),
                   ("shared_prefix_tokens", "shared tok"), ("items_per_s", "items/s (best)"),
                   ("items_per_s_mean", "items/s (mean)"), ("max_score_difference", "max |diff|")]
        shown = [{**r, "items_per_s": f"{r['items_per_s']:.2f}", "items_per_s_mean": f"{r['items_per_s_mean']:.2f}",
                  "max_score_difference": f"{r['max_score_difference']:.1e}"} for r in rows]
        save("llm_scorer", {"model": MODEL, "device": "cpu", "torch_threads": torch.get_num_threads(),
                            "cpu": platform.processor() or platform.machine(), "repeats": args.repeats, "runs": rows},
             table=[{title: r.get(key, "") for key, title in columns} for r in shown])
        print_table(shown, columns)
        return

    # the order puts the targets first: zero-shot choice vs generation, then SFT vs untuned, then few-shot
    if args.only in (None, "base"):
        base_model(("zero-shot",))
    if args.only in (None, "sft") and any(sft_train.values()):
        with tempfile.TemporaryDirectory() as tmp:
            train_file = Path(tmp) / "train.jsonl"
            records = sft_records(sft_train, labels, schema)
            train_file.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records),
                                  encoding="utf-8")
            out = ROOT / "outputs" / "bench_llm_sft"
            argv = ["--model_name_or_path", str(model_dir), "--train_file", str(train_file), "--do_train",
                    "--output_dir", str(out), "--overwrite_output_dir", "--num_train_epochs", str(args.epochs),
                    "--learning_rate", str(args.learning_rate), "--lora_r", str(args.lora_r),
                    "--lora_alpha", str(2 * args.lora_r),
                    "--lora_layers", args.lora_layers, "--max_length", "384",
                    # TRL checkpoints activations by default, which makes backpropagation run through every layer
                    "--gradient_checkpointing", "false", "--per_device_train_batch_size", "4",
                    "--eval_strategy", "no", "--save_strategy", "no", "--load_best_model_at_end", "false",
                    "--logging_steps", "5", "--use_cpu", "--disable_tqdm", "true", "--report_to", "none",
                    "--seed", str(args.seed)]
            print(f"--- LoRA SFT on {len(records)} items", flush=True)
            trained = run_recipe("llm_sft", argv, ROOT / "bench" / "results" / "llm_sft.log")
            results["sft"] = {"train_items": len(records), "items_per_kind": {k: len(v) for k, v in sft_train.items()},
                              "lora_layers": args.lora_layers, "epochs": args.epochs, "lora_r": args.lora_r,
                              "learning_rate": args.learning_rate, "wall_s": round(trained["wall_s"], 1),
                              "peak_rss_mib": round(trained["peak_rss_mib"]),
                              "train_loss": trained["results"]["train"].get("train_loss")}
            print(json.dumps(results["sft"]), flush=True)
        backend = TransformersBackend.from_pretrained(str(out), device="cpu", batch_size=args.batch_size,
                                                      progress=False)
        run_all(backend, "LoRA SFT", ("zero-shot",))
        run_all(backend, "LoRA SFT", ("zero-shot",), calibrated)

    if args.only in (None, "few-shot"):
        base_model(("few-shot",))

    if args.only in (None, "calibration"):  # the commands' default: constrained choice, calibrated
        settings[:] = calibrated
        base_model(("zero-shot", "few-shot"))
        adapter = ROOT / "outputs" / "bench_llm_sft"
        if args.only == "calibration" and adapter.is_dir():  # a full run measured it after training
            run_all(TransformersBackend.from_pretrained(str(adapter), device="cpu", batch_size=args.batch_size,
                                                        progress=False), "LoRA SFT", ("zero-shot",))

    rows = [{**r, **{k: (f"{v:.3f}" if isinstance(v, float) else v) for k, v in r.items()}} for r in results["runs"]]
    columns = [("model", "model"), ("kind", "kind"), ("shots", "shots"), ("method", "method"), ("accuracy", "acc"),
               ("invalid", "invalid"), ("triple_f1", "triple F1"), ("field_f1", "field F1"),
               ("unreadable", "unreadable"), ("items_per_s", "items/s"), ("peak_rss_mib", "peak MiB")]
    save("llm", results, table=[{title: r.get(key, "") for key, title in columns} for r in rows])
    print_table(rows, columns)


if __name__ == "__main__":
    main()
