"""What a seq2seq model's folder holds beyond the weights: ``seq2seq_config.json`` (the task, the source template,
the lengths and the generation settings it was evaluated with), written at training time and read by the
predictors; and the special-token setup a T5 needs when its vocabulary is a BERT one."""

from __future__ import annotations

import json
import os
from typing import Any

from ..errors import ModelLoadError

SEQ2SEQ_CONFIG = "seq2seq_config.json"


def save_seq2seq_config(output_dir: str, **values: Any) -> None:
    os.makedirs(output_dir, exist_ok=True)
    with open(os.path.join(output_dir, SEQ2SEQ_CONFIG), "w", encoding="utf-8") as f:
        json.dump(values, f, ensure_ascii=False, indent=2)


def load_seq2seq_config(model_dir: str, task: str) -> dict[str, Any]:
    """The folder's ``seq2seq_config.json`` for ``task`` (``"qa"`` or ``"fill"``); a folder of the other task, or
    of no seq2seq recipe, is refused in one sentence."""
    path = os.path.join(model_dir, SEQ2SEQ_CONFIG)
    if not os.path.isfile(path):
        raise ModelLoadError(f"{model_dir} has no {SEQ2SEQ_CONFIG}: it was not trained by recipes/t5_qa.py or "
                             "recipes/t5_filling.py")
    try:
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
    except (OSError, ValueError) as e:
        raise ModelLoadError(f"{path}: cannot read it ({e})") from None
    if config.get("task") != task:
        names = {"qa": "question answering (recipes/t5_qa.py)", "fill": "mask filling (recipes/t5_filling.py)"}
        raise ModelLoadError(f"{model_dir} is a {names.get(config.get('task'), repr(config.get('task')))} model, "
                             f"not {names[task]}")
    return config


def eos_token_id(tokenizer) -> int:
    """The token that ends a target: ``</s>`` for T5 / mT5, ``[SEP]`` for a BERT vocabulary (the Chinese T5s)."""
    for token_id in (tokenizer.eos_token_id, tokenizer.sep_token_id):
        if token_id is not None:
            return token_id
    raise ModelLoadError(f"the tokenizer ({type(tokenizer).__name__}) has neither an eos nor a sep token to end "
                         "targets with")


def target_ids(tokenizer, text: str, max_length: int) -> list[int]:
    """A target's token ids: the text's tokens, cut to fit, then the end token (no leading ``[CLS]`` with a BERT
    vocabulary: the decoder starts from ``decoder_start_token_id``)."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"][:max(max_length - 1, 0)]
    return [*ids, eos_token_id(tokenizer)]


def encoder_decoder_inputs(tokenizer):
    """The tokenizer, made to return only what an encoder-decoder takes: a BERT vocabulary's tokenizer (the Chinese
    T5s) also returns ``token_type_ids``, which ``generate`` refuses. Saved with the model, so that
    ``tokenizer(text, return_tensors="pt")`` goes straight into ``model.generate(**inputs)``."""
    names = [name for name in tokenizer.model_input_names if name != "token_type_ids"]
    tokenizer.model_input_names = names
    tokenizer.init_kwargs["model_input_names"] = names  # what save_pretrained writes
    return tokenizer


def align_special_tokens(config, tokenizer) -> None:
    """Point a model config built from scratch at the tokenizer's pad and end tokens (a T5 config defaults to
    ids 0 and 1, which are other tokens in a BERT vocabulary); the decoder starts from the pad token, as T5's."""
    config.pad_token_id = tokenizer.pad_token_id
    config.eos_token_id = eos_token_id(tokenizer)
    config.decoder_start_token_id = tokenizer.pad_token_id
