"""Every user error, whichever layer raises it (our checks, TrainingArguments, YAML, torch/safetensors, the file
system), ends in one line on stderr and exit code 2, with nothing lost; Ctrl-C stops training cleanly and says
which checkpoint to resume from (exit code 130)."""

from __future__ import annotations

import json
import shutil
import sys

import pytest
from helpers import DATA, load_recipe

from plm_recipes import cli
from plm_recipes.utils import run_cli

TC = DATA / "classification"


def train_args(model, out, *extra):
    return ["--model_name_or_path", str(model), "--train_file", str(TC / "train.txt"),
            "--label_mapping_file", str(TC / "label_mapping.txt"), "--do_train", "--output_dir", str(out),
            "--use_cpu", "--disable_tqdm", "true", "--eval_strategy", "no", "--load_best_model_at_end", "false",
            "--max_steps", "1", "--log_level", "error", *extra]


def run_recipe(argv, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["text_classification.py"])
    run_cli(lambda: load_recipe("text_classification").main(argv))


def one_line_error(capsys, code, e) -> str:
    """The one error line on stderr (progress bars may come before it), with no traceback."""
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert e.value.code == code and len(errors) == 1 and "Traceback" not in err, err[-2000:]
    assert err.rstrip().endswith(errors[0]), err[-2000:]
    return errors[0]


@pytest.fixture
def damaged(tiny_bert, tmp_path):
    """Copies of the tiny model with one file damaged."""
    def make(name: str, damage) -> str:
        folder = tmp_path / name
        shutil.copytree(tiny_bert, folder)
        damage(folder)
        return str(folder)
    return make


def truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


RECIPE_CASES = {
    "yaml value of the wrong type": (
        lambda tmp, model: ["--config", str(_yaml(tmp, "num_train_epochs: three\n"))],
        "num_train_epochs: expected a number, found 'three'"),
    "yaml value that is a list": (
        lambda tmp, model: ["--config", str(_yaml(tmp, "learning_rate: [1.0e-4, 2.0e-4]\n"))],
        "learning_rate: expected a number, found [0.0001, 0.0002]"),
    "yaml choice that does not exist": (
        lambda tmp, model: ["--config", str(_yaml(tmp, "lr_scheduler_type: sometimes\n"))],
        "lr_scheduler_type: 'sometimes' is not one of: linear, cosine"),
    "conflicting Trainer arguments": (
        lambda tmp, model: ["--load_best_model_at_end", "true", "--eval_strategy", "epoch", "--save_strategy",
                            "steps", "--validation_file", str(TC / "dev.txt")],
        "--load_best_model_at_end requires the save and eval strategy to match"),
    "an output folder that is a file": (
        lambda tmp, model: ["--output_dir", str(_file(tmp))],
        "--output_dir {tmp}/file.txt is a file; give a folder"),
    "an output folder that cannot be made": (
        lambda tmp, model: ["--output_dir", str(_file(tmp) / "out")],
        "file.txt/out: Not a directory"),
}


def _file(folder):
    path = folder / "file.txt"
    path.write_text("a file where a folder should be", encoding="utf-8")
    return path


def _yaml(folder, text):
    path = folder / "run.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("case", sorted(RECIPE_CASES))
def test_recipe_user_errors_are_one_line(case, tiny_bert, tmp_path, capsys, monkeypatch):
    extra, message = RECIPE_CASES[case]
    with pytest.raises(SystemExit) as e:
        run_recipe(train_args(tiny_bert, tmp_path / "out", *extra(tmp_path, tiny_bert)), monkeypatch)
    assert message.format(tmp=tmp_path) in one_line_error(capsys, 2, e)


def no_tokenizer(folder):
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json"):
        (folder / name).unlink(missing_ok=True)


@pytest.mark.parametrize(("name", "damage"), [
    ("weights", lambda folder: truncate(folder / "model.safetensors")),
    ("config", lambda folder: truncate(folder / "config.json")),
    ("tokenizer", no_tokenizer),
])
def test_a_damaged_model_folder_is_one_line(name, damage, damaged, tmp_path, capsys, monkeypatch):
    model = damaged(name, damage)
    with pytest.raises(SystemExit) as e:
        run_recipe(train_args(model, tmp_path / "out"), monkeypatch)
    line = one_line_error(capsys, 2, e)
    assert model in line, line


def test_debug_shows_the_traceback(tiny_bert, tmp_path, monkeypatch):
    from plm_recipes.errors import ArgumentError

    monkeypatch.setattr(sys, "argv", ["text_classification.py", "--debug"])
    with pytest.raises(ArgumentError, match="expected a number"):
        run_cli(lambda: load_recipe("text_classification").main(
            train_args(tiny_bert, tmp_path / "out", "--config", str(_yaml(tmp_path, "num_train_epochs: x\n")))))


@pytest.fixture(scope="module")
def classifier(tiny_bert, tmp_path_factory):
    out = tmp_path_factory.mktemp("errors") / "classifier"
    load_recipe("text_classification").main(train_args(tiny_bert, out))
    return out


@pytest.mark.parametrize(("output", "message"), [
    ("missing/predictions.jsonl", "--output missing/predictions.jsonl: cannot write it (No such file or directory)"),
    (".", "is a folder; give a file name"),
])
def test_an_unwritable_output_is_refused_before_predicting(classifier, tmp_path, capsys, monkeypatch, output,
                                                           message):
    monkeypatch.chdir(tmp_path)
    calls = []
    monkeypatch.setattr("plm_recipes.classification.predictor.TextClassifier.predict",
                        lambda self, *a, **k: calls.append(1))
    with pytest.raises(SystemExit) as e:
        cli.main(["predict", "text-classification", "--model", str(classifier), "--text", "苹果很甜",
                  "--output", output])
    assert message in one_line_error(capsys, 2, e) and not calls  # refused before any work was done


def test_a_damaged_model_for_prediction_is_one_line(classifier, tmp_path, capsys):
    copy = tmp_path / "copy"
    shutil.copytree(classifier, copy)
    truncate(copy / "model.safetensors")
    with pytest.raises(SystemExit) as e:
        cli.main(["predict", "text-classification", "--model", str(copy), "--text", "苹果很甜"])
    line = one_line_error(capsys, 2, e)
    assert f"Cannot load the model from {copy}" in line and "damaged or incomplete" in line


def test_ctrl_c_stops_cleanly_and_names_the_checkpoint_to_resume_from(tiny_bert, tmp_path, capsys, monkeypatch):
    from plm_recipes.callbacks import ProgressLogCallback

    def interrupt_at_step_3(self, args, state, control, **kwargs):
        if state.global_step == 3:
            raise KeyboardInterrupt

    out = tmp_path / "out"
    argv = train_args(tiny_bert, out, "--max_steps", "5", "--save_strategy", "steps", "--save_steps", "2",
                      "--per_device_train_batch_size", "8")
    with monkeypatch.context() as patch:
        patch.setattr(ProgressLogCallback, "on_step_end", interrupt_at_step_3, raising=False)
        with pytest.raises(SystemExit) as e:
            run_recipe(argv, monkeypatch)
    line = one_line_error(capsys, 130, e)
    checkpoint = out / "checkpoint-2"
    assert f"training interrupted at step 3; the last checkpoint is {checkpoint}" in line
    assert f"--resume_from_checkpoint {checkpoint}" in line
    assert not (out / ".plm-recipes.lock").exists()  # the folder is free again
    cut = tmp_path / "cut" / "checkpoint-2"  # a copy whose optimizer state was cut off (a full disk, a copy stopped)
    shutil.copytree(checkpoint, cut)
    truncate(cut / "optimizer.pt")
    with pytest.raises(SystemExit) as e:
        run_recipe([*argv, "--resume_from_checkpoint", str(cut)], monkeypatch)
    line = one_line_error(capsys, 2, e)
    assert f"{cut / 'optimizer.pt'}: damaged or incomplete" in line and "drop --resume_from_checkpoint" in line
    run_recipe([*argv, "--resume_from_checkpoint", str(checkpoint)], monkeypatch)  # ... and the advice works
    assert (out / "model.safetensors").is_file()


# --- data that cannot train the objective: refused in one line naming the file, before the model loads ---------
# (--model_name_or_path names a folder that does not exist: had the model been loaded first, the error would be
# about it.)

MISSING_MODEL = "no-such-model-folder"
QUICK = ["--do_train", "--max_steps", "1", "--use_cpu", "--eval_strategy", "no", "--save_strategy", "no",
         "--load_best_model_at_end", "false", "--log_level", "error"]


def _lines(tmp, name, lines):
    path = tmp / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


CANNOT_LEARN_CASES = {
    "simcse: copies of one sentence": (
        "simcse", lambda tmp: ["--train_file", _lines(tmp, "one.txt", ["同一句话"] * 3)],
        "one.txt: 1 distinct sentence ('同一句话'); SimCSE learns by telling each sentence from the other sentences"),
    "simcse: a batch of one sentence": (
        "simcse", lambda tmp: ["--train_file", str(DATA / "sentence_embedding" / "sentences.txt"),
                               "--per_device_train_batch_size", "1"],
        "--per_device_train_batch_size 1: SimCSE's negatives are the other sentences of the batch"),
    "text classification: one class": (
        "text_classification", lambda tmp: ["--train_file", _lines(tmp, "one.txt", ["好评\t很好", "好评\t不错"])],
        "one.txt: 1 distinct label ('好评'); a classifier learns to tell classes apart, so training needs at least 2"),
    "text classification: one class of a label mapping": (
        "text_classification", lambda tmp: ["--train_file", _lines(tmp, "one.txt", ["0\t很好", "0\t不错"]),
                                            "--label_mapping_file", str(TC / "label_mapping.txt")],
        "one.txt: 1 distinct label ('0')"),
    "matching (dssm): one label value": (
        "matching_dssm", lambda tmp: ["--train_file", _lines(tmp, "ones.txt", ["手机\t屏幕很清楚\t1", "水果\t很甜\t1"])],
        "ones.txt: 1 distinct label value (1); a matching model learns to tell matching pairs from the others"),
    "matching (pointwise): one label value": (
        "matching_pointwise", lambda tmp: ["--train_file", _lines(tmp, "zeros.txt", ["手机\t很甜\t0", "水果\t屏幕\t0"])],
        "zeros.txt: 1 distinct label value"),
    "matching (sentence-transformer): one label value": (
        "matching_sentence_transformer",
        lambda tmp: ["--train_file", _lines(tmp, "ones.txt", ["手机\t屏幕很清楚\t1", "水果\t很甜\t1"])],
        "ones.txt: 1 distinct label value"),
    "reward model: a rank list of one text": (
        "reward_model", lambda tmp: ["--train_file", _lines(tmp, "lists.tsv", ["很好看\t还行", "只有一个"])],
        "lists.tsv, line 2: a rank list needs at least 2 texts (best first), found 1"),
    "reward model: a ranking of one text": (
        "reward_model", lambda tmp: ["--train_file", _lines(tmp, "ranks.jsonl", ['{"ranking": ["只有一个"]}'])],
        "ranks.jsonl, line 1: a rank list needs at least 2 texts (best first), found 1"),
    "reward model: chosen is rejected": (
        "reward_model", lambda tmp: ["--train_file", _lines(tmp, "pairs.jsonl", [
            '{"chosen": "很好看", "rejected": "很好看"}'])],
        "pairs.jsonl, line 1: text 2 repeats text 1"),
    "uie: no example with a span": (
        "uie", lambda tmp: ["--train_file", _lines(tmp, "empty.txt", [
            '{"content": "王小明毕业了", "result_list": [], "prompt": "地点"}',
            '{"content": "赵敏去了上海", "result_list": [], "prompt": "时间"}'])],
        "empty.txt: none of the 2 examples has a span to extract"),
}


@pytest.mark.parametrize("case", sorted(CANNOT_LEARN_CASES))
def test_data_that_cannot_train_is_refused_before_the_model_loads(case, tmp_path, capsys, monkeypatch):
    recipe, extra, message = CANNOT_LEARN_CASES[case]
    monkeypatch.setattr(sys, "argv", [f"{recipe}.py"])
    argv = ["--model_name_or_path", MISSING_MODEL, "--output_dir", str(tmp_path / "out"), *QUICK, *extra(tmp_path)]
    with pytest.raises(SystemExit) as e:
        run_cli(lambda: load_recipe(recipe).main(argv))
    line = one_line_error(capsys, 2, e)
    assert message in line and MISSING_MODEL not in line, line
    assert not (tmp_path / "out").exists()  # nothing was started


@pytest.mark.parametrize(("recipe", "lines", "extra", "message"), [
    ("pet", ["电脑\t很快", "电脑\t很好"], [], "one.txt: 1 distinct label ('电脑'); prompt learning learns to tell"),
    ("p_tuning", ["电脑\t很快", "电脑\t很好"], [], "one.txt: 1 distinct label ('电脑')"),
    ("p_tuning", ["电脑\t很快", "水果\t很甜"], ["--template", "{soft:2}{textA}{MASK}{textB}"],
     "one.txt, line 1: the template '{soft:2}{textA}{MASK}{textB}' has {textB}"),
    ("pet", ["电脑\t很快", "水果\t很甜"], ["--template", "{textA}和{textB}是{MASK}"],
     "one.txt, line 1: the template '{textA}和{textB}是{MASK}' has {textB}, and this example has no second text"),
    ("pet", ["电脑\t很快", "水果\t很甜"], ["--template", "{textA}是{MASK}", "--freeze_backbone"],
     "--freeze_backbone trains only the learned prompt vectors, and the template '{textA}是{MASK}' has none"),
    ("pet", ["电脑\t很快", "水果\t很甜"], ["--template", "这是一条关于{MASK}的评论：{textA}", "--max_seq_length", "8"],
     "takes 15 of --max_seq_length 8 tokens (special tokens and the blank included), leaving no room for the text"),
    ("p_tuning", ["电脑\t很快", "水果\t很甜"], ["--template", "{soft:6}{MASK}{textA}", "--max_seq_length", "9"],
     "takes 11 of --max_seq_length 9 tokens"),
])
def test_prompt_learning_data_and_template_errors_come_before_the_model(recipe, lines, extra, message, tiny_bert,
                                                                         tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", [f"{recipe}.py"])
    loaded = []
    monkeypatch.setattr("plm_recipes.prompting.PromptLMModel.from_backbone", lambda *a, **k: loaded.append(1))
    argv = ["--model_name_or_path", str(tiny_bert), "--train_file", _lines(tmp_path, "one.txt", lines),
            "--verbalizer_file", str(DATA / "prompting" / "verbalizer.txt"), "--output_dir", str(tmp_path / "out"),
            *QUICK, *extra]
    with pytest.raises(SystemExit) as e:
        run_cli(lambda: load_recipe(recipe).main(argv))
    assert message in one_line_error(capsys, 2, e) and not loaded


# --- values the command line alone decides: one line, before any model loads ---------------------------------
# (the model is a folder that does not exist: had it been loaded first, the error would be about it)

def _value_cases(tmp):
    prompts = _lines(tmp, "prompts.txt", ["这部电影很"])
    label = ["label", "reward", "--model", MISSING_MODEL, "--prompts", prompts, "--output", str(tmp / "s.jsonl")]
    generate = ["generate", "--model", MISSING_MODEL, "--prompt", "这部电影很"]
    matching = ["predict", "matching", "--model", MISSING_MODEL, "--labels", str(DATA / "matching" / "types_desc.txt"),
                "--text", "屏幕很清晰"]
    similarity = ["predict", "similarity", "--model", MISSING_MODEL, "--a", "苹果", "--b", "香蕉"]
    return {
        "matching threshold above 1": ([*matching, "--threshold", "2"], "argument --threshold: expected a number from "
                                                                         "-1 to 1 (a cosine similarity"),
        "similarity threshold of 5": ([*similarity, "--threshold", "5"], "argument --threshold: expected a number from "
                                                                         "-1 to 1"),
        "similarity threshold below -1": ([*similarity, "--threshold", "-1.5"], "expected a number from -1 to 1"),
        "sampling at temperature 0": ([*generate, "--temperature", "0"], "--temperature 0: sampling needs a "
                                      "temperature above 0; for greedy decoding pass --greedy"),
        "top_p of 0": ([*generate, "--top_p", "0"], "--top_p 0: expected a probability above 0 and at most 1"),
        "top_p above 1": ([*generate, "--top_p", "1.5"], "--top_p 1.5: expected a probability above 0 and at most 1"),
        "labeling at temperature 0": ([*label, "--temperature", "0"], "--temperature 0: sampling needs a temperature "
                                      "above 0"),
        "an empty --text": (["predict", "text-classification", "--model", MISSING_MODEL, "--text", "好", "--text",
                             " "], "--text number 2 is empty; give the text to predict"),
        "an empty --text for uie": (["predict", "uie", "--model", MISSING_MODEL, "--schema", "人物", "--text", ""],
                                    "--text number 1 is empty"),
    }


VALUE_CASES = ("matching threshold above 1", "similarity threshold of 5", "similarity threshold below -1",
               "sampling at temperature 0", "top_p of 0", "top_p above 1", "labeling at temperature 0",
               "an empty --text", "an empty --text for uie")


@pytest.mark.parametrize("case", VALUE_CASES)
def test_values_are_checked_before_any_model_loads(case, tmp_path, capsys):
    cases = _value_cases(tmp_path)
    assert set(cases) == set(VALUE_CASES)
    argv, message = cases[case]
    with pytest.raises(SystemExit) as e:
        cli.main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and message in err and MISSING_MODEL not in err and "Traceback" not in err, err


def test_greedy_decoding_takes_no_temperature(tmp_path, capsys):
    """--greedy does not sample: --temperature 0 is no error there (the model is then looked at, and is missing)."""
    with pytest.raises(SystemExit):
        cli.main(["generate", "--model", MISSING_MODEL, "--prompt", "这部电影很", "--greedy", "--temperature", "0"])
    assert "--temperature" not in capsys.readouterr().err


# --- an output that is an input: refused before any work, the input untouched ---------------------------------

def _output_cases(tmp):
    texts = _lines(tmp, "texts.txt", ["苹果很甜", "屏幕很清晰"])
    pairs = _lines(tmp, "pairs.txt", ["苹果很甜\t香蕉很甜"])
    qa = _lines(tmp, "qa.jsonl", ['{"question": "故宫又称什么", "context": "故宫又称紫禁城"}'])
    labels = str(tmp / "types_desc.txt")
    shutil.copy(DATA / "matching" / "types_desc.txt", labels)
    link = tmp / "link.txt"
    link.symlink_to(texts)
    model = ["--model", MISSING_MODEL]
    return {
        "predict text-classification": (["predict", "text-classification", *model, "--file", texts, "--output", texts],
                                        "--file"),
        "predict text-classification through a link": (
            ["predict", "text-classification", *model, "--file", texts, "--output", str(link)], "--file"),
        "predict matching --file": (["predict", "matching", *model, "--labels", labels, "--file", texts, "--output",
                                     texts], "--file"),
        "predict matching --labels": (["predict", "matching", *model, "--labels", labels, "--text", "苹果",
                                       "--output", labels], "--labels"),
        "predict similarity": (["predict", "similarity", *model, "--file", pairs, "--output", pairs], "--file"),
        "predict uie": (["predict", "uie", *model, "--schema", "人物", "--file", texts, "--output", texts], "--file"),
        "predict pet": (["predict", "pet", *model, "--file", texts, "--output", texts], "--file"),
        "predict reward": (["predict", "reward", *model, "--file", texts, "--output", texts], "--file"),
        "predict qa": (["predict", "qa", *model, "--file", qa, "--output", qa], "--file"),
        "predict fill": (["predict", "fill", *model, "--file", texts, "--output", texts], "--file"),
        "augment fill": (["augment", "fill", *model, "--input", texts, "--output", texts], "--input"),
        "embed": (["embed", *model, "--input", texts, "--output", texts], "--input"),
        "generate": (["generate", *model, "--file", texts, "--output", texts], "--file"),
        "label reward": (["label", "reward", *model, "--prompts", texts, "--output", texts], "--prompts"),
        "llm classify": (["llm", "classify", *model, "--labels", "好,坏", "--file", texts, "--output", texts],
                         "--file"),
    }


OUTPUT_CASES = ("predict text-classification", "predict text-classification through a link",
                "predict matching --file", "predict matching --labels", "predict similarity", "predict uie",
                "predict pet", "predict reward", "predict qa", "predict fill", "augment fill", "embed", "generate",
                "label reward", "llm classify")


@pytest.mark.parametrize("case", OUTPUT_CASES)
def test_an_output_that_is_an_input_is_refused(case, tmp_path, capsys):
    cases = _output_cases(tmp_path)
    assert set(cases) == set(OUTPUT_CASES)
    argv, flag = cases[case]
    output = argv[argv.index("--output") + 1]
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    with pytest.raises(SystemExit) as e:
        cli.main(argv)
    line = one_line_error(capsys, 2, e)
    assert f"--output: {output} is the file {flag} reads" in line and "choose another --output" in line, line
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before  # nothing was touched


def test_uie_convert_refuses_to_write_over_its_doccano_file(tmp_path, capsys):
    doccano = tmp_path / "train.txt"
    shutil.copy(DATA / "extraction" / "doccano_ext.jsonl", doccano)
    before = doccano.read_bytes()
    with pytest.raises(SystemExit) as e:
        cli.main(["uie", "convert", "--doccano_file", str(doccano), "--output_dir", str(tmp_path), "--overwrite"])
    line = one_line_error(capsys, 2, e)
    assert f"--output_dir: {doccano} is the file --doccano_file reads" in line and doccano.read_bytes() == before


def test_a_failed_write_leaves_the_old_output_and_no_partial_file(classifier, tmp_path, capsys, monkeypatch):
    """The predictions are written to a temporary file renamed into place: a failure halfway (a full disk, Ctrl-C)
    keeps the file that was there."""
    out = tmp_path / "predictions.jsonl"
    out.write_text("earlier predictions\n", encoding="utf-8")
    calls, dumps = [], json.dumps

    def dumps_then_fail(value, **kwargs):  # the second row of predictions: the disk is full
        if isinstance(value, dict) and "predictions" in value:
            calls.append(value)
        if len(calls) == 2:
            raise OSError(28, "No space left on device", str(out))
        return dumps(value, **kwargs)

    monkeypatch.setattr(json, "dumps", dumps_then_fail)
    with pytest.raises(SystemExit) as e:
        cli.main(["predict", "text-classification", "--model", str(classifier), "--text", "苹果很甜", "--text",
                  "屏幕很清晰", "--output", str(out)])
    assert "No space left on device" in one_line_error(capsys, 2, e)
    assert out.read_text(encoding="utf-8") == "earlier predictions\n" and [p.name for p in tmp_path.iterdir()] == [
        "predictions.jsonl"]


def test_blank_lines_of_a_file_are_reported_not_silently_dropped(classifier, tmp_path, capsys):
    texts = _lines(tmp_path, "texts.txt", ["苹果很甜", "", "屏幕很清晰", "  ", "香蕉"])
    cli.main(["predict", "text-classification", "--model", str(classifier), "--file", texts])
    captured = capsys.readouterr()
    assert f"{texts}: skipped 2 blank lines (2, 4); the results have no row for them" in captured.err
    assert len(captured.out.splitlines()) == 3


def test_blank_lines_are_reported_for_uie_too(tmp_path, capsys):
    """predict uie (and every command reading --file texts) goes through texts_from_args."""
    import argparse

    texts = _lines(tmp_path, "texts.txt", ["赵敏毕业了", "", "王小明"])
    assert cli.texts_from_args(argparse.Namespace(text=None, file=texts)) == ["赵敏毕业了", "王小明"]
    assert "skipped 1 blank line (2)" in capsys.readouterr().err
