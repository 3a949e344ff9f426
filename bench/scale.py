#!/usr/bin/env python
"""Benchmark: the recipes on training files of 10,000 to 5,000,000 lines: peak memory, time to the first training
step on a first and a second run (the datasets cache), and tokenization in Dataset.map against the tokenizer alone.

Each case writes a synthetic training file of the recipe's format (short Chinese texts), then runs the recipe twice
in a fresh process with a tiny model built from a config (``--config_name bert``, the real bert-base-chinese
tokenizer: the tokenizer is what large data costs), 2 training steps, no evaluation, ``--preprocessing_num_workers``
(default 2). Reported per run: peak RSS of the recipe's process (``ru_maxrss``; the map workers' own peaks
separately), seconds from the process's start to the first training step, and each ``Dataset.map`` of the run with
its rows/s. After the first run the same process tokenizes the same training texts with the tokenizer called
directly, in batches of 1,000 on one core: ``map / worker`` is the map's rows/s per worker against that.

    python bench/scale.py                                   # text classification, 10,000 and 1,000,000 lines
    python bench/scale.py --case text_classification --lines 10000 1000000 5000000
    python bench/scale.py --case all --lines 10000 1000000

Targets (#34): peak RSS at 1,000,000 lines no more than 300 MB above the 10,000-line run, for every recipe; a
second run at its first step in no more than 25% of the first run's time to it; map's throughput at least 70% of
the bare tokenizer's per worker; 5,000,000 lines train without running out of memory (24 GB here). Run it alone:
a second job on the CPU halves both the map and the bare tokenizer.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from common import ROOT, models_dir, print_table, save

TINY_BERT = "hidden_size=64,num_hidden_layers=1,num_attention_heads=2,intermediate_size=128"
WORDS = ["苹果", "电脑", "手机", "这本书", "屏幕", "电池", "物流", "客服", "价格", "质量", "味道", "包装", "速度",
         "很好", "一般", "太差了", "非常满意", "还可以", "不推荐", "值得买", "有点贵", "很便宜", "发货快", "用了一周"]
LABELS = ["水果", "电脑", "手机", "书籍", "服装", "食品", "家电", "其他"]


def sentence(rng: random.Random) -> str:
    return "".join(rng.choice(WORDS) for _ in range(rng.randint(4, 12)))


@dataclass
class Case:
    """A recipe at scale: how to write ``lines`` training lines, and its flags beyond the common ones."""

    recipe: str
    write: Callable[[Path, int], None]
    flags: Callable[[Path], list[str]]
    texts: Callable[[Path], Iterator[str]] | None = None  # what the recipe tokenizes, for the bare tokenizer
    extra: list[str] = field(default_factory=list)


def write_labelled(path: Path, lines: int) -> None:
    rng = random.Random(0)
    with open(path, "w", encoding="utf-8") as f:
        for _ in range(lines):
            f.write(f"{rng.choice(LABELS)}\t{sentence(rng)}\n")


def labelled_texts(path: Path) -> Iterator[str]:
    with open(path, encoding="utf-8") as f:
        for line in f:
            yield line.rstrip("\n").split("\t", 1)[1]


CASES: dict[str, Case] = {
    "text_classification": Case(
        "text_classification", write_labelled, lambda path: ["--train_file", str(path)], labelled_texts),
}


# -- the child: one run of a recipe, measured -------------------------------------------------------------------

def child(spec: dict) -> None:
    start = time.perf_counter()
    import resource
    import runpy

    import transformers

    sys.path.insert(0, str(ROOT))
    import plm_recipes.data as data
    import plm_recipes.data.preprocessing as preprocessing

    marks: dict = {"maps": []}

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
    """Rows/s of the tokenizer called directly on the first ``limit`` texts, batches of 1,000, one process."""
    import itertools

    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_path)
    with open(texts_file, encoding="utf-8") as f:
        texts = [line.rstrip("\n") for line in itertools.islice(f, limit)]
    began = time.perf_counter()
    for i in range(0, len(texts), 1000):
        tokenizer(texts[i:i + 1000], truncation=True, max_length=128)
    return round(len(texts) / (time.perf_counter() - began))


def run_case(name: str, lines: int, workers: int, tokenizer: Path, work: Path) -> list[dict]:
    case = CASES[name]
    data = work / f"{name}_{lines}.{'txt'}"
    case.write(data, lines)  # written now: a new file, so the first run finds nothing in the cache
    bare = None
    if case.texts is not None:
        bare = work / f"{name}_{lines}_texts.txt"
        with open(bare, "w", encoding="utf-8") as f:
            f.writelines(text + "\n" for text in case.texts(data))
    argv = [*case.flags(data), "--config_name", "bert", "--config_overrides", TINY_BERT,
            "--tokenizer_name", str(tokenizer), "--do_train", "--max_steps", "2", "--eval_strategy", "no",
            "--save_strategy", "no", "--load_best_model_at_end", "false", "--per_device_train_batch_size", "16",
            "--preprocessing_num_workers", str(workers), "--output_dir", str(work / f"out_{name}_{lines}"),
            "--overwrite_output_dir", "--report_to", "none", "--disable_tqdm", "true", "--use_cpu", *case.extra]
    rows = []
    for attempt in ("first", "second"):
        spec = {"recipe": case.recipe, "argv": argv, "tokenizer": str(tokenizer),
                "bare_texts": str(bare) if bare and attempt == "first" else None, "limit": min(lines, 200_000)}
        began = time.perf_counter()
        done = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], capture_output=True, text=True)
        wall = time.perf_counter() - began
        if done.returncode != 0:
            raise SystemExit(f"{name} at {lines} lines failed:\n{done.stderr[-4000:]}")
        [line] = [x for x in done.stdout.splitlines() if x.startswith("SCALE_RESULT ")]
        result = json.loads(line.removeprefix("SCALE_RESULT "))
        tokenize = [m for m in result["maps"] if m["desc"] and m["desc"].startswith("Tokenizing")]
        row = {"recipe": name, "lines": f"{lines:,}", "run": attempt, "peak RSS MB": result["peak_rss_mb"],
               "workers' peak MB": result["workers_peak_rss_mb"], "first step s": result.get("first_step_s"),
               "wall s": round(wall, 1),
               "maps": "; ".join(f"{m['desc'].split(' of ')[0]} {m['seconds']} s" for m in result["maps"])}
        if attempt == "first" and tokenize and result.get("bare_tokenizer_rows_per_s"):
            per_worker = tokenize[0]["rows_per_s"] / workers
            row["map / worker vs bare"] = f"{per_worker:,.0f} / {result['bare_tokenizer_rows_per_s']:,} rows/s " \
                                          f"= {per_worker / result['bare_tokenizer_rows_per_s']:.2f}"
        rows.append(row)
        print(json.dumps(row, ensure_ascii=False), flush=True)
    data.unlink()
    if bare:
        bare.unlink()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--case", nargs="+", default=["text_classification"], choices=[*CASES, "all"])
    parser.add_argument("--lines", nargs="+", type=int, default=[10_000, 1_000_000])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--results_name", default="scale")
    args = parser.parse_args()
    tokenizer = models_dir() / "bert-base-chinese-tokenizer"
    if not tokenizer.is_dir():
        print(f"skipped: no {tokenizer} (python ../shared/tools/prepare_models.py builds it)")
        return
    names = list(CASES) if "all" in args.case else args.case
    rows = []
    with tempfile.TemporaryDirectory(prefix="plm-scale-") as work:
        for name in names:
            for lines in args.lines:
                rows += run_case(name, lines, args.workers, tokenizer, Path(work))
    columns = [(k, k) for k in dict.fromkeys(k for r in rows for k in r)]
    print_table(rows, columns)
    save(args.results_name, {"rows": rows, "workers": args.workers}, table=rows)


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child(json.loads(sys.argv[2]))
    else:
        main()
