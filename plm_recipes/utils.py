"""Small helpers every recipe's ``main()`` uses: logging setup and the command-line error boundary."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

import datasets
import transformers
from transformers import TrainingArguments

from .errors import PlmRecipesError


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


def run_cli(main: Callable[[], object]) -> None:
    """Run ``main``; an error caused by the user's input is printed as one line (exit code 2), not a traceback."""
    try:
        main()
    except PlmRecipesError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
