"""The argument dataclasses the recipes share: the model (:class:`ModelArguments`), the data files
(:class:`DataArguments`, and :func:`data_files`: which file each requested stage reads), and the training settings
the recipes add to a ``TrainingArguments`` class (:class:`RecipeSettings`), with the defaults every fine-tuning
recipe starts from (:data:`TRAINING_DEFAULTS`).

A recipe's own training settings are fields of a ``TrainingArguments`` subclass (TRL's pattern: ``RewardConfig``,
``PPOConfig``), built from :class:`RecipeSettings`, so that they are saved with the run (:mod:`plm_recipes.run_config`).
:func:`plm_recipes.parsing.parse_args` fills them from the recipe's defaults, ``--config`` and the command line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, ClassVar

from transformers import TrainingArguments

from .errors import ArgumentError

DEFAULT_MODEL = "bert-base-chinese"

# The training defaults every fine-tuning recipe starts from (each adds its output_dir, learning rate and
# metric_for_best_model): evaluate and save every epoch and keep the best checkpoint only. Batches are drawn at
# random: grouping them by length pads less but cost text classification quality over a full run
# (bench/defaults.py); the recipes whose loss or model allows it pad less by splitting each batch instead
# (``micro_batches_by_length``).
TRAINING_DEFAULTS: dict[str, Any] = {
    "num_train_epochs": 3,
    "per_device_train_batch_size": 16,
    "per_device_eval_batch_size": 64,
    "warmup_steps": 0.1,  # a float below 1 is a ratio of the total steps
    "eval_strategy": "epoch",
    "save_strategy": "epoch",
    "logging_steps": 10,
    "load_best_model_at_end": True,
    "save_total_limit": 1,
}


@dataclass
class ModelArguments:
    """Which model, config and tokenizer to start from."""

    model_name_or_path: str | None = field(
        default=None,
        metadata={
            "help": f"Pretrained model: a local folder or a Hugging Face Hub id (default: {DEFAULT_MODEL}). "
            "Leave it unset and pass --config_name to train from scratch."
        },
    )
    config_name: str | None = field(
        default=None,
        metadata={
            "help": "Config to train from scratch instead of a checkpoint: a folder, a config.json file, a hub id, "
            "or a model type such as 'bert' (tune it with --config_overrides)."
        },
    )
    config_overrides: str | None = field(
        default=None,
        metadata={"help": "Override config values when training from scratch, e.g. 'hidden_size=128,num_hidden_layers=2'."},
    )
    tokenizer_name: str | None = field(
        default=None, metadata={"help": "Tokenizer folder or hub id, if not the same as the model's."}
    )
    train_tokenizer_vocab_size: int | None = field(
        default=None,
        metadata={
            "help": "Train a new WordPiece tokenizer of (at most) this size on the training texts. Only for "
            "training from scratch (the quick start); real use starts from a pretrained model and its tokenizer."
        },
    )
    cache_dir: str | None = field(default=None, metadata={"help": "Where to store models downloaded from the hub."})
    model_revision: str = field(default="main", metadata={"help": "Branch, tag or commit of a hub model."})
    trust_remote_code: bool = field(
        default=False,
        metadata={"help": "Allow models that ship their own code on the hub. Only for repositories you trust."},
    )

    def __post_init__(self):
        if self.model_name_or_path is None and self.config_name is None:
            self.model_name_or_path = DEFAULT_MODEL
        if self.config_overrides and self.model_name_or_path is not None:
            raise ArgumentError("--config_overrides only applies when training from scratch (--config_name, "
                                "without --model_name_or_path)")
        if self.model_name_or_path is None and not (self.tokenizer_name or self.train_tokenizer_vocab_size):
            if not (self.config_name and os.path.isdir(self.config_name)):
                raise ArgumentError(
                    "training from scratch needs a tokenizer: pass --tokenizer_name or --train_tokenizer_vocab_size"
                )

    @property
    def from_scratch(self) -> bool:
        return self.model_name_or_path is None

    def hub_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for every ``from_pretrained`` call."""
        return {"cache_dir": self.cache_dir, "revision": self.model_revision, "trust_remote_code": self.trust_remote_code}


@dataclass
class DataArguments:
    """Where the data comes from (local files, or a dataset: ``--dataset_name``) and how to cut it."""

    dataset_name: str | None = field(
        default=None,
        metadata={
            "help": "A dataset instead of data files: a Hugging Face Hub dataset id (e.g. 'C-MTEB/LCQMC'), a local "
            "folder laid out as a dataset repository (parquet / json / csv files, e.g. data/train-*.parquet), or a "
            "folder written by Dataset.save_to_disk. Its splits --train_split, --validation_split and --test_split "
            "are read; the recipe's column flags name its columns."
        },
    )
    dataset_config_name: str | None = field(
        default=None, metadata={"help": "The dataset's configuration (subset), when it has several."}
    )
    train_split: str = field(default="train", metadata={"help": "The --dataset_name split to train on."})
    validation_split: str = field(
        default="validation",
        metadata={"help": "The --dataset_name split to evaluate on (a dataset without 'validation' but with 'dev' or "
                  "'valid' uses that)."},
    )
    test_split: str = field(default="test", metadata={"help": "The --dataset_name split --do_predict reads."})
    train_file: str | None = field(default=None, metadata={"help": "Training data (.txt/.tsv, .csv, .json, .jsonl)."})
    validation_file: str | None = field(default=None, metadata={"help": "Evaluation data, same format."})
    test_file: str | None = field(
        default=None, metadata={"help": "Data to predict with --do_predict (labels optional), same format."}
    )
    max_seq_length: int = field(
        default=128, metadata={"help": "Longest input in tokens after tokenization; longer inputs are truncated."}
    )
    pad_to_max_length: bool = field(
        default=False,
        metadata={
            "help": "Pad every input to --max_seq_length. By default batches are padded to their own longest "
            "input (dynamic padding), which is faster."
        },
    )
    max_train_samples: int | None = field(
        default=None, metadata={"help": "Keep only the first N training examples (for quick runs)."}
    )
    max_eval_samples: int | None = field(default=None, metadata={"help": "Keep only the first N evaluation examples."})
    max_predict_samples: int | None = field(default=None, metadata={"help": "Keep only the first N test examples."})
    preprocessing_num_workers: int | None = field(
        default=None, metadata={"help": "Processes for reading and tokenizing the data (Dataset.map's num_proc)."}
    )
    overwrite_cache: bool = field(
        default=False,
        metadata={"help": "Tokenize again instead of reusing the datasets cache of an earlier run on the same data."},
    )

    # --dataset_name on the command line replaces the data files a config file names, and a data file the dataset
    command_line_replaces: ClassVar[dict[str, str | tuple[str, ...]]] = {
        "dataset_name": ("train_file", "validation_file", "test_file"),
        "train_file": "dataset_name", "validation_file": "dataset_name", "test_file": "dataset_name",
    }

    def __post_init__(self):
        files = [f"--{name}" for name in ("train_file", "validation_file", "test_file") if getattr(self, name)]
        if self.dataset_name is not None and files:
            raise ArgumentError(f"pass either --dataset_name or data files ({', '.join(files)}), not both")
        for name in ("train_file", "validation_file", "test_file"):
            path = getattr(self, name)
            if path is not None and not os.path.isfile(path):
                raise ArgumentError(f"--{name} {path}: file not found")
        if self.preprocessing_num_workers is not None and self.preprocessing_num_workers < 1:
            raise ArgumentError(f"--preprocessing_num_workers must be 1 or more, found {self.preprocessing_num_workers}")


@dataclass
class StreamingDataArguments(DataArguments):
    """:class:`DataArguments` of a recipe that reads a corpus, which may be larger than memory: ``--streaming``."""

    streaming: bool = field(
        default=False,
        metadata={
            "help": "Read the training data as training goes (a datasets IterableDataset), not into the datasets "
            "cache first: for a corpus larger than memory or than the cache should hold. A stream has no length, "
            "so it needs --max_steps; batches come in the data's order (shuffle it beforehand)."
        },
    )


def data_field(name: str):
    """The field ``name`` of :class:`StreamingDataArguments` (its default and help), for an arguments class that is
    not one (TRL's kind of data class, the RL recipes' prompts) but reads its data the same way."""
    original = StreamingDataArguments.__dataclass_fields__[name]
    return field(default=original.default, metadata=dict(original.metadata))


@dataclass
class RecipeSettings:
    """Training settings the recipes add to a ``TrainingArguments`` class.

    Mix it into a recipe's config, ``@dataclass class MyConfig(RecipeSettings, TrainingArguments)`` (or TRL's
    ``RewardConfig``, ``Seq2SeqTrainingArguments``, ...), so that the settings are saved with the run like every
    other training argument. :class:`~plm_recipes.trainer.RecipeTrainerMixin` reads them.
    """

    freeze_word_embeddings: bool | None = field(
        default=False,
        metadata={
            "help": "Do not train the input word embedding matrix (a speed setting: multilingual encoders keep most "
            "of their parameters there, 96M of multilingual-e5-small's 117M, and their update is much of a CPU "
            "step; it cost text classification dev macro F1 over a 6-epoch run in bench/defaults.py). false (the "
            "default): they train. null: frozen when fine-tuning a pretrained checkpoint whose word embeddings are "
            "not tied to an output layer, trained when they are new or tied (the default of earlier versions, so "
            "that their run_config.yaml reruns as it ran)."
        },
    )
    micro_batches_by_length: int | None = field(
        default=None,
        metadata={
            "help": "Run each training batch as up to N pieces of texts of similar length, each padded to its own "
            "longest text, and add up their gradients (each piece's loss weighted by its share of the rows): the "
            "same batches and the same gradient as whole batches, with less padding (plm_recipes.batching). For "
            "recipes whose loss is a mean over independent rows (text classification, pointwise matching without "
            "the listwise loss). The bi-encoders (DSSM, CoSENT, SimCSE) and the listwise pointwise loss run only "
            "the model in pieces, the outputs put back in order for one loss and one backward pass over the whole "
            "batch; the other recipes train on whole batches. Unset (the default): 4 when training in one process "
            "on a CPU, where padding is paid in full, 1 (off) on GPUs, whose small batches cost little more padded. "
            "Unlike --train_sampling_strategy group_by_length it does not change which texts are trained together."
        },
    )
    freeze_layers: int = field(
        default=0,
        metadata={
            "help": "Do not train the embeddings and the first N transformer layers (counted from the input; an "
            "encoder-decoder's two stacks alike): the layers above, any head, weights the checkpoint does not have "
            "and word embeddings tied to an output layer train. 0 (the default): every layer trains. For a model "
            "whose lower layers already know what the task needs (bench/simcse.py: SimCSE on multilingual-e5-small "
            "with 8 of its 12 layers frozen)."
        },
    )
    new_parameters_learning_rate: float | None = field(
        default=None,
        metadata={
            "help": "Learning rate for the weights the checkpoint does not have (the new task head, and a pooler "
            "when the checkpoint has none, as multilingual-e5 does); default: --learning_rate."
        },
    )
    overwrite_output_dir: bool = field(
        default=False,
        metadata={
            "help": "Train into an --output_dir that holds another run, replacing it. Without it such a folder is "
            "refused (--resume_from_checkpoint continues the run there instead)."
        },
    )
    license: str | None = field(
        default=None,
        metadata={"help": "The model's license, as a Hub license id (apache-2.0, mit, cc-by-4.0, other, ...), written "
                  "into its model card; check the base model's and the data's licenses."},
    )

    def __post_init__(self):
        self.freeze_layers = self.freeze_layers or 0  # `freeze_layers: null` in a config file
        if self.freeze_layers < 0:
            raise ArgumentError(f"--freeze_layers must be 0 or more, found {self.freeze_layers}")
        output_dir = getattr(self, "output_dir", None)  # said before any model loads, not when the run saves
        if output_dir and os.path.exists(output_dir) and not os.path.isdir(output_dir):
            raise ArgumentError(f"--output_dir {output_dir} is a file; give a folder (it is made when missing)")
        if self.micro_batches_by_length is not None and self.micro_batches_by_length < 1:
            raise ArgumentError(f"--micro_batches_by_length must be 1 (off) or more, found {self.micro_batches_by_length}")
        if hasattr(super(), "__post_init__"):  # the TrainingArguments class this is mixed into
            super().__post_init__()


@dataclass
class RecipeTrainingArguments(RecipeSettings, TrainingArguments):
    """``transformers.TrainingArguments`` with :class:`RecipeSettings`: the config of a recipe that trains with
    :class:`~plm_recipes.trainer.RecipeTrainer`. A recipe with settings of its own subclasses it."""


def requested_splits(training_args: Any) -> list[str]:
    """The splits the requested stages read: ``train`` (--do_train), ``validation`` (--do_eval, or evaluation
    during training), ``test`` (--do_predict)."""
    if not (training_args.do_train or training_args.do_eval or training_args.do_predict):
        raise ArgumentError("nothing to do: pass --do_train, --do_eval and/or --do_predict")
    evaluates = training_args.do_eval or str(getattr(training_args.eval_strategy, "value", training_args.eval_strategy)) != "no"
    wanted = {
        "train": training_args.do_train,
        "validation": training_args.do_eval or (training_args.do_train and evaluates),
        "test": training_args.do_predict,
    }
    return [split for split, needed in wanted.items() if needed]


def data_files(data_args: DataArguments, training_args: Any) -> dict[str, str]:
    """The files each requested stage reads (:func:`requested_splits`). Raises when a stage lacks its file.
    :func:`plm_recipes.data.load_splits` reads them (or a ``--dataset_name``'s splits) into datasets."""
    splits = requested_splits(training_args)
    if getattr(data_args, "dataset_name", None):
        raise ArgumentError("this command reads data files only (--train_file, ...), not --dataset_name")
    files = {split: getattr(data_args, f"{split}_file") for split in splits}
    for split, flag in (("train", "do_train"), ("test", "do_predict")):
        if split in files and files[split] is None:
            raise ArgumentError(f"--{flag} needs --{split}_file (or --dataset_name)")
    if "validation" in files and files["validation"] is None:
        raise ArgumentError(
            "evaluation needs --validation_file (to train without it: --eval_strategy no --save_strategy epoch "
            "--load_best_model_at_end false)"
        )
    return files
