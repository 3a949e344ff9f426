"""The Trainer every recipe uses or subclasses (recipes with a custom loss override ``compute_loss``)."""

from __future__ import annotations

import os

from transformers import Trainer
from transformers.trainer import TRAINING_ARGS_NAME
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from transformers.trainer_callback import ProgressCallback

from .callbacks import CompactProgressCallback, ProgressLogCallback, TrainingCurveCallback
from .modelcard import ModelCardInfo, render_model_card


class RecipeTrainer(Trainer):
    """:class:`transformers.Trainer` with the project's progress lines, training curves and model card.

    Args:
        model_card: what the recipe knows about the run (data, labels, usage); the card written to
            ``output_dir/README.md`` by :meth:`create_model_card` (and so by ``push_to_hub``) is built from it.
        headline_metrics: the metrics printed on the ``Evaluation ...`` line.
        *args, **kwargs: as for :class:`transformers.Trainer`.
    """

    def __init__(
        self,
        *args,
        model_card: ModelCardInfo | None = None,
        headline_metrics: tuple[str, ...] = ("precision", "recall", "f1"),
        **kwargs,
    ):
        callbacks = list(kwargs.pop("callbacks", None) or [])
        callbacks += [ProgressLogCallback(headline_metrics), TrainingCurveCallback()]
        super().__init__(*args, callbacks=callbacks, **kwargs)
        if self.pop_callback(ProgressCallback) is not None:
            self.add_callback(CompactProgressCallback)
        self.model_card_info = model_card

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
