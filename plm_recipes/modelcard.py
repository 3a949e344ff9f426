"""Model cards (README.md in the output folder) that name the base model, the data and the metrics.

The YAML metadata is ``huggingface_hub``'s :class:`~huggingface_hub.ModelCardData`: ``base_model``, ``license``,
``datasets`` (data from the Hub), ``library_name`` and ``pipeline_tag``, and a ``model-index`` holding the run's
final evaluation metrics (task type, dataset name/config/split, metric type and value) as transformers'
``TrainingSummary`` writes them, so that the Hub shows the results.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from numbers import Real
from typing import Any

from huggingface_hub import EvalResult, ModelCardData

from .loading import is_hub_id
from .metrics import per_class_table

# What a run logs beside its metrics, which no card reports as one: TRL's ``num_tokens`` is the count of tokens
# trained on so far, logged with every evaluation (like ``epoch``).
_RUN_KEYS = ("runtime", "samples_per_second", "steps_per_second", "epoch", "num_tokens")

# What ``datasets`` names the builder of a local file by its extension: the dataset "type" transformers'
# TrainingSummary writes for local data (``load_dataset("json", data_files=...)`` is a "json" dataset).
_LOCAL_BUILDERS = {".json": "json", ".jsonl": "json", ".csv": "csv", ".tsv": "csv", ".parquet": "parquet"}


@dataclass
class ModelCardInfo:
    """What a recipe knows about its run that the Trainer does not.

    Attributes:
        recipe: the recipe's file name without ``.py``.
        pipeline_tag: the Hub task, e.g. ``"text-classification"``; ``None`` for a model no Hub pipeline runs (the
            Hub's widget would offer the wrong one).
        base_model: the checkpoint the model was fine-tuned from (a hub id or a folder); ``None`` when it was
            trained from scratch from ``config_name``.
        config_name: the config a model trained from scratch was built from.
        data_files: split name -> file, e.g. ``{"train": "data/train.txt"}``.
        num_examples: split name -> number of examples used.
        labels: the label names, in id order, when the task has labels.
        usage: a Markdown snippet showing how to use the model; ``{model}`` is replaced by the repo id or folder.
        metrics: split name -> metrics to report (``"validation"``, ``"test"``); filled in by the recipe.
        library_name: the library that loads the model (``"sentence-transformers"`` for bi-encoders).
        task_type: the task of the card's ``model-index`` results (a Hub task id); default: ``pipeline_tag``.
        dataset_id, dataset_config: the Hub dataset the data came from (``datasets`` in the card), when it did.
    """

    recipe: str
    pipeline_tag: str | None
    base_model: str | None
    config_name: str | None = None
    data_files: dict[str, str] = field(default_factory=dict)
    num_examples: dict[str, int] = field(default_factory=dict)
    labels: list[str] | None = None
    usage: str = ""
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    language: tuple[str, ...] = ("zh",)
    library_name: str = "transformers"
    task_type: str | None = None
    dataset_id: str | None = None
    dataset_config: str | None = None


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def hub_base_model(path: str | None) -> tuple[str | None, str | None]:
    """The ``base_model`` a card names for the checkpoint ``path``, and a note when it is not ``path`` itself.

    A Hub id is itself. A local folder is named by what it knows of its origin: the Hub cache's folder
    (``.../models--org--name/snapshots/<commit>``), the name its ``config.json`` records (``_name_or_path``, which
    transformers 4 saved), else the folder's own name, with a note saying so.
    """
    if not path:
        return None, None
    if is_hub_id(path):
        return path, None
    cached = re.search(r"models--([^/\\]+)--([^/\\]+)[/\\]snapshots", os.path.abspath(path))
    if cached:
        return f"{cached[1]}/{cached[2]}", None
    try:
        with open(os.path.join(path, "config.json"), encoding="utf-8") as f:
            recorded = json.load(f).get("_name_or_path")
    except (OSError, ValueError, AttributeError):
        recorded = None
    if isinstance(recorded, str) and is_hub_id(recorded):
        return recorded, f"`base_model` is `{recorded}`, the name the local checkpoint's config records."
    name = os.path.basename(os.path.normpath(path))
    return name, (f"`base_model` is the name of the local folder the model was fine-tuned from (`{name}`); its "
                  "config records no Hub id.")


def _overall(metrics: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The prefix of ``metrics`` (``eval_``, ``test_``) and its overall metrics, without the prefix, per-class
    entries, runtime and sample counts."""
    prefix = next((p for p in ("eval_", "test_", "predict_") if any(k.startswith(p) for k in metrics)), "")
    overall = {
        k.removeprefix(prefix): v for k, v in metrics.items()
        if "per_class/" not in k and not k.removeprefix(prefix).endswith(_RUN_KEYS + ("samples",))
    }
    return prefix, overall


def eval_results(info: ModelCardInfo) -> list[EvalResult]:
    """The card's ``model-index`` results: each final metric of each evaluated split, on the split's data (the
    Hub dataset, or the local file by name), for the task ``info.task_type`` (else ``info.pipeline_tag``)."""
    task = info.task_type or info.pipeline_tag
    if task is None:
        return []
    results = []
    for split, metrics in info.metrics.items():
        if info.dataset_id:
            dataset_type = dataset_name = info.dataset_id
        else:
            # the split's own file, else the training data (an RL run scores samples of its prompts file)
            path = info.data_files.get(split) or info.data_files.get("train") or next(iter(info.data_files.values()),
                                                                                     None)
            if path is None:
                continue
            dataset_name = os.path.basename(path)
            dataset_type = _LOCAL_BUILDERS.get(os.path.splitext(path)[1].lower(), "text")
        for key, value in _overall(metrics)[1].items():
            if isinstance(value, Real) and not isinstance(value, bool):
                results.append(EvalResult(
                    task_type=task, dataset_type=dataset_type, dataset_name=dataset_name,
                    dataset_config=info.dataset_config, dataset_split=split, metric_type=key,
                    metric_name=key, metric_value=float(value),
                ))
    return results


def render_model_card(
    info: ModelCardInfo,
    *,
    model_name: str,
    hyperparameters: dict[str, Any],
    tags: list[str] | None = None,
    license: str | None = None,
    settings: dict[str, Any] | None = None,
) -> str:
    """The model card's Markdown, with YAML metadata the Hub understands.

    ``settings`` are the recipe's own settings and every other one that differs from its default
    (:meth:`RunConfig.card_settings`); the card lists them after the hyperparameters.
    """
    base_model, base_note = hub_base_model(info.base_model)
    results = eval_results(info)
    metadata = ModelCardData(
        language=list(info.language),
        license=license,
        library_name=info.library_name,
        pipeline_tag=info.pipeline_tag,
        base_model=base_model,
        datasets=[info.dataset_id] if info.dataset_id else None,
        tags=sorted({"plm-recipes", *([info.pipeline_tag] if info.pipeline_tag else []), *(tags or [])}),
        model_name=model_name if results else None,
        eval_results=results or None,
    )
    lines = ["---", metadata.to_yaml(), "---", "", f"# {model_name}", ""]
    origin = (  # a local base by its name: a card that is pushed shows no path of this machine
        f"fine-tuned from `{base_model}`" if base_model
        else f"trained from scratch (config `{info.config_name}`, no pretraining)"
    )
    lines += [
        f"A {f'`{info.pipeline_tag}` ' if info.pipeline_tag else ''}model {origin} with the plm-recipes recipe "
        f"`recipes/{info.recipe}.py`." + (f" {base_note}" if base_note else ""),
        "",
        "## Training data",
        "",
    ]
    if info.dataset_id:
        config = f" (config `{info.dataset_config}`)" if info.dataset_config else ""
        lines += [f"From the Hub dataset [`{info.dataset_id}`](https://huggingface.co/datasets/{info.dataset_id})"
                  f"{config}:", ""]
    for split, path in info.data_files.items():
        count = info.num_examples.get(split)
        lines.append(f"- {split}: `{os.path.basename(path)}`" + (f" ({count} examples)" if count is not None else ""))
    if info.labels:
        lines += ["", f"Labels ({len(info.labels)}): " + ", ".join(f"`{name}`" for name in info.labels)]
    for split, metrics in info.metrics.items():
        prefix, overall = _overall(metrics)
        lines += ["", f"## Evaluation ({split})", "", "| metric | value |", "|---|---|"]
        lines += [f"| {k} | {_fmt(v)} |" for k, v in overall.items()]
        rows = per_class_table(metrics, prefix=prefix)
        if rows:
            lines += ["", "| label | precision | recall | F1 | support |", "|---|---|---|---|---|"]
            lines += [
                f"| {label} | {_fmt(r.get('precision'))} | {_fmt(r.get('recall'))} | {_fmt(r.get('f1'))} "
                f"| {_fmt(r.get('support'))} |"
                for label, r in rows
            ]
    lines += ["", "## Training hyperparameters", ""]
    lines += [f"- {k}: {v}" for k, v in hyperparameters.items()]
    if settings:
        lines += ["", "## Run settings", "",
                  "The recipe's own settings and every other setting that differs from its default (all of them are "
                  "in `run_config.yaml`; `--config run_config.yaml` reruns the run):", ""]
        lines += [f"- {k}: `{v}`" for k, v in settings.items()]
    if info.usage:
        lines += ["", "## Usage", "", info.usage.replace("{model}", model_name).strip()]
    return "\n".join(lines) + "\n"


def training_hyperparameters(args, global_step: int) -> dict[str, Any]:
    """The card's "Training hyperparameters": the training arguments that shape the run, and its step count."""
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
        "global_steps": global_step,
    }
    return {k: v for k, v in values.items() if v is not None}
