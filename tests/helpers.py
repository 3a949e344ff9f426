"""Helpers the tests share: tiny BERT models built from a config and a character vocabulary (no hub), and a
way to import a recipe (recipes are scripts, not a package). Fixtures that use them are in conftest.py."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def character_vocab(paths) -> list[str]:
    """Special tokens, then every character of the given files (sorted), as a BERT vocabulary."""
    chars = set()
    for path in paths:
        chars.update(c for c in Path(path).read_text(encoding="utf-8") if not c.isspace())
    return SPECIAL_TOKENS + sorted(chars)


def build_tiny_bert(path: Path, vocab: list[str], seed: int = 0, **config_overrides) -> Path:
    """A randomly initialised 2-layer BERT (hidden 32) with a character tokenizer, saved to ``path``."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    path.mkdir(parents=True, exist_ok=True)
    (path / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = BertTokenizerFast(vocab=str(path / "vocab.txt"))
    tokenizer.model_max_length = 128
    config = BertConfig(
        vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37,
        max_position_embeddings=128, pad_token_id=0, **config_overrides,
    )
    torch.manual_seed(seed)  # the same tiny model in every session: a test's numbers must not depend on the draw
    BertModel(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def load_recipe(name: str):
    """Import ``recipes/<name>.py`` as a module (recipes are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(f"recipe_{name}", ROOT / "recipes" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def build_tiny_t5(
    path: Path, vocab: list[str], sentinels: str = "extra{}", n_sentinels: int = 20, seed: int = 0
) -> Path:
    """A randomly initialised 2-layer T5 (d_model 32) with a character (BERT) vocabulary and sentinel tokens,
    saved to ``path``. ``sentinels="extra{}"`` adds them as words of the vocabulary, as the Chinese T5 checkpoints
    do; ``"<extra_id_{}>"`` as special tokens, as T5 / mT5 do."""
    import torch
    from transformers import BertTokenizerFast, T5Config, T5ForConditionalGeneration

    path.mkdir(parents=True, exist_ok=True)
    words = [sentinels.format(i) for i in range(n_sentinels)]
    in_vocab = words if not sentinels.startswith("<") else []
    (path / "vocab.txt").write_text("\n".join(vocab + in_vocab) + "\n", encoding="utf-8")
    tokenizer = BertTokenizerFast(vocab=str(path / "vocab.txt"))
    if sentinels.startswith("<"):
        tokenizer.add_special_tokens({"additional_special_tokens": words})
    tokenizer.model_max_length = 128
    config = T5Config(vocab_size=len(tokenizer), d_model=32, d_kv=16, d_ff=64, num_layers=2, num_heads=2,
                      pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.sep_token_id,
                      decoder_start_token_id=tokenizer.pad_token_id)
    torch.manual_seed(seed)
    T5ForConditionalGeneration(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def free_port() -> int:
    """A TCP port no process listens on now (for torchrun's --master_port: a fixed one collides with another
    test run on the same machine)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
