"""What the two RL recipes (``recipes/rlhf_rloo.py``, ``recipes/rlhf_ppo.py``) share: their common defaults, the
prompts, the sample generations scored during training, the model card, and the end of a run."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from typing import Any

import datasets
from transformers import set_seed

from ..data import DataSplit, data_description, generated_dataset, iter_lines, load_splits, read_text_lines
from ..data.sources import main_process_first
from ..devices import trl_cpu_defaults
from ..errors import ArgumentError, DataFormatError
from ..modelcard import ModelCardInfo
from ..parsing import parse_args
from ..run_config import RunConfig
from ..utils import setup_logging
from .arguments import RLHFArguments
from .policy import RLCurveCallback, SampleGenerationCallback

logger = logging.getLogger(__name__)

# The defaults both algorithms start from (each recipe adds its own)
RL_DEFAULTS = {
    "learning_rate": 1e-5,
    "per_device_train_batch_size": 8,
    "logging_steps": 1,
    "save_strategy": "no",
    "report_to": "none",
    "freeze_word_embeddings": True,  # a small LM's vocabulary is most of its weights; the reward is about style
}

USAGE = """\
```python
from transformers import pipeline

generator = pipeline("text-generation", model="{model}")
generator("这部电影很", max_new_tokens=24, do_sample=True)
```

or from the command line: `plm-recipes generate --model {model} --prompt 这部电影很 --num_return_sequences 3`
"""


# the TRL config field that bounds a completion's length, by algorithm
_LENGTH_FIELD = {"ppo": "response_length", "rloo": "max_completion_length"}


def parse_rl_arguments(args: list[str] | None, config_class: type, algorithm: str, recipe: str,
                       defaults: dict[str, Any], description: str) -> tuple[RLHFArguments, Any, RunConfig]:
    """The RL recipe's arguments (``RLHFArguments`` and the algorithm's TRL config, with the CPU defaults TRL
    needs), checked to name this recipe's algorithm, the completion length set from ``--max_new_tokens``; the run
    record; logging and the seed set up."""
    argv = list(sys.argv[1:] if args is None else args)
    rl_args, training_args = parse_args((RLHFArguments, config_class), argv,
                                        defaults={**defaults, **trl_cpu_defaults(argv)}, description=description)
    if rl_args.algorithm != algorithm:
        other = next(a for a in _LENGTH_FIELD if a != algorithm)
        raise ArgumentError(f"--algorithm {rl_args.algorithm}: this is the {algorithm.upper()} recipe; run "
                            f"recipes/rlhf_{other}.py (or recipes/rlhf_sentiment.py, which runs the algorithm it is "
                            "given)")
    setattr(training_args, _LENGTH_FIELD[algorithm], rl_args.max_new_tokens)
    run_config = RunConfig.from_arguments(recipe, rl_args, training_args)
    setup_logging(training_args)
    set_seed(training_args.seed)
    return rl_args, training_args, run_config


PROMPT_FEATURES = datasets.Features({"prompt": datasets.Value("string")})


def _prompt_rows(path: str, stamp: tuple[int, int]) -> Iterator[dict[str, str]]:
    """The non-blank lines of a prompts file, for :func:`~plm_recipes.data.generated_dataset`."""
    del stamp  # part of the cache key only
    empty = True
    for _, text in iter_lines(path):
        empty = False
        yield {"prompt": text}
    if empty:
        raise DataFormatError(path, None, "the file is empty; expected one prompt per line")


def read_prompts(rl_args: RLHFArguments, training_args: Any = None) -> tuple[datasets.Dataset, list[str]]:
    """The training prompts, a dataset with one column, ``prompt`` (the lines of ``--prompts_file``, read into the
    datasets cache, or the ``--prompt_column`` of ``--dataset_name``'s ``--train_split``), and the evaluation prompts
    the samples are generated from."""
    if rl_args.dataset_name:
        split = load_splits(rl_args, training_args, ("prompt",), columns={"prompt": rl_args.prompt_column},
                            text_fields=("prompt",), splits=["train"])["train"]
        prompts = split.dataset
    else:
        with main_process_first(training_args, "reading the prompts"):
            prompts = generated_dataset(_prompt_rows, rl_args.prompts_file, PROMPT_FEATURES)
    if rl_args.eval_prompts_file:
        eval_prompts = read_text_lines(rl_args.eval_prompts_file)
    else:
        eval_prompts = prompts.select(range(min(rl_args.num_eval_prompts, len(prompts))))["prompt"]
    return prompts, list(eval_prompts[: rl_args.num_eval_prompts])


def rl_callbacks(policy, tokenizer, eval_prompts: list[str], scorer, rl_args: RLHFArguments,
                 seed: int) -> tuple[SampleGenerationCallback | None, list]:
    """The RL curves, and the scored sample generations when a model gives the reward (``scorer``; a person's
    reward is asked only for what the trainer generates)."""
    callbacks = [RLCurveCallback()]
    if scorer is None:
        return None, callbacks
    samples = SampleGenerationCallback(policy, tokenizer, eval_prompts, scorer, every=rl_args.sample_every,
                                       max_new_tokens=rl_args.max_new_tokens,
                                       temperature=rl_args.temperature_sampling, seed=seed)
    return samples, [samples, *callbacks]


def policy_card(recipe: str, rl_args: RLHFArguments, prompts: datasets.Dataset) -> ModelCardInfo:
    data = {"prompts": DataSplit(prompts, rl_args.prompts_file, rl_args.prompts_file)}  # or the dataset's
    return ModelCardInfo(recipe=recipe, pipeline_tag="text-generation", base_model=rl_args.policy_name_or_path,
                         num_examples={"prompts": len(prompts)}, usage=USAGE, **data_description(rl_args, data))


def train_and_finish(trainer, tokenizer, samples: SampleGenerationCallback | None, num_prompts: int,
                     algorithm: str) -> dict[str, dict[str, float]]:
    """Train, save the tokenizer beside the policy, report the sample generations' mean reward before and after
    training, write the card and push; returns the metrics (``{"train": ..., "samples": ...}``)."""
    results = {"train": trainer.train_and_report(num_prompts)}
    tokenizer.save_pretrained(trainer.args.output_dir)
    if samples is not None:
        before, after = samples.history[0]["mean_reward"], samples.history[-1]["mean_reward"]
        results["samples"] = {"reward_before": before, "reward_after": after}
        logger.info("Mean reward of the sample generations: %.4f before training, %.4f after.", before, after)
        trainer.report("samples", results["samples"])
    trainer.finish(tags=["rlhf", algorithm])
    return results
