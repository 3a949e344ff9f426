"""A PET folder for people without this package: ``lm/`` is a plain masked LM that ``pipeline("fill-mask")`` loads,
with the template and verbalizer in ``lm/prompt.json``, and the card's plain-transformers snippet gives the labels
of the package's ``PromptClassifier``. p-tuning on a causal LM: the learned vectors as a PEFT adapter, with a
snippet of its own; on a masked LM: the folder carries its model code (``auto_map``), and the card's snippet loads it
with ``trust_remote_code`` in a Python that cannot import this package, with the package's labels and scores."""

from __future__ import annotations

import json
import os
import re
import runpy
import shutil
import subprocess
import sys

import pytest
import torch
from helpers import DATA, ROOT, character_vocab, load_recipe
from huggingface_hub import ModelCard
from test_prompting import common_argv, lm_folder, tokenizer  # noqa: F401 (the fixture)
from transformers import BertConfig, BertForMaskedLM, pipeline

from plm_recipes.prompting.export import AUTO_MAP
from plm_recipes.prompting.modeling import PromptLMModel
from plm_recipes.prompting.predictor import PromptClassifier

PROMPTING = DATA / "prompting"


def big_random_bert(folder, tokenizer):  # noqa: F811
    """A tiny BERT with large random weights: its blank's words depend on the text (at the usual 0.02 they hardly
    do)."""
    torch.manual_seed(0)
    BertForMaskedLM(BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                               intermediate_size=37, max_position_embeddings=128, initializer_range=0.5)
                    ).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def pet_folder(tokenizer, tmp_path_factory):  # noqa: F811
    tmp = tmp_path_factory.mktemp("pet-hub")
    model = big_random_bert(tmp / "base", tokenizer)
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


@pytest.fixture(scope="module")
def p_tuning_folder(tokenizer, tmp_path_factory):  # noqa: F811
    """p-tuning on a masked LM: vectors before and after the blank, the LSTM encoder, texts cut to 32 tokens."""
    tmp = tmp_path_factory.mktemp("p-tuning-hub")
    out = tmp / "out"
    load_recipe("p_tuning").main(common_argv(big_random_bert(tmp / "base", tokenizer), out) + [
        "--template", "{soft:2}这是一条{MASK}评论{soft:3}：{textA}。", "--max_seq_length", "32", "--max_steps", "2",
        "--license", "mit"])
    return out


def prompting_texts() -> list[str]:
    return [line.split("\t")[1] for split in ("train", "dev", "test")
            for line in (PROMPTING / f"{split}.txt").read_text(encoding="utf-8").splitlines()]


def test_p_tuning_on_a_masked_lm_holds_its_model_code(p_tuning_folder):
    out = p_tuning_folder
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    assert config["auto_map"] == AUTO_MAP and config["model_type"] == "prompt_lm"
    imported = {name: set(re.findall(r"^(?:from|import) (\S+)", (out / name).read_text(encoding="utf-8"), re.MULTILINE))
                for name in ("modeling_prompt_lm.py", "template_pieces.py")}
    assert imported == {  # nothing of plm_recipes but the pieces beside it
        "modeling_prompt_lm.py": {"__future__", "dataclasses", "torch", "torch.nn.functional", "transformers",
                                  "transformers.utils", ".template_pieces"},
        "template_pieces.py": {"__future__", "collections.abc", "re"}}  # the standard library only
    assert not (out / "lm").exists() and not (out / "prompt_adapter").exists()  # no PEFT form for it
    # the package still loads it as its own, without remote code
    assert type(PromptClassifier(str(out)).model) is PromptLMModel


def test_p_tuning_on_a_masked_lm_loads_with_trust_remote_code_without_the_package(p_tuning_folder, tmp_path):
    copy = tmp_path / "downloaded"
    shutil.copytree(p_tuning_folder, copy)
    card = ModelCard.load(copy / "README.md")
    assert card.data.license == "mit" and card.data.base_model == "base"
    _, plain = re.findall(r"```python\n(.*?)```", card.text, re.DOTALL)
    assert "plm_recipes" not in plain and "trust_remote_code=True" in plain
    texts = prompting_texts()
    script = tmp_path / "plain.py"
    script.write_text(
        # a Python that cannot import this package, whatever the installation (an editable one is on sys.path)
        f"import sys\nsys.modules['plm_recipes'] = None\nsys.path = [p for p in sys.path if not p.startswith("
        f"{str(ROOT)!r})]\n" + plain +
        f"\nimport json\nprint(json.dumps([[classify(t), label_scores(t)] for t in {texts!r}], ensure_ascii=False))\n"
        "print(type(model).__name__, sorted(name for name in sys.modules if name.startswith('plm_recipes')))\n",
        encoding="utf-8")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_MODULES_CACHE": str(tmp_path / "modules")}
    env.pop("PYTHONPATH", None)
    done = subprocess.run([sys.executable, "-I", str(script)], check=False, capture_output=True, text=True, timeout=300,
                          env=env, cwd=copy)
    assert done.returncode == 0, done.stderr[-3000:]
    *_, results_line, modules_line = done.stdout.strip().splitlines()
    assert modules_line == "MaskedPromptLMModel ['plm_recipes']"  # the folder's code; only the blocker of the package
    results = json.loads(results_line)

    expected = PromptClassifier(str(p_tuning_folder)).predict(texts)
    assert [label for label, _ in results] == [p["label"] for p in expected]
    for (_, scores), prediction in zip(results, expected):
        assert list(scores) == list(prediction["scores"])
        assert torch.tensor(list(scores.values())).softmax(-1).tolist() == \
            pytest.approx(list(prediction["scores"].values()), abs=1e-5)
    assert len({round(p["score"], 3) for p in expected}) > 3  # the texts are told apart
    assert len({p["label"] for p in expected}) > 1


def test_p_tuning_on_a_masked_lm_snippet_with_the_package_uses_its_class(p_tuning_folder, tmp_path):
    """With plm_recipes imported, the same snippet runs and gives the package's labels: on the package's own
    ``PromptLMModel``, which takes the same ``prompt_inputs`` (transformers 5.2, the lowest this package allows,
    prefers the folder's code when ``trust_remote_code`` is set, even for a registered model type; 5.25 takes the
    registered class: either gives the same labels)."""
    import transformers
    from packaging.version import Version

    card = ModelCard.load(p_tuning_folder / "README.md")
    package, plain = re.findall(r"```python\n(.*?)```", card.text, re.DOTALL)
    (tmp_path / "package.py").write_text(package, encoding="utf-8")
    (tmp_path / "plain.py").write_text(plain, encoding="utf-8")
    runpy.run_path(str(tmp_path / "package.py"))  # runs as written
    plain_globals = runpy.run_path(str(tmp_path / "plain.py"))
    model = plain_globals["model"]
    if Version(transformers.__version__) >= Version("5.25"):
        assert type(model) is PromptLMModel
    else:
        assert type(model) is PromptLMModel or type(model).__module__.startswith("transformers_modules")
    texts = prompting_texts()[:8]
    expected = PromptClassifier(str(p_tuning_folder)).predict(texts)
    assert [plain_globals["classify"](text) for text in texts] == [p["label"] for p in expected]


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
