"""Whether a model folder can generate text: a causal language model whose checkpoint holds a trained LM head (or
ties it to the word embeddings).

``AutoModelForCausalLM.from_pretrained`` loads many folders that cannot generate: a BERT encoder becomes a
``BertLMHeadModel`` and a reward model a decoder, each with a freshly initialised LM head that writes random
tokens, with a warning lost among the logs. The generation commands (``generate``, ``label reward``,
``llm serve``, ``llm classify | match | extract``) call :func:`check_can_generate` before loading anything, and a
folder of another kind is refused in one sentence that says what it is.

Only local folders are checked, from their ``config.json`` and the names in the safetensors header (no weights are
read); a hub id is left to the loader.
"""

from __future__ import annotations

import os

from .errors import ModelLoadError
from .families import folder_kind
from .files import read_json_object


def check_can_generate(name_or_path: str, command: str, needs: str = "a causal language model with a trained "
                                                                      "LM head (a *ForCausalLM checkpoint)") -> None:
    """Raise a :class:`~plm_recipes.errors.ModelLoadError` naming what ``name_or_path`` is when it is a local folder
    that cannot generate text; do nothing for a folder that can, and for a hub id.

    Args:
        command: the command refusing it, for the message (``"plm-recipes generate"``).
        needs: what the command needs, for the message.

    Example::

        check_can_generate("outputs/reward_model", "plm-recipes generate")
        # ModelLoadError: outputs/reward_model is a reward model (BertForSequenceClassification, one score per
        # text: use `plm-recipes predict reward`); plm-recipes generate needs a causal language model ...
    """
    what = describe_non_generator(name_or_path)
    if what is not None:
        raise ModelLoadError(f"{name_or_path} is {what}; {command} needs {needs}.")


def describe_non_generator(folder: str) -> str | None:
    """What ``folder`` is, in a few words, when it cannot generate text; ``None`` when it can (or is not a local
    folder, or is of a kind this cannot judge)."""
    if not os.path.isdir(folder):
        return None
    adapter = read_json_object(os.path.join(folder, "adapter_config.json"))
    if adapter is not None:
        task = adapter.get("task_type")
        if task not in (None, "CAUSAL_LM"):
            return f"a LoRA adapter for {task}, not for a causal language model"
        base = adapter.get("base_model_name_or_path")
        return describe_non_generator(base) if isinstance(base, str) else None
    if os.path.isfile(os.path.join(folder, "modules.json")):
        return "a sentence encoder (a sentence-transformers model: it embeds texts, use `plm-recipes embed`)"
    config = read_json_object(os.path.join(folder, "config.json"))
    if config is None:
        return "not a model folder (it has no readable config.json)"
    family_folder = folder_kind(folder)  # a UIE model, a PET classifier, a matching model, ...
    if family_folder is not None:
        kind = family_folder[1]
        return f"{kind.description} (use `{kind.command}`)"
    architectures = config.get("architectures") or []
    if not architectures:
        return None  # a hand-written config: the loader decides
    return _describe_architecture(folder, architectures[0], config)


def _describe_architecture(folder: str, architecture: str, config: dict) -> str | None:
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
        MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES,
    )

    name = architecture
    if name.endswith("ForSequenceClassification"):
        outputs = len(config.get("id2label") or {}) or config.get("num_labels") or 2
        if outputs == 1:
            return f"a reward model ({name}, one score per text: use `plm-recipes predict reward`)"
        return f"a text classifier ({name}, {outputs} labels: use `plm-recipes predict text-classification`)"
    if name.endswith("ForTokenClassification"):
        return f"a token classifier ({name})"
    if name.endswith("ForQuestionAnswering"):
        return f"an extractive question-answering model ({name})"
    if name.endswith(("ForMaskedLM", "ForPreTraining")):
        return f"a masked language model ({name}: it fills [MASK] tokens, it does not continue a text)"
    if config.get("is_encoder_decoder") or name in MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES.values():
        return f"a seq2seq model ({name}: use `plm-recipes predict qa` or `predict fill`)"
    if name in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.values() or name.endswith(("ForCausalLM", "LMHeadModel")):
        return _missing_head(folder, name)
    if config.get("model_type") in MODEL_FOR_MASKED_LM_MAPPING_NAMES:
        return f"an encoder without a language-model head ({name}: it embeds texts, it does not generate)"
    return f"a model without a language-model head ({name})"


def _missing_head(folder: str, architecture: str) -> str | None:
    """``None`` when the checkpoint of a causal-LM ``architecture`` holds its LM head's weights or ties the head to
    the word embeddings; otherwise what it is. Checkpoints that are not safetensors are not judged."""
    import transformers
    from transformers import AutoConfig

    keys = _checkpoint_keys(folder)
    model_class = getattr(transformers, architecture, None)
    if keys is None or model_class is None:
        return None
    tied = getattr(model_class, "_tied_weights_keys", None) or {}
    heads = [k for k in tied if k.endswith(".weight")] if isinstance(tied, dict) else list(tied)
    heads = heads or ["lm_head.weight"]
    if any(key == head or key.endswith("." + head) for key in keys for head in heads):
        return None
    try:
        config = AutoConfig.from_pretrained(folder)
    except (OSError, ValueError):
        return None  # the loader says what is wrong with the config
    if getattr(config.get_text_config(), "tie_word_embeddings", False):
        return None
    return (f"a causal language model ({architecture}) whose checkpoint lacks the LM head's weights ({heads[0]}) and "
            "does not tie them to the word embeddings: the head would be randomly initialised")


def _checkpoint_keys(folder: str) -> set[str] | None:
    """The tensor names of the folder's safetensors checkpoint (single file or sharded), read from the headers."""
    index = read_json_object(os.path.join(folder, "model.safetensors.index.json"))
    if index is not None and isinstance(index.get("weight_map"), dict):
        return set(index["weight_map"])
    path = os.path.join(folder, "model.safetensors")
    if not os.path.isfile(path):
        return None
    from safetensors import safe_open

    try:
        with safe_open(path, framework="pt") as f:
            return set(f.keys())
    except Exception:  # a damaged file: the loader names it
        return None

