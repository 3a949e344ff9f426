"""The Trainer every recipe uses or subclasses (recipes with a custom loss override ``compute_loss``)."""

from __future__ import annotations

import logging
import os
from collections.abc import Collection

import torch
from transformers import Trainer
from transformers.trainer import TRAINING_ARGS_NAME
from transformers.trainer_callback import ProgressCallback
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from .callbacks import CompactProgressCallback, ProgressLogCallback, TrainingCurveCallback
from .modelcard import ModelCardInfo, render_model_card

logger = logging.getLogger(__name__)


class RecipeTrainer(Trainer):
    """:class:`transformers.Trainer` with the project's progress lines, training curves and model card.

    Args:
        model_card: what the recipe knows about the run (data, labels, usage); the card written to
            ``output_dir/README.md`` by :meth:`create_model_card` (and so by ``push_to_hub``) is built from it.
        new_parameters: names of parameters the checkpoint did not have (a new task head, a pooler missing from
            the checkpoint), as returned by :func:`plm_recipes.loading.load_model`.
        new_parameters_learning_rate: a learning rate for ``new_parameters`` (the rest keeps
            ``args.learning_rate``). Randomly initialised weights learn slowly at a rate made for pretrained
            ones; a higher rate for them lets the encoder keep a low, stable one.
        headline_metrics: the metrics printed on the ``Evaluation ...`` line.
        *args, **kwargs: as for :class:`transformers.Trainer`.
    """

    def __init__(
        self,
        *args,
        model_card: ModelCardInfo | None = None,
        headline_metrics: tuple[str, ...] = ("precision", "recall", "f1"),
        new_parameters: Collection[str] = (),
        new_parameters_learning_rate: float | None = None,
        **kwargs,
    ):
        callbacks = list(kwargs.pop("callbacks", None) or [])
        callbacks += [ProgressLogCallback(headline_metrics), TrainingCurveCallback()]
        super().__init__(*args, callbacks=callbacks, **kwargs)
        if self.pop_callback(ProgressCallback) is not None:
            self.add_callback(CompactProgressCallback)
        self.model_card_info = model_card
        self.new_parameters = frozenset(new_parameters)
        self.new_parameters_learning_rate = new_parameters_learning_rate

    def _get_eval_sampler(self, eval_dataset):
        """Evaluate and predict in dataset order. Trainer reuses ``--train_sampling_strategy group_by_length`` for
        evaluation, whose shuffled order would misalign ``predict()``'s rows with the input rows."""
        if self.args.train_sampling_strategy != "group_by_length" or eval_dataset is None:
            return super()._get_eval_sampler(eval_dataset)
        if self.args.world_size <= 1:
            return torch.utils.data.SequentialSampler(eval_dataset)
        return None  # accelerate shards the dataset in order across processes

    def create_optimizer(self, model=None):
        """Trainer's optimizer, with ``new_parameters`` in groups of their own learning rate when one is set."""
        opt_model = self.model if model is None else model
        if self.optimizer is not None or not self.new_parameters_learning_rate or not self.new_parameters:
            return super().create_optimizer(model)
        decay = set(self.get_decay_parameter_names(opt_model))
        groups: dict[tuple[bool, bool], list] = {}
        for name, param in opt_model.named_parameters():
            if param.requires_grad:
                groups.setdefault((name in self.new_parameters, name in decay), []).append(param)
        param_groups = [
            {"params": params, "weight_decay": self.args.weight_decay if decayed else 0.0,
             **({"lr": self.new_parameters_learning_rate} if new else {})}
            for (new, decayed), params in groups.items()
        ]
        optimizer_cls, optimizer_kwargs = (
            self.optimizer_cls_and_kwargs or self.get_optimizer_cls_and_kwargs(self.args, opt_model)
        )
        self.optimizer = optimizer_cls(param_groups, **optimizer_kwargs)
        return self.optimizer

    def _save(self, output_dir: str | None = None, state_dict=None) -> None:
        """Save as Trainer does, but the training arguments as JSON instead of the pickled ``training_args.bin``,
        so a shared model folder holds no pickle (checkpoints keep Trainer's own files, for resuming)."""
        super()._save(output_dir, state_dict=state_dict)
        output_dir = output_dir if output_dir is not None else self.args.output_dir
        pickled = os.path.join(output_dir, TRAINING_ARGS_NAME)
        is_checkpoint = os.path.basename(os.path.normpath(output_dir)).startswith(PREFIX_CHECKPOINT_DIR)
        if self.args.should_save and not is_checkpoint and os.path.exists(pickled):
            os.remove(pickled)
            with open(os.path.join(output_dir, "training_args.json"), "w", encoding="utf-8") as f:
                f.write(self.args.to_json_string())

    def train_and_report(self, num_samples: int) -> dict[str, float]:
        """Train (resuming from ``args.resume_from_checkpoint`` when set), save the model (the best checkpoint
        with ``load_best_model_at_end``), report the metrics and save the trainer state."""
        result = self.train(resume_from_checkpoint=self.args.resume_from_checkpoint)
        self.save_model()
        metrics = {**result.metrics, "train_samples": num_samples}
        self.report("train", metrics)
        self.save_state()
        logger.warning("Process rank %d finished training: %d steps.", self.args.process_index, self.state.global_step)
        return metrics

    def evaluate_and_report(self, num_samples: int) -> dict[str, float]:
        """Evaluate on the evaluation set and report the metrics (into the model card too)."""
        metrics = {**self.evaluate(), "eval_samples": num_samples}
        self.report("eval", metrics)
        return metrics

    def finish(self, tags: list[str]) -> None:
        """Push to the Hub when ``--push_to_hub`` (the model card goes with it), else write the model card."""
        if self.args.push_to_hub:
            self.push_to_hub(tags=tags)
        else:
            self.create_model_card(tags=tags)

    def report(self, split: str, metrics: dict[str, float]) -> None:
        """Log ``metrics`` (without the per-class entries, which the progress table shows) and save them all to
        ``<split>_results.json``; evaluation metrics also go into the model card."""
        self.log_metrics(split, {k: v for k, v in metrics.items() if "per_class/" not in k})
        self.save_metrics(split, metrics)
        if self.model_card_info is not None and split != "train":
            self.model_card_info.metrics[{"eval": "validation"}.get(split, split)] = metrics

    def create_model_card(
        self,
        language: str | None = None,
        license: str | None = None,
        tags: str | list[str] | None = None,
        model_name: str | None = None,
        finetuned_from: str | None = None,
        tasks: str | list[str] | None = None,
        dataset_tags: str | list[str] | None = None,
        dataset: str | list[str] | None = None,
        dataset_args: str | list[str] | None = None,
    ) -> None:
        """Write ``README.md`` in the output folder from the recipe's :class:`ModelCardInfo`.

        Falls back to the Trainer's own card when the recipe gave none. The signature is Trainer's, so
        ``push_to_hub`` calls this one.
        """
        if self.model_card_info is None:
            return super().create_model_card(
                language=language, license=license, tags=tags, model_name=model_name, finetuned_from=finetuned_from,
                tasks=tasks, dataset_tags=dataset_tags, dataset=dataset, dataset_args=dataset_args,
            )
        if not self.is_world_process_zero():
            return
        args = self.args
        name = model_name or (args.hub_model_id if args.push_to_hub else None) or args.output_dir
        hyperparameters = {
            "learning_rate": args.learning_rate,
            "per_device_train_batch_size": args.per_device_train_batch_size,
            "gradient_accumulation_steps": args.gradient_accumulation_steps,
            "num_train_epochs": args.num_train_epochs,
            "max_steps": args.max_steps if args.max_steps > 0 else None,
            "lr_scheduler_type": str(getattr(args.lr_scheduler_type, "value", args.lr_scheduler_type)),
            "warmup": args.warmup_steps or getattr(args, "warmup_ratio", None),
            "weight_decay": args.weight_decay,
            "seed": args.seed,
            "global_steps": self.state.global_step,
        }
        hyperparameters = {k: v for k, v in hyperparameters.items() if v is not None}
        tags = [tags] if isinstance(tags, str) else list(tags or [])
        card = render_model_card(self.model_card_info, model_name=name, hyperparameters=hyperparameters,
                                 tags=tags, license=license)
        os.makedirs(args.output_dir, exist_ok=True)
        with open(os.path.join(args.output_dir, "README.md"), "w", encoding="utf-8") as f:
            f.write(card)
