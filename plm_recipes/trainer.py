"""What the recipes add to a Hugging Face trainer, as a mixin that composes with any ``transformers.Trainer``.

:class:`RecipeTrainerMixin` goes first in the bases of a trainer class::

    class RecipeTrainer(RecipeTrainerMixin, Trainer): ...
    class RecipeSeq2SeqTrainer(RecipeTrainerMixin, Seq2SeqTrainer): ...
    class BiEncoderTrainer(RecipeTrainerMixin, SentenceTransformerTrainer): ...
    class RewardModelTrainer(RecipeTrainerMixin, trl.RewardTrainer): ...

and adds: the progress lines and per-class table, training curves, a model card built from what the recipe
knows, ``run_config.yaml`` and a JSON ``training_args.json`` (no pickle) in the output folder, frozen word
embeddings (or lower layers) and a learning rate of their own for new weights (:class:`~plm_recipes.args.RecipeSettings`), and
evaluation in dataset order under ``group_by_length``. It overrides only methods every ``Trainer`` has, with
their signatures, and each override calls ``super()``. The stage helpers (:func:`train_and_report`,
:func:`evaluate_and_report`, :func:`finish`) are plain functions of any trainer, because TRL's trainers change
the signatures they wrap (``PPOTrainer.train()`` takes no ``resume_from_checkpoint``; TRL's
``create_model_card`` takes ``model_name, dataset_name, tags``). :func:`train_and_report` also claims the output
folder for the run (:class:`OutputDirLock`) and turns Ctrl-C into one line naming the checkpoint to resume from.
With ``--push_to_hub`` the trainer neither creates the Hub repo in its ``__init__`` nor pushes checkpoints:
:func:`finish` pushes the output folder once, after everything is saved locally (:mod:`plm_recipes.hub`).
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import re
from collections.abc import Collection
from typing import Any

import torch
from torch import nn
from transformers import PreTrainedModel, Trainer
from transformers.trainer import TRAINING_ARGS_NAME
from transformers.trainer_callback import ProgressCallback
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from .args import RunConfig
from .batching import split_by_length, training_step_in_pieces
from .callbacks import CompactProgressCallback, ProgressLogCallback, TrainingCurveCallback
from .errors import ArgumentError, TrainingInterrupted
from .locks import ProcessLock
from .hub import push_folder
from .modelcard import ModelCardInfo, render_model_card
from .sanity import ParameterWatch, check_checkpoint_files

logger = logging.getLogger(__name__)


class RecipeTrainerMixin:
    """The recipes' additions to a ``transformers.Trainer`` subclass; put it first in the bases.

    Args:
        model_card: what the recipe knows about the run (data, labels, usage); the card written to
            ``output_dir/README.md`` by :meth:`create_model_card` (and so by ``push_to_hub``) is built from it.
            Without it the trainer's own card is written.
        run_config: the run's full configuration (:meth:`RunConfig.from_arguments`), saved as ``run_config.yaml``
            with the model and every checkpoint; its changed settings go into the model card.
        headline_metrics: the metrics printed on the ``Evaluation ...`` line.
        new_parameters: names of parameters the checkpoint did not have (a new task head, a pooler missing from
            the checkpoint), as returned by :func:`plm_recipes.loading.load_model`. They get
            ``args.new_parameters_learning_rate`` when that is set.
        row_mean_loss: the trainer's ``compute_loss`` is the mean of independent per-row losses (a classifier's
            cross-entropy), so that ``args.micro_batches_by_length`` may split a batch into length-sorted pieces
            (:mod:`plm_recipes.batching`); a loss across rows trains on whole batches.
        *args, **kwargs: as for the trainer class the mixin is combined with.
    """

    def __init__(
        self,
        *args,
        model_card: ModelCardInfo | None = None,
        run_config: RunConfig | None = None,
        headline_metrics: tuple[str, ...] = ("precision", "recall", "f1"),
        new_parameters: Collection[str] = (),
        row_mean_loss: bool = False,
        **kwargs,
    ):
        # set before the trainer's __init__: some (TRL's PPOTrainer) build the optimizer there
        self.model_card_info = model_card
        self.run_config = run_config
        self.new_parameters = frozenset(new_parameters)
        # ``--push_to_hub``: the trainers create the Hub repo in __init__ and push every checkpoint, so that an
        # unreachable Hub fails the run before anything is saved; :func:`finish` pushes once, after the local save
        training_args = inspect.signature(super().__init__).bind_partial(*args, **kwargs).arguments.get("args")
        self.hub_repo_id = None
        if training_args is not None and training_args.push_to_hub:
            self.hub_repo_id = training_args.hub_model_id or os.path.basename(os.path.abspath(training_args.output_dir))
            training_args.push_to_hub = False
        self.row_mean_loss = row_mean_loss
        callbacks = list(kwargs.pop("callbacks", None) or [])
        callbacks += [ProgressLogCallback(headline_metrics), TrainingCurveCallback()]
        super().__init__(*args, callbacks=callbacks, **kwargs)
        if self.pop_callback(ProgressCallback) is not None:
            self.add_callback(CompactProgressCallback)
        if (getattr(self.args, "micro_batches_by_length", None) or 1) > 1 and not row_mean_loss:
            logger.warning("--micro_batches_by_length %d: this recipe's loss is not a mean over independent rows; "
                           "it trains on whole batches", self.args.micro_batches_by_length)

    # --- optimisation -------------------------------------------------------------------------------------

    #: whether :meth:`create_optimizer` applies ``args.learning_rate_mapping``; sentence-transformers' trainer
    #: applies it itself (over the loss's parameters too)
    applies_learning_rate_mapping = True

    def create_optimizer(self, model=None):
        """The trainer's optimizer, after freezing the word embeddings and the first ``args.freeze_layers`` layers
        when asked, with parameters in groups of their own learning rate: those whose name matches a pattern of
        ``args.learning_rate_mapping`` (a regular expression searched in the name; the first that matches wins) get
        its rate, ``new_parameters`` get ``args.new_parameters_learning_rate`` when that is set, the rest
        ``--learning_rate``."""
        opt_model = self.model if model is None else model
        if self.optimizer is None:
            apply_freeze_word_embeddings(opt_model, getattr(self.args, "freeze_word_embeddings", False),
                                         self.new_parameters)
            apply_freeze_layers(opt_model, getattr(self.args, "freeze_layers", 0), self.new_parameters)
        rate = getattr(self.args, "new_parameters_learning_rate", None) if self.new_parameters else None
        mapping = getattr(self.args, "learning_rate_mapping", None) if self.applies_learning_rate_mapping else None
        mapping = mapping or {}
        if self.optimizer is not None or not (rate or mapping):
            # transformers 5.2's create_optimizer takes no model argument (later ones do)
            return super().create_optimizer() if model is None else super().create_optimizer(model)
        decay = set(self.get_decay_parameter_names(opt_model))
        trainable = [(name, param) for name, param in opt_model.named_parameters() if param.requires_grad]
        groups: dict[tuple[float | None, bool], list] = {}
        matched = dict.fromkeys(mapping, 0)
        for name, param in trainable:
            pattern = next((p for p in mapping if re.search(p, name)), None)
            if pattern is not None:
                matched[pattern] += 1
                lr = float(mapping[pattern])
            else:
                lr = rate if name in self.new_parameters else None
            groups.setdefault((lr, name in decay), []).append(param)
        unmatched = [p for p, count in matched.items() if not count]
        if unmatched:
            raise ArgumentError(f"--learning_rate_mapping: {', '.join(map(repr, unmatched))} matches no trainable "
                                f"parameter (their names look like {trainable[0][0] if trainable else None!r})")
        for pattern, count in matched.items():
            logger.info("Learning rate %g for the %d parameters matching %r", float(mapping[pattern]), count, pattern)
        param_groups = [
            {"params": params, "weight_decay": self.args.weight_decay if decayed else 0.0,
             **({"lr": lr} if lr is not None else {})}
            for (lr, decayed), params in groups.items()
        ]
        optimizer_cls, optimizer_kwargs = (
            self.optimizer_cls_and_kwargs or self.get_optimizer_cls_and_kwargs(self.args, opt_model)
        )
        self.optimizer = optimizer_cls(param_groups, **optimizer_kwargs)
        return self.optimizer

    # --- training step -------------------------------------------------------------------------------------

    def training_step(self, model, inputs, num_items_in_batch=None):
        """``Trainer.training_step``, on length-sorted pieces of the batch when ``args.micro_batches_by_length``
        asks for them and the loss allows it (``row_mean_loss``): the same gradient, less padding."""
        pieces = self._micro_batches()
        if pieces > 1 and self.row_mean_loss and self._can_split_batches():
            padding_side = getattr(self.processing_class, "padding_side", "right")
            split = split_by_length(inputs, pieces, padding_side)
            if split is not None:
                found = input_embeddings(model)
                return training_step_in_pieces(self, model, split, num_items_in_batch,
                                               word_embeddings=found[0] if found else None)
        return super().training_step(model, inputs, num_items_in_batch)

    def _micro_batches(self) -> int:
        """``args.micro_batches_by_length``; unset: 4 in a single process on a CPU, else 1."""
        pieces = getattr(self.args, "micro_batches_by_length", 1)
        if pieces is None:
            return 4 if self.args.device.type == "cpu" and self.args.world_size <= 1 else 1
        return pieces

    def _can_split_batches(self) -> bool:
        """Whether this run's training step is the plain one :func:`training_step_in_pieces` mirrors (not
        DeepSpeed, FSDP or torch.nn.DataParallel, whose steps differ)."""
        return not (self.is_deepspeed_enabled or self.is_fsdp_enabled or self.args.n_gpu > 1)

    # --- evaluation order ---------------------------------------------------------------------------------

    def _get_eval_sampler(self, eval_dataset):
        """Evaluate and predict in dataset order. Trainer reuses ``--train_sampling_strategy group_by_length`` for
        evaluation, whose shuffled order would misalign ``predict()``'s rows with the input rows."""
        if getattr(self.args, "train_sampling_strategy", None) != "group_by_length" or eval_dataset is None:
            return super()._get_eval_sampler(eval_dataset)
        if self.args.world_size <= 1:
            return torch.utils.data.SequentialSampler(eval_dataset)
        return None  # accelerate shards the dataset in order across processes

    # --- saving -------------------------------------------------------------------------------------------

    def _save(self, output_dir: str | None = None, state_dict=None) -> None:
        """Save as the trainer does, plus ``run_config.yaml``; in the final output folder the training arguments
        are JSON instead of the pickled ``training_args.bin``, so a shared model folder holds no pickle
        (checkpoints keep the trainer's own files, for resuming)."""
        super()._save(output_dir, state_dict=state_dict)
        output_dir = output_dir if output_dir is not None else self.args.output_dir
        if not self.args.should_save:
            return
        if self.run_config is not None:
            self.run_config.save(output_dir)
        pickled = os.path.join(output_dir, TRAINING_ARGS_NAME)
        is_checkpoint = os.path.basename(os.path.normpath(output_dir)).startswith(PREFIX_CHECKPOINT_DIR)
        if not is_checkpoint and os.path.exists(pickled):
            os.remove(pickled)
            values = {**self.args.to_dict(), "push_to_hub": self.hub_repo_id is not None}  # as it was given
            with open(os.path.join(output_dir, "training_args.json"), "w", encoding="utf-8") as f:
                f.write(json.dumps(values, indent=2) + "\n")

    # --- reporting ----------------------------------------------------------------------------------------

    def train_and_report(self, num_samples: int) -> dict[str, float]:
        return train_and_report(self, num_samples)

    def evaluate_and_report(self, num_samples: int) -> dict[str, float]:
        return evaluate_and_report(self, num_samples)

    def report(self, split: str, metrics: dict[str, float]) -> None:
        report(self, split, metrics)

    def finish(self, tags: list[str]) -> None:
        finish(self, tags)

    def create_model_card(self, *args, **kwargs) -> None:
        """Write ``README.md`` in the output folder from the recipe's :class:`ModelCardInfo`.

        Takes the keywords of whichever trainer this is combined with (``transformers.Trainer``'s
        ``model_name, license, tags, ...`` or TRL's ``model_name, dataset_name, tags``), so that ``push_to_hub``
        calls this one. Without a :class:`ModelCardInfo` it is the trainer's own card.
        """
        if self.model_card_info is None:
            return super().create_model_card(*args, **kwargs)
        if not self.is_world_process_zero():
            return
        args = self.args
        name = kwargs.get("model_name") or self.hub_repo_id or args.output_dir
        tags = kwargs.get("tags")
        tags = [tags] if isinstance(tags, str) else list(tags or [])
        card = render_model_card(
            self.model_card_info, model_name=name, hyperparameters=_hyperparameters(self), tags=tags,
            license=kwargs.get("license") or getattr(args, "license", None),
            settings=self.run_config.card_settings() if self.run_config else None,
        )
        os.makedirs(args.output_dir, exist_ok=True)
        with open(os.path.join(args.output_dir, "README.md"), "w", encoding="utf-8") as f:
            f.write(card)


class RecipeTrainer(RecipeTrainerMixin, Trainer):
    """:class:`transformers.Trainer` with :class:`RecipeTrainerMixin`; recipes with a custom loss subclass it and
    override ``compute_loss``."""


# --- word embeddings --------------------------------------------------------------------------------------


def input_embeddings(model: nn.Module) -> tuple[nn.Module, PreTrainedModel | None] | None:
    """The input word embedding module of ``model`` (a transformers model, or a module holding one, such as a
    sentence-transformers model) and the transformers model it belongs to."""
    owner = model if isinstance(model, PreTrainedModel) else next(
        (m for m in model.modules() if isinstance(m, PreTrainedModel)), None)
    if owner is None:
        return None
    try:
        return owner.get_input_embeddings(), owner
    except (NotImplementedError, AttributeError):
        return None


def apply_freeze_word_embeddings(model: nn.Module, setting: bool | None, new_parameters: Collection[str] = ()) -> bool:
    """Freeze the input word embeddings of ``model`` according to ``setting``; returns whether they are frozen.

    ``True`` freezes, ``False`` leaves them alone, ``None`` decides: freeze when the checkpoint provided them
    (they are not in ``new_parameters``) and no output layer shares their weights (a language-model head tied to
    them must keep training).
    """
    found = input_embeddings(model)
    if setting is False or found is None:
        return False
    embeddings, owner = found
    weight = getattr(embeddings, "weight", None)
    if setting is None:
        names = {id(p): n for n, p in model.named_parameters()}
        if weight is None or names.get(id(weight)) in set(new_parameters):
            return False
        output = owner.get_output_embeddings() if hasattr(owner, "get_output_embeddings") else None
        if output is not None and getattr(output, "weight", None) is weight:
            return False
    embeddings.requires_grad_(False)
    frozen = sum(p.numel() for p in embeddings.parameters())
    logger.info("Froze the word embeddings (%.1fM parameters; --freeze_word_embeddings false trains them).",
                frozen / 1e6)
    return True


# --- layers -----------------------------------------------------------------------------------------------

# config attributes that count a model's transformer layers (an encoder-decoder counts each stack)
_LAYER_COUNTS = ("num_hidden_layers", "num_layers", "num_decoder_layers", "encoder_layers", "decoder_layers")


def transformer_layers(model: nn.Module) -> list[tuple[PreTrainedModel, str, nn.ModuleList]]:
    """The stacks of transformer layers in ``model`` (a transformers model, or any module holding some: a
    sentence-transformers model, a recipe's wrapper, TRL's policy-and-value wrapper), as ``(owner, name, stack)``:
    in each transformers model inside it whose config counts its layers, every ``nn.ModuleList`` with as many blocks
    as one of those counts (an encoder-decoder's two stacks), named within that model. Outermost models first; a
    model inside one whose stacks were found is part of it."""
    found, claimed = [], set()
    for owner in model.modules():
        if not isinstance(owner, PreTrainedModel) or id(owner) in claimed:
            continue
        config = owner.config.get_text_config() if hasattr(owner.config, "get_text_config") else owner.config
        counts = {value for key in _LAYER_COUNTS if isinstance(value := getattr(config, key, None), int) and value}
        stacks: list[tuple[str, nn.ModuleList]] = []
        for name, module in owner.named_modules():
            if isinstance(module, nn.ModuleList) and len(module) in counts and not any(
                    name.startswith(outer + ".") for outer, _ in stacks):  # not a list inside a layer
                stacks.append((name, module))
        if stacks:
            found += [(owner, name, stack) for name, stack in stacks]
            claimed |= {id(m) for m in owner.modules()}
    return found


def _below(owner: nn.Module, name: str, stacks: Collection[int]) -> list[nn.Module]:
    """The modules that come before the stack ``name`` of ``owner``: on the way from ``owner`` down to the stack,
    the children each module registers before the one that leads to the stack (transformers registers them in the
    order of the forward pass: BERT's ``embeddings`` before its ``encoder``, Llama's ``embed_tokens`` before its
    ``layers``), except those that hold a stack of their own (an encoder-decoder's encoder, for its decoder)."""
    below, module = [], owner
    for part in name.split("."):
        for child_name, child in module.named_children():
            if child_name == part:
                break
            if not any(id(m) in stacks for m in child.modules()):
                below.append(child)
        module = getattr(module, part)
    return below


def apply_freeze_layers(model: nn.Module, count: int, new_parameters: Collection[str] = ()) -> int:
    """Freeze the first ``count`` layers of every stack of :func:`transformer_layers` and what comes before them
    (the embeddings: BERT's word, position and token-type embeddings with their LayerNorm, T5's shared
    embeddings, ...); returns how many parameters that froze. Never frozen: ``new_parameters`` (weights the
    checkpoint did not have, such as a soft prompt or a new head) and word embeddings tied to an output layer (a
    language-model head must keep training). A stack with fewer than ``count`` layers, or a model with none, is an
    :class:`ArgumentError`."""
    if not count:
        return 0
    found = transformer_layers(model)
    if not found:
        raise ArgumentError(f"--freeze_layers {count}: found no stack of transformer layers in "
                            f"{type(model).__name__} (a list of as many blocks as its config's layer count)")
    stacks = {id(stack) for _, _, stack in found}
    modules: list[nn.Module] = []
    kept: set[int] = set()  # tied to an output layer
    for owner, name, stack in found:
        if count > len(stack):
            raise ArgumentError(f"--freeze_layers {count}: {type(owner).__name__}.{name} has {len(stack)} layers")
        modules += [*stack[:count], *_below(owner, name, stacks)]
        output = owner.get_output_embeddings() if hasattr(owner, "get_output_embeddings") else None
        if output is not None and getattr(output, "weight", None) is not None:
            kept.add(id(output.weight))
    new = set(new_parameters)
    names = {id(p): n for n, p in model.named_parameters()}
    below = {id(p): p for module in modules for p in module.parameters()}
    frozen = [p for key, p in below.items() if key not in kept and names.get(key) not in new]
    for parameter in frozen:
        parameter.requires_grad_(False)
    total = sum(p.numel() for p in frozen)
    if not total:
        logger.warning("--freeze_layers %d froze nothing: every weight there is new (not in the checkpoint) or "
                       "tied to the output layer.", count)
        return 0
    logger.info("Froze the first %d layers of %s and the embeddings below them (%.1fM parameters; "
                "--freeze_layers)%s.", count, ", ".join(f"{name} ({len(stack)})" for _, name, stack in found),
                total / 1e6, "; the word embeddings tied to the output layer train" if kept & below.keys() else "")
    return total


# --- stages -----------------------------------------------------------------------------------------------


# What a finished or running training run leaves in its output folder.
_RUN_FILES = ("run_config.yaml", "trainer_state.json", "config.json", "model.safetensors", "modules.json")
LOCK_NAME = ".plm-recipes.lock"


class OutputDirLock:
    """Claims ``output_dir`` for one training run (on the main process), so that two live runs never write one
    folder, and refuses a folder that holds another run unless ``overwrite_output_dir`` or a resume is asked.

    The lock is a :class:`~plm_recipes.locks.ProcessLock` (a file holding the process id, removed when the run
    ends; one left by a process that no longer exists is taken over).
    """

    def __init__(self, args):
        self.args = args
        self.lock = ProcessLock(os.path.join(args.output_dir, LOCK_NAME), lambda owner: (
            f"--output_dir {args.output_dir}: another run (process {owner}) is writing it; wait for it to finish or "
            "choose another folder"))

    def __enter__(self) -> OutputDirLock:
        args = self.args
        if not args.should_save:  # replicas write nothing of their own
            return self
        os.makedirs(args.output_dir, exist_ok=True)
        self.lock.acquire()
        resuming = bool(getattr(args, "resume_from_checkpoint", None))
        if not resuming and not getattr(args, "overwrite_output_dir", False):
            found = [name for name in os.listdir(args.output_dir)
                     if name in _RUN_FILES or name.startswith(PREFIX_CHECKPOINT_DIR)]
            if found:
                self.__exit__()
                raise ArgumentError(
                    f"--output_dir {args.output_dir} holds another run ({', '.join(sorted(found)[:3])}); pass "
                    "--overwrite_output_dir to replace it, --resume_from_checkpoint to continue it, or choose "
                    "another folder")
        return self

    def __exit__(self, *exc) -> None:
        self.lock.release()


def train_and_report(trainer: Trainer, num_samples: int) -> dict[str, float]:
    """Train (resuming from ``args.resume_from_checkpoint`` where the trainer's ``train`` takes it), save the model
    (the best checkpoint with ``load_best_model_at_end``), report the metrics and save the trainer state. The
    output folder is claimed for the run (:class:`OutputDirLock`); a damaged checkpoint to resume from is refused
    before training, and a run that changed no trainable parameter is warned about (:mod:`plm_recipes.sanity`)."""
    with OutputDirLock(trainer.args):
        check_checkpoint_files(getattr(trainer.args, "resume_from_checkpoint", None))
        watch = ParameterWatch(trainer.model)
        try:
            if "resume_from_checkpoint" in inspect.signature(trainer.train).parameters:
                result = trainer.train(resume_from_checkpoint=trainer.args.resume_from_checkpoint)
            else:
                result = trainer.train()
        except KeyboardInterrupt:
            raise TrainingInterrupted(_interrupted_message(trainer)) from None
        trainer.save_model()
        if trainer.is_world_process_zero():
            watch.warn_if_unchanged(trainer.state.global_step)
        metrics = {**(getattr(result, "metrics", None) or {}), "train_samples": num_samples}
        report(trainer, "train", metrics)
        trainer.save_state()
    logger.warning("Process rank %d finished training: %d steps.", trainer.args.process_index,
                   trainer.state.global_step)
    return metrics


def _interrupted_message(trainer: Trainer) -> str:
    from transformers.trainer_utils import get_last_checkpoint

    args = trainer.args
    step = f"at step {trainer.state.global_step}"
    last = get_last_checkpoint(args.output_dir) if os.path.isdir(args.output_dir) else None
    if last is None:
        return (f"training interrupted {step}, before any checkpoint was saved (--save_strategy "
                f"{getattr(args.save_strategy, 'value', args.save_strategy)}); nothing to resume from")
    return (f"training interrupted {step}; the last checkpoint is {last}: add --resume_from_checkpoint {last} "
            "to the same command to continue from it")


def evaluate_and_report(trainer: Trainer, num_samples: int) -> dict[str, float]:
    """Evaluate on the evaluation set and report the metrics (into the model card too)."""
    metrics = {**trainer.evaluate(), "eval_samples": num_samples}
    report(trainer, "eval", metrics)
    return metrics


def report(trainer: Trainer, split: str, metrics: dict[str, float]) -> None:
    """Log ``metrics`` (without the per-class entries, which the progress table shows) and save them all to
    ``<split>_results.json``; evaluation metrics also go into the model card."""
    trainer.log_metrics(split, {k: v for k, v in metrics.items() if "per_class/" not in k})
    trainer.save_metrics(split, metrics)
    card = getattr(trainer, "model_card_info", None)
    if card is not None and split != "train":
        card.metrics[{"eval": "validation"}.get(split, split)] = metrics


def finish(trainer: Trainer, tags: list[str]) -> None:
    """Write the model card into the saved output folder, then, with ``--push_to_hub``, push the folder to the Hub
    (``args.hub_model_id``, else the folder's name, in the namespace of the token; ``args.hub_private_repo``,
    ``args.hub_revision``, ``args.hub_token``): once, after everything is saved locally, with
    :func:`plm_recipes.hub.push_folder`.

    Raises:
        HubPushError: the push failed (no network, ``HF_HUB_OFFLINE=1``, no token): one line with the command that
            pushes the saved folder later.
    """
    trainer.create_model_card(tags=tags)
    repo_id = getattr(trainer, "hub_repo_id", None)
    if repo_id is None or not trainer.is_world_process_zero():
        return
    args = trainer.args
    url = push_folder(args.output_dir, repo_id, private=args.hub_private_repo, token=args.hub_token,
                      revision=args.hub_revision, commit_message="End of training")
    logger.info("Pushed %s to the Hub: %s", args.output_dir, url)


def _hyperparameters(trainer: Trainer) -> dict[str, Any]:
    args = trainer.args
    values = {
        "learning_rate": args.learning_rate,
        "per_device_train_batch_size": args.per_device_train_batch_size,
        "gradient_accumulation_steps": args.gradient_accumulation_steps,
        "num_train_epochs": args.num_train_epochs,
        "max_steps": args.max_steps if args.max_steps > 0 else None,
        "lr_scheduler_type": str(getattr(args.lr_scheduler_type, "value", args.lr_scheduler_type)),
        "warmup": args.warmup_steps or getattr(args, "warmup_ratio", None),
        "weight_decay": args.weight_decay,
        "seed": args.seed,
        "global_steps": trainer.state.global_step,
    }
    return {k: v for k, v in values.items() if v is not None}
