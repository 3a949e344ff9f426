"""A predictor refuses a folder that was not trained for its task, in one line saying what the folder is, instead
of a traceback or scores from a randomly initialised head."""

from __future__ import annotations

import shutil

import pytest
from helpers import DATA, load_recipe

from plm_recipes import cli

QUICK = ["--do_train", "--max_steps", "1", "--use_cpu", "--disable_tqdm", "true", "--eval_strategy", "no",
         "--save_strategy", "no", "--load_best_model_at_end", "false", "--log_level", "error"]


@pytest.fixture(scope="module")
def folders(tiny_bert, tmp_path_factory):
    root = tmp_path_factory.mktemp("folders")
    load_recipe("text_classification").main([
        "--model_name_or_path", str(tiny_bert), "--train_file", str(DATA / "classification" / "train.txt"),
        "--output_dir", str(root / "classifier"), *QUICK])
    load_recipe("matching_dssm").main([
        "--model_name_or_path", str(tiny_bert), "--train_file", str(DATA / "matching" / "train.txt"),
        "--output_dir", str(root / "dssm"), *QUICK])
    load_recipe("matching_pointwise").main([
        "--model_name_or_path", str(tiny_bert), "--train_file", str(DATA / "matching" / "train.txt"),
        "--output_dir", str(root / "pointwise"), *QUICK])
    bi_encoder = root / "bi_encoder"  # a sentence-transformers model made elsewhere: no matching_config.json
    shutil.copytree(root / "dssm", bi_encoder)
    (bi_encoder / "matching_config.json").unlink()
    return {"classifier": root / "classifier", "dssm": root / "dssm", "pointwise": root / "pointwise",
            "bi_encoder": bi_encoder, "encoder": tiny_bert}


@pytest.mark.parametrize(("folder", "message"), [
    ("dssm", "is a text-matching model (it has matching_config.json); use `plm-recipes predict matching`."),
    ("bi_encoder", "is a sentence-transformers model (a bi-encoder: it embeds texts, it has no classifier); text "
             "classification needs a model fine-tuned for it."),
    ("encoder", "is a model without a sequence-classification head (BertModel): a pretrained encoder, not a "
                "fine-tuned one; text classification needs a model fine-tuned for it."),
    ("pointwise", "is a text-matching model (it has matching_config.json); use `plm-recipes predict matching`."),
])
def test_predict_text_classification_refuses(folders, capsys, folder, message):
    with pytest.raises(SystemExit) as e:
        cli.main(["predict", "text-classification", "--model", str(folders[folder]), "--text", "苹果很甜"])
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]  # progress bars may come first
    assert e.value.code == 2 and len(errors) == 1 and message in errors[0] and "Traceback" not in err, err


@pytest.mark.parametrize(("folder", "message"), [
    ("classifier", "is a sequence classifier with 8 outputs (BertForSequenceClassification); text matching (a "
                   "cross-encoder) needs 1 output."),
    ("encoder", "is a model without a sequence-classification head (BertModel): a pretrained encoder, not a "
                "fine-tuned one; text matching (a cross-encoder) needs a model fine-tuned for it."),
])
def test_predict_matching_refuses(folders, capsys, folder, message):
    with pytest.raises(SystemExit) as e:
        cli.main(["predict", "matching", "--model", str(folders[folder]), "--labels",
                  str(DATA / "matching" / "types_desc.txt"), "--text", "屏幕很清晰"])
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]  # progress bars may come first
    assert e.value.code == 2 and len(errors) == 1 and message in errors[0] and "Traceback" not in err, err


def test_a_head_the_checkpoint_lacks_is_refused(folders, tmp_path):
    """A config that names a classifier over weights without one: the head would be random."""
    import json

    from plm_recipes.classification import TextClassifier
    from plm_recipes.errors import ModelLoadError

    fake = tmp_path / "fake"
    shutil.copytree(folders["encoder"], fake)
    config = json.loads((fake / "config.json").read_text())
    config["architectures"] = ["BertForSequenceClassification"]
    (fake / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match="whose checkpoint lacks the head's weights .*classifier"):
        TextClassifier(str(fake), device="cpu")


def one_error_line(capsys, e) -> str:
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]  # progress bars may come first
    assert e.value.code == 2 and len(errors) == 1 and "Traceback" not in err, err
    return errors[0]


@pytest.mark.parametrize(("folder", "message"), [
    ("classifier", "is a sequence classifier with 8 outputs (BertForSequenceClassification); it does not embed texts: "
                   "embed and predict similarity need a sentence encoder"),
    ("t5", "is a text-generation model (T5ForConditionalGeneration: it writes text, it has no classification head); "
           "it does not embed texts"),
    ("pointwise", "is a cross-encoder: it scores pairs and has no embeddings of its own; use plm-recipes predict matching"),
])
def test_predict_similarity_refuses_what_does_not_embed(folders, tiny_t5, capsys, folder, message):
    """As predict matching does: a text classifier's or a T5's pooled states were never trained to compare texts
    (they scored unrelated texts 0.94)."""
    path = tiny_t5 if folder == "t5" else folders[folder]
    with pytest.raises(SystemExit) as e:
        cli.main(["predict", "similarity", "--model", str(path), "--a", "苹果很甜", "--b", "屏幕很清晰"])
    assert message in one_error_line(capsys, e)


def test_a_negative_threshold_is_a_cosine_not_a_probability(folders, capsys):
    """A bi-encoder's cosine can be below 0; a cross-encoder's match probability cannot."""
    matching = ["predict", "matching", "--labels", str(DATA / "matching" / "types_desc.txt"), "--text", "屏幕很清晰",
                "--threshold", "-0.5"]
    with pytest.raises(SystemExit) as e:
        cli.main([*matching, "--model", str(folders["pointwise"])])
    assert "is a cross-encoder, whose scores are match probabilities; give a threshold from 0 to 1" \
        in one_error_line(capsys, e)
    cli.main([*matching, "--model", str(folders["dssm"])])
    assert "屏幕很清晰" in capsys.readouterr().out


def test_a_t5_is_not_called_a_pretrained_encoder(tiny_t5, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["predict", "text-classification", "--model", str(tiny_t5), "--text", "苹果很甜"])
    line = one_error_line(capsys, e)
    assert "is a text-generation model (T5ForConditionalGeneration: it writes text, it has no classification head)" \
        in line and "pretrained encoder" not in line, line


def test_a_bare_encoder_still_gives_similarities(folders, capsys):
    cli.main(["predict", "similarity", "--model", str(folders["encoder"]), "--a", "苹果很甜", "--b", "屏幕很清晰"])
    score = float(capsys.readouterr().out.split("\t")[0])
    assert -1 <= score <= 1
