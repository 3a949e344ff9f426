"""The SFT recipe's arguments: instruction data, and ``LLMSFTConfig`` (TRL's ``SFTConfig`` with the LoRA settings
and the recipes' shared ones), and its trainer (``SFTTrainer`` with :class:`~plm_recipes.trainer.RecipeTrainerMixin`)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from trl import SFTConfig, SFTTrainer

from ..args import RecipeSettings
from ..errors import ArgumentError
from ..trainer import RecipeTrainerMixin

DEFAULT_CHAT_MODEL = "Qwen/Qwen2.5-0.5B-Instruct"


@dataclass
class ChatModelArguments:
    """The chat model to fine-tune. (``trust_remote_code`` is TRL's ``SFTConfig`` field, which also loads the
    model; the core's ``ModelArguments`` would declare it twice.)"""

    model_name_or_path: str = field(
        default=DEFAULT_CHAT_MODEL,
        metadata={"help": f"An instruction-tuned chat model: a local folder or a hub id (default: {DEFAULT_CHAT_MODEL})."})
    tokenizer_name: str | None = field(default=None, metadata={"help": "Tokenizer, if not the model's."})
    cache_dir: str | None = field(default=None, metadata={"help": "Where to store models downloaded from the hub."})
    model_revision: str = field(default="main", metadata={"help": "Branch, tag or commit of a hub model."})
    dtype: str | None = field(
        default=None, metadata={"help": "Load the weights as float32, bfloat16 or float16 (default: float32)."})

    def __post_init__(self):
        if self.dtype not in (None, "float32", "bfloat16", "float16"):
            raise ArgumentError(f"--dtype {self.dtype}: expected float32, bfloat16 or float16")

    def hub_kwargs(self) -> dict:
        return {"cache_dir": self.cache_dir, "revision": self.model_revision}


@dataclass
class InstructionDataArguments:
    """Instruction data: JSON lines ``{"context", "target"}`` (optionally ``"system"``)."""

    train_file: str | None = field(default=None, metadata={"help": "Training instructions (JSON lines)."})
    validation_file: str | None = field(default=None, metadata={"help": "Evaluation instructions (eval loss)."})
    test_file: str | None = field(
        default=None, metadata={"help": "Instructions to answer with --do_predict (targets optional; with them, "
                                        "exact match is reported)."})
    context_column: str = field(default="context", metadata={"help": "The instruction + input's key."})
    target_column: str = field(default="target", metadata={"help": "The answer's key."})
    system_prompt: str | None = field(
        default=None, metadata={"help": "A system message opening every chat (a record's own 'system' wins); "
                                        "default: none (the chat template's own default)."})
    max_train_samples: int | None = field(default=None, metadata={"help": "Keep only the first N training examples."})
    max_eval_samples: int | None = field(default=None, metadata={"help": "Keep only the first N evaluation examples."})
    max_predict_samples: int | None = field(default=None, metadata={"help": "Keep only the first N test examples."})

    def __post_init__(self):
        for name in ("train_file", "validation_file", "test_file"):
            path = getattr(self, name)
            if path is not None and not os.path.isfile(path):
                raise ArgumentError(f"--{name} {path}: file not found")


@dataclass
class LLMSFTConfig(RecipeSettings, SFTConfig):
    """``trl.SFTConfig`` with LoRA's settings (PEFT) and the recipes' shared ones, all saved with the run."""

    use_lora: bool = field(default=True, metadata={"help": "Train a LoRA adapter (false: every weight)."})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank r (Hu et al., 2021)."})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA scaling alpha: the update is (alpha / r) * B A."})
    lora_dropout: float = field(default=0.05, metadata={"help": "Dropout on LoRA's input."})
    lora_target_modules: str = field(
        default="all-linear",
        metadata={"help": "Modules that get an adapter: 'all-linear' (every linear layer but the output head) or "
                          "names separated by commas, e.g. 'q_proj,v_proj'."})
    lora_layers: str | None = field(
        default=None,
        metadata={"help": "Only these layers get adapters: indices separated by commas, e.g. '20,21,22,23' (PEFT's "
                          "layers_to_transform). With the top layers only and --gradient_checkpointing false, "
                          "backpropagation stops there: cheaper on a CPU (TRL's default activation checkpointing makes "
                          "the inputs require gradients, so it runs through every layer). Default: every layer."})
    max_new_tokens: int = field(default=256, metadata={"help": "Longest answer generated with --do_predict."})

    def __post_init__(self):
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
        if self.max_new_tokens < 1:
            raise ArgumentError(f"--max_new_tokens must be 1 or more, found {self.max_new_tokens}")

    def lora_config(self, model=None):
        """The ``peft.LoraConfig`` of these settings (``None`` without ``use_lora``). With ``--lora_layers``,
        ``all-linear`` is spelled out as the names of ``model``'s linear layers (PEFT takes layer indices only
        with a list of module names)."""
        if not self.use_lora:
            return None
        from peft import LoraConfig

        targets = self.lora_target_modules
        modules = targets if targets == "all-linear" else [m.strip() for m in targets.split(",") if m.strip()]
        if modules == "all-linear" and self.lora_layers is not None:
            if model is None:
                raise ArgumentError("--lora_layers with --lora_target_modules all-linear needs the model")
            modules = linear_module_names(model)
        return LoraConfig(r=self.lora_r, lora_alpha=self.lora_alpha, lora_dropout=self.lora_dropout,
                          target_modules=modules, layers_to_transform=self.lora_layer_indices(),
                          task_type="CAUSAL_LM")

    def lora_layer_indices(self) -> list[int] | None:
        if self.lora_layers is None:
            return None
        indices = [int(i) for i in str(self.lora_layers).split(",") if i.strip()]
        if not indices or min(indices) < 0:
            raise ValueError(self.lora_layers)
        return indices


def linear_module_names(model) -> list[str]:
    """The names (last part) of the linear layers in ``model``'s transformer blocks, the output head left out:
    what PEFT's ``all-linear`` means (``q_proj``, ``k_proj``, ..., ``down_proj`` for Llama / Qwen)."""
    import torch

    output = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    return sorted({name.rsplit(".", 1)[-1] for name, module in model.named_modules()
                   if isinstance(module, torch.nn.Linear) and module is not output})


class LLMSFTTrainer(RecipeTrainerMixin, SFTTrainer):
    """TRL's ``SFTTrainer`` (chat template, loss on the answer only, PEFT) with the recipes' progress lines,
    curves, model card, run record and pickle-free output folder."""
