"""The text classification recipe end to end on the bundled samples with a tiny BERT, then its saved model."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

import pytest
import torch
from helpers import DATA, ROOT, free_port
import transformers
from transformers import AutoModelForSequenceClassification, pipeline

from plm_recipes import cli
from plm_recipes.classification import TextClassifier
from plm_recipes.errors import DataFormatError, ModelLoadError

TC = DATA / "classification"


def base_args(model, out, *extra):
    return [
        "--model_name_or_path", str(model),
        "--train_file", str(TC / "train.txt"), "--validation_file", str(TC / "dev.txt"),
        "--label_mapping_file", str(TC / "label_mapping.txt"),
        "--do_train", "--do_eval", "--output_dir", str(out),
        "--use_cpu", "--disable_tqdm", "true", "--seed", "0", "--per_device_train_batch_size", "16",
        *extra,
    ]


@pytest.fixture(scope="module")
def trained(tiny_bert, tmp_path_factory):
    """One real (tiny) training run shared by the tests below: 25 epochs on 96 learnable examples."""
    from helpers import load_recipe

    out = tmp_path_factory.mktemp("tc") / "model"
    results = load_recipe("text_classification").main(base_args(
        tiny_bert, out, "--test_file", str(TC / "test.txt"), "--do_predict",
        "--learning_rate", "5e-3", "--num_train_epochs", "25", "--logging_steps", "6", "--warmup_steps", "0",
        "--train_sampling_strategy", "group_by_length",  # must not reorder the predictions
        "--freeze_word_embeddings", "false",  # the tiny model's embeddings are random: they must learn
    ))
    return out, results


def test_training_learns_the_toy_set(trained):
    out, results = trained
    history = json.loads((out / "logs" / "log_history.json").read_text())
    losses = [h["loss"] for h in history if "loss" in h]
    assert losses[-1] < 0.5 * losses[0]
    assert results["eval"]["eval_accuracy"] > 0.35  # 8 balanced classes: chance is 0.125
    assert results["eval"]["eval_f1"] > 0.25
    assert results["train"]["train_samples"] == 96


def test_best_checkpoint_by_macro_f1_is_kept(trained):
    out, results = trained
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["best_metric"] == pytest.approx(max(h["eval_f1"] for h in state["log_history"] if "eval_f1" in h))
    assert results["eval"]["eval_f1"] == pytest.approx(state["best_metric"])


def test_outputs_on_disk(trained):
    out, _ = trained
    assert (out / "model.safetensors").is_file() and not list(out.glob("*.bin"))
    assert (out / "logs" / "training_curves.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((out / "eval_results.json").read_text())["eval_per_class/水果/support"] == 3
    lines = (out / "predict_results.tsv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "index\ttext\tprediction\tscore" and len(lines) == 9
    names = (TC / "label_mapping.txt").read_text(encoding="utf-8")
    assert all(line.split("\t")[2] in names for line in lines[1:])


def test_model_card_names_base_model_data_and_metrics(trained, tiny_bert):
    out, results = trained
    card = (out / "README.md").read_text(encoding="utf-8")
    assert f"fine-tuned from `{tiny_bert.name}`" in card
    assert f"base_model: {tiny_bert.name}" in card  # a local folder, by its name (tests/core/test_modelcard.py)
    assert "- train: `train.txt` (96 examples)" in card and "- validation: `dev.txt` (24 examples)" in card
    assert f"| f1 | {results['eval']['eval_f1']:.4f} |" in card
    assert "| 水果 |" in card and "pipeline_tag: text-classification" in card


def test_saved_model_works_in_a_plain_transformers_pipeline(trained):
    out, _ = trained
    model = AutoModelForSequenceClassification.from_pretrained(out)
    assert model.config.id2label[1] == "水果" and model.config.label2id["电脑"] == 0
    classify = pipeline("text-classification", model=str(out), device="cpu")
    prediction = classify("这箱苹果又甜又新鲜")[0]
    assert prediction["label"] in model.config.label2id


def test_reloaded_model_predicts_what_the_trainer_predicted(trained):
    out, _ = trained
    lines = (out / "predict_results.tsv").read_text(encoding="utf-8").splitlines()[1:]
    texts = [line.split("\t")[1] for line in lines]
    expected = [(line.split("\t")[2], float(line.split("\t")[3])) for line in lines]
    predicted = TextClassifier(str(out), device="cpu").predict(texts)
    assert [p[0]["label"] for p in predicted] == [label for label, _ in expected]
    assert [p[0]["score"] for p in predicted] == pytest.approx([score for _, score in expected], abs=1e-4)


def test_cli_prints_label_names_with_scores(trained, capsys, tmp_path):
    out, _ = trained
    cli.main(["predict", "text-classification", "--model", str(out), "--text", "这箱苹果又甜又新鲜",
              "--text", "笔记本电脑开机很快", "--top_k", "3", "--device", "cpu"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("这箱苹果又甜又新鲜\t")
    labels = [item.rsplit(" ", 1) for item in lines[0].split("\t")[1].split(", ")]
    assert len(labels) == 3 and all(name in TextClassifier(str(out)).labels for name, _ in labels)
    scores = [float(s) for _, s in labels]
    assert scores == sorted(scores, reverse=True)

    target = tmp_path / "pred.jsonl"
    cli.main(["predict", "text-classification", "--model", str(out), "--file", str(TC / "texts.txt"),
              "--output", str(target), "--device", "cpu"])
    rows = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 5 and set(rows[0]) == {"text", "predictions"}


def test_cli_stdout_holds_the_results_only_even_after_a_run_logged_at_info(trained, capsys):
    # what a training run in the same process leaves behind: INFO records to a root handler on stdout, and with
    # CI set in the environment transformers hands its records to that handler too (the CI that caught this)
    library_root = logging.getLogger("transformers")
    propagated = library_root.propagate
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, force=True)
    transformers.utils.logging.set_verbosity_info()
    transformers.utils.logging.enable_propagation()
    try:
        cli.main(["predict", "text-classification", "--model", str(trained[0]), "--text", "这箱苹果又甜又新鲜",
                  "--device", "cpu"])
    finally:
        library_root.propagate = propagated
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 1 and captured.out.startswith("这箱苹果又甜又新鲜\t")


def test_cli_errors_are_one_line(trained, capsys, tmp_path):
    out, _ = trained
    with pytest.raises(SystemExit) as e:
        cli.main(["predict", "text-classification", "--model", str(out)])
    assert e.value.code == 2 and "nothing to predict" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["predict", "text-classification", "--model", str(tmp_path / "missing"), "--text", "x"])
    assert "no such folder" in capsys.readouterr().err


def test_trainable_parameters_change_and_frozen_embeddings_do_not(tiny_bert, tmp_path, recipe):
    out = tmp_path / "frozen"
    recipe("text_classification").main(base_args(
        tiny_bert, out, "--max_steps", "2", "--freeze_word_embeddings", "--learning_rate", "1e-2",
        "--eval_strategy", "no", "--save_strategy", "no", "--load_best_model_at_end", "false",
        "--max_train_samples", "32", "--warmup_steps", "0",
    ))
    before = AutoModelForSequenceClassification.from_pretrained(tiny_bert, num_labels=8)
    after = AutoModelForSequenceClassification.from_pretrained(out)
    before_params = dict(before.named_parameters())
    for name, param in after.named_parameters():
        if name.startswith("classifier"):
            continue  # initialised fresh in both
        changed = not torch.equal(param, before_params[name])
        assert changed != (name == "bert.embeddings.word_embeddings.weight"), name


def test_csv_and_jsonl_inputs_with_label_names(tiny_bert, tmp_path, recipe):
    results = recipe("text_classification").main([
        "--model_name_or_path", str(tiny_bert), "--train_file", str(TC / "train.csv"),
        "--validation_file", str(TC / "dev.jsonl"), "--do_train", "--do_eval", "--output_dir", str(tmp_path),
        "--max_steps", "2", "--use_cpu", "--disable_tqdm", "true", "--eval_strategy", "steps", "--eval_steps", "2",
        "--save_strategy", "steps", "--save_steps", "2",
    ])
    assert results["eval"]["eval_samples"] == 16
    config = json.loads((tmp_path / "config.json").read_text(encoding="utf-8"))
    assert sorted(config["label2id"]) == sorted({"电脑", "水果", "平板", "书籍", "衣服", "酒店", "蒙牛", "洗浴"})


def test_quickstart_config_trains_from_scratch(tmp_path, recipe, monkeypatch):
    """The README's quick start: tiny BERT from a config, tokenizer trained on the data, no hub."""
    monkeypatch.chdir(ROOT)
    results = recipe("text_classification").main([
        "--config", "recipes/configs/text_classification_quickstart.yaml", "--output_dir", str(tmp_path),
        "--max_steps", "3", "--disable_tqdm", "true",
    ])
    assert {"train", "eval", "test"} <= set(results)
    card = (tmp_path / "README.md").read_text(encoding="utf-8")
    assert "trained from scratch (config `bert`" in card
    assert json.loads((tmp_path / "config.json").read_text())["hidden_size"] == 128


def test_from_config_folder_with_tokenizer_name(tiny_bert, tmp_path, recipe):
    recipe("text_classification").main([
        "--config_name", str(tiny_bert), "--tokenizer_name", str(tiny_bert),
        *base_args(tiny_bert, tmp_path, "--max_steps", "1", "--eval_strategy", "no", "--save_strategy", "no",
                   "--load_best_model_at_end", "false")[2:],
    ])
    assert (tmp_path / "model.safetensors").is_file()
    assert "trained from scratch" in (tmp_path / "README.md").read_text(encoding="utf-8")


def test_unknown_label_in_training_data(tiny_bert, tmp_path, recipe):
    bad = tmp_path / "train.txt"
    bad.write_text("1\t苹果很甜\n9\t平板不错\n", encoding="utf-8")
    args = base_args(tiny_bert, tmp_path / "out", "--max_steps", "1")
    args[args.index("--train_file") + 1] = str(bad)
    with pytest.raises(DataFormatError, match=r"train\.txt, line 2: unknown label '9'; known labels: 0=电脑, 1=水果"):
        recipe("text_classification").main(args)


def test_hub_id_without_hub_gives_one_clear_sentence(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, "recipes/text_classification.py", "--model_name_or_path", "bert-base-chinese",
         "--train_file", str(TC / "train.txt"), "--validation_file", str(TC / "dev.txt"),
         "--label_mapping_file", str(TC / "label_mapping.txt"), "--do_train", "--output_dir", str(tmp_path)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: Cannot load the config 'bert-base-chinese': it is not a local folder")
    assert "--model_name_or_path ./bert-base-chinese" in last


def test_hub_error_from_python():
    from plm_recipes.loading import from_pretrained

    with pytest.raises(ModelLoadError, match="pass the folder instead"):
        from_pretrained(AutoModelForSequenceClassification, "someone/not-here")
    with pytest.raises(ModelLoadError, match="no such folder"):
        from_pretrained(AutoModelForSequenceClassification, "./not/here")


def test_push_to_hub_flags_reach_the_push(tiny_bert, tmp_path, recipe, monkeypatch):
    """--push_to_hub pushes the saved folder once, after training, to --hub_model_id, with a card naming the repo
    (the Hub itself is stood in for by a recording HfApi: these machines have no network)."""
    from types import SimpleNamespace

    from huggingface_hub import HfApi

    calls = []

    def create_repo(self, repo_id, **kwargs):
        calls.append(("create_repo", repo_id, kwargs.get("private")))
        return SimpleNamespace(repo_id=repo_id)

    def upload_folder(self, *, repo_id, folder_path, **kwargs):
        calls.append(("upload_folder", repo_id, sorted(os.listdir(folder_path))))
        return SimpleNamespace(commit_url=f"https://huggingface.co/{repo_id}/commit/0")

    monkeypatch.setattr(HfApi, "create_repo", create_repo)
    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    recipe("text_classification").main(base_args(
        tiny_bert, tmp_path, "--max_steps", "1", "--eval_strategy", "no", "--save_strategy", "no",
        "--load_best_model_at_end", "false", "--push_to_hub", "--hub_model_id", "someone/tiny-classifier",
    ))
    assert [c[:2] for c in calls] == [("create_repo", "someone/tiny-classifier"),
                                      ("upload_folder", "someone/tiny-classifier")]
    assert {"model.safetensors", "config.json", "README.md", "run_config.yaml"} <= set(calls[1][2])
    card = (tmp_path / "README.md").read_text(encoding="utf-8")
    assert "# someone/tiny-classifier" in card and 'model="someone/tiny-classifier"' in card


def test_two_processes_with_torchrun(tiny_bert, tmp_path):
    """The documented command, on a machine without a GPU and without --use_cpu: the two processes join over gloo
    (plm_recipes.devices.launch_defaults) instead of each training alone and colliding on the output folder."""
    out = tmp_path / "ddp"
    args = base_args(tiny_bert, out, "--max_steps", "3", "--eval_strategy", "no", "--save_strategy", "no",
                     "--load_best_model_at_end", "false", "--per_device_train_batch_size", "4")
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(free_port()),
         "recipes/text_classification.py", *[a for a in args if a != "--use_cpu"]],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-3000:]
    assert "world size: 2" in output and "world size: 1" not in output
    assert "Process rank 0 finished training: 3 steps." in output
    assert "Process rank 1 finished training: 3 steps." in output
    assert (out / "model.safetensors").is_file()
    train = json.loads((out / "train_results.json").read_text())
    assert train["train_samples"] == 96


def test_accelerate_launch_of_two_cpu_processes_says_it_starts_one(tiny_bert, tmp_path):
    """accelerate's CPU launcher starts several processes only through MPI: the run says so, trains in one process
    and leaves one set of outputs."""
    out = tmp_path / "accelerate"
    args = base_args(tiny_bert, out, "--max_steps", "2", "--eval_strategy", "no", "--save_strategy", "no",
                     "--load_best_model_at_end", "false")
    proc = subprocess.run(
        [sys.executable, "-m", "accelerate.commands.launch", "--config_file", "accelerate_configs/cpu.yaml",
         "--num_processes", "2", "--main_process_port", str(free_port()), "recipes/text_classification.py", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-3000:]
    assert "accelerate launch started one process" in output and "torchrun --nproc_per_node 2" in output
    assert output.count("finished training: 2 steps.") == 1 and (out / "model.safetensors").is_file()


@pytest.mark.parametrize("top_k", ["-1", "0", "two"])
def test_cli_refuses_a_top_k_that_would_drop_results(trained, capsys, top_k):
    out, _ = trained
    with pytest.raises(SystemExit) as e:
        cli.main(["predict", "text-classification", "--model", str(out), "--text", "苹果很甜", "--top_k", top_k])
    assert e.value.code == 2 and "argument --top_k: expected a whole number >= 1" in capsys.readouterr().err
    with pytest.raises(ValueError, match="top_k must be a whole number >= 1"):
        TextClassifier(str(out), device="cpu").predict(["苹果很甜"], top_k=-1)


def test_max_seq_length_beyond_the_model_is_capped(tiny_bert, tmp_path, recipe, capsys):
    train = tmp_path / "train.txt"
    lines = (TC / "train.txt").read_text(encoding="utf-8").splitlines()[:16]
    lines.append(lines[0].split("\t")[0] + "\t" + "这箱苹果又大又甜" * 40)  # 320 characters; the model has 128 positions
    train.write_text("\n".join(lines) + "\n", encoding="utf-8")
    results = recipe("text_classification").main([
        "--model_name_or_path", str(tiny_bert), "--train_file", str(train), "--do_train",
        "--label_mapping_file", str(TC / "label_mapping.txt"), "--output_dir", str(tmp_path / "out"),
        "--max_seq_length", "1000", "--max_steps", "2", "--per_device_train_batch_size", "17", "--use_cpu",
        "--eval_strategy", "no", "--load_best_model_at_end", "false", "--disable_tqdm", "true",
    ])
    assert results["train"]["train_samples"] == 17
    # (the recipe logs to stdout, as transformers' examples do)
    assert "--max_seq_length 1000 is longer than the model accepts (128 positions); using 128." in capsys.readouterr().out


def test_an_output_dir_holding_another_run_is_refused(trained, tiny_bert, capsys):
    out, _ = trained
    before = (out / "model.safetensors").stat().st_mtime_ns
    with pytest.raises(SystemExit) as e:
        run_recipe_cli(base_args(tiny_bert, out, "--max_steps", "1"))
    err = capsys.readouterr().err
    assert e.value.code == 2 and f"--output_dir {out} holds another run" in err and "--overwrite_output_dir" in err
    assert (out / "model.safetensors").stat().st_mtime_ns == before  # nothing of the earlier run was touched


def test_two_live_runs_never_share_an_output_dir(tiny_bert, tmp_path, capsys):
    import subprocess as sp

    out = tmp_path / "busy"
    out.mkdir()
    holder = sp.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (out / ".plm-recipes.lock").write_text(str(holder.pid))
        with pytest.raises(SystemExit):
            run_recipe_cli(base_args(tiny_bert, out, "--max_steps", "1"))
        assert f"another run (process {holder.pid}) is writing it" in capsys.readouterr().err
    finally:
        holder.kill()
        holder.wait()
    # the holder is gone: its lock is stale and taken over; the run trains and releases it
    run_recipe_cli(base_args(tiny_bert, out, "--max_steps", "1", "--eval_strategy", "no",
                                   "--load_best_model_at_end", "false"))
    assert (out / "model.safetensors").is_file() and not (out / ".plm-recipes.lock").exists()
    # and --overwrite_output_dir replaces the run it left
    run_recipe_cli(base_args(tiny_bert, out, "--max_steps", "1", "--eval_strategy", "no",
                                   "--load_best_model_at_end", "false", "--overwrite_output_dir"))


def run_recipe_cli(argv):
    """The recipe's command-line entry point (errors as one line and exit code 2), in this process."""
    from helpers import load_recipe

    from plm_recipes.utils import run_cli

    run_cli(lambda: load_recipe("text_classification").main(argv))
