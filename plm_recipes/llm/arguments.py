"""The SFT recipe's arguments, TRL's three: the model with its LoRA and quantization settings
(:class:`ChatModelArguments`, TRL's ``ModelConfig``), the data (:class:`InstructionDataArguments`) and the training
(:class:`LLMSFTConfig`, TRL's ``SFTConfig`` with the recipes' shared settings); and its trainer
(``SFTTrainer`` with :class:`~plm_recipes.trainer.RecipeTrainerMixin`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar
from trl import ModelConfig, SFTConfig, SFTTrainer, get_quantization_config

from ..args import DataArguments, RecipeSettings, data_field
from ..errors import ArgumentError
from ..lora import LoraArguments, linear_module_names  # noqa: F401  (linear_module_names: its earlier home)
from ..trainer import RecipeTrainerMixin

DEFAULT_CHAT_MODEL = "Qwen/Qwen2.5-0.5B-Instruct"


@dataclass
class ChatModelArguments(LoraArguments, ModelConfig):
    """TRL's ``ModelConfig``: the chat model, LoRA through PEFT (``--use_peft``, ``--lora_r``, ...: the recipes' one
    set of LoRA settings, :class:`~plm_recipes.lora.LoraArguments`, by TRL's names) and 4-/8-bit loading through
    bitsandbytes (``--load_in_4bit``, ``--load_in_8bit``) that ``trl.get_quantization_config`` reads; with the
    recipe's defaults (a LoRA adapter on every linear layer). (``trust_remote_code`` is TRL's ``SFTConfig``
    field.)"""

    model_name_or_path: str = field(
        default=DEFAULT_CHAT_MODEL,
        metadata={"help": "An instruction-tuned chat model: a local folder or a hub id "
                          f"(default: {DEFAULT_CHAT_MODEL})."})
    dtype: str | None = field(
        default="float32",
        metadata={"help": "Load the weights as float32 (the default), bfloat16, float16, or auto (the checkpoint's).",
                  "choices": ["auto", "bfloat16", "float16", "float32"]})
    use_peft: bool = field(
        default=True,
        metadata={"help": "Train a LoRA adapter (PEFT; Hu et al., 2021), the default; false: every weight."})
    tokenizer_name: str | None = field(default=None, metadata={"help": "Tokenizer, if not the model's."})
    cache_dir: str | None = field(default=None, metadata={"help": "Where to store models downloaded from the hub."})

    def __post_init__(self):
        try:
            super().__post_init__()  # LoraArguments, then TRL's: 4-bit and 8-bit together refused
        except ValueError as e:
            if isinstance(e, ArgumentError):
                raise
            raise ArgumentError("--load_in_4bit and --load_in_8bit exclude each other: pick one") from e
        if self.quantized and not self.use_peft:
            raise ArgumentError(f"--{self.quantized} trains a LoRA adapter over quantized weights, which cannot be "
                                "trained themselves: drop --use_peft false")

    def lora_kwargs(self) -> dict:
        """What TRL's ``get_peft_config`` adds to a ``LoraConfig``: no bias training, rsLoRA, DoRA, modules to
        save, target parameters."""
        return {"bias": "none", "use_rslora": self.use_rslora, "use_dora": self.use_dora,
                "modules_to_save": self.lora_modules_to_save, "target_parameters": self.lora_target_parameters}

    @property
    def quantized(self) -> str | None:
        """``"load_in_4bit"`` or ``"load_in_8bit"`` when one is set."""
        return "load_in_4bit" if self.load_in_4bit else "load_in_8bit" if self.load_in_8bit else None

    def hub_kwargs(self) -> dict:
        return {"cache_dir": self.cache_dir, "revision": self.model_revision}

    def model_kwargs(self, use_cpu: bool = False) -> dict:
        """``from_pretrained`` keyword arguments for the model: dtype, attention implementation, and with
        ``--load_in_4bit`` / ``--load_in_8bit`` TRL's ``BitsAndBytesConfig`` with each process's GPU as its device
        map. Quantized loading needs a CUDA GPU and bitsandbytes: without them (or with ``use_cpu``), one line says
        so."""
        import torch

        dtype = self.dtype if self.dtype in (None, "auto") else getattr(torch, self.dtype)
        kwargs = {"dtype": dtype if dtype is not None else torch.float32, **self.hub_kwargs()}
        if self.attn_implementation is not None:
            kwargs["attn_implementation"] = self.attn_implementation
        if self.quantized:
            check_quantization_possible(self.quantized, use_cpu)
            from accelerate import PartialState

            kwargs["quantization_config"] = get_quantization_config(self)
            kwargs["device_map"] = {"": PartialState().local_process_index}  # each process its own GPU
        return kwargs

    def lora_config(self, model=None):
        """The ``peft.LoraConfig`` of a causal LM (:meth:`LoraArguments.lora_config
        <plm_recipes.lora.LoraArguments.lora_config>`), ``None`` with ``--use_peft false``."""
        return super().lora_config(self.lora_task_type or "CAUSAL_LM", model)


def check_quantization_possible(flag: str, use_cpu: bool = False) -> None:
    """One line when ``--load_in_4bit`` / ``--load_in_8bit`` cannot work here: bitsandbytes' quantized layers run on
    CUDA GPUs, and the package is an optional dependency."""
    import importlib.util

    import torch

    if use_cpu or not torch.cuda.is_available():
        where = "--use_cpu was given" if use_cpu else "this machine has no CUDA GPU"
        raise ArgumentError(f"--{flag} needs a CUDA GPU (bitsandbytes' quantized layers run there) and {where}; "
                            "train without it (LoRA on the full-precision model)")
    if importlib.util.find_spec("bitsandbytes") is None:
        raise ArgumentError(f"--{flag} needs bitsandbytes, which is not installed: pip install bitsandbytes")


@dataclass
class InstructionDataArguments:
    """Instruction data: JSON lines in TRL's forms or ``{"context", "target"}`` (optionally ``"system"``), or a dataset
    with those columns (``--dataset_name``); the fields where the recipes' :class:`~plm_recipes.args.DataArguments`
    has them are the same."""

    dataset_name: str | None = data_field("dataset_name")
    dataset_config_name: str | None = data_field("dataset_config_name")
    train_split: str = data_field("train_split")
    validation_split: str = data_field("validation_split")
    test_split: str = data_field("test_split")
    train_file: str | None = field(default=None, metadata={"help": "Training instructions (JSON lines)."})
    validation_file: str | None = field(default=None, metadata={"help": "Evaluation instructions (eval loss)."})
    test_file: str | None = field(
        default=None, metadata={"help": "Instructions to answer with --do_predict (targets optional; with them, "
                                        "exact match is reported)."})
    context_column: str = field(default="context", metadata={"help": "The instruction + input's key (or column)."})
    target_column: str = field(default="target", metadata={"help": "The answer's key (or column)."})
    system_prompt: str | None = field(
        default=None, metadata={"help": "A system message opening every chat (a record's own 'system' wins); "
                                        "default: none (the chat template's own default)."})
    max_train_samples: int | None = field(default=None, metadata={"help": "Keep only the first N training examples."})
    max_eval_samples: int | None = field(default=None, metadata={"help": "Keep only the first N evaluation examples."})
    max_predict_samples: int | None = field(default=None, metadata={"help": "Keep only the first N test examples."})
    preprocessing_num_workers: int | None = field(
        default=None, metadata={"help": "Processes for reading a --dataset_name's rows (Dataset.map's num_proc); "
                                        "TRL's tokenization takes --dataset_num_proc."})
    overwrite_cache: bool = data_field("overwrite_cache")
    streaming: bool = data_field("streaming")

    command_line_replaces: ClassVar[dict[str, str | tuple[str, ...]]] = DataArguments.command_line_replaces

    def __post_init__(self):
        DataArguments.__post_init__(self)  # files that exist; --dataset_name or files, not both


@dataclass
class LLMSFTConfig(RecipeSettings, SFTConfig):
    """``trl.SFTConfig`` with the recipes' shared settings and this recipe's own, all saved with the run (the LoRA
    and quantization settings are TRL's ``ModelConfig`` fields: :class:`ChatModelArguments`)."""

    max_new_tokens: int = field(default=256, metadata={"help": "Longest answer generated with --do_predict."})

    def __post_init__(self):
        super().__post_init__()
        if self.max_new_tokens < 1:
            raise ArgumentError(f"--max_new_tokens must be 1 or more, found {self.max_new_tokens}")


class LLMSFTTrainer(RecipeTrainerMixin, SFTTrainer):
    """TRL's ``SFTTrainer`` (chat template, loss on the answer only, PEFT) with the recipes' progress lines,
    curves, model card, run record and pickle-free output folder."""
