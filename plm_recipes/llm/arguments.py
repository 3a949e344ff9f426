"""The SFT recipe's arguments, TRL's three: the model with its LoRA and quantization settings
(:class:`ChatModelArguments`, TRL's ``ModelConfig``), the data (:class:`InstructionDataArguments`) and the training
(:class:`LLMSFTConfig`, TRL's ``SFTConfig`` with the recipes' shared settings); and its trainer
(``SFTTrainer`` with :class:`~plm_recipes.trainer.RecipeTrainerMixin`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from trl import (
    ModelConfig,
    SFTConfig,
    SFTTrainer,
    get_peft_config,
    get_quantization_config,
)

from ..args import DataArguments, RecipeSettings, StreamingDataArguments
from ..errors import ArgumentError
from ..trainer import RecipeTrainerMixin

DEFAULT_CHAT_MODEL = "Qwen/Qwen2.5-0.5B-Instruct"


@dataclass
class ChatModelArguments(ModelConfig):
    """TRL's ``ModelConfig``: the chat model, LoRA through PEFT (``--use_peft``, ``--lora_r``, ...) and 4-/8-bit
    loading through bitsandbytes (``--load_in_4bit``, ``--load_in_8bit``), by TRL's names, so that
    ``trl.get_peft_config`` and ``trl.get_quantization_config`` read it; with the recipe's defaults (a LoRA adapter
    on every linear layer) and additions. (``trust_remote_code`` is TRL's ``SFTConfig`` field.)"""

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
    # a factory: HfArgumentParser gives argparse a list field's default only from its default_factory
    lora_target_modules: list[str] | None = field(
        default_factory=lambda: "all-linear",
        metadata={"help": "Modules that get an adapter: 'all-linear' (the default: every linear layer but the output "
                          "head) or their names, e.g. '--lora_target_modules q_proj v_proj' (or 'q_proj,v_proj')."})
    use_lora: bool | None = field(
        default=None,
        metadata={"help": "The earlier name of --use_peft: when given, it sets --use_peft (run_config.yaml files of "
                          "earlier runs have it)."})
    lora_layers: str | None = field(
        default=None,
        metadata={"help": "Only these layers get adapters: indices separated by commas, e.g. '20,21,22,23' (PEFT's "
                          "layers_to_transform). With the top layers only and --gradient_checkpointing false, "
                          "backpropagation stops there: cheaper on a CPU (TRL's default activation checkpointing makes "
                          "the inputs require gradients, so it runs through every layer). Default: every layer."})
    tokenizer_name: str | None = field(default=None, metadata={"help": "Tokenizer, if not the model's."})
    cache_dir: str | None = field(default=None, metadata={"help": "Where to store models downloaded from the hub."})

    # a flag on the command line wins over the other name in a config file
    command_line_replaces: ClassVar[dict[str, str]] = {"use_peft": "use_lora", "use_lora": "use_peft"}

    def __post_init__(self):
        if self.use_lora is not None:  # the earlier name
            self.use_peft, self.use_lora = self.use_lora, None
        if isinstance(self.lora_target_modules, str) and "," in self.lora_target_modules:  # earlier runs' form
            self.lora_target_modules = [m.strip() for m in self.lora_target_modules.split(",") if m.strip()]
        try:
            super().__post_init__()  # TRL: a one-name list becomes the name; 4-bit and 8-bit together refused
        except ValueError as e:
            raise ArgumentError("--load_in_4bit and --load_in_8bit exclude each other: pick one") from e
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
        if self.quantized and not self.use_peft:
            raise ArgumentError(f"--{self.quantized} trains a LoRA adapter over quantized weights, which cannot be "
                                "trained themselves: drop --use_peft false")

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
        """TRL's ``get_peft_config`` of these settings (``None`` without ``use_peft``), with ``--lora_layers`` as
        PEFT's ``layers_to_transform``; there ``all-linear`` is spelled out as the names of ``model``'s linear layers
        (PEFT takes layer indices only with a list of module names)."""
        if not self.use_peft:
            return None
        config = get_peft_config(self)
        layers = self.lora_layer_indices()
        if layers is not None:
            if config.target_modules == "all-linear":
                if model is None:
                    raise ArgumentError("--lora_layers with --lora_target_modules all-linear needs the model")
                config.target_modules = set(linear_module_names(model))
            config.layers_to_transform = layers
        return config

    def lora_layer_indices(self) -> list[int] | None:
        if self.lora_layers is None:
            return None
        indices = [int(i) for i in str(self.lora_layers).split(",") if i.strip()]
        if not indices or min(indices) < 0:
            raise ValueError(self.lora_layers)
        return indices


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


def _data_field(name: str):
    """The field ``name`` of :class:`~plm_recipes.args.StreamingDataArguments` (default and help), for a data class of
    TRL's kind that is not one (its other fields, --max_seq_length and --pad_to_max_length, are not TRL's)."""
    original = StreamingDataArguments.__dataclass_fields__[name]
    return field(default=original.default, metadata=dict(original.metadata))


@dataclass
class InstructionDataArguments:
    """Instruction data: JSON lines in TRL's forms or ``{"context", "target"}`` (optionally ``"system"``), or a dataset
    with those columns (``--dataset_name``); the fields where the recipes' :class:`~plm_recipes.args.DataArguments`
    has them are the same."""

    dataset_name: str | None = _data_field("dataset_name")
    dataset_config_name: str | None = _data_field("dataset_config_name")
    train_split: str = _data_field("train_split")
    validation_split: str = _data_field("validation_split")
    test_split: str = _data_field("test_split")
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
    overwrite_cache: bool = _data_field("overwrite_cache")
    streaming: bool = _data_field("streaming")

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
