"""Converting a PaddleNLP UIE checkpoint (``uie-base``, ``uie-medical-base``, ...) into a :class:`UIEModel` folder.

PaddleNLP's UIE is ERNIE 3.0 (``transformers``' ``ErnieModel``, with ``use_task_id``: task-type embeddings, and
2048 positions, 4 token types) plus two linear pointers. A PaddleNLP folder holds ``model_state.pdparams`` (the
weights), ``model_config.json`` or ``config.json`` (the ERNIE settings) and ``vocab.txt``;
``plm-recipes uie convert-paddle --paddle_dir uie-base --output_dir uie-base-torch`` writes a folder that
``UIEPredictor``, ``AutoModel.from_pretrained`` and ``recipes/uie.py --model_name_or_path`` take.

The weights are read without Paddle and without running pickled code: ``.pdparams`` is a pickle of numpy arrays,
read here by an unpickler that builds numpy arrays and nothing else (:func:`read_pdparams`).

Key mapping (``p`` is ``ernie`` in current PaddleNLP, ``encoder`` in older Taskflow checkpoints); Paddle's
``nn.Linear`` stores ``[in, out]``, so every linear weight is transposed, embeddings and norms are not:

==============================================  =====================================================
PaddleNLP                                       UIEModel
==============================================  =====================================================
``p.embeddings.{word,position,token_type,       ``encoder.embeddings.<same>``
task_type}_embeddings.weight``
``p.embeddings.layer_norm.*``                   ``encoder.embeddings.LayerNorm.*``
``p.encoder.layers.N.self_attn.{q,k,v}_proj.*`` ``encoder.encoder.layer.N.attention.self.{query,key,value}.*``
``p.encoder.layers.N.self_attn.out_proj.*``     ``encoder.encoder.layer.N.attention.output.dense.*``
``p.encoder.layers.N.norm1.*``                  ``encoder.encoder.layer.N.attention.output.LayerNorm.*``
``p.encoder.layers.N.linear1.*``                ``encoder.encoder.layer.N.intermediate.dense.*``
``p.encoder.layers.N.linear2.*``                ``encoder.encoder.layer.N.output.dense.*``
``p.encoder.layers.N.norm2.*``                  ``encoder.encoder.layer.N.output.LayerNorm.*``
``linear_start.*``, ``linear_end.*``            the same
``p.pooler.*``                                  dropped (UIE does not use it)
==============================================  =====================================================

The same table, applied the other way, is how the tests fabricate a PaddleNLP state dict to check it.
"""

from __future__ import annotations

import io
import json
import logging
import os
import pickle
import re
from collections.abc import Mapping

import numpy as np
import torch
from transformers import BertTokenizerFast, ErnieConfig

from ..errors import ModelLoadError
from .modeling import UIEConfig, UIEModel

logger = logging.getLogger(__name__)

PDPARAMS_NAME = "model_state.pdparams"

_EMBEDDINGS = {"word_embeddings", "position_embeddings", "token_type_embeddings", "task_type_embeddings"}
_LAYER = {
    "self_attn.q_proj": "attention.self.query",
    "self_attn.k_proj": "attention.self.key",
    "self_attn.v_proj": "attention.self.value",
    "self_attn.out_proj": "attention.output.dense",
    "norm1": "attention.output.LayerNorm",
    "linear1": "intermediate.dense",
    "linear2": "output.dense",
    "norm2": "output.LayerNorm",
}
_LINEAR = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.out_proj", "linear1", "linear2"}
_PATTERN = re.compile(r"^(?:ernie|encoder)\.(?:embeddings\.(?P<emb>\w+)\.(?P<emb_param>weight|bias)"
                      r"|encoder\.layers\.(?P<layer>\d+)\.(?P<module>[\w.]+?)\.(?P<param>weight|bias)"
                      r"|pooler\..*)$")


def convert_paddle_state_dict(state_dict: Mapping[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """A :class:`UIEModel` state dict from a PaddleNLP UIE one (see the module's table). Unknown keys raise."""
    converted: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        if key == "StructuredToParameterName@@":  # Paddle's own bookkeeping, not a weight
            continue
        array = np.asarray(value)
        if key.startswith(("linear_start.", "linear_end.")):
            converted[key] = _tensor(array.T if key.endswith(".weight") else array)
            continue
        match = _PATTERN.match(key)
        if match is None:
            raise ModelLoadError(f"unexpected key {key!r} in the PaddleNLP state dict: not a UIE checkpoint?")
        if key.split(".")[1] == "pooler":
            continue
        if match["emb"] is not None:
            name = match["emb"]
            if name == "layer_norm":
                converted[f"encoder.embeddings.LayerNorm.{match['emb_param']}"] = _tensor(array)
            elif name in _EMBEDDINGS and match["emb_param"] == "weight":
                converted[f"encoder.embeddings.{name}.weight"] = _tensor(array)
            else:
                raise ModelLoadError(f"unexpected embedding weight {key!r} in the PaddleNLP state dict")
            continue
        module = match["module"]
        if module not in _LAYER:
            raise ModelLoadError(f"unexpected layer weight {key!r} in the PaddleNLP state dict")
        transpose = module in _LINEAR and match["param"] == "weight"
        converted[f"encoder.encoder.layer.{match['layer']}.{_LAYER[module]}.{match['param']}"] = _tensor(
            array.T if transpose else array)
    return converted


def _tensor(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Rebuilds dicts of numpy arrays and refuses every other global (no code runs while reading)."""

    ALLOWED = {
        ("numpy", "ndarray"), ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
        ("collections", "OrderedDict"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: a .pdparams file holds numpy arrays only")
        return super().find_class(module, name)


def read_pdparams(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The weights of a Paddle ``.pdparams`` file (a pickled dict of numpy arrays), read without Paddle and
    without executing anything else the file might hold."""
    with open(path, "rb") as f:
        data = f.read()
    try:
        state = _NumpyOnlyUnpickler(io.BytesIO(data)).load()
    except (pickle.UnpicklingError, EOFError, AttributeError, ValueError) as e:
        raise ModelLoadError(f"{path}: cannot read it as Paddle weights ({e})") from None
    if not isinstance(state, dict):
        raise ModelLoadError(f"{path}: expected a dict of weights, found {type(state).__name__}")
    return dict(state)


def paddle_ernie_config(paddle_dir: str | os.PathLike) -> ErnieConfig:
    """The ``ErnieConfig`` of a PaddleNLP UIE folder, from ``config.json`` or the older ``model_config.json``
    (``{"init_args": [{...}], "init_class": "UIE"}``)."""
    for name in ("config.json", "model_config.json"):
        path = os.path.join(paddle_dir, name)
        if os.path.isfile(path):
            break
    else:
        raise ModelLoadError(f"{paddle_dir}: no config.json or model_config.json (a PaddleNLP UIE folder has one)")
    try:
        with open(path, encoding="utf-8") as f:
            raw = json.load(f)
        if "init_args" in raw:
            raw = raw["init_args"][0]
        if not isinstance(raw, dict):
            raise TypeError(f"expected an object of settings, found {type(raw).__name__}")
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as e:
        raise ModelLoadError(f"{path}: not a PaddleNLP model config ({type(e).__name__}: {e})") from None
    raw = {k: v for k, v in raw.items() if k not in ("init_class", "architectures", "model_type", "dtype")}
    if "sent_type_vocab_size" in raw:
        raw["type_vocab_size"] = raw.pop("sent_type_vocab_size")
    raw.setdefault("intermediate_size", 4 * raw.get("hidden_size", 768))
    raw.setdefault("layer_norm_eps", 1e-12)  # PaddleNLP's init_weights sets every LayerNorm's epsilon to 1e-12
    raw.setdefault("pad_token_id", 0)
    return ErnieConfig(**raw)


def convert_paddle_checkpoint(paddle_dir: str | os.PathLike, output_dir: str | os.PathLike) -> UIEModel:
    """Convert a PaddleNLP UIE folder into a :class:`UIEModel` folder (safetensors, with its tokenizer)."""
    paddle_dir = os.fspath(paddle_dir)
    weights = os.path.join(paddle_dir, PDPARAMS_NAME)
    vocab = os.path.join(paddle_dir, "vocab.txt")
    for path in (weights, vocab):
        if not os.path.isfile(path):
            raise ModelLoadError(f"{paddle_dir}: no {os.path.basename(path)} (a PaddleNLP UIE folder has "
                                 f"{PDPARAMS_NAME}, model_config.json and vocab.txt)")
    ernie = paddle_ernie_config(paddle_dir)
    model = UIEModel(UIEConfig(encoder=ernie))
    state = convert_paddle_state_dict(read_pdparams(weights))
    pad = ernie.pad_token_id
    if pad is not None:  # Paddle's embedding returns zeros at padding_idx whatever the row holds; torch reads the row
        state["encoder.embeddings.word_embeddings.weight"][pad] = 0
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ModelLoadError(f"{weights} does not fit the config in {paddle_dir}: missing "
                             f"{', '.join(missing[:5]) or 'nothing'}; "
                             f"unexpected {', '.join(unexpected[:5]) or 'nothing'}")
    tokenizer = BertTokenizerFast(vocab=vocab, do_lower_case=True, model_max_length=ernie.max_position_embeddings)
    model.config.max_seq_length = min(model.config.max_seq_length, ernie.max_position_embeddings)
    os.makedirs(output_dir, exist_ok=True)
    model.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    logger.info("Converted %s (%d weights) into %s", paddle_dir, len(state), output_dir)
    return model
