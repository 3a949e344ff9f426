"""Offline metrics give the right numbers on hand examples; callbacks print the seed's lines and draw curves."""

from __future__ import annotations

import pytest
from transformers import TrainerControl, TrainerState, TrainingArguments

from plm_recipes.callbacks import ProgressLogCallback, plot_training_curves
from plm_recipes.metrics import ClassificationReport, Spearman, per_class_table
from plm_recipes.pairs.metrics import BinaryMatchMetrics


def test_classification_report_on_a_hand_example():
    # refs:  a a b b c ; preds: a b b b a
    # a: P 1/2 R 1/2 ; b: P 2/3 R 1 ; c: P 0 R 0
    result = ClassificationReport(keep_in_memory=True).compute(
        predictions=[0, 1, 1, 1, 0], references=[0, 0, 1, 1, 2], label_names=["a", "b", "c"]
    )
    assert result["accuracy"] == pytest.approx(3 / 5)
    assert result["per_class/a/precision"] == pytest.approx(0.5)
    assert result["per_class/b/precision"] == pytest.approx(2 / 3)
    assert result["per_class/b/recall"] == pytest.approx(1.0)
    assert result["per_class/b/f1"] == pytest.approx(0.8)
    assert result["per_class/c/f1"] == 0.0 and result["per_class/c/support"] == 1
    assert result["precision"] == pytest.approx((0.5 + 2 / 3 + 0) / 3)
    assert result["recall"] == pytest.approx((0.5 + 1 + 0) / 3)
    assert result["f1"] == pytest.approx((0.5 + 0.8 + 0) / 3)


def test_classification_report_accumulates_batches():
    metric = ClassificationReport(keep_in_memory=True)
    metric.add_batch(predictions=[0, 1], references=[0, 1])
    metric.add_batch(predictions=[1], references=[0])
    result = metric.compute()
    assert result["accuracy"] == pytest.approx(2 / 3)
    assert [label for label, _ in per_class_table(result)] == ["0", "1"]


def test_metrics_combine_like_hub_metrics():
    import evaluate

    combined = evaluate.combine([ClassificationReport(keep_in_memory=True)])
    assert combined.compute(predictions=[0, 1, 1], references=[0, 1, 0])["accuracy"] == pytest.approx(2 / 3)


def test_spearman():
    assert Spearman(keep_in_memory=True).compute(predictions=[0.1, 0.5, 0.3], references=[1, 3, 2])["spearman"] == 1.0
    assert Spearman(keep_in_memory=True).compute(predictions=[0.9, 0.5, 0.1], references=[1, 2, 3])["spearman"] == -1.0
    # a constant prediction orders nothing
    assert Spearman(keep_in_memory=True).compute(predictions=[0.5, 0.5], references=[0, 1])["spearman"] == 0.0


def _state(**kwargs):
    state = TrainerState()
    state.is_world_process_zero = True
    for k, v in kwargs.items():
        setattr(state, k, v)
    return state


def test_progress_lines(tmp_path, capsys):
    args = TrainingArguments(output_dir=str(tmp_path), metric_for_best_model="f1", report_to="none")
    callback = ProgressLogCallback()
    state = _state(global_step=0, epoch=0.0)
    callback.on_train_begin(args, state, TrainerControl())
    state.global_step, state.epoch = 10, 0.5
    callback.on_log(args, state, TrainerControl(), logs={"loss": 0.6751})
    metrics = {"eval_precision": 0.77, "eval_recall": 0.71, "eval_f1": 0.7, "eval_per_class/水果/precision": 1.0,
               "eval_per_class/水果/recall": 0.5, "eval_per_class/水果/f1": 2 / 3, "eval_per_class/水果/support": 2}
    callback.on_evaluate(args, state, TrainerControl(), metrics=metrics)
    callback.on_evaluate(args, state, TrainerControl(), metrics={**metrics, "eval_f1": 0.6})  # not better
    callback.on_evaluate(args, state, TrainerControl(), metrics={**metrics, "eval_f1": 0.84})
    out = capsys.readouterr().out
    assert "global step 10, epoch: 1, loss: 0.67510, speed: " in out and " step/s" in out
    assert "Evaluation precision: 0.77000, recall: 0.71000, F1: 0.70000" in out
    assert out.count("best F1 performance updated") == 2
    assert "best F1 performance updated: 0.00000 --> 0.70000" in out
    assert "best F1 performance updated: 0.70000 --> 0.84000" in out
    assert "水果" in out and "0.66667" in out


def test_training_curve_png(tmp_path):
    history = [
        {"loss": 2.0, "learning_rate": 1e-4, "step": 5, "epoch": 0.5},
        {"loss": 1.0, "learning_rate": 5e-5, "step": 10, "epoch": 1.0},
        {"eval_loss": 1.2, "eval_f1": 0.5, "eval_runtime": 1.0, "eval_per_class/a/f1": 1.0, "step": 10, "epoch": 1.0},
        {"eval_loss": 2.2, "eval_f1": 0.4, "step": 10, "epoch": 1.0},  # the best checkpoint, evaluated again
    ]
    path = plot_training_curves(history, str(tmp_path / "logs" / "curves.png"))
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert plot_training_curves([], str(tmp_path / "empty.png")) is None


@pytest.mark.parametrize("metric", [ClassificationReport, Spearman, BinaryMatchMetrics])
def test_the_examples_in_metric_descriptions_run(metric):
    """The usage example of each metric lives in its ``inputs_description`` (evaluate's convention), which
    doctest does not collect from a module: run it here."""
    import doctest

    description = metric(keep_in_memory=True)._info().inputs_description
    assert ">>>" in description
    test = doctest.DocTestParser().get_doctest(description, {metric.__name__: metric}, metric.__name__, None, 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    runner.run(test)
    assert runner.failures == 0 and runner.tries > 0
