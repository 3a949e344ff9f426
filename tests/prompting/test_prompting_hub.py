"""A PET folder for people without this package: ``lm/`` is a plain masked LM that ``pipeline("fill-mask")`` loads,
with the template and verbalizer in ``lm/prompt.json``, and the card's plain-transformers snippet gives the labels
of the package's ``PromptClassifier``. A p-tuning folder (learned vectors) has no such export."""

from __future__ import annotations

import json
import re
import runpy

import pytest
import torch
from helpers import DATA, load_recipe
from huggingface_hub import ModelCard
from test_prompting import common_argv, lm_folder, tokenizer  # noqa: F401 (the fixture)
from transformers import BertConfig, BertForMaskedLM, pipeline

from plm_recipes.prompting.predictor import PromptClassifier

PROMPTING = DATA / "prompting"


@pytest.fixture(scope="module")
def pet_folder(tokenizer, tmp_path_factory):  # noqa: F811
    tmp = tmp_path_factory.mktemp("pet-hub")
    # a tiny BERT with large random weights: its blank's words depend on the text (at the usual 0.02 they hardly do)
    torch.manual_seed(0)
    BertForMaskedLM(BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                               intermediate_size=37, max_position_embeddings=128, initializer_range=0.5)
                    ).save_pretrained(tmp / "base")
    tokenizer.save_pretrained(tmp / "base")
    model = tmp / "base"
    out = tmp / "out"
    results = load_recipe("pet").main(common_argv(model, out) + ["--template_file", str(PROMPTING / "prompt.txt"),
                                                                 "--max_steps", "2", "--learning_rate", "1e-4",
                                                                 "--license", "mit"])
    return out, results


def test_the_plain_lm_folder_and_its_prompt(pet_folder):
    out, _ = pet_folder
    prompt = json.loads((out / "lm" / "prompt.json").read_text(encoding="utf-8"))
    assert prompt["template"] == "这是一条{MASK}评论：{textA}。" and prompt["lm_type"] == "masked"
    assert prompt["labels"] == ["电脑", "水果", "酒店", "书籍"]
    assert prompt["label_words"]["电脑"] == ["电脑", "笔记本"]
    assert prompt["blank_length"] == PromptClassifier(str(out)).model.config.blank_length > 1
    fill = pipeline("fill-mask", model=str(out / "lm"), device="cpu")
    assert len(fill("这是一条[MASK]评论")) == 5  # top 5 tokens for the blank


def test_the_cards_snippets_give_the_packages_labels(pet_folder, tmp_path):
    out, results = pet_folder
    card = ModelCard.load(out / "README.md")
    assert card.data.license == "mit" and card.data.base_model == "base"
    [result] = [r for r in card.data.eval_results if r.metric_type == "f1" and r.dataset_split == "validation"]
    assert result.task_type == "text-classification"
    assert result.metric_value == pytest.approx(results["eval"]["eval_f1"])
    package, plain = re.findall(r"```python\n(.*?)```", card.text, re.S)
    assert "{{" not in package
    texts = [line.split("\t")[1] for split in ("train", "dev", "test")
             for line in (PROMPTING / f"{split}.txt").read_text(encoding="utf-8").splitlines()]
    for name, code in (("package", package), ("plain", plain)):
        (tmp_path / f"{name}.py").write_text(code, encoding="utf-8")
    assert "plm_recipes" not in plain
    plain_globals = runpy.run_path(str(tmp_path / "plain.py"))
    runpy.run_path(str(tmp_path / "package.py"))  # runs as written
    expected = PromptClassifier(str(out)).predict(texts)
    assert [plain_globals["classify"](text) for text in texts] == [p["label"] for p in expected]
    for text, prediction in zip(texts, expected):
        scores = torch.tensor(list(plain_globals["label_scores"](text).values()))
        assert scores.softmax(-1).tolist() == pytest.approx(list(prediction["scores"].values()), abs=1e-5)
    assert len({round(p["score"], 3) for p in expected}) > 3  # the texts are told apart


def test_p_tuning_writes_no_plain_lm(tokenizer, tmp_path):  # noqa: F811
    model = lm_folder(tmp_path / "base", tokenizer, "masked")
    out = tmp_path / "out"
    load_recipe("p_tuning").main(common_argv(model, out) + ["--max_steps", "1"])
    assert not (out / "lm").exists()
    assert "```python" in (out / "README.md").read_text(encoding="utf-8")
