"""``UIEModel``: a pretrained encoder with a start and an end pointer, registered with the Auto classes.

The model reads ``[CLS] prompt [SEP] text [SEP]`` and gives, for every token, a logit that an answer span of the
prompt starts there and one that it ends there (Lu et al., 2022; PaddleNLP's UIE). It is a plain
``PreTrainedModel`` with a config of its own (``model_type: "uie"``), saved as safetensors; once this package is
imported, ``AutoModel.from_pretrained(folder)`` loads it, without ``trust_remote_code``::

    >>> import plm_recipes  # registers "uie" with AutoConfig and AutoModel
    >>> from transformers import AutoConfig
    >>> AutoConfig.for_model("uie").model_type
    'uie'

Without this package, ``AutoModel.from_pretrained(folder, trust_remote_code=True)`` loads it from the code saved in
the folder: the classes are registered for the Auto classes (``register_for_auto_class``), so ``save_pretrained``
writes an ``auto_map`` into ``config.json`` and copies this file and ``losses.py`` beside the weights, as for any
custom model on the Hub. That is why this file imports nothing but torch, transformers and ``losses.py``.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, PretrainedConfig, PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput

from .losses import SpanPointerLoss

# The probability new pointer heads start from: their bias is its log-odds (the prior initialisation of Lin et al.,
# 2017, "Focal Loss for Dense Object Detection"). Under 1% of text tokens start a span (0.4% in DuIE), so a bias of
# 0 (probability 0.5) spends the first epochs learning only that; starting at the prior skips them.
SPAN_PRIOR = 0.01


class UIEConfig(PretrainedConfig):
    """Configuration of :class:`UIEModel`: the encoder's own config, and how the model is prompted.

    Args:
        encoder: the config of the encoder (any model ``AutoModel`` builds that returns ``last_hidden_state``:
            BERT, ERNIE, RoBERTa, XLM-R, ...), as a config or its dict.
        relation_template: how a relation prompt is written from the subject's text and the relation's name;
            PaddleNLP's Chinese UIE writes ``谭孝曾的父亲`` (``schema.DEFAULT_RELATION_TEMPLATE``). Training data,
            ``plm-recipes uie convert`` and the predictor use the same template.
        threshold: the probability above which a token starts (or ends) a span, at prediction time.
        max_seq_length: longest input in tokens; longer texts are read in overlapping windows.
        doc_stride: how many tokens of text two consecutive windows share (spans shorter than it are always
            whole in some window).
    """

    model_type = "uie"
    sub_configs = {"encoder": AutoConfig}

    def __init__(
        self,
        encoder: PretrainedConfig | dict | None = None,
        relation_template: str = "{subject}的{relation}",
        threshold: float = 0.5,
        max_seq_length: int = 512,
        doc_stride: int = 128,
        **kwargs,
    ):
        if isinstance(encoder, dict):  # read back from config.json
            encoder = dict(encoder)
            encoder = AutoConfig.for_model(encoder.pop("model_type", "bert"), **encoder)
        self.encoder = encoder
        self.relation_template = relation_template
        self.threshold = threshold
        self.max_seq_length = max_seq_length
        self.doc_stride = doc_stride
        super().__init__(**kwargs)


@dataclass
class UIEModelOutput(ModelOutput):
    """Outputs of :class:`UIEModel`.

    Args:
        loss: the :class:`~plm_recipes.extraction.losses.SpanPointerLoss`, when labels were given.
        start_logits, end_logits: ``(batch, length)``; ``sigmoid`` of them is the probability that a span starts
            (ends) at each token.
    """

    loss: torch.Tensor | None = None
    start_logits: torch.Tensor | None = None
    end_logits: torch.Tensor | None = None
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None


class UIEModel(PreTrainedModel):
    """An encoder with two linear pointers (start, end) and a sigmoid each; see :class:`UIEConfig`.

    Build it from a pretrained encoder with :meth:`from_encoder`; load a trained one with ``from_pretrained`` (or
    ``AutoModel.from_pretrained``). The heads keep PaddleNLP's names, ``linear_start`` and ``linear_end``, so
    converted UIE checkpoints (:mod:`plm_recipes.extraction.convert`) map one to one.
    """

    config_class = UIEConfig
    base_model_prefix = "encoder"
    supports_gradient_checkpointing = True

    def __init__(self, config: UIEConfig, encoder: PreTrainedModel | None = None):
        super().__init__(config)
        if encoder is None:
            if config.encoder is None:
                raise ValueError("UIEConfig needs the encoder's config: UIEConfig(encoder=AutoConfig.from_pretrained"
                                 "(...)), or build the model with UIEModel.from_encoder(path)")
            encoder = _encoder_from_config(config.encoder)
        # one config object for the encoder and the saved UIE config, so that changes to either reach both
        config.encoder = encoder.config
        self.encoder = encoder
        self.linear_start = nn.Linear(config.encoder.hidden_size, 1)
        self.linear_end = nn.Linear(config.encoder.hidden_size, 1)
        self.span_loss = SpanPointerLoss()
        self.post_init()

    @classmethod
    def from_encoder(cls, encoder_name_or_path: str, **kwargs) -> tuple[UIEModel, list[str]]:
        """A new UIE model over a pretrained encoder (a folder or a hub id), with new pointer heads.

        Returns the model and the names of its new parameters (the heads, and any encoder weight the checkpoint
        lacked), for :class:`~plm_recipes.trainer.RecipeTrainerMixin`'s ``new_parameters``. ``kwargs`` go to
        the encoder's ``from_pretrained`` (``cache_dir``, ``revision``, ...) except the :class:`UIEConfig`
        fields (``relation_template``, ``threshold``, ``max_seq_length``, ``doc_stride``).
        """
        uie_kwargs = {k: kwargs.pop(k) for k in list(kwargs) if k in _UIE_SETTINGS}
        encoder, info = _encoder_from_pretrained(encoder_name_or_path, **kwargs)
        # the attention implementation chosen for the encoder (sdpa, ...): nesting its config resets it
        attention = encoder.config._attn_implementation
        model = cls(UIEConfig(encoder=encoder.config, **uie_kwargs), encoder=encoder)
        model.config.encoder._attn_implementation = attention
        new = [f"encoder.{name}" for name in info["missing_keys"]]
        new += [name for name, _ in model.named_parameters() if name.startswith(("linear_start", "linear_end"))]
        return model, sorted(new)

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if module is getattr(self, "linear_start", None) or module is getattr(self, "linear_end", None):
            init.constant_(module.bias, math.log(SPAN_PRIOR / (1 - SPAN_PRIOR)))

    def get_input_embeddings(self) -> nn.Module:
        return self.encoder.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.encoder.set_input_embeddings(value)

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        start_labels: torch.Tensor | None = None,
        end_labels: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        output_attentions: bool | None = None,
        **kwargs,
    ) -> UIEModelOutput:
        """``start_labels`` / ``end_labels``: ``(batch, length)`` 1/0 per token, ``-100`` where ignored (see
        :class:`~plm_recipes.extraction.losses.SpanPointerLoss`). Other keywords (ERNIE's ``task_type_ids``) go to
        the encoder."""
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids,
                  "position_ids": position_ids, "inputs_embeds": inputs_embeds, **kwargs}
        outputs = self.encoder(
            **{k: v for k, v in inputs.items() if v is not None},
            output_hidden_states=output_hidden_states, output_attentions=output_attentions, return_dict=True,
        )
        hidden = outputs.last_hidden_state
        start_logits = self.linear_start(hidden).squeeze(-1)
        end_logits = self.linear_end(hidden).squeeze(-1)
        loss = None
        if start_labels is not None and end_labels is not None:
            loss = self.span_loss(start_logits, end_logits, start_labels, end_labels)
        return UIEModelOutput(loss=loss, start_logits=start_logits, end_logits=end_logits,
                              hidden_states=outputs.hidden_states, attentions=outputs.attentions)


def _encoder_from_config(config: PretrainedConfig) -> PreTrainedModel:
    """``AutoModel.from_config`` without the pooler, which UIE never uses (an unused layer also stalls DDP)."""
    try:
        return AutoModel.from_config(config, add_pooling_layer=False)
    except TypeError:  # an encoder class without a pooler option
        return AutoModel.from_config(config)


def _encoder_from_pretrained(name_or_path: str, **kwargs) -> tuple[PreTrainedModel, dict]:
    try:
        return AutoModel.from_pretrained(name_or_path, add_pooling_layer=False, output_loading_info=True, **kwargs)
    except TypeError:
        return AutoModel.from_pretrained(name_or_path, output_loading_info=True, **kwargs)


# The settings UIEConfig adds (relation_template, threshold, ...), the keywords from_encoder keeps for it.
_UIE_SETTINGS = frozenset(inspect.signature(UIEConfig.__init__).parameters) - {"self", "encoder", "kwargs"}

AutoConfig.register(UIEConfig.model_type, UIEConfig, exist_ok=True)
AutoModel.register(UIEConfig, UIEModel, exist_ok=True)
# ... and saved with their code, for ``trust_remote_code`` loading where this package is not installed
UIEConfig.register_for_auto_class()
UIEModel.register_for_auto_class("AutoModel")
