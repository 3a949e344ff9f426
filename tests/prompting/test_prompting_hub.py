"""A PET folder for people without this package: ``lm/`` is a plain masked LM that ``pipeline("fill-mask")`` loads,
with the template and verbalizer in ``lm/prompt.json``, and the card's plain-transformers snippet gives the labels
of the package's ``PromptClassifier``. p-tuning on a causal LM: the learned vectors as a PEFT adapter, with a
snippet of its own; on a masked LM: no export."""

from __future__ import annotations

import json
import re
import runpy

import pytest
import torch
from helpers import DATA, character_vocab, load_recipe
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


def test_p_tuning_on_a_causal_lm_exports_a_peft_adapter(tmp_path):
    """GPT-2 with a tokenizer that adds no special tokens (PEFT writes its virtual tokens first): the learned vectors
    go into a PEFT p-tuning adapter, and the card's snippet (transformers + PEFT) gives the package's scores."""
    from peft import PeftModel
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    from transformers import AutoModelForCausalLM, GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    vocab = character_vocab(sorted(PROMPTING.glob("*.txt")))
    backend = Tokenizer(models.WordPiece({t: i for i, t in enumerate(vocab)}, unk_token="[UNK]"))
    backend.normalizer = normalizers.BertNormalizer(handle_chinese_chars=True, lowercase=False)
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]", pad_token="[PAD]", eos_token="[SEP]")
    base = tmp_path / "gpt2"
    torch.manual_seed(0)
    GPT2LMHeadModel(GPT2Config(vocab_size=len(vocab), n_embd=32, n_layer=2, n_head=2, n_positions=128,
                               initializer_range=0.5, pad_token_id=0, eos_token_id=3)).save_pretrained(base)
    tok.save_pretrained(base)
    out = tmp_path / "out"
    load_recipe("p_tuning").main(common_argv(base, out) + [
        "--template", "{soft:4}{textA}。是{MASK}评论", "--prompt_encoder", "mlp", "--max_steps", "2"])
    adapter = json.loads((out / "prompt_adapter" / "adapter_config.json").read_text())
    assert adapter["peft_type"] == "P_TUNING" and adapter["num_virtual_tokens"] == 4
    prompt = json.loads((out / "lm" / "prompt.json").read_text(encoding="utf-8"))
    assert prompt["text_template"] == "{textA}。是{MASK}评论" and prompt["lm_type"] == "causal"
    peft_model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(out / "lm"), out / "prompt_adapter")
    assert peft_model.peft_config["default"].inference_mode

    card = (out / "README.md").read_text(encoding="utf-8")
    package, plain = re.findall(r"```python\n(.*?)```", card, re.S)
    assert "plm_recipes" not in plain and "PeftModel.from_pretrained" in plain
    (tmp_path / "plain.py").write_text(plain, encoding="utf-8")
    plain_globals = runpy.run_path(str(tmp_path / "plain.py"))
    texts = [line.split("\t")[1] for split in ("dev", "test")
             for line in (PROMPTING / f"{split}.txt").read_text(encoding="utf-8").splitlines()]
    expected = PromptClassifier(str(out)).predict(texts)
    assert [plain_globals["classify"](text) for text in texts] == [p["label"] for p in expected]
    for text, prediction in zip(texts, expected):
        scores = torch.tensor(list(plain_globals["label_scores"](text).values()))
        assert scores.softmax(-1).tolist() == pytest.approx(list(prediction["scores"].values()), abs=1e-4)
    assert len({round(p["score"], 3) for p in expected}) > 3
    label_scores = plain_globals["label_scores"]
    label_scores.__globals__["model"] = plain_globals["lm"]  # without the adapter: other scores
    without = torch.tensor(list(label_scores(texts[0]).values())).softmax(-1).tolist()
    assert without != pytest.approx(list(expected[0]["scores"].values()), abs=1e-4)
