"""Loading: one-sentence errors for what cannot load, what a folder is, and the length a model accepts."""

from __future__ import annotations

import pytest
from transformers import AutoConfig, BertConfig, BertForSequenceClassification, BertModel

from plm_recipes.errors import ModelLoadError
from plm_recipes.loading import (
    capped_max_seq_length,
    describe_model_folder,
    from_pretrained,
    is_hub_id,
    load_trained_sequence_classifier,
    model_max_length,
    task_head,
)


def tiny_config(**kwargs) -> BertConfig:
    return BertConfig(vocab_size=50, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=8,
                      max_position_embeddings=32, **kwargs)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("folders")
    BertModel(tiny_config()).save_pretrained(root / "encoder")
    BertForSequenceClassification(tiny_config(num_labels=3)).save_pretrained(root / "classifier")
    (root / "empty").mkdir()
    return root


def test_describe_model_folder(folders):
    assert describe_model_folder(str(folders / "classifier")) == \
        "a sequence classifier with 3 outputs (BertForSequenceClassification)"
    assert describe_model_folder(str(folders / "encoder")).startswith("a model without a sequence-classification head")
    assert describe_model_folder(str(folders / "empty")) == "not a transformers model folder (no readable config.json)"
    assert task_head(str(folders / "classifier")) == "BertForSequenceClassification"
    assert task_head(str(folders / "encoder")) is None


def test_a_classifier_is_loaded_only_for_what_it_was_trained(folders):
    model = load_trained_sequence_classifier(str(folders / "classifier"), "text classification")
    assert model.config.num_labels == 3
    with pytest.raises(ModelLoadError, match="is a model without a sequence-classification head .*; text "
                                             "classification needs a model fine-tuned for it"):
        load_trained_sequence_classifier(str(folders / "encoder"), "text classification")
    with pytest.raises(ModelLoadError, match="3 outputs .*; matching needs 1 output"):
        load_trained_sequence_classifier(str(folders / "classifier"), "matching", num_labels=1)


def test_unloadable_names_are_one_sentence(folders, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match="no such folder"):
        from_pretrained(AutoConfig, str(tmp_path / "missing"), "config")
    with pytest.raises(ModelLoadError, match=r"not a local folder and the Hugging Face Hub could not provide it.*"
                                             r"--model_name_or_path \./no-such-model"):
        from_pretrained(AutoConfig, "someone/no-such-model", "config")
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / "config.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match="damaged or incomplete"):
        from_pretrained(AutoConfig, str(damaged), "config")


def test_max_seq_length_is_capped_at_what_the_model_accepts(caplog):
    tokenizer = type("Tok", (), {"model_max_length": 1_000_000_000_000})()  # "no limit", as tokenizers say it
    config = tiny_config()
    assert model_max_length(tokenizer, config) == 32
    assert capped_max_seq_length(16, tokenizer, config) == 16 and not caplog.records
    assert capped_max_seq_length(128, tokenizer, config) == 32 and "using 32" in caplog.text


def test_is_hub_id(tmp_path):
    assert is_hub_id("bert-base-chinese") and is_hub_id("intfloat/multilingual-e5-small")
    assert not is_hub_id(str(tmp_path)) and not is_hub_id("./model") and not is_hub_id("a/b/c") and not is_hub_id(None)
