"""LoRA settings, one set for every recipe that trains adapters (question answering on a causal LM, LLM SFT), by
TRL's ``ModelConfig`` names: ``--use_peft``, ``--lora_r``, ``--lora_alpha``, ``--lora_dropout``,
``--lora_target_modules``, plus ``--lora_layers`` (PEFT's ``layers_to_transform``) and ``--use_lora``, the name
the recipes used before (it sets ``--use_peft``; run_config.yaml files of earlier runs have it).

A recipe mixes :class:`LoraArguments` into the dataclass that holds its model settings (before TRL's
``ModelConfig``, whose fields of the same names it replaces, or into a ``TrainingArguments`` class) and calls
:meth:`LoraArguments.lora_config` for the ``peft.LoraConfig``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from .errors import ArgumentError

ALL_LINEAR = "all-linear"  # PEFT: every linear layer but the output head


def linear_module_names(model) -> list[str]:
    """The names (last component) of ``model``'s linear layers but its output head: what PEFT's ``all-linear``
    means, spelled out (PEFT takes ``layers_to_transform`` only with a list of module names)."""
    import torch

    output = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    names = {name.rsplit(".", 1)[-1] for name, module in model.named_modules()
             if isinstance(module, torch.nn.Linear) and module is not output}
    return sorted(names)


@dataclass
class LoraArguments:
    """Whether to train a LoRA adapter (PEFT; Hu et al., 2021) and its shape."""

    use_peft: bool = field(
        default=False,
        metadata={"help": "Train a LoRA adapter (PEFT; Hu et al., 2021) instead of every weight: the output folder is "
                          "the adapter, which loads over its base model."})
    use_lora: bool | None = field(
        default=None,
        metadata={"help": "The earlier name of --use_peft: when given, it sets --use_peft (run_config.yaml files of "
                          "earlier runs have it)."})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank r."})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA scaling alpha: the update is (alpha / r) * B A."})
    lora_dropout: float = field(default=0.05, metadata={"help": "Dropout on LoRA's input."})
    # a factory: HfArgumentParser gives argparse a list field's default only from its default_factory
    lora_target_modules: list[str] | None = field(
        default_factory=lambda: ALL_LINEAR,
        metadata={"help": "Modules that get an adapter: 'all-linear' (the default: every linear layer but the output "
                          "head) or their names, e.g. '--lora_target_modules q_proj v_proj' (or 'q_proj,v_proj')."})
    lora_layers: str | None = field(
        default=None,
        metadata={"help": "Only these layers get adapters: indices separated by commas, e.g. '20,21,22,23' (PEFT's "
                          "layers_to_transform). With the top layers only and --gradient_checkpointing false, "
                          "backpropagation stops there: cheaper on a CPU. Default: every layer."})

    # a flag on the command line wins over the other name in a config file
    command_line_replaces: ClassVar[dict[str, str]] = {"use_peft": "use_lora", "use_lora": "use_peft"}

    def __post_init__(self):
        if self.use_lora is not None:  # the earlier name
            self.use_peft, self.use_lora = self.use_lora, None
        targets = self.lora_target_modules
        if targets is not None:  # names as a list, 'q_proj,v_proj' (as earlier runs wrote it) split; all-linear alone
            names = [m.strip() for item in ([targets] if isinstance(targets, str) else targets)
                     for m in str(item).split(",") if m.strip()]
            self.lora_target_modules = names[0] if names == [ALL_LINEAR] else names
        if hasattr(super(), "__post_init__"):  # TRL's ModelConfig, TrainingArguments
            super().__post_init__()
        if self.lora_r < 1 or self.lora_alpha < 1:
            raise ArgumentError(f"--lora_r and --lora_alpha must be 1 or more, found {self.lora_r}, {self.lora_alpha}")
        if not 0 <= self.lora_dropout < 1:
            raise ArgumentError(f"--lora_dropout must be in [0, 1), found {self.lora_dropout}")
        if self.lora_layers is not None:
            try:
                self.lora_layer_indices()
            except ValueError:
                raise ArgumentError(f"--lora_layers {self.lora_layers!r}: expected layer indices separated by "
                                    "commas, e.g. '20,21,22,23'") from None

    def lora_layer_indices(self) -> list[int] | None:
        if self.lora_layers is None:
            return None
        indices = [int(i) for i in str(self.lora_layers).split(",") if i.strip()]
        if not indices or min(indices) < 0:
            raise ValueError(self.lora_layers)
        return indices

    def lora_kwargs(self) -> dict[str, Any]:
        """More ``LoraConfig`` arguments a subclass has (TRL's ``ModelConfig``: rsLoRA, DoRA, modules to save)."""
        return {}

    def lora_config(self, task_type: str, model=None):
        """The ``peft.LoraConfig`` of these settings for a ``task_type`` model (``"CAUSAL_LM"``,
        ``"SEQ_2_SEQ_LM"``), ``None`` without ``--use_peft``. With ``--lora_layers`` and ``all-linear``, the names
        of ``model``'s linear layers are spelled out."""
        if not self.use_peft:
            return None
        from peft import LoraConfig

        targets = self.lora_target_modules
        layers = self.lora_layer_indices()
        if layers is not None and targets == ALL_LINEAR:
            if model is None:
                raise ArgumentError("--lora_layers with --lora_target_modules all-linear needs the model")
            targets = linear_module_names(model)
        return LoraConfig(r=self.lora_r, lora_alpha=self.lora_alpha, lora_dropout=self.lora_dropout,
                          target_modules=targets, layers_to_transform=layers, task_type=task_type,
                          **self.lora_kwargs())
