"""Every generation command refuses, in one line saying what it is, a folder that holds no causal LM with a trained
LM head (a classifier, a reward model, an encoder, a sentence encoder, a masked LM, a T5, a causal LM whose
checkpoint lacks the head), before loading it: loaded, each would get a freshly initialised head that writes random
tokens. Causal LMs with their head, or tied to the embeddings, pass."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from plm_recipes import cli
from plm_recipes.causal_lm import check_can_generate, describe_non_generator
from plm_recipes.errors import ModelLoadError


def tiny_bert_with(cls_name: str, source: Path, path: Path, **config) -> Path:
    import transformers

    shutil.copytree(source, path)
    model_config = transformers.BertConfig.from_pretrained(source, **config)
    torch.manual_seed(0)
    getattr(transformers, cls_name)(model_config).save_pretrained(path)
    return path


def tiny_qwen(path: Path, tied: bool) -> Path:
    from transformers import Qwen2Config, Qwen2ForCausalLM

    config = Qwen2Config(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, tie_word_embeddings=tied)
    Qwen2ForCausalLM(config).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def folders(tiny_bert, tiny_t5, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("generation-folders")
    sentence_encoder = root / "sentence_encoder"
    shutil.copytree(tiny_bert, sentence_encoder)
    (sentence_encoder / "modules.json").write_text(json.dumps([{"idx": 0, "name": "0", "path": "",
                                                                "type": "sentence_transformers.models.Transformer"}]))
    headless = tiny_qwen(root / "headless", tied=False)
    weights = load_file(headless / "model.safetensors")
    del weights["lm_head.weight"]
    save_file(weights, headless / "model.safetensors", metadata={"format": "pt"})
    return {
        "classifier": tiny_bert_with("BertForSequenceClassification", tiny_bert, root / "classifier", num_labels=3),
        "reward": tiny_bert_with("BertForSequenceClassification", tiny_bert, root / "reward", num_labels=1),
        "masked_lm": tiny_bert_with("BertForMaskedLM", tiny_bert, root / "masked_lm"),
        "encoder": tiny_bert, "sentence_encoder": sentence_encoder, "t5": tiny_t5, "headless": headless,
    }


WHAT = {
    "classifier": "is a text classifier (BertForSequenceClassification, 3 labels",
    "reward": "is a reward model (BertForSequenceClassification, one score per text: use `plm-recipes predict "
              "reward`)",
    "masked_lm": "is a masked language model (BertForMaskedLM",
    "encoder": "is an encoder without a language-model head (BertModel",
    "sentence_encoder": "is a sentence encoder (a sentence-transformers model",
    "t5": "is a seq2seq model (T5ForConditionalGeneration: use `plm-recipes predict qa` or `predict fill`)",
    "headless": "is a causal language model (Qwen2ForCausalLM) whose checkpoint lacks the LM head's weights "
                "(lm_head.weight)",
}


def command_line(command: str, folder: Path, tmp_path: Path) -> list[str]:
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("这部电影很\n", encoding="utf-8")
    return {
        "generate": ["generate", "--model", str(folder), "--prompt", "这部电影很"],
        "label reward": ["label", "reward", "--model", str(folder), "--prompts", str(prompts), "--output",
                         str(tmp_path / "labels.jsonl")],
        "llm serve": ["llm", "serve", "--model", str(folder), "--port", "0"],
        "llm classify": ["llm", "classify", "--model", str(folder), "--labels", "水果,酒店", "--text", "苹果很甜"],
        "llm match": ["llm", "match", "--model", str(folder), "--a", "苹果", "--b", "香蕉"],
        "llm extract": ["llm", "extract", "--model", str(folder), "--schema", "姓名", "--text", "张三"],
    }[command]


@pytest.mark.parametrize("command", ["generate", "label reward", "llm serve", "llm classify", "llm match",
                                     "llm extract"])
@pytest.mark.parametrize("kind", list(WHAT))
def test_every_generation_command_refuses_a_folder_that_cannot_generate(folders, tmp_path, capsys, monkeypatch,
                                                                          command, kind):
    from transformers import AutoModelForCausalLM

    def no_loading(*args, **kwargs):
        raise AssertionError("the folder was loaded")

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", no_loading)
    with pytest.raises(SystemExit) as e:
        cli.main(command_line(command, folders[kind], tmp_path))
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert e.value.code == 2 and len(errors) == 1 and "Traceback" not in err, err
    assert f"{folders[kind]} {WHAT[kind]}" in errors[0] and f"plm-recipes {command} needs" in errors[0], errors[0]
    if command.startswith("llm"):
        assert "needs a chat model" in errors[0]
    assert not (tmp_path / "labels.jsonl").exists()


def test_a_t5_is_not_called_damaged(folders):
    with pytest.raises(ModelLoadError) as e:
        check_can_generate(str(folders["t5"]), "plm-recipes generate")
    assert "damaged" not in str(e.value) and "seq2seq" in str(e.value)


def test_causal_lms_with_their_head_pass(tmp_path):
    assert describe_non_generator(str(tiny_qwen(tmp_path / "untied", tied=False))) is None  # has lm_head.weight
    tied = tiny_qwen(tmp_path / "tied", tied=True)
    assert "lm_head.weight" not in load_file(tied / "model.safetensors")  # tied: the embeddings are the head
    assert describe_non_generator(str(tied)) is None
    check_can_generate(str(tied), "plm-recipes generate")
    assert describe_non_generator("Qwen/Qwen2.5-0.5B-Instruct") is None  # a hub id is left to the loader


def test_an_adapter_is_judged_by_its_task_and_its_base(folders, tmp_path):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    config = {"base_model_name_or_path": str(folders["classifier"]), "task_type": "CAUSAL_LM"}
    (adapter / "adapter_config.json").write_text(json.dumps(config))
    assert describe_non_generator(str(adapter)).startswith("a text classifier")
    (adapter / "adapter_config.json").write_text(json.dumps({**config, "task_type": "SEQ_CLS"}))
    assert describe_non_generator(str(adapter)) == "a LoRA adapter for SEQ_CLS, not for a causal language model"


def test_a_folder_without_config_is_named(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match="empty is not a model folder .it has no readable config.json.; "
                                             "plm-recipes generate needs a causal language model"):
        check_can_generate(str(tmp_path / "empty"), "plm-recipes generate")
