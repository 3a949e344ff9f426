"""Loading configs, tokenizers and models from local folders or the hub, with one clear sentence on failure.

Given local folders nothing here touches the network. Given a hub id on a machine without the hub, the
error says how to pass a local folder instead of ending in a stack trace.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from typing import Any

from transformers import AutoConfig, AutoTokenizer, BertTokenizerFast, PretrainedConfig, PreTrainedModel
from transformers.models.auto.configuration_auto import CONFIG_MAPPING

from .args import ModelArguments
from .errors import ArgumentError, ModelLoadError

logger = logging.getLogger(__name__)


def _looks_like_path(name: str) -> bool:
    # hub ids are "name" or "owner/name"
    return name.startswith((".", "/", "~")) or name.count("/") > 1 or "\\" in name


def from_pretrained(cls: Any, name_or_path: str, what: str = "model", **kwargs) -> Any:
    """``cls.from_pretrained(name_or_path, **kwargs)``, turning "cannot reach the hub" into one clear sentence.

    Args:
        cls: e.g. ``AutoModelForSequenceClassification``.
        what: what is being loaded, for the message (``"model"``, ``"tokenizer"``, ``"config"``).
    """
    return load_or_explain(lambda: cls.from_pretrained(name_or_path, **kwargs), name_or_path, what)


def load_or_explain(load: Callable[[], Any], name_or_path: str, what: str = "model") -> Any:
    """Call ``load()``, which loads ``name_or_path``; when that is a hub id the hub cannot provide, raise a
    :class:`ModelLoadError` that says how to pass a local folder instead."""
    if os.path.isdir(name_or_path) or os.path.isfile(name_or_path):
        return load()
    if _looks_like_path(name_or_path):
        raise ModelLoadError(f"Cannot load the {what} {name_or_path!r}: no such folder.")
    try:
        return load()
    except (OSError, ValueError) as e:
        local = os.path.basename(name_or_path.rstrip("/"))
        raise ModelLoadError(
            f"Cannot load the {what} {name_or_path!r}: it is not a local folder and the Hugging Face Hub could not "
            f"provide it ({type(e).__name__}); download it where the Hub is reachable "
            f"(`hf download {name_or_path} --local-dir {local}`) and pass the folder instead, "
            f"e.g. --model_name_or_path ./{local}."
        ) from e


def load_config(model_args: ModelArguments, **config_kwargs) -> PretrainedConfig:
    """The config of the checkpoint, or the one to train from scratch (``--config_name``, ``--config_overrides``)."""
    hub = model_args.hub_kwargs()
    if not model_args.from_scratch:
        return from_pretrained(AutoConfig, model_args.model_name_or_path, "config", **config_kwargs, **hub)
    name = model_args.config_name
    if not os.path.exists(name) and name in CONFIG_MAPPING:
        config = AutoConfig.for_model(name, **config_kwargs)
    else:
        config = from_pretrained(AutoConfig, name, "config", **config_kwargs, **hub)
    if model_args.config_overrides:
        logger.info("Overriding config: %s", model_args.config_overrides)
        try:
            config.update_from_string(model_args.config_overrides)
        except ValueError as e:
            raise ArgumentError(f"--config_overrides {model_args.config_overrides!r}: {e}") from None
    return config


def train_tokenizer(texts: Iterable[str], vocab_size: int) -> BertTokenizerFast:
    """A new BERT-style WordPiece tokenizer (Chinese characters split one by one) trained on ``texts``.

    For training from scratch only: the quick start and the tests. The vocabulary holds at most
    ``vocab_size`` tokens, fewer when the texts have fewer distinct pieces.
    """
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    base = BertTokenizerFast(vocab={tok: i for i, tok in enumerate(specials)})
    return base.train_new_from_iterator(texts, vocab_size=vocab_size)


def load_tokenizer(model_args: ModelArguments, train_texts: Iterable[str] | None = None):
    """The tokenizer named by ``--tokenizer_name``, the model's own, or one trained on ``train_texts``."""
    if model_args.train_tokenizer_vocab_size:
        if not model_args.from_scratch:
            raise ArgumentError("--train_tokenizer_vocab_size is for training from scratch; a pretrained model "
                                "must keep its own tokenizer")
        if train_texts is None:
            raise ArgumentError("--train_tokenizer_vocab_size needs a --train_file to learn the vocabulary from")
        return train_tokenizer(train_texts, model_args.train_tokenizer_vocab_size)
    name = model_args.tokenizer_name or model_args.model_name_or_path or model_args.config_name
    return from_pretrained(AutoTokenizer, name, "tokenizer", **model_args.hub_kwargs())


def load_model(
    auto_class: Any, model_args: ModelArguments, config: PretrainedConfig, tokenizer=None
) -> tuple[PreTrainedModel, list[str]]:
    """``auto_class`` from the checkpoint, or freshly initialised from ``config`` when training from scratch.

    Returns:
        The model, and the names of its parameters that the checkpoint did not have (a new task head; a pooler
        the checkpoint lacks). All of them when training from scratch.
    """
    if model_args.from_scratch:
        if tokenizer is not None:
            config.vocab_size = len(tokenizer)
            if tokenizer.pad_token_id is not None:
                config.pad_token_id = tokenizer.pad_token_id
        model = auto_class.from_config(config, trust_remote_code=model_args.trust_remote_code)
        new = [name for name, _ in model.named_parameters()]
    else:
        model, info = from_pretrained(auto_class, model_args.model_name_or_path, "model", config=config,
                                      output_loading_info=True, **model_args.hub_kwargs())
        new = sorted(info["missing_keys"])
        if new:
            logger.info("Newly initialised (not in the checkpoint): %s", ", ".join(new))
    return model, new


def model_max_length(tokenizer, config) -> int:
    """The longest input the model accepts: the tokenizer's limit, capped by the position embeddings."""
    limits = [tokenizer.model_max_length, getattr(config, "max_position_embeddings", None)]
    limits = [n for n in limits if isinstance(n, int) and 0 < n < 1_000_000]
    return min(limits) if limits else 512


def is_hub_id(name: str | None) -> bool:
    """True for a name that is not a local path (so it can be a model card's ``base_model``)."""
    return bool(name) and not os.path.exists(name) and not _looks_like_path(name)
