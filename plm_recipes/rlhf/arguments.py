"""The RLHF recipes' arguments: the reward model's data and config (``recipes/reward_model.py``) and the RL run's
settings and its PPO / RLOO configs (``recipes/rlhf_sentiment.py``)."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from typing import ClassVar

from trl import RLOOConfig

with warnings.catch_warnings():  # known and pinned (trl<1.13, setup.cfg): not a warning for every command
    warnings.simplefilter("ignore")
    from trl.experimental.ppo import PPOConfig

from ..args import DataArguments, RecipeSettings, RecipeTrainingArguments, data_field
from ..errors import ArgumentError


@dataclass
class RewardDataArguments(DataArguments):
    """Rank lists (``.txt``/``.tsv``: tab-separated texts, best first) or JSON lines of rank lists
    (``{"ranking": [...]}``) and pairs (``{"chosen"|"selected", "rejected"}``)."""

    with_prompt: bool = field(
        default=False,
        metadata={"help": "Score each JSON line's 'prompt' followed by the text (a reward for a response to a "
                          "prompt). By default the texts are scored alone."},
    )
    validation_split_texts: float | None = field(
        default=None,
        metadata={"help": "Without --validation_file: hold out this fraction of the distinct TEXTS of "
                          "--train_file for evaluation (each line is cut into its training texts and its held-out "
                          "texts, each kept in order), so that no evaluated text was trained on."},
    )
    max_seq_length: int = field(
        default=128, metadata={"help": "Longest text in tokens; longer texts are truncated (never dropped)."}
    )

    def __post_init__(self):
        super().__post_init__()
        if self.validation_split_texts is not None and not 0 < self.validation_split_texts < 1:
            raise ArgumentError(f"--validation_split_texts must be between 0 and 1, got {self.validation_split_texts}")
        if self.validation_split_texts is not None and self.validation_file is not None:
            raise ArgumentError("--validation_split_texts holds out part of --train_file; it cannot be combined "
                                "with --validation_file")


@dataclass
class RewardModelConfig(RecipeTrainingArguments):
    """Training configuration of ``recipes/reward_model.py``: ``TrainingArguments`` with the recipes' shared
    settings. The model is a one-output sequence classifier trained with the pairwise rank loss."""


# --- the RL recipe ----------------------------------------------------------------------------------------


ALGORITHMS = ("ppo", "rloo")


@dataclass
class RLHFArguments:
    """What ``recipes/rlhf_sentiment.py`` trains, rewards and samples."""

    algorithm: str = field(
        default="rloo",
        metadata={"help": "ppo: TRL's PPOTrainer (trl.experimental.ppo; a value model; the reward model must share "
                          "the policy's tokenizer). rloo: TRL's RLOOTrainer (no value model; any sequence "
                          "classifier, with its own tokenizer, gives the reward).",
                  "choices": list(ALGORITHMS)},
    )
    policy_name_or_path: str = field(
        default="google/gemma-3-270m", metadata={"help": "The causal LM to train: a local folder or a hub id."}
    )
    reward_model: str = field(
        default="outputs/reward_model",
        metadata={"help": "The reward: a sequence classifier folder (recipes/reward_model.py's output, or a "
                          "classifier such as recipes/text_classification.py's with --reward_label), or 'human' "
                          "(rloo): a person types a score for each generation at the terminal."},
    )
    reward_label: str | None = field(
        default=None,
        metadata={"help": "For a classifier with several labels (rloo only): the label whose probability is the "
                          "reward (a name from its config, or an index). A one-output reward model needs none."},
    )
    reward_with_prompt: bool = field(
        default=True,
        metadata={"help": "rloo: score the prompt followed by the completion (a whole comment), not the completion "
                          "alone. PPO always scores prompt + completion."},
    )
    prompts_file: str = field(
        default="data/rlhf/prompts.tsv", metadata={"help": "Prompts to generate from, one per line."}
    )
    dataset_name: str | None = field(
        default=None,
        metadata={"help": "Prompts from a dataset instead of --prompts_file: a Hub dataset id, a local folder laid "
                          "out as a dataset repository, or a Dataset.save_to_disk folder; its --train_split's "
                          "--prompt_column."})
    dataset_config_name: str | None = data_field("dataset_config_name")
    train_split: str = field(default="train", metadata={"help": "The --dataset_name split the prompts come from."})
    prompt_column: str = field(default="prompt", metadata={"help": "The --dataset_name column of the prompts "
                                                                   "(TRL's name for it)."})

    # --dataset_name on the command line replaces a config file's --prompts_file, and back
    command_line_replaces: ClassVar[dict[str, str]] = {"dataset_name": "prompts_file", "prompts_file": "dataset_name"}
    eval_prompts_file: str | None = field(
        default=None,
        metadata={"help": "Prompts for the sample generations printed every --sample_every steps (default: the "
                          "first --num_eval_prompts of --prompts_file)."},
    )
    num_eval_prompts: int = field(default=8, metadata={"help": "How many evaluation prompts to sample from."})
    sample_every: int = field(
        default=10, metadata={"help": "Every N steps print a sampled generation per evaluation prompt and their mean "
                                      "reward (also before the first step and after the last). 0: never."}
    )
    max_prompt_length: int = field(default=32, metadata={"help": "Longest prompt in tokens (longer: truncated)."})
    max_new_tokens: int = field(
        default=24, metadata={"help": "Tokens generated per completion (PPO's response_length, RLOO's "
                                      "max_completion_length)."}
    )
    temperature_sampling: float = field(
        default=0.7, metadata={"help": "Sampling temperature of the printed sample generations."}
    )

    def __post_init__(self):
        if self.algorithm not in ALGORITHMS:
            raise ArgumentError(f"--algorithm {self.algorithm!r}: expected one of {', '.join(ALGORITHMS)}")
        for name in ("prompts_file", "eval_prompts_file"):
            path = getattr(self, name)
            if path is not None and not os.path.isfile(path):
                raise ArgumentError(f"--{name} {path}: file not found")
        if self.reward_label is not None and self.algorithm == "ppo":
            raise ArgumentError("--reward_label is for --algorithm rloo: PPOTrainer reads a one-output reward "
                                "model on the policy's own tokens")
        if self.reward_model == "human" and self.algorithm == "ppo":
            raise ArgumentError("--reward_model human needs --algorithm rloo: PPOTrainer reads its reward from a model")
        if self.sample_every < 0 or self.num_eval_prompts < 1:
            raise ArgumentError("--sample_every must be >= 0 and --num_eval_prompts >= 1")


@dataclass
class PPOSentimentConfig(RecipeSettings, PPOConfig):
    """TRL's ``PPOConfig`` (``trl.experimental.ppo``, TRL 1.12) with the recipes' shared settings."""


@dataclass
class RLOOSentimentConfig(RecipeSettings, RLOOConfig):
    """TRL's ``RLOOConfig`` with the recipes' shared settings.

    ``RLOOConfig`` fills ``generation_batch_size`` from ``steps_per_generation`` (or the other way round) and then
    refuses both set: a ``run_config.yaml`` records both, so a pair that agrees is read back as
    ``steps_per_generation`` alone.
    """

    def __post_init__(self):
        if self.generation_batch_size is not None and self.steps_per_generation is not None:
            per_step = self.per_device_train_batch_size * max(1, int(os.environ.get("WORLD_SIZE", "1")))
            if self.generation_batch_size == per_step * self.steps_per_generation:
                self.generation_batch_size = None
        super().__post_init__()
