"""Small helpers every recipe's ``main()`` uses: logging setup, the command-line error boundary, and the
predictions file of the classification recipes."""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
from collections.abc import Callable, Sequence
from types import ModuleType

import datasets
import numpy as np
import transformers
from transformers import TrainingArguments

from .errors import PlmRecipesError
from .files import atomic_write


def setup_logging(training_args: TrainingArguments) -> logging.Logger:
    """Log like the transformers examples: INFO on the main process, warnings only on the others."""
    logging.basicConfig(
        format="%(asctime)s - %(levelname)s - %(name)s - %(message)s",
        datefmt="%m/%d/%Y %H:%M:%S",
        handlers=[logging.StreamHandler(sys.stdout)],
        force=True,
    )
    if training_args.should_log:
        transformers.utils.logging.set_verbosity_info()
    log_level = training_args.get_process_log_level()
    logging.getLogger("plm_recipes").setLevel(log_level)
    datasets.utils.logging.set_verbosity(log_level)
    transformers.utils.logging.set_verbosity(log_level)
    transformers.utils.logging.enable_default_handler()
    transformers.utils.logging.enable_explicit_format()
    logger = logging.getLogger("plm_recipes")
    # a warning, so that every process prints it (replicas only log warnings)
    logger.warning(
        "Process rank: %d, world size: %d, device: %s, distributed: %s",
        training_args.process_index, training_args.world_size, training_args.device,
        training_args.parallel_mode.value,
    )
    return logger


def sibling_recipe(recipe_file: str, name: str) -> ModuleType:
    """``recipes/<name>.py``, from the recipe at ``recipe_file`` (its ``__file__``), for a recipe that runs another
    with its own defaults (``p_tuning.py`` runs ``pet.py``): recipes are scripts, not a package."""
    path = os.path.join(os.path.dirname(os.path.abspath(recipe_file)), f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"recipe_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_cli(main: Callable[[], object]) -> None:
    """Run ``main`` as a command: an error caused by the user's input, whichever layer raises it, is printed as
    one line and the process exits with code 2 (130 for Ctrl-C); a bug of ours keeps its traceback.

    ``--debug`` on the command line (or ``PLM_RECIPES_DEBUG=1``) shows the traceback of user errors too.
    """
    debug = "--debug" in sys.argv[1:] or os.environ.get("PLM_RECIPES_DEBUG", "") not in ("", "0")
    if "--debug" in sys.argv[1:]:
        sys.argv.remove("--debug")
    try:
        main()
    except PlmRecipesError as e:
        if debug:
            raise
        print(f"error: {e}", file=sys.stderr)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        if debug:
            raise
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except OSError as e:  # the machine refused (a read-only or full disk, a permission): the user can act on it
        if debug or e.filename is None:
            raise
        print(f"error: {e.filename}: {e.strerror or e}", file=sys.stderr)
        sys.exit(2)


def write_label_predictions(path: str, texts: Sequence[str], logits, label_names: Sequence[str]) -> None:
    """Write ``index<TAB>text<TAB>prediction<TAB>score`` lines: each text's best label and its probability (the
    softmax of its ``(labels,)`` scores), as the text classification and prompt-learning recipes do for a test
    file. ``logits`` may be a tuple (a model's outputs); its first element holds the scores."""
    logits = np.asarray(logits[0] if isinstance(logits, tuple) else logits, dtype=np.float64)
    probs = np.exp(logits - logits.max(axis=-1, keepdims=True))
    probs /= probs.sum(axis=-1, keepdims=True)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with atomic_write(path) as f:
        f.write("index\ttext\tprediction\tscore\n")
        for i, (text, row) in enumerate(zip(texts, probs)):
            best = int(row.argmax())
            f.write(f"{i}\t{text}\t{label_names[best]}\t{row[best]:.4f}\n")
