"""Model cards (README.md in the output folder) that name the base model, the data and the metrics."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from huggingface_hub import ModelCardData

from .loading import is_hub_id
from .metrics import per_class_table

_RUN_KEYS = ("runtime", "samples_per_second", "steps_per_second", "epoch")


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


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


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
    metadata = ModelCardData(
        language=list(info.language),
        license=license,
        library_name=info.library_name,
        pipeline_tag=info.pipeline_tag,
        base_model=info.base_model if is_hub_id(info.base_model) else None,
        tags=sorted({"plm-recipes", *([info.pipeline_tag] if info.pipeline_tag else []), *(tags or [])}),
    )
    lines = ["---", metadata.to_yaml(), "---", "", f"# {model_name}", ""]
    origin = (
        f"fine-tuned from `{info.base_model}`" if info.base_model
        else f"trained from scratch (config `{info.config_name}`, no pretraining)"
    )
    lines += [
        f"A {f'`{info.pipeline_tag}` ' if info.pipeline_tag else ''}model {origin} with the plm-recipes recipe "
        f"`recipes/{info.recipe}.py`.",
        "",
        "## Training data",
        "",
    ]
    for split, path in info.data_files.items():
        count = info.num_examples.get(split)
        lines.append(f"- {split}: `{os.path.basename(path)}`" + (f" ({count} examples)" if count is not None else ""))
    if info.labels:
        lines += ["", f"Labels ({len(info.labels)}): " + ", ".join(f"`{name}`" for name in info.labels)]
    for split, metrics in info.metrics.items():
        prefix = next((p for p in ("eval_", "test_", "predict_") if any(k.startswith(p) for k in metrics)), "")
        overall = {
            k.removeprefix(prefix): v for k, v in metrics.items()
            if "per_class/" not in k and not k.removeprefix(prefix).endswith(_RUN_KEYS + ("samples",))
        }
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
