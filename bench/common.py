"""Shared helpers for the benchmarks: find the real models and data, run a recipe in a child process and
measure it (wall time, peak memory), print a table.

Models come from ``../shared/tools/prepare_models.py`` (``$PLM_MODELS``, default ``~/.cache/plm-models``);
data from ``../shared/data`` (``$PLM_SHARED_DATA``). When either is missing a benchmark says so and exits 0.
"""

from __future__ import annotations

import importlib.util
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
TABLES = ROOT / "bench" / "tables"  # what bench/README.md shows: committed
# The recipes froze a pretrained checkpoint's word embeddings by default when the runs the family pages report were
# measured; they train by default now (#32). The family benchmarks pass this to rerun those rows as they ran
# (a later flag overrides it); bench/defaults.py measures today's defaults against it.
FROZEN_AS_DOCUMENTED = ("--freeze_word_embeddings", "true")


def models_dir() -> Path:
    return Path(os.environ.get("PLM_MODELS", Path.home() / ".cache" / "plm-models"))


def shared_data_dir() -> Path:
    return Path(os.environ.get("PLM_SHARED_DATA", ROOT.parent / "shared" / "data"))


def require(model: str | None, data: str) -> tuple[Path | None, Path]:
    """The model folder and data folder, or exit 0 with a SKIP line when either is missing (``model=None``: a
    benchmark that builds its own model needs the data only)."""
    model_path = models_dir() / model if model is not None else None
    data_path = shared_data_dir() / data
    for what, path, hint in (
        ("model", model_path, "run ../shared/tools/prepare_models.py or set $PLM_MODELS"),
        ("data", data_path, "needs ../shared/data or $PLM_SHARED_DATA"),
    ):
        if path is not None and not path.exists():
            print(f"SKIP: {what} {path} not found ({hint})")
            sys.exit(0)
    return model_path, data_path


def load_recipe(name: str):
    """Import ``recipes/<name>.py`` as a module."""
    spec = importlib.util.spec_from_file_location(f"recipes_{name}", ROOT / "recipes" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def child_main() -> None:
    """In the child: run a recipe's main() with the given argv and print one JSON line of measurements."""
    recipe, argv = sys.argv[2], json.loads(sys.argv[3])
    start = time.perf_counter()
    results = load_recipe(recipe).main(argv)
    wall = time.perf_counter() - start
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("BENCH_RESULT " + json.dumps({"results": results, "wall_s": wall, "peak_rss_mib": peak_mib}))


def run_recipe(recipe: str, argv: list[str], log_path: Path) -> dict:
    """Run ``recipes/<recipe>.py`` main(argv) in a fresh process; its output goes to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with open(log_path, "w", encoding="utf-8") as log:
        proc = subprocess.run([sys.executable, __file__, "--child", recipe, json.dumps(argv)],
                              stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    process_s = time.perf_counter() - start
    lines = [line for line in log_path.read_text(encoding="utf-8").splitlines() if line.startswith("BENCH_RESULT ")]
    if proc.returncode != 0 or not lines:
        sys.exit(f"{recipe} failed (exit {proc.returncode}); see {log_path}")
    measured = json.loads(lines[-1].removeprefix("BENCH_RESULT "))
    measured["process_s"] = process_s  # includes interpreter start and imports
    return measured


def print_table(rows: list[dict], columns: list[tuple[str, str]]) -> None:
    widths = [max(len(title), *(len(str(r.get(key, ""))) for r in rows)) for key, title in columns]
    print("  ".join(title.ljust(w) for (_, title), w in zip(columns, widths)))
    for row in rows:
        print("  ".join(str(row.get(key, "")).ljust(w) for (key, _), w in zip(columns, widths)))


def save(name: str, payload: dict, table: list[dict] | None = None) -> Path:
    """Write ``payload`` to ``bench/results/<name>.json`` (not committed: logs, curves, local paths), and
    ``table``, the rows the benchmark prints, to ``bench/tables/<name>.json`` with the command and the date:
    ``bench/report.py`` writes ``bench/README.md`` from those."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, ensure_ascii=False, indent=1), encoding="utf-8")
    if table:
        TABLES.mkdir(parents=True, exist_ok=True)
        record = {"benchmark": Path(sys.argv[0]).name, "command": " ".join(["python", f"bench/{Path(sys.argv[0]).name}",
                                                                             *sys.argv[1:]]),
                  "date": time.strftime("%Y-%m-%d"), "machine": machine(), "rows": table}
        (TABLES / f"{name}.json").write_text(json.dumps(record, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return path


def machine() -> str:
    """The CPU and GPU the benchmark ran on, in a few words."""
    import platform

    import torch

    cpu = f"{os.cpu_count()} CPU cores ({platform.machine()})"
    return f"{torch.cuda.get_device_name(0)}, {cpu}" if torch.cuda.is_available() else cpu


if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "--child":
    sys.path.insert(0, str(ROOT))
    child_main()
