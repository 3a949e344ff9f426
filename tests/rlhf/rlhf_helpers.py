"""Tiny causal LMs for the RLHF tests: a character tokenizer that adds a bos, as Gemma's does, with a pad token
distinct from eos, and 2-layer Llama models over it (a policy, and one-output classifiers on its tokens)."""

from __future__ import annotations

from pathlib import Path

import torch
from helpers import DATA
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

RLHF = DATA / "rlhf"


def char_tokenizer(text: str) -> PreTrainedTokenizerFast:
    """A character-level tokenizer that adds a bos (as Gemma's does), with <pad> distinct from </s>."""
    specials = ["<pad>", "<unk>", "<s>", "</s>"]
    vocab = {t: i for i, t in enumerate(specials + sorted(set(text) - set(specials)))}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(pattern="", behavior="isolated")
    tok.decoder = decoders.Fuse()
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", vocab["<s>"])])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
                                   unk_token="<unk>", model_max_length=128)


def save_tiny_llama(path: Path, tokenizer, cls=LlamaForCausalLM, seed: int = 0, **kwargs) -> Path:
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=128,
                         pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                         bos_token_id=tokenizer.bos_token_id, tie_word_embeddings=False, **kwargs)
    cls(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
