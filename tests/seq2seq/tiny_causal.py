"""A tiny randomly initialised causal LM for the QA tests: a 2-layer Qwen2 (hidden 64) with a byte-level BPE
tokenizer learned here from the given texts, and optionally a ChatML chat template (as Qwen2.5's). No hub."""

from __future__ import annotations

from pathlib import Path

CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def build_tiny_causal_lm(path: Path, texts: list[str], chat: bool = True, seed: int = 0) -> Path:
    """Save a tiny ``Qwen2ForCausalLM`` and its tokenizer to ``path``: ``<|im_end|>`` ends a chat turn and is the
    eos token when ``chat``; without it the model is a "base" model whose eos is ``<|endoftext|>``."""
    import json

    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import Qwen2Config, Qwen2ForCausalLM, Qwen2Tokenizer

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.train_from_iterator(texts, trainers.BpeTrainer(
        vocab_size=600, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=SPECIAL,
        show_progress=False))
    learned = json.loads(bpe.to_str())["model"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in learned["merges"]]
    eos = "<|im_end|>" if chat else "<|endoftext|>"
    tokenizer = Qwen2Tokenizer(vocab=learned["vocab"], merges=merges, eos_token=eos, pad_token="<|endoftext|>",
                               unk_token=None)
    if chat:
        tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.model_max_length = 512
    vocab = tokenizer.get_vocab()
    config = Qwen2Config(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                         pad_token_id=vocab["<|endoftext|>"], eos_token_id=vocab[eos],
                         bos_token_id=vocab["<|endoftext|>"], tie_word_embeddings=True)
    torch.manual_seed(seed)  # the same tiny model in every session
    path.mkdir(parents=True, exist_ok=True)
    Qwen2ForCausalLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
