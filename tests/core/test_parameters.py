"""Which weights train: freezing the word embeddings and the lower layers (their rules on tiny models of several
architectures), and the learning-rate groups."""

from __future__ import annotations

import pytest
import torch
from test_trainer_mixin import Seq2SeqConfig, tiny_llama, tokenizer  # noqa: F401 (tokenizer: the fixture)
from transformers import (
    LlamaConfig,
    LlamaForCausalLM,
    LlamaForSequenceClassification,
    T5Config,
    T5ForConditionalGeneration,
)

from plm_recipes.errors import ArgumentError
from plm_recipes.parameters import apply_freeze_layers, apply_freeze_word_embeddings, learning_rate_groups


def test_freeze_word_embeddings_rules(tokenizer):  # noqa: F811
    model = tiny_llama(tokenizer, LlamaForSequenceClassification, num_labels=2)
    assert apply_freeze_word_embeddings(model, None, new_parameters=["score.weight"])  # pretrained: frozen
    assert not model.get_input_embeddings().weight.requires_grad

    model = tiny_llama(tokenizer, LlamaForSequenceClassification, num_labels=2)
    names = [n for n, _ in model.named_parameters()]
    assert not apply_freeze_word_embeddings(model, None, new_parameters=names)  # from scratch: trained

    tied = LlamaForCausalLM(LlamaConfig(vocab_size=len(tokenizer), hidden_size=16, intermediate_size=16,
                                        num_hidden_layers=1, num_attention_heads=2, tie_word_embeddings=True))
    assert not apply_freeze_word_embeddings(tied, None)  # tied to the LM head: trained
    assert apply_freeze_word_embeddings(tied, True)  # unless asked
    assert not apply_freeze_word_embeddings(model, False)


def _trainable(model) -> set[str]:
    return {name for name, parameter in model.named_parameters() if parameter.requires_grad}


def test_freeze_layers_rules(tokenizer):  # noqa: F811
    from transformers import BertConfig, BertModel, GPTNeoXJapaneseConfig, GPTNeoXJapaneseForCausalLM

    bert = BertModel(BertConfig(vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=3, num_attention_heads=2,
                                intermediate_size=16))
    assert apply_freeze_layers(bert, 0) == 0 and _trainable(bert) == {n for n, _ in bert.named_parameters()}
    frozen = apply_freeze_layers(bert, 2, new_parameters=["embeddings.position_embeddings.weight"])
    trainable = _trainable(bert)
    # the embeddings block (word, token type, their LayerNorm) and layers 0 and 1; layer 2, the pooler, and the
    # weights the checkpoint did not have train
    assert trainable - {"embeddings.position_embeddings.weight"} and all(
        n.startswith(("encoder.layer.2.", "pooler.")) for n in trainable - {"embeddings.position_embeddings.weight"})
    assert "embeddings.position_embeddings.weight" in trainable and any(n.startswith("pooler.") for n in trainable)
    assert frozen == sum(p.numel() for n, p in bert.named_parameters() if n not in trainable)

    def t5(**kwargs):
        return T5ForConditionalGeneration(T5Config(vocab_size=len(tokenizer), d_model=16, d_ff=16, d_kv=8,
                                                   num_layers=2, num_heads=2, **kwargs))

    tied = t5()  # T5's shared embeddings are its LM head too: they keep training
    apply_freeze_layers(tied, 1)  # both stacks: the encoder's first block and the decoder's
    trainable = _trainable(tied)
    assert "shared.weight" in trainable and not any(".block.0." in n for n in trainable)
    assert any(n.startswith("encoder.block.1.") for n in trainable)
    assert any(n.startswith("decoder.block.1.") for n in trainable)
    shallow = t5(num_decoder_layers=1)  # stacks of different depths
    apply_freeze_layers(shallow, 1)
    trainable = _trainable(shallow)
    assert not any(n.startswith(("decoder.block.", "encoder.block.0.")) for n in trainable)
    assert any(n.startswith("encoder.block.1.") for n in trainable)
    with pytest.raises(ArgumentError, match=r"--freeze_layers 2: T5ForConditionalGeneration.decoder.block has 1"):
        apply_freeze_layers(t5(num_decoder_layers=1), 2)

    llama = tiny_llama(tokenizer)
    apply_freeze_layers(llama, 1)
    trainable = _trainable(llama)
    assert "model.embed_tokens.weight" not in trainable and not any(".layers.0." in n for n in trainable)
    assert {"model.norm.weight", "lm_head.weight"} <= trainable and any(".layers.1." in n for n in trainable)
    tied_llama = LlamaForCausalLM(LlamaConfig(vocab_size=len(tokenizer), hidden_size=16, intermediate_size=16,
                                              num_hidden_layers=2, num_attention_heads=2, tie_word_embeddings=True))
    apply_freeze_layers(tied_llama, 1)
    assert "model.embed_tokens.weight" in _trainable(tied_llama)  # it is the LM head

    neox = GPTNeoXJapaneseForCausalLM(GPTNeoXJapaneseConfig(
        vocab_size=len(tokenizer), hidden_size=16, intermediate_multiple_size=1, num_hidden_layers=2,
        num_attention_heads=2, tie_word_embeddings=False))
    apply_freeze_layers(neox, 1)
    trainable = _trainable(neox)  # its LM head is named embed_out: it comes after the layers, and trains
    assert "embed_out.weight" in trainable and "gpt_neox_japanese.embed_in.weight" not in trainable

    # TRL's PPO optimizes a wrapper of the policy and the value model: both lose their first layer alike
    wrapper = torch.nn.ModuleDict({"policy": tiny_llama(tokenizer),
                                   "value_model": tiny_llama(tokenizer, LlamaForSequenceClassification, num_labels=1)})
    apply_freeze_layers(wrapper, 1)
    trainable = _trainable(wrapper)
    for part in ("policy", "value_model"):
        assert f"{part}.model.embed_tokens.weight" not in trainable
        assert not any(n.startswith(f"{part}.model.layers.0.") for n in trainable)
        assert any(n.startswith(f"{part}.model.layers.1.") for n in trainable)

    with pytest.raises(ArgumentError, match="--freeze_layers 3: LlamaForCausalLM.model.layers has 2 layers"):
        apply_freeze_layers(tiny_llama(tokenizer), 3)
    with pytest.raises(ArgumentError, match="found no stack of transformer layers"):
        apply_freeze_layers(torch.nn.Linear(2, 2), 1)
    with pytest.raises(ArgumentError, match="--freeze_layers must be 0 or more"):
        Seq2SeqConfig("out", freeze_layers=-1, report_to="none")
    assert Seq2SeqConfig("out", freeze_layers=1, report_to="none").freeze_word_embeddings is False  # the default
    assert Seq2SeqConfig("out", freeze_layers=None, report_to="none").freeze_layers == 0  # `freeze_layers: null`


def test_freeze_layers_in_the_recipes_wrapped_models(tiny_bert):
    """UIE's model is a transformers model whose config does not count layers: its encoder's do."""
    from transformers import AutoModel

    from plm_recipes.extraction.modeling import UIEConfig, UIEModel

    encoder = AutoModel.from_pretrained(tiny_bert)
    uie = UIEModel(UIEConfig(encoder=encoder.config), encoder=encoder)
    apply_freeze_layers(uie, 1)
    trainable = _trainable(uie)
    assert {"linear_start.weight", "linear_end.weight"} <= trainable
    assert not any(".layer.0." in n or ".embeddings." in n for n in trainable)
    assert any(".layer.1." in n for n in trainable)


def test_learning_rate_groups():
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.LayerNorm(2))
    model[1].weight.requires_grad_(False)
    groups = learning_rate_groups(model, decay={"0.weight"}, weight_decay=0.1, mapping={r"^0\.bias": 5e-3},
                                  new_parameters={"1.bias"}, new_rate=1e-3)
    by_rate = {(g.get("lr"), g["weight_decay"]): [p.shape for p in g["params"]] for g in groups}
    assert by_rate == {(None, 0.1): [torch.Size([2, 2])], (5e-3, 0.0): [torch.Size([2])], (1e-3, 0.0): [torch.Size([2])]}
    with pytest.raises(ArgumentError, match="--learning_rate_mapping: 'classifier' matches no trainable parameter"):
        learning_rate_groups(model, decay=(), weight_decay=0.0, mapping={"classifier": 1e-3})
