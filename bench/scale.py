#!/usr/bin/env python
"""Benchmark: the recipes on training files of 10,000 to 5,000,000 lines: peak memory, time to the first training
step on a first and a second run (the datasets cache), and tokenization in Dataset.map against the tokenizer alone.

Each case writes a synthetic training file of the recipe's format (short Chinese texts), then runs the recipe twice
in a fresh process with a tiny BERT (one layer, random weights) that carries the real bert-base-chinese tokenizer
(the tokenizer is what large data costs), 2 training steps, no evaluation, ``--preprocessing_num_workers``
(default 2). Reported per run: peak RSS of the recipe's process (``ru_maxrss``; the map workers' own peaks
separately; and the peak of its anonymous memory, ``RssAnon``, sampled every 0.1 s: what the process allocated,
without the pages of the memory-mapped Arrow files it read, which ``ru_maxrss`` counts and the kernel can drop),
seconds from the process's start to the first training step, and each ``Dataset.map`` of the run with
its rows/s. After the first run the same process tokenizes the texts of the same training lines (their first
200,000) with the tokenizer called directly, in batches of 1,000 on one core (its own threads off):
``map / worker vs bare`` is the longest map's lines/s per worker against that (UIE's and PET's maps also write
windows and templates; SimCSE has no tokenizing map: sentence-transformers tokenizes in its collator, batch by
batch).

    python bench/scale.py                                   # all five recipes, 10,000 and 1,000,000 lines
    python bench/scale.py --case text_classification --lines 5000000
    python bench/scale.py --case uie pet reward_model simcse --lines 10000
    python bench/scale.py --dataset_name                    # each recipe on a local Hub-layout dataset folder

Targets (#34): peak RSS at 1,000,000 lines no more than 300 MB above the 10,000-line run, for every recipe; a
second run at its first step in no more than 25% of the first run's time to it; map's throughput at least 70% of
the bare tokenizer's per worker; 5,000,000 lines train without running out of memory (24 GB here). Run it alone:
a second job on the CPU halves both the map and the bare tokenizer.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from common import ROOT, models_dir, print_table, save

TINY_BERT = {"hidden_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 128}
WORDS = ["苹果", "电脑", "手机", "这本书", "屏幕", "电池", "物流", "客服", "价格", "质量", "味道", "包装", "速度",
         "很好", "一般", "太差了", "非常满意", "还可以", "不推荐", "值得买", "有点贵", "很便宜", "发货快", "用了一周"]
LABELS = ["电脑", "水果", "酒店", "书籍"]  # data/prompting/verbalizer.txt's


def sentence(rng: random.Random) -> str:
    return "".join(rng.choice(WORDS) for _ in range(rng.randint(4, 12)))


@dataclass
class Case:
    """A recipe at scale: how to write its training file (a line from a random generator), its flags beyond the
    common ones, and the texts of a line that the recipe tokenizes (for the bare tokenizer)."""

    recipe: str
    suffix: str
    line: Callable[[random.Random], str]
    texts: Callable[[str], list[str]]
    row: Callable[[str], dict]  # the line as a dataset row, in the columns the recipe reads by default
    flags: list[str] = field(default_factory=list)
    tokenizes: bool = True  # False: the recipe's trainer tokenizes batch by batch, its maps only arrange the rows


def _uie_line(rng: random.Random) -> str:
    content = sentence(rng)
    return json.dumps({"content": content, "result_list": [{"text": content[:2], "start": 0, "end": 2}],
                       "prompt": "产品"}, ensure_ascii=False)


def _labelled_row(line: str) -> dict:
    label, text = line.split("\t", 1)
    return {"text": text, "label": label}


CASES: dict[str, Case] = {
    "text_classification": Case("text_classification", "txt", lambda rng: f"{rng.choice(LABELS)}\t{sentence(rng)}",
                                lambda line: [line.split("\t", 1)[1]], _labelled_row),
    "uie": Case("uie", "jsonl", _uie_line, lambda line: [json.loads(line)["content"]], json.loads,
                ["--max_seq_length", "64", "--doc_stride", "16"]),
    "pet": Case("pet", "txt", lambda rng: f"{rng.choice(LABELS)}\t{sentence(rng)}", lambda line: [line.split("\t", 1)[1]],
                _labelled_row, ["--verbalizer_file", str(ROOT / "data/prompting/verbalizer.txt"),
                                "--template_file", str(ROOT / "data/prompting/prompt.txt"), "--max_seq_length", "64"]),
    "reward_model": Case("reward_model", "tsv", lambda rng: "\t".join(sentence(rng) for _ in range(3)),
                         lambda line: line.split("\t"), lambda line: {"ranking": line.split("\t")}),
    # sentence-transformers tokenizes in its collator, batch by batch: SimCSE's map only pairs each sentence
    "simcse": Case("simcse", "txt", sentence, lambda line: [line], lambda line: {"text": line}, tokenizes=False),
}


def tiny_model(tokenizer_path: Path, folder: Path) -> Path:
    """A one-layer BERT with random weights and the real tokenizer: every recipe here loads it as a checkpoint."""
    from transformers import AutoTokenizer, BertConfig, BertForMaskedLM

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_path)
    BertForMaskedLM(BertConfig(vocab_size=len(tokenizer), **TINY_BERT)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


# -- the child: one run of a recipe, measured -------------------------------------------------------------------

def _anonymous_peak(marks: dict) -> None:
    """Sample the process's anonymous memory (``RssAnon``: what it allocated, not the pages of the memory-mapped
    Arrow files it read, which ``ru_maxrss`` counts too and the kernel can drop) every 0.1 s, keeping the peak."""
    while True:
        with open("/proc/self/status") as f:
            anon = next((int(line.split()[1]) for line in f if line.startswith("RssAnon:")), 0)
        marks["peak_anon_mb"] = max(marks.get("peak_anon_mb", 0), round(anon / 1024))
        time.sleep(0.1)


def child(spec: dict) -> None:
    start = time.perf_counter()
    import resource
    import runpy
    import threading

    import transformers

    sys.path.insert(0, str(ROOT))
    import plm_recipes.data as data
    import plm_recipes.data.preprocessing as preprocessing

    marks: dict = {"maps": []}
    if os.path.exists("/proc/self/status"):
        threading.Thread(target=_anonymous_peak, args=(marks,), daemon=True).start()

    class FirstStep(transformers.TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            marks.setdefault("first_step_s", round(time.perf_counter() - start, 2))

    trainer_init = transformers.Trainer.__init__

    def init(self, *args, **kwargs):
        trainer_init(self, *args, **kwargs)
        self.add_callback(FirstStep())

    transformers.Trainer.__init__ = init
    map_split = preprocessing.map_split

    def timed_map(split, function, **kwargs):
        began = time.perf_counter()
        out = map_split(split, function, **kwargs)
        if not out.streaming:
            seconds = time.perf_counter() - began
            marks["maps"].append({"desc": kwargs.get("desc"), "rows": len(out.dataset), "seconds": round(seconds, 2),
                                  "rows_per_s": round(len(out.dataset) / max(seconds, 1e-9))})
        return out

    data.map_split = preprocessing.map_split = timed_map
    script = str(ROOT / "recipes" / f"{spec['recipe']}.py")
    sys.argv = [script, *spec["argv"]]
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as e:
        if e.code not in (0, None):
            raise
    marks["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    marks["workers_peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
    if spec.get("bare_texts"):
        marks["bare_tokenizer_rows_per_s"] = bare_tokenizer(spec["tokenizer"], spec["bare_texts"], spec["limit"])
    print("SCALE_RESULT " + json.dumps(marks))


def bare_tokenizer(tokenizer_path: str, texts_file: str, limit: int) -> int:
    """Rows/s of the tokenizer called directly on the first ``limit`` texts, batches of 1,000, on one core.

    A fast tokenizer's batch call runs on every core (``tokenizers``' own threads) in a process that has not
    forked, as this one, the recipe's parent; a map worker is a forked process, where it runs on one. Measured with
    ``TOKENIZERS_PARALLELISM=false``, so that the ratio is per worker: with its threads on, the tokenizer alone
    read 1.2-1.6x faster on the 2 cores here, which took that much off every recipe's ratio."""
    import itertools

    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_path)
    with open(texts_file, encoding="utf-8") as f:
        texts = [line.rstrip("\n") for line in itertools.islice(f, limit)]
    before = os.environ.get("TOKENIZERS_PARALLELISM")
    os.environ["TOKENIZERS_PARALLELISM"] = "false"  # read by tokenizers at each batch call
    try:
        began = time.perf_counter()
        for i in range(0, len(texts), 1000):
            tokenizer(texts[i:i + 1000], truncation=True, max_length=128)
        return round(len(texts) / (time.perf_counter() - began))
    finally:
        if before is None:
            del os.environ["TOKENIZERS_PARALLELISM"]
        else:
            os.environ["TOKENIZERS_PARALLELISM"] = before


def _short(desc: str) -> str:
    """A map's description without the file it names."""
    return re.sub(r" (of )?/\S+", "", desc)


def recipe_argv(case: Case, model: Path, data: list[str], out: Path, workers: int) -> list[str]:
    """The recipe's flags: ``data`` (its training data), 2 steps, no evaluation or save, ``workers`` map workers."""
    return ["--model_name_or_path", str(model), *data, "--do_train", "--max_steps", "2",
            "--eval_strategy", "no", "--save_strategy", "no", "--load_best_model_at_end", "false",
            "--per_device_train_batch_size", "16", "--preprocessing_num_workers", str(workers),
            "--output_dir", str(out), "--overwrite_output_dir", "--report_to", "none", "--disable_tqdm", "true",
            "--use_cpu", *case.flags]


def run_child(spec: dict, what: str) -> tuple[dict, float]:
    """One run of a recipe in a fresh process (:func:`child`): what it measured, and its wall seconds."""
    began = time.perf_counter()
    done = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], capture_output=True, text=True)
    wall = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"{what} failed:\n{done.stderr[-4000:]}")
    [line] = [x for x in done.stdout.splitlines() if x.startswith("SCALE_RESULT ")]
    return json.loads(line.removeprefix("SCALE_RESULT ")), wall


def run_case(name: str, lines: int, workers: int, model: Path, work: Path) -> list[dict]:
    case = CASES[name]
    data = work / f"{name}_{lines}.{case.suffix}"
    bare = work / f"{name}_{lines}_texts.txt"
    rng = random.Random(lines)
    with open(data, "w", encoding="utf-8") as f, open(bare, "w", encoding="utf-8") as texts:
        for _ in range(lines):  # written now: a new file, so the first run finds nothing in the cache
            line = case.line(rng)
            f.write(line + "\n")
            texts.writelines(text + "\n" for text in case.texts(line))
    argv = recipe_argv(case, model, ["--train_file", str(data)], work / f"out_{name}_{lines}", workers)
    rows = []
    for attempt in ("first", "second"):
        spec = {"recipe": case.recipe, "argv": argv, "tokenizer": str(model),
                "bare_texts": str(bare) if attempt == "first" and case.tokenizes else None, "limit": min(lines, 200_000)}
        result, wall = run_child(spec, f"{name} at {lines} lines")
        row = {"recipe": name, "lines": f"{lines:,}", "run": attempt, "peak RSS MB": result["peak_rss_mb"],
               "peak anonymous MB": result.get("peak_anon_mb", ""),
               "workers' peak MB": result["workers_peak_rss_mb"], "first step s": result.get("first_step_s"),
               "wall s": round(wall, 1),
               "maps": "; ".join(f"{_short(m['desc'])} {m['seconds']} s" for m in result["maps"])}
        longest = max(result["maps"], key=lambda m: m["seconds"], default=None)
        if attempt == "first" and case.tokenizes and longest and result.get("bare_tokenizer_rows_per_s"):
            # the longest map (the tokenizing one) against the tokenizer alone on the texts of as many lines
            per_worker = longest["rows_per_s"] / workers
            bare_rate = result["bare_tokenizer_rows_per_s"] / len(case.texts(case.line(random.Random(0))))
            row["map / worker vs bare (lines/s)"] = f"{per_worker:,.0f} / {bare_rate:,.0f} = {per_worker / bare_rate:.2f}"
        rows.append(row)
        print(json.dumps(row, ensure_ascii=False), flush=True)
    data.unlink()
    bare.unlink()
    return rows


def run_dataset_case(name: str, lines: int, workers: int, model: Path, work: Path) -> dict:
    """The recipe on ``--dataset_name``: a local folder laid out as a Hub dataset repository (the lines as rows of
    the recipe's default columns, parquet under ``data/``), one run of 2 steps; whether it trained and whether its
    run record (``run_config.yaml``) names the dataset."""
    import datasets

    case = CASES[name]
    folder = work / f"{name}_hub"
    (folder / "data").mkdir(parents=True, exist_ok=True)
    rng = random.Random(lines)
    datasets.Dataset.from_list([case.row(case.line(rng)) for _ in range(lines)]).to_parquet(
        folder / "data" / "train-00000-of-00001.parquet")
    out = work / f"out_{name}_hub"
    argv = recipe_argv(case, model, ["--dataset_name", str(folder)], out, workers)
    spec = {"recipe": case.recipe, "argv": argv, "tokenizer": str(model), "bare_texts": None}
    result, wall = run_child(spec, f"{name} on --dataset_name {folder}")
    record = (out / "run_config.yaml").read_text(encoding="utf-8")
    row = {"recipe": name, "rows": f"{lines:,}", "data": "--dataset_name (parquet under data/)",
           "trained steps": json.loads((out / "trainer_state.json").read_text())["global_step"],
           "run record names it": "yes" if f"dataset_name: {folder}" in record else "NO",
           "peak RSS MB": result["peak_rss_mb"], "first step s": result.get("first_step_s"), "wall s": round(wall, 1),
           "maps": "; ".join(f"{_short(m['desc'])} {m['seconds']} s" for m in result["maps"])}
    print(json.dumps(row, ensure_ascii=False), flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--case", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--lines", nargs="+", type=int,
                        help="Default: 10,000 and 1,000,000 (10,000 with --dataset_name).")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--results_name", default=None, help="Default: scale (scale_dataset_name with --dataset_name).")
    parser.add_argument("--dataset_name", action="store_true",
                        help="Instead: each recipe on --dataset_name, a local folder laid out as a Hub dataset "
                             "repository holding --lines rows (default 10,000): trains, and the run record names it.")
    args = parser.parse_args()
    tokenizer = models_dir() / "bert-base-chinese-tokenizer"
    if not tokenizer.is_dir():
        print(f"skipped: no {tokenizer} (python ../shared/tools/prepare_models.py builds it)")
        return
    rows = []
    with tempfile.TemporaryDirectory(prefix="plm-scale-") as work:
        model = tiny_model(tokenizer, Path(work) / "tiny-bert")
        for name in args.case:
            if args.dataset_name:
                rows += [run_dataset_case(name, lines, args.workers, model, Path(work))
                         for lines in args.lines or [10_000]]
                continue
            for lines in args.lines or [10_000, 1_000_000]:
                rows += run_case(name, lines, args.workers, model, Path(work))
    columns = [(k, k) for k in dict.fromkeys(k for r in rows for k in r)]
    print_table(rows, columns)
    name = args.results_name or ("scale_dataset_name" if args.dataset_name else "scale")
    save(name, {"rows": rows, "workers": args.workers}, table=rows)


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child(json.loads(sys.argv[2]))
    else:
        main()
