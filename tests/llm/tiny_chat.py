"""A tiny randomly initialised chat model for the LLM tests: a 2-layer Qwen2 (hidden 32) with a byte-level BPE
tokenizer learned here from the test texts (special tokens ``<|im_start|>``, ``<|im_end|>``, ``<|endoftext|>``)
and a ChatML template that thinks unless
``enable_thinking=False``, as Qwen3's does. No hub, no download."""

from __future__ import annotations

from pathlib import Path

# ChatML, as Qwen2.5's; a "<think>" block opens the answer unless enable_thinking is false (Qwen3's switch)
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n"
    "{% if enable_thinking is not defined or enable_thinking %}<think>\n{% endif %}{% endif %}"
)
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def build_tiny_chat_model(path: Path, texts: list[str], seed: int = 0, vocab_size: int = 1000) -> Path:
    """Save a tiny Qwen2ForCausalLM and its tokenizer (a byte-level BPE learned from ``texts``) to ``path``."""
    import json

    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import Qwen2Config, Qwen2ForCausalLM, Qwen2Tokenizer

    # byte-level BPE, as Qwen's: every text round-trips (no unknown token); merges learned from ``texts``
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.train_from_iterator(texts, trainers.BpeTrainer(
        vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=SPECIAL,
        show_progress=False))
    learned = json.loads(bpe.to_str())["model"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in learned["merges"]]
    tokenizer = Qwen2Tokenizer(vocab=learned["vocab"], merges=merges, eos_token="<|im_end|>",
                               pad_token="<|endoftext|>", unk_token=None)
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.model_max_length = 1024
    vocab = tokenizer.get_vocab()
    config = Qwen2Config(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                         pad_token_id=vocab["<|endoftext|>"], eos_token_id=vocab["<|im_end|>"],
                         bos_token_id=vocab["<|endoftext|>"], tie_word_embeddings=True,
                         initializer_range=0.5)  # large weights: answers that depend on the prompt
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
