#!/usr/bin/env python
"""Write ``bench/README.md`` from the benchmarks themselves: what each script measures (its docstring's first
paragraph), how to run it, and the tables its last runs saved (``bench/tables/<name>.json``, written by
``common.save``: the rows the script printed, with its command, date and machine). Nothing in the README is typed
by hand, so a figure there is always one a script measured.

    python bench/report.py            # rewrite bench/README.md
    python bench/report.py --check    # exit 1 when bench/README.md is not what the tables give
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
TABLES = BENCH / "tables"
README = BENCH / "README.md"
HELPERS = {"common.py", "report.py"}

INTRO = """\
# Benchmarks

Each script runs recipes on the real models of `../shared/tools/prepare_models.py` (`$PLM_MODELS`) and the data of
`../shared/data` (`$PLM_SHARED_DATA`); without them it says so and exits 0. Run them one at a time on an otherwise
idle machine: speeds are only comparable within one run. Each saves its full results under `bench/results/` (not
committed) and the table it prints under `bench/tables/` (committed); this page is written from those tables by
`python bench/report.py`, so it shows what the last runs measured, with their commands, dates and machines. A
script with no table here has not been run since its tables were first kept: its family's page in `docs/` gives
the figures of its earlier runs.
"""


def summary(script: Path) -> tuple[str, str]:
    """The first paragraph of ``script``'s docstring, and its usage lines (the indented lines that run it)."""
    doc = ast.get_docstring(ast.parse(script.read_text(encoding="utf-8"))) or ""
    paragraphs = doc.split("\n\n")
    usage = [line.strip() for p in paragraphs for line in p.splitlines()
             if line.startswith("    ") and line.strip().startswith("python bench/")]
    return " ".join(paragraphs[0].split()), "\n".join(usage)


def markdown_table(rows: list[dict]) -> str:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    def cell(value) -> str:
        return str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(map(cell, columns)) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(cell(row.get(c, "")) for c in columns) + " |")
    return "\n".join(lines)


def tables_of(script: Path) -> list[tuple[str, dict]]:
    found = []
    for path in sorted(TABLES.glob("*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        if record.get("benchmark") == script.name:
            found.append((path.stem, record))
    return found


def render() -> str:
    parts = [INTRO]
    for script in sorted(BENCH.glob("*.py")):
        if script.name in HELPERS:
            continue
        what, usage = summary(script)
        parts.append(f"## `bench/{script.name}`\n\n{what}\n")
        if usage:
            parts.append(f"```bash\n{usage}\n```\n")
        tables = tables_of(script)
        if not tables:
            parts.append("No table kept yet: run the script to add one.\n")
        for name, record in tables:
            parts.append(f"**{name}**: `{record['command']}`, {record['date']}, {record['machine']}.\n\n"
                         f"{markdown_table(record['rows'])}\n")
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="Only check that bench/README.md is up to date.")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = README.read_text(encoding="utf-8") if README.exists() else ""
        if current != text:
            print("bench/README.md is not what bench/tables gives: run python bench/report.py", file=sys.stderr)
            return 1
        return 0
    README.write_text(text, encoding="utf-8")
    print(f"wrote {README}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
