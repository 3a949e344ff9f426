"""Trainer callbacks: the progress lines people know from the seed project, and training-curve PNGs."""

from __future__ import annotations

import json
import math
import os
import sys
import time

from tqdm.auto import tqdm
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments
from transformers.trainer_callback import ProgressCallback

from .metrics import per_class_table

# Keys of an evaluation's metrics that describe the run, not the model's quality.
_NOT_QUALITY = ("runtime", "samples_per_second", "steps_per_second", "epoch", "loss", "per_class/")


def _write(line: str) -> None:
    tqdm.write(line)  # keeps Trainer's progress bar intact
    sys.stdout.flush()  # a line at a time also when stdout is a file


def _metric_title(name: str) -> str:
    return {"f1": "F1", "spearman": "Spearman", "best_f1": "best-threshold F1"}.get(name, name)


class CompactProgressCallback(ProgressCallback):
    """Trainer's progress bar, printing logged metrics without the per-class entries (a table shows those)."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = {k: v for k, v in (logs or {}).items() if "per_class/" not in k}
        super().on_log(args, state, control, logs=logs, **kwargs)


class ProgressLogCallback(TrainerCallback):
    """Prints, on the main process only::

        global step 10, epoch: 1, loss: 0.67510, speed: 4.25 step/s
        Evaluation precision: 0.77000, recall: 0.71000, F1: 0.70000
        best F1 performance updated: 0.00000 --> 0.70000

    and a per-class table when the metrics hold ``per_class/<label>/...`` keys.

    Args:
        headline: the metrics on the ``Evaluation`` line, in order, as they are named without the ``eval_`` prefix.
    """

    def __init__(self, headline: tuple[str, ...] = ("precision", "recall", "f1")):
        self.headline = headline
        self.best: float | None = None
        self._last_time = time.perf_counter()
        self._last_step = 0

    def on_train_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs):
        self._last_time = time.perf_counter()
        self._last_step = state.global_step
        if state.best_metric is not None:  # resumed from a checkpoint
            self.best = state.best_metric

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        # Trainer logs "loss"; TRL's online trainers log parts of it ("loss/policy_avg", "loss/value_avg")
        losses = {"loss": logs["loss"]} if "loss" in logs else {k: v for k, v in logs.items() if k.startswith("loss/")}
        if not losses:
            return
        now = time.perf_counter()
        steps = state.global_step - self._last_step
        speed = steps / (now - self._last_time) if now > self._last_time else 0.0
        self._last_time, self._last_step = now, state.global_step
        epoch = max(1, math.ceil(state.epoch or 0))
        shown = ", ".join(f"{name}: {value:.5f}" for name, value in losses.items())
        _write(f"global step {state.global_step}, epoch: {epoch}, {shown}, speed: {speed:.2f} step/s")

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        if not state.is_world_process_zero or not metrics:
            return
        shown = [(name, metrics[f"eval_{name}"]) for name in self.headline if f"eval_{name}" in metrics]
        if shown:
            _write("Evaluation " + ", ".join(f"{_metric_title(n)}: {v:.5f}" for n, v in shown))
        rows = per_class_table(metrics, prefix="eval_")
        if rows:
            width = max(8, *(len(label) * 2 for label, _ in rows))  # CJK characters print double width
            _write("Each class metrics:")
            _write(f"  {'label'.ljust(width)} precision  recall     f1  support")
            for label, row in rows:
                pad = width - sum(2 if ord(c) > 0x2E80 else 1 for c in label)
                _write(
                    f"  {label}{' ' * max(pad, 0)} {row.get('precision', 0):9.5f} {row.get('recall', 0):7.5f} "
                    f"{row.get('f1', 0):7.5f} {int(row.get('support', 0)):8d}"
                )
        name = (args.metric_for_best_model or "").removeprefix("eval_")
        value = metrics.get(f"eval_{name}")
        if value is None:
            return
        greater = args.greater_is_better if args.greater_is_better is not None else not name.endswith("loss")
        old = self.best
        if old is None or (value > old if greater else value < old):
            self.best = value
            shown_old = old if old is not None else (0.0 if greater else math.inf)
            _write(f"best {_metric_title(name)} performance updated: {shown_old:.5f} --> {value:.5f}")


class TrainingCurveCallback(TrainerCallback):
    """Writes ``<output_dir>/logs/training_curves.png`` (loss, learning rate, evaluation metrics against the
    step) and ``log_history.json`` beside it, after every evaluation and at the end of training."""

    def __init__(self, filename: str = "training_curves.png"):
        self.filename = filename

    def on_evaluate(self, args, state, control, **kwargs):
        self._save(args, state)

    def on_train_end(self, args, state, control, **kwargs):
        self._save(args, state)

    def _save(self, args: TrainingArguments, state: TrainerState) -> None:
        if not state.is_world_process_zero or not args.output_dir:
            return
        log_dir = os.path.join(args.output_dir, "logs")
        os.makedirs(log_dir, exist_ok=True)
        with open(os.path.join(log_dir, "log_history.json"), "w", encoding="utf-8") as f:
            json.dump(state.log_history, f, ensure_ascii=False, indent=1)
        plot_training_curves(state.log_history, os.path.join(log_dir, self.filename))


def figure_row(panels: int):
    """A row of ``panels`` plots (matplotlib without a display): ``(figure, axes)``, the axes in ``axes[0]``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(1, panels, figsize=(5 * panels, 3.6), squeeze=False)


def save_figure(fig, path: str) -> str:
    """Write ``fig`` as a PNG at ``path`` (its folder made when missing), free it, and return ``path``."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_training_curves(log_history: list[dict], path: str) -> str | None:
    """Plot a Trainer ``log_history``: training and evaluation loss, learning rate, evaluation metrics.

    Returns the path written, or ``None`` when there is nothing to plot yet.
    """
    # Trainer logs "loss" and "learning_rate"; TRL's online trainers "loss/policy_avg", "loss/value_avg" and "lr"
    train: dict[str, list[tuple[int, float]]] = {}
    lr = []
    for h in log_history:
        if "step" not in h:
            continue
        for key, value in h.items():
            if key == "loss" or key.startswith("loss/"):
                train.setdefault("train loss" if key == "loss" else key, []).append((h["step"], value))
        rate = h.get("learning_rate", h.get("lr"))
        if rate is not None:
            lr.append((h["step"], rate))
    evals, steps = [], set()
    for h in log_history:
        # keep the first evaluation of a step: a later one there is of the best checkpoint, reloaded at the end
        if any(k.startswith("eval_") for k in h) and h.get("step") not in steps:
            evals.append(h)
            steps.add(h.get("step"))
    eval_loss = [(h["step"], h["eval_loss"]) for h in evals if "eval_loss" in h]
    metric_names = sorted(
        {k for h in evals for k, v in h.items()
         if k.startswith("eval_") and isinstance(v, int | float) and not any(s in k for s in _NOT_QUALITY)}
    )
    if not (train or eval_loss or metric_names):
        return None
    panels = [p for p in ("loss", "lr", "metrics") if {"loss": train or eval_loss, "lr": lr, "metrics": metric_names}[p]]
    fig, axes = figure_row(len(panels))
    for ax, panel in zip(axes[0], panels):
        if panel == "loss":
            for name, points in train.items():
                ax.plot(*zip(*points), label=name)
            if eval_loss:
                ax.plot(*zip(*eval_loss), marker="o", label="eval loss")
            ax.set_title("loss")
        elif panel == "lr":
            ax.plot(*zip(*lr))
            ax.set_title("learning rate")
            ax.ticklabel_format(axis="y", style="sci", scilimits=(0, 0))
        else:
            for name in metric_names:
                points = [(h["step"], h[name]) for h in evals if name in h]
                ax.plot(*zip(*points), marker="o", label=name.removeprefix("eval_"))
            ax.set_title("evaluation")
        ax.set_xlabel("step")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    return save_figure(fig, path)
