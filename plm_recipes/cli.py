"""The ``plm-recipes`` command.

    plm-recipes predict text-classification --model outputs/text_classification --text "这个笔记本电脑运行很快"
    plm-recipes predict text-classification --model outputs/text_classification --file texts.txt --top_k 3
    plm-recipes predict matching --model outputs/matching_dssm --labels types_desc.txt --text "屏幕很清晰"
    plm-recipes embed --model outputs/matching_dssm --input texts.txt --output embeddings.npy
    plm-recipes predict similarity --model outputs/simcse --a "怎么开初婚未育证明" --b "初婚未育证明怎么开？"
    plm-recipes push --model outputs/text_classification --repo_id user/tnews-bert

Training runs the recipes themselves (``python recipes/<name>.py`` or ``accelerate launch recipes/<name>.py``).

Each task family adds its own commands: its declaration (:class:`plm_recipes.families.Family`, found through
entry points) names a function ``add_commands(commands, predict)``, which adds subcommands to ``plm-recipes``
(``commands``) and tasks to ``plm-recipes predict`` (``predict``). The helpers here (:func:`add_io_arguments`,
:func:`texts_from_args`, :func:`in_batches` with its progress bar and items/s, :func:`write_jsonl`, the argument
types :func:`positive_int`, :func:`finite_float` and :func:`score_threshold`) keep the commands alike.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import time
from collections.abc import Callable, Sequence

import datasets
import transformers

from .data import read_text_lines
from .data.readers import read_lines
from .errors import PlmRecipesError
from .families import families
from .files import atomic_write, refuse_output_is_input
from .hub import add_push_command

# The arguments of the commands that name a file they read: --output may be none of them.
INPUT_ARGUMENTS = ("file", "input", "prompts", "labels", "examples", "doccano_file")


def texts_from_args(args: argparse.Namespace) -> list[str]:
    """The texts of ``--text`` (repeatable) and ``--file`` (one per line). An empty ``--text`` is refused (a
    model would still give it a label); blank lines inside ``--file`` are skipped and said so, with their numbers."""
    texts = list(args.text or [])
    for i, text in enumerate(texts, start=1):
        if not text.strip():
            raise PlmRecipesError(f"--text number {i} is empty; give the text to predict")
    if args.file:
        numbered = read_lines(args.file)
        if not numbered:
            read_text_lines(args.file)  # the empty file's error
        texts += [text for _, text in numbered]
        report_blank_lines(args.file, [number for number, _ in numbered])
    if not texts:
        raise PlmRecipesError("nothing to predict: pass --text TEXT (repeatable) or --file FILE (one text per line)")
    return texts


def report_blank_lines(path: str, numbers: Sequence[int]) -> None:
    """Say on stderr which lines of ``path`` are blank (and so have no row in the results), from the numbers of
    the lines that are not."""
    blank = sorted(set(range(1, numbers[-1] + 1)) - set(numbers)) if numbers else []
    if blank:
        shown = ", ".join(map(str, blank[:10])) + (f" and {len(blank) - 10} more" if len(blank) > 10 else "")
        print(f"{path}: skipped {len(blank)} blank line{'s' if len(blank) > 1 else ''} ({shown}); the results have "
              "no row for them", file=sys.stderr)


def add_io_arguments(parser: argparse.ArgumentParser) -> None:
    """``--model``, ``--text``, ``--file``, ``--output``, ``--batch_size``, ``--device``, ``--no_progress``."""
    parser.add_argument("--model", required=True, help="A saved model folder (a recipe's output_dir) or a hub id.")
    parser.add_argument("--text", action="append", help="A text to predict; repeat for several.")
    parser.add_argument("--file", help="A UTF-8 file with one text per line.")
    parser.add_argument("--output", help="Write JSON lines here instead of printing a table.")
    parser.add_argument("--batch_size", type=positive_int, default=32)
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1, ... (default: GPU when there is one).")
    add_progress_argument(parser)


def add_progress_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no_progress", action="store_true",
                        help="No progress bar (there is none either when stderr is not a terminal).")


def in_batches(predict: Callable[[list], Sequence], items: Sequence, batch_size: int, *, progress: bool = True,
               what: str = "predicting") -> list:
    """``predict`` over ``items``, ``batch_size`` at a time, with a progress bar on stderr (not with ``progress``
    false, nor when stderr is not a terminal), and, for more than one batch, the items per second on stderr at the
    end. The results are ``predict``'s, in order, as one list."""
    from tqdm.auto import tqdm

    items = list(items)
    start, results = time.perf_counter(), []
    several = len(items) > batch_size
    with tqdm(total=len(items), desc=what, unit="item", file=sys.stderr,
              disable=not (progress and several and sys.stderr.isatty())) as bar:
        for begin in range(0, len(items), batch_size):
            chunk = items[begin:begin + batch_size]
            results.extend(predict(chunk))
            bar.update(len(chunk))
    if several:
        seconds = time.perf_counter() - start
        print(f"{what}: {len(items)} items in {seconds:.1f} s ({len(items) / max(seconds, 1e-9):.1f} items/s)",
              file=sys.stderr)
    return results


def positive_int(text: str) -> int:
    """An argparse type: an integer >= 1 (``--top_k 0`` or ``-1`` would silently drop results)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value}")
    return value


def finite_float(text: str) -> float:
    """An argparse type: a finite number (``nan`` compares false with everything, ``inf`` matches nothing)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def score_threshold(text: str) -> float:
    """An argparse type: a decision threshold on a cosine similarity or a match probability, so a number from -1 to
    1 (a cosine of 2 is never reached: every pair would be "no match")."""
    value = finite_float(text)
    if not -1 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a number from -1 to 1 (a cosine similarity; a match probability "
                                         f"is from 0 to 1), got {text}")
    return value


def write_jsonl(path: str, rows: list[dict]) -> None:
    """Write ``rows`` as JSON lines (UTF-8, Chinese unescaped), whole or not at all, and say so on stderr."""
    with atomic_write(path) as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} predictions to {path}", file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="plm-recipes", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    predict = commands.add_parser("predict", help="Predict with a trained model.")
    tasks = predict.add_subparsers(dest="task", required=True)
    if not families():
        raise PlmRecipesError("no task family is registered: install the package (pip install -e .) so that its "
                              "plm_recipes.families entry points exist")
    for family in families():
        add_commands = family.add_commands()
        if add_commands is not None:
            add_commands(commands, tasks)
    add_push_command(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    try:
        parser = build_parser()
    except PlmRecipesError as e:  # a package used from a folder it was not installed from
        print(f"error: {e}", file=sys.stderr)
        sys.exit(e.exit_code)
    parser.add_argument("--debug", action="store_true", help="Show the traceback of errors in the input too.")
    args = parser.parse_args(argv)
    debug = args.debug or os.environ.get("PLM_RECIPES_DEBUG", "") not in ("", "0")
    keep_stdout_for_results()
    try:
        if getattr(args, "output", None):
            check_writable(args.output)  # before the work, not after it: an unwritable --output loses nothing
            refuse_output_is_input(args.output, {f"--{name}": getattr(args, name, None) for name in INPUT_ARGUMENTS})
        args.func(args)
    except PlmRecipesError as e:
        if debug:
            raise
        print(f"error: {e}", file=sys.stderr)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:  # Ctrl-C while a model loads or predicts: nothing was written yet
        if debug:
            raise
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except OSError as e:
        if debug or e.filename is None:
            raise
        print(f"error: {e.filename}: {e.strerror or e}", file=sys.stderr)
        sys.exit(2)


def keep_stdout_for_results() -> None:
    """Send log records to stderr, warnings and worse only, so that stdout holds nothing but the command's results
    (a pipe such as ``plm-recipes predict ... | cut -f2`` must not see a loading message).

    A training run in the same process (a notebook, a test) may have set the libraries to INFO with a handler on
    stdout, and with ``CI`` set in the environment transformers hands its records to that root handler too.
    """
    logging.basicConfig(format="%(levelname)s - %(name)s - %(message)s", stream=sys.stderr, level=logging.WARNING,
                        force=True)
    transformers.utils.logging.set_verbosity_warning()
    datasets.utils.logging.set_verbosity_warning()
    logging.getLogger("plm_recipes").setLevel(logging.WARNING)


def check_writable(path: str) -> None:
    """Raise a one-line error now when ``path`` cannot be written (a missing folder, a folder in its place, a
    read-only disk, no permission), by opening it for appending; a file created by the check is removed."""
    if os.path.isdir(path):
        raise PlmRecipesError(f"--output {path}: is a folder; give a file name")
    existed = os.path.exists(path)
    try:
        with open(path, "a", encoding="utf-8"):
            pass
    except OSError as e:
        raise PlmRecipesError(f"--output {path}: cannot write it ({e.strerror or e})") from e
    if not existed:
        os.remove(path)


if __name__ == "__main__":
    main()
