"""Runs that cannot learn: refused before they start when the data decides it, warned about when they end.

A run can finish with exit code 0 and a model identical to the one it started from: SimCSE on one distinct
sentence (every batch is its own positives, with no negative to tell them from), a classifier trained on one
class, a matcher whose pairs all carry the same label. The families call :func:`require_distinct` on their training
data before the model loads, with the reason their objective needs it; :meth:`train_and_report
<plm_recipes.trainer.RecipeTrainerMixin.train_and_report>` watches the trainable parameters (:class:`ParameterWatch`) and warns when
training changed none of them, whatever the cause (a learning rate of 0, a loss with no gradient, every layer
frozen).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Hashable, Iterable

import torch
from torch import nn

from .errors import DataFormatError

logger = logging.getLogger(__name__)


def require_distinct(values: Iterable[Hashable], path: str | os.PathLike, what: str, why: str,
                     minimum: int = 2) -> int:
    """Raise a :class:`DataFormatError` naming ``path`` when ``values`` hold fewer than ``minimum`` distinct values;
    returns how many they hold.

    >>> require_distinct(["好评", "好评"], "train.txt", "label", "one class is nothing to tell apart")
    Traceback (most recent call last):
    ...
    plm_recipes.errors.DataFormatError: train.txt: 1 distinct label ('好评'); one class is nothing to tell apart, ...
    """
    distinct = list(dict.fromkeys(values))
    if len(distinct) < minimum:
        shown = f" ({', '.join(repr(v) for v in distinct[:3])})" if distinct else ""
        plural = "s" if len(distinct) != 1 else ""
        raise DataFormatError(path, None, f"{len(distinct)} distinct {what}{plural}{shown}; {why}, so training needs "
                                          f"at least {minimum}")
    return len(distinct)


class ParameterWatch:
    """A few values of every parameter of ``model`` (``samples`` evenly spaced elements and the sum of each
    tensor), taken before training, so that :meth:`changed` can tell afterwards which trainable parameters moved
    without keeping a copy of the model.

    A parameter whose shape changed in between (sharded by FSDP or DeepSpeed) or that is empty on this process
    (ZeRO-3) cannot be compared and is left out.
    """

    def __init__(self, model: nn.Module, samples: int = 64):
        self.model = model
        self.samples = samples
        self.before = {name: self._fingerprint(param) for name, param in model.named_parameters()}

    def _fingerprint(self, param: torch.Tensor) -> tuple[torch.Size, torch.Tensor] | None:
        tensor = param.detach()
        if hasattr(tensor, "to_local"):  # a DTensor (FSDP2): this process's shard
            tensor = tensor.to_local()
        if tensor.numel() == 0 or tensor.device.type == "meta":
            return None
        flat = tensor.reshape(-1)
        count = min(self.samples, flat.numel())
        # evenly spaced, in integers: float32 steps cannot reach the last element of a 96M-value embedding matrix
        index = torch.arange(count, device=flat.device) * (flat.numel() - 1) // max(count - 1, 1)
        values = torch.cat([flat.index_select(0, index).float(), flat.sum(dtype=torch.float32).reshape(1)])
        return tensor.shape, values.cpu()

    def changed(self) -> tuple[list[str], int]:
        """The names of the trainable parameters whose values changed, and how many trainable ones could be
        compared."""
        moved, compared = [], 0
        for name, param in self.model.named_parameters():
            if not param.requires_grad:
                continue
            before, after = self.before.get(name), self._fingerprint(param)
            if before is None or after is None or before[0] != after[0]:
                continue
            compared += 1
            if not torch.equal(before[1], after[1]):
                moved.append(name)
        return moved, compared

    def warn_if_unchanged(self, steps: int) -> bool:
        """Log a warning when training changed no trainable parameter of the model; returns whether it did."""
        if steps <= 0:
            return False
        moved, compared = self.changed()
        if not compared:
            trainable = sum(p.requires_grad for p in self.model.parameters())
            if not trainable:
                logger.warning("Training ran %d steps with no trainable parameter (every weight frozen): the saved "
                               "model is the one it started from.", steps)
                return True
            return False
        if moved:
            return False
        logger.warning(
            "Training ran %d steps and changed none of the %d trainable parameters: the saved model is the one it "
            "started from. The loss had no gradient (data with nothing to tell apart, a batch of one for an "
            "in-batch loss) or the learning rate was 0; see the loss in the log above.", steps, compared)
        return True


def check_checkpoint_files(checkpoint: str | os.PathLike | None) -> None:
    """Refuse, before training resumes from ``checkpoint``, a file there that was cut off (a disk that filled up, a
    copy that stopped): the optimizer, scheduler and random states (``.pt`` / ``.pth``, zip archives whose index is
    at the end) and the ``.safetensors`` weights (whose header says how long they are). Without this the resume
    fails deep inside ``torch.load`` with a message that names no file."""
    if not checkpoint or not os.path.isdir(checkpoint):
        return
    import zipfile

    for name in sorted(os.listdir(checkpoint)):
        path = os.path.join(checkpoint, name)
        if name.endswith((".pt", ".pth")) and os.path.isfile(path):
            damaged = not zipfile.is_zipfile(path)
        elif name.endswith(".safetensors") and os.path.isfile(path):
            damaged = _safetensors_cut_off(path)
        else:
            continue
        if damaged:
            raise DataFormatError(path, None, "damaged or incomplete (cut off?); resume from an earlier checkpoint, "
                                              "or start over: drop --resume_from_checkpoint and pass "
                                              "--overwrite_output_dir")


def _safetensors_cut_off(path: str) -> bool:
    import json

    size = os.path.getsize(path)
    try:
        with open(path, "rb") as f:
            length = int.from_bytes(f.read(8), "little")
            if length <= 0 or 8 + length > size:
                return True
            header = json.loads(f.read(length))
    except (OSError, ValueError):
        return True
    ends = [entry["data_offsets"][1] for key, entry in header.items()
            if key != "__metadata__" and isinstance(entry, dict) and "data_offsets" in entry]
    return 8 + length + max(ends, default=0) > size


def check_lora_targets(model: nn.Module, lora_config) -> None:
    """Refuse a ``peft.LoraConfig`` that would put no adapter where it was asked, before the trainer wraps
    ``model``: target module names that match no module of it (PEFT's own error is a traceback, and a list that
    matches some names only trains those), layer indices (``layers_to_transform``) beyond its depth (PEFT skips
    them silently). A regular expression as ``target_modules`` is left to PEFT."""
    if lora_config is None:
        return
    from .errors import ArgumentError

    targets = lora_config.target_modules
    if targets is not None and not isinstance(targets, str):
        names = [name for name, _ in model.named_modules()]
        missing = sorted(t for t in targets if not any(n == t or n.endswith("." + t) for n in names))
        if missing:
            output = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
            linear = sorted({name.rsplit(".", 1)[-1] for name, module in model.named_modules()
                             if isinstance(module, nn.Linear) and module is not output})
            raise ArgumentError(f"--lora_target_modules: {', '.join(missing)} match{'es' if len(missing) == 1 else ''} "
                                f"no module of {type(model).__name__}; its linear layers are "
                                f"{', '.join(linear) or 'none'} (or pass all-linear)")
    layers = getattr(lora_config, "layers_to_transform", None)
    if layers is not None:
        layers = [layers] if isinstance(layers, int) else list(layers)
        config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
        depth = getattr(config, "num_hidden_layers", None)
        beyond = [i for i in layers if depth is not None and not 0 <= i < depth]
        if beyond:
            raise ArgumentError(f"--lora_layers {','.join(map(str, beyond))}: {type(model).__name__} has {depth} "
                                f"layers, numbered 0 to {depth - 1}")
