"""What the recipes add to a Hugging Face trainer, as a mixin that composes with any ``transformers.Trainer``.

:class:`RecipeTrainerMixin` goes first in the bases of a trainer class::

    class RecipeTrainer(RecipeTrainerMixin, Trainer): ...
    class RecipeSeq2SeqTrainer(RecipeTrainerMixin, Seq2SeqTrainer): ...
    class BiEncoderTrainer(RecipeTrainerMixin, SentenceTransformerTrainer): ...
    class RewardModelTrainer(RecipeTrainerMixin, trl.RewardTrainer): ...

and adds: the progress lines and per-class table, training curves, a model card built from what the recipe
knows, ``run_config.yaml`` and a JSON ``training_args.json`` (no pickle) in the output folder, frozen word
embeddings or lower layers (:mod:`plm_recipes.parameters`) and a learning rate of their own for new weights
(:class:`~plm_recipes.args.RecipeSettings`), batches run as length-sorted pieces (:mod:`plm_recipes.batching`), and
evaluation in dataset order under ``group_by_length``. It overrides only methods every ``Trainer`` has, with
their signatures, and each override calls ``super()``.

A recipe runs its stages with the mixin's methods: :meth:`~RecipeTrainerMixin.train_and_report` (which claims the
output folder for the run, :class:`~plm_recipes.locks.OutputDirLock`, and turns Ctrl-C into one line naming the
checkpoint to resume from), :meth:`~RecipeTrainerMixin.evaluate_and_report`, :meth:`~RecipeTrainerMixin.report`
and :meth:`~RecipeTrainerMixin.finish`. They work over TRL's trainers too, whose signatures differ
(``PPOTrainer.train()`` takes no ``resume_from_checkpoint``; TRL's ``create_model_card`` takes ``model_name,
dataset_name, tags``). With ``--push_to_hub`` the trainer neither creates the Hub repo in its ``__init__`` nor
pushes checkpoints: :meth:`~RecipeTrainerMixin.finish` pushes the output folder once, after everything is saved
locally (:mod:`plm_recipes.hub`).
"""

from __future__ import annotations

import inspect
import json
import logging
import os
from collections.abc import Collection

import datasets
import torch
from transformers import Trainer
from transformers.trainer import TRAINING_ARGS_NAME
from transformers.trainer_callback import ProgressCallback
from transformers.trainer_pt_utils import LengthGroupedSampler
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from .batching import split_by_length, training_step_in_pieces
from .callbacks import CompactProgressCallback, ProgressLogCallback, TrainingCurveCallback
from .errors import TrainingInterrupted
from .hub import push_folder
from .locks import OutputDirLock
from .modelcard import ModelCardInfo, render_model_card, training_hyperparameters
from .parameters import apply_freeze_layers, apply_freeze_word_embeddings, input_embeddings, learning_rate_groups
from .run_config import RunConfig
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
            (:mod:`plm_recipes.batching`); a loss across rows trains on whole batches, unless the trainer runs only
            the model in pieces (:attr:`encodes_in_pieces`).
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
        bound = inspect.signature(super().__init__).bind_partial(*args, **kwargs).arguments
        training_args = bound.get("args")
        accelerator_config = getattr(training_args, "accelerator_config", None)
        if isinstance(bound.get("train_dataset"), datasets.IterableDataset) and accelerator_config is not None \
                and accelerator_config.dispatch_batches is None:
            # a stream (--streaming): each process reads it, rather than the main one dispatching its batches,
            # which accelerate concatenates as tensors (sentence-transformers' batches hold texts too)
            accelerator_config.dispatch_batches = False
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
        if (getattr(self.args, "micro_batches_by_length", None) or 1) > 1 and not (row_mean_loss
                                                                                  or self.encodes_in_pieces):
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
        mapping = getattr(self.args, "learning_rate_mapping", None) or {}
        if self.optimizer is not None or not (rate or (mapping and self.applies_learning_rate_mapping)):
            # transformers 5.2's create_optimizer takes no model argument (later ones do)
            return super().create_optimizer() if model is None else super().create_optimizer(model)
        # these groups replace those sentence-transformers' trainer passes (``optimizer_dict``): the mapping too
        param_groups = learning_rate_groups(opt_model, set(self.get_decay_parameter_names(opt_model)),
                                            self.args.weight_decay, mapping, self.new_parameters, rate)
        optimizer_cls, optimizer_kwargs = (
            self.optimizer_cls_and_kwargs or self.get_optimizer_cls_and_kwargs(self.args, opt_model)
        )
        self.optimizer = optimizer_cls(param_groups, **{k: v for k, v in optimizer_kwargs.items()
                                                        if k not in ("params", "model", "optimizer_dict")})
        return self.optimizer

    # --- training step -------------------------------------------------------------------------------------

    #: the trainer runs ``args.micro_batches_by_length`` pieces its own way, whatever its loss: a bi-encoder encodes
    #: each column of texts in length-sorted pieces (:class:`~plm_recipes.pairs.bi_encoder.BiEncoderTrainer`)
    encodes_in_pieces = False

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

    # --- samplers -----------------------------------------------------------------------------------------

    def _get_train_sampler(self, train_dataset=None):
        """Under ``group_by_length``, the lengths are the dataset's ``length`` column (written when it was
        tokenized, :data:`plm_recipes.data.LENGTH_COLUMN`): Trainer drops that column with the others the model
        does not take before it builds the sampler, which then reads every row of the dataset to measure it."""
        full, column = self.train_dataset, self.args.length_column_name
        if (getattr(self.args, "train_sampling_strategy", None) == "group_by_length"
                and isinstance(full, datasets.Dataset) and column in full.column_names
                and (train_dataset is None or len(train_dataset) == len(full))):
            model_input_name = getattr(self.processing_class, "model_input_names", ["input_ids"])[0]
            return LengthGroupedSampler(self.args.train_batch_size * self.args.gradient_accumulation_steps,
                                        dataset=train_dataset if train_dataset is not None else full,
                                        lengths=full.with_format("numpy")[column], model_input_name=model_input_name)
        return super()._get_train_sampler(train_dataset)

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
        """Train (resuming from ``args.resume_from_checkpoint`` where the trainer's ``train`` takes it), save the
        model (the best checkpoint with ``load_best_model_at_end``), report the metrics and save the trainer state.
        The output folder is claimed for the run (:class:`~plm_recipes.locks.OutputDirLock`); a damaged checkpoint
        to resume from is refused before training, and a run that changed no trainable parameter is warned about
        (:mod:`plm_recipes.sanity`)."""
        with OutputDirLock(self.args):
            check_checkpoint_files(getattr(self.args, "resume_from_checkpoint", None))
            watch = ParameterWatch(self.model)
            try:
                if "resume_from_checkpoint" in inspect.signature(self.train).parameters:
                    result = self.train(resume_from_checkpoint=self.args.resume_from_checkpoint)
                else:
                    result = self.train()
            except KeyboardInterrupt:
                raise TrainingInterrupted.at_step(self.args, self.state.global_step) from None
            self.save_model()
            if self.is_world_process_zero():
                watch.warn_if_unchanged(self.state.global_step)
            metrics = {**(getattr(result, "metrics", None) or {}), "train_samples": num_samples}
            self.report("train", metrics)
            self.save_state()
        logger.warning("Process rank %d finished training: %d steps.", self.args.process_index,
                       self.state.global_step)
        return metrics

    def evaluate_and_report(self, num_samples: int) -> dict[str, float]:
        """Evaluate on the evaluation set and report the metrics (into the model card too)."""
        metrics = {**self.evaluate(), "eval_samples": num_samples}
        self.report("eval", metrics)
        return metrics

    def report(self, split: str, metrics: dict[str, float]) -> None:
        """Log ``metrics`` (without the per-class entries, which the progress table shows) and save them all to
        ``<split>_results.json``; evaluation metrics also go into the model card."""
        self.log_metrics(split, {k: v for k, v in metrics.items() if "per_class/" not in k})
        self.save_metrics(split, metrics)
        if self.model_card_info is not None and split != "train":
            self.model_card_info.metrics[{"eval": "validation"}.get(split, split)] = metrics

    def finish(self, tags: list[str]) -> None:
        """Write the model card into the saved output folder, then, with ``--push_to_hub``, push the folder to the
        Hub (``args.hub_model_id``, else the folder's name, in the namespace of the token; ``args.hub_private_repo``,
        ``args.hub_revision``, ``args.hub_token``): once, after everything is saved locally, with
        :func:`plm_recipes.hub.push_folder`.

        Raises:
            HubPushError: the push failed (no network, ``HF_HUB_OFFLINE=1``, no token): one line with the command
                that pushes the saved folder later.
        """
        self.create_model_card(tags=tags)
        if self.hub_repo_id is None or not self.is_world_process_zero():
            return
        args = self.args
        url = push_folder(args.output_dir, self.hub_repo_id, private=args.hub_private_repo, token=args.hub_token,
                          revision=args.hub_revision, commit_message="End of training")
        logger.info("Pushed %s to the Hub: %s", args.output_dir, url)

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
            self.model_card_info, model_name=name, tags=tags,
            hyperparameters=training_hyperparameters(args, self.state.global_step),
            license=kwargs.get("license") or getattr(args, "license", None),
            settings=self.run_config.card_settings() if self.run_config else None,
        )
        os.makedirs(args.output_dir, exist_ok=True)
        with open(os.path.join(args.output_dir, "README.md"), "w", encoding="utf-8") as f:
            f.write(card)


class RecipeTrainer(RecipeTrainerMixin, Trainer):
    """:class:`transformers.Trainer` with :class:`RecipeTrainerMixin`; recipes with a custom loss subclass it and
    override ``compute_loss``."""
