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
from .files import read_json_object

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
    :class:`ModelLoadError` that says how to pass a local folder instead. A local folder whose files cannot be
    read (a truncated download, a damaged ``config.json`` or weights file) gets one sentence naming the folder and
    the library's own reason."""
    if os.path.isdir(name_or_path) or os.path.isfile(name_or_path):
        try:
            return load()
        except ModelLoadError:
            raise
        except (OSError, ValueError, RuntimeError, *_safetensors_errors()) as e:
            reason = " ".join(str(e).split())[:300]
            raise ModelLoadError(f"Cannot load the {what} from {name_or_path}: {type(e).__name__}: {reason}; the "
                                 "folder's files look damaged or incomplete (copy or download it again).") from e
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


def _safetensors_errors() -> tuple[type[BaseException], ...]:
    try:
        from safetensors import SafetensorError
    except ImportError:  # older safetensors keep it in the compiled module
        try:
            from safetensors.safetensors_rust import SafetensorError
        except ImportError:
            return ()
    return (SafetensorError,)


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
    return load_tokenizer_from(name, **model_args.hub_kwargs())


# The files a saved tokenizer keeps its vocabulary in (fast tokenizers, WordPiece, BPE, sentencepiece).
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "spiece.model", "sentencepiece.bpe.model",
                   "tokenizer.model")


def load_tokenizer_from(name_or_path: str, **kwargs):
    """``AutoTokenizer.from_pretrained``, refusing a local folder that holds no vocabulary: transformers then
    builds a tokenizer of special tokens only, which turns every text into [UNK] without a word."""
    if os.path.isdir(name_or_path) and not any(os.path.isfile(os.path.join(name_or_path, f)) for f in TOKENIZER_FILES):
        raise ModelLoadError(f"Cannot load the tokenizer from {name_or_path}: it holds no vocabulary file (one of "
                             f"{', '.join(TOKENIZER_FILES)}); copy the tokenizer's files into it or pass "
                             "--tokenizer_name.")
    return from_pretrained(AutoTokenizer, name_or_path, "tokenizer", **kwargs)


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


def describe_model_folder(folder: str) -> str:
    """What a local model folder holds, in a few words, for messages that refuse it."""
    if os.path.isfile(os.path.join(folder, "modules.json")):
        return "a sentence-transformers model (a bi-encoder: it embeds texts, it has no classifier)"
    config = read_json_object(os.path.join(folder, "config.json"))
    if config is None:
        return "not a transformers model folder (no readable config.json)"
    names = config.get("architectures") or []
    architectures = ", ".join(names) or "none named"
    labels = len(config.get("id2label") or {})
    if any(a.endswith("ForSequenceClassification") for a in names):
        return f"a sequence classifier with {labels} output{'s' if labels != 1 else ''} ({architectures})"
    if any(a.endswith(_GENERATION_HEADS) for a in names):
        return f"a text-generation model ({architectures}: it writes text, it has no classification head)"
    if task_head(folder) is not None:
        return f"a model with another task's head ({architectures}), not a sequence classifier"
    return f"a model without a sequence-classification head ({architectures}): a pretrained encoder, not a " \
           f"fine-tuned one"


# the heads of models that write text (a seq2seq model, a causal or masked language model)
_GENERATION_HEADS = ("ForConditionalGeneration", "ForCausalLM", "LMHeadModel", "ForMaskedLM")


def task_head(folder: str) -> str | None:
    """The first architecture of ``folder``'s ``config.json`` that has a task head (``BertForSequenceClassification``,
    ``T5ForConditionalGeneration``, a recipe's ``UIEModel`` ...), or ``None`` for a bare encoder (``BertModel``,
    ``T5EncoderModel``), a model with no architecture named, or no readable config."""
    from transformers.models.auto.modeling_auto import MODEL_MAPPING_NAMES

    bare = {name for value in MODEL_MAPPING_NAMES.values()
            for name in ((value,) if isinstance(value, str) else value)}
    config = read_json_object(os.path.join(folder, "config.json")) or {}
    for name in config.get("architectures") or []:
        if name not in bare and not name.endswith("EncoderModel"):
            return name
    return None


def load_trained_sequence_classifier(folder: str, task: str, *, num_labels: int | None = None, **kwargs):
    """``AutoModelForSequenceClassification`` from ``folder``, refusing, in one sentence naming what the folder
    is, one that was not trained for the task: no classification head in the config, a head whose weights the
    checkpoint lacks (it would be randomly initialised), or another number of outputs than ``num_labels``.

    Args:
        task: what the caller does, for the message (``"text classification"``).
    """
    from transformers import AutoModelForSequenceClassification

    if os.path.isdir(folder):
        what = describe_model_folder(folder)
        if not what.startswith("a sequence classifier"):
            raise ModelLoadError(f"{folder} is {what}; {task} needs a model fine-tuned for it.")
    model, info = from_pretrained(AutoModelForSequenceClassification, folder, "model", output_loading_info=True,
                                  **kwargs)
    if info["missing_keys"]:
        raise ModelLoadError(
            f"{folder} is {describe_model_folder(folder) if os.path.isdir(folder) else 'a model'} whose checkpoint "
            f"lacks the head's weights ({', '.join(sorted(info['missing_keys'])[:3])}): it was never trained for "
            f"{task}.")
    if num_labels is not None and model.config.num_labels != num_labels:
        raise ModelLoadError(f"{folder} is {describe_model_folder(folder)}; {task} needs {num_labels} output.")
    return model


def model_max_length(tokenizer, config) -> int:
    """The longest input the model accepts: the tokenizer's limit, capped by the position embeddings."""
    limits = [tokenizer.model_max_length, getattr(config, "max_position_embeddings", None)]
    limits = [n for n in limits if isinstance(n, int) and 0 < n < 1_000_000]
    return min(limits) if limits else 512


def capped_max_seq_length(requested: int, tokenizer, config) -> int:
    """``requested`` (``--max_seq_length``), capped at what the model accepts, with a warning when it is cut, as
    transformers' run_glue does: longer inputs would fail in the middle of training, at the first long text."""
    limit = model_max_length(tokenizer, config)
    if requested > limit:
        logger.warning("--max_seq_length %d is longer than the model accepts (%d positions); using %d.",
                       requested, limit, limit)
        return limit
    return requested


def is_hub_id(name: str | None) -> bool:
    """True for a name that is not a local path (so it can be a model card's ``base_model``)."""
    return bool(name) and not os.path.exists(name) and not _looks_like_path(name)


def nested_config(value: PretrainedConfig | dict | None) -> PretrainedConfig | None:
    """A model's config held inside another model's config (UIE's encoder, a prompt model's language model): as
    given, or rebuilt from its dict (what ``from_pretrained`` reads back from ``config.json``)."""
    if isinstance(value, dict):
        value = dict(value)
        return AutoConfig.for_model(value.pop("model_type", "bert"), **value)
    return value
