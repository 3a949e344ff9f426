"""The recipes ``bench/defaults.py`` re-measures besides text classification and pointwise matching: each run as
its own benchmark runs it (same model, data, splits and flags), at the length its config documents, with the
variant's flags added. Splits are made once, with the benchmark's seed (42), so that every seed and variant is
scored on the same dev set; only the training seed changes.

Each task names its recipe, model, data folder, documented length and the flags of its benchmark. The dev metric
is the one that benchmark reports for choosing or scoring a run: the final evaluation when the run ends with one,
else the best evaluation of the run (``trainer_state.json``'s ``best_metric``, the checkpoint the trainer keeps).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from common import RESULTS

SPLIT_SEED = 42  # the splits of the benchmarks' default runs


@dataclass(frozen=True)
class RecipeTask:
    recipe: str
    model: str  # folder in the models directory
    data: str  # folder in the shared data directory
    epochs: float  # the documented full length: num_train_epochs (or max_steps) in recipes/configs/<recipe>.yaml
    length_flag: str  # --num_train_epochs or --max_steps
    metric: str  # the dev metric's name in the recipe's eval metrics, without the "eval_" prefix
    extra: tuple[str, ...]  # more eval (or test) metrics worth a column
    argv: Callable[[Path, Path, Path, int], list[str]]  # (model, data, work folder, seed) -> recipe flags
    source: str  # the benchmark this run copies
    # whether the recipe grouped batches by length before the core step (TRAINING_DEFAULTS then held
    # group_by_length; the reward model and SimCSE pin random batches)
    grouped_before: bool = True


def _reward_argv(model: Path, data: Path, work: Path, seed: int) -> list[str]:
    """bench/rlhf.py reward, on the rank lists: split by comment, 4 lists a step, 48 tokens, evaluated and saved
    every 100 steps (the best validation accuracy is kept)."""
    from rlhf import three_way_split

    folder = RESULTS / "data" / f"rlhf_ranklist_{SPLIT_SEED}"
    if not (folder / "validation.jsonl").is_file():
        three_way_split(data / "ranklist.tsv", folder, SPLIT_SEED)
    return ["--model_name_or_path", str(model), "--train_file", str(folder / "train.jsonl"),
            "--validation_file", str(folder / "validation.jsonl"), "--do_train", "--do_eval",
            "--max_steps", "-1", "--learning_rate", "5e-05", "--per_device_train_batch_size", "4",
            "--max_seq_length", "48", "--eval_strategy", "steps", "--eval_steps", "100", "--save_strategy", "steps",
            "--save_steps", "100", "--logging_steps", "10", "--use_cpu", "--disable_tqdm", "true", "--seed", str(seed)]


def _uie_argv(model: Path, data: Path, work: Path, seed: int) -> list[str]:
    """bench/uie.py: 10% of the training texts are the validation set (picks the best checkpoint every 50 steps),
    dev.txt the test set; lr 1e-4, batch 16."""
    from uie import split_by_text

    folder = RESULTS / "data" / f"uie_{SPLIT_SEED}"
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "validation.txt").is_file():
        split_by_text(data / "train.txt", folder, 0.1, SPLIT_SEED)
    return ["--model_name_or_path", str(model), "--train_file", str(folder / "train.txt"),
            "--validation_file", str(folder / "validation.txt"), "--test_file", str(data / "dev.txt"),
            "--do_train", "--do_predict", "--learning_rate", "0.0001", "--per_device_train_batch_size", "16",
            "--eval_strategy", "steps", "--eval_steps", "50", "--save_strategy", "steps", "--save_steps", "50",
            "--seed", str(seed), "--use_cpu", "--disable_tqdm", "true", "--logging_steps", "25"]


def _prompting_argv(recipe: str) -> Callable[[Path, Path, Path, int], list[str]]:
    def argv(model: Path, data: Path, work: Path, seed: int) -> list[str]:
        """bench/prompting.py (pet_e5, p_tuning_e5): the 62 comments, batch 8, no checkpoint chosen (the last
        is scored) on the dev comments whose label the verbalizer has."""
        from prompting import prepare

        folder = RESULTS / "data" / "comment_fewshot"
        folder.mkdir(parents=True, exist_ok=True)
        files = prepare(data, folder)
        return ["--model_name_or_path", str(model), "--train_file", str(data / "train.txt"),
                "--validation_file", str(files["dev"]), "--do_eval", "--do_train",
                "--per_device_train_batch_size", "8", "--per_device_eval_batch_size", "16",
                "--eval_strategy", "no", "--save_strategy", "no", "--load_best_model_at_end", "false",
                "--seed", str(seed), "--use_cpu", "--disable_tqdm", "true", "--logging_steps", "8",
                "--max_seq_length", "128", "--verbalizer_file", str(data / "verbalizer.txt"),
                *(["--template_file", str(data / "prompt.txt")] if recipe == "pet" else [])]
    return argv


def _bi_encoder_argv(model: Path, data: Path, work: Path, seed: int) -> list[str]:
    """bench/matching.py for the bi-encoders, without the speed flags it passes (the variants pass them)."""
    return ["--model_name_or_path", str(model), "--train_file", str(data / "train.txt"),
            "--validation_file", str(data / "dev.txt"), "--do_train", "--do_eval", "--max_seq_length", "128",
            "--learning_rate", "3e-05", "--per_device_train_batch_size", "16", "--per_device_eval_batch_size", "64",
            "--logging_steps", "20", "--use_cpu", "--seed", str(seed), "--disable_tqdm", "true"]


def _simcse_argv(model: Path, data: Path, work: Path, seed: int) -> list[str]:
    """bench/simcse.py, SimCSE on e5-small: the first 2,000 dev pairs are the test set, the next 1,000 the
    validation set (picks the best checkpoint every 25 steps); e5's "query: " prompt."""
    from simcse import split_dev

    folder = RESULTS / "data" / "lcqmc"
    folder.mkdir(parents=True, exist_ok=True)
    test, validation = split_dev(data / "dev.tsv", folder, 2000, 1000)
    return ["--model_name_or_path", str(model), "--train_file", str(data / "unlabeled.tsv"),
            "--validation_file", str(validation), "--test_file", str(test), "--do_train", "--do_predict",
            "--method", "simcse", "--eval_steps", "25", "--save_steps", "25", "--per_device_train_batch_size", "64",
            "--learning_rate", "3e-05", "--per_device_eval_batch_size", "128", "--seed", str(seed), "--use_cpu",
            "--disable_tqdm", "true", "--logging_steps", "25", "--prompts", "query: "]


E5 = "multilingual-e5-small"
RECIPE_TASKS = {
    "reward": RecipeTask("reward_model", E5, "sentiment_ranklist", 3, "--num_train_epochs", "accuracy",
                         ("margin",), _reward_argv, "bench/rlhf.py reward --data ranklist", grouped_before=False),
    "uie": RecipeTask("uie", E5, "duie", 10, "--num_train_epochs", "f1", ("test_f1",), _uie_argv, "bench/uie.py"),
    "pet": RecipeTask("pet", E5, "comment_fewshot", 10, "--num_train_epochs", "f1", ("accuracy",),
                      _prompting_argv("pet"), "bench/prompting.py --methods pet_e5"),
    "p_tuning": RecipeTask("p_tuning", E5, "comment_fewshot", 10, "--num_train_epochs", "f1", ("accuracy",),
                           _prompting_argv("p_tuning"), "bench/prompting.py --methods p_tuning_e5"),
    "dssm": RecipeTask("matching_dssm", E5, "comment_matching", 3, "--num_train_epochs", "f1",
                       ("best_f1", "spearman"), _bi_encoder_argv, "bench/matching.py --recipes dssm"),
    "cosent": RecipeTask("matching_sentence_transformer", E5, "comment_matching", 3, "--num_train_epochs", "f1",
                         ("best_f1", "spearman"), _bi_encoder_argv,
                         "bench/matching.py --recipes sentence_transformer"),
    "simcse": RecipeTask("simcse", E5, "lcqmc", 300, "--max_steps", "spearman", ("test_spearman", "test_f1"),
                         _simcse_argv, "bench/simcse.py --methods simcse", grouped_before=False),
}


def dev_metrics(task: RecipeTask, results: dict, out: Path) -> dict[str, float]:
    """The task's dev metric and its extra metrics from a finished run's results (and its trainer_state.json)."""
    state_file = out / "trainer_state.json"
    state = json.loads(state_file.read_text(encoding="utf-8")) if state_file.is_file() else {}
    evaluations = [e for e in state.get("log_history", []) if f"eval_{task.metric}" in e]
    if "eval" in results:
        metrics = {k.removeprefix("eval_"): v for k, v in results["eval"].items()}
    elif evaluations:  # no final evaluation: the evaluation the kept (best) checkpoint had
        best = max(evaluations, key=lambda e: e[f"eval_{task.metric}"])
        metrics = {k.removeprefix("eval_"): v for k, v in best.items()}
        metrics["best_step"] = best["step"]
    else:
        raise SystemExit(f"{out}: the run has no eval_{task.metric} (no final evaluation, none in {state_file})")
    metrics.update(results.get("test", {}))
    found = {"dev": metrics[task.metric], **{k: metrics[k] for k in task.extra if k in metrics},
             "curve": eval_curve(out, task.metric)}
    eval_seconds = sum(e.get("eval_runtime", 0.0) for e in evaluations)
    train = results["train"]
    found["train_samples/s"] = train["train_samples_per_second"]
    # the trainer's train_runtime includes its evaluations during training: its rate without them
    found["train_samples/s_no_eval"] = (train["train_samples_per_second"] * train["train_runtime"]
                                        / (train["train_runtime"] - eval_seconds))
    return found


def eval_curve(out: Path, metric: str) -> list[tuple[float, float]]:
    """``(epoch, eval metric)`` of each evaluation during a finished run (its ``trainer_state.json``)."""
    state_file = out / "trainer_state.json"
    if not state_file.is_file():
        return []
    history = json.loads(state_file.read_text(encoding="utf-8"))["log_history"]
    return [(round(e["epoch"], 3), round(e[f"eval_{metric}"], 4)) for e in history if f"eval_{metric}" in e]
