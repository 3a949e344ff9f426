"""``PromptLMModel``: a language model that classifies by filling a blank with label words (PET, p-tuning).

The model wraps a pretrained language model, masked (``AutoModelForMaskedLM``: BERT, ERNIE, XLM-R, ...) or causal
(``AutoModelForCausalLM``: gemma, Qwen, GPT-2, ...), and gives one score per label, the (reduced) log-probability
of the label's words at the template's blank (:mod:`~plm_recipes.prompting.template`,
:mod:`~plm_recipes.prompting.verbalizer`). With ``{soft}`` placeholders in the template it also holds learned prompt
vectors (p-tuning; Liu et al., 2021, "GPT Understands, Too"), written into the input embeddings at those places.

It returns ``(batch, labels)`` scores, never ``(batch, length, vocabulary)`` logits: the vocabulary projection runs
only at the blank (masked LMs) or on the label words and what follows the blank (causal LMs), so evaluation keeps
a few numbers per example (multilingual-e5's vocabulary is 250k wide).

It is a ``PreTrainedModel`` with a config of its own (``model_type: "prompt_lm"``) that holds the template, the
verbalizer and the backbone's config; once this package is imported, ``AutoModel.from_pretrained(folder)`` loads it::

    >>> import plm_recipes.prompting  # registers "prompt_lm" with AutoConfig and AutoModel
    >>> from transformers import AutoConfig
    >>> AutoConfig.for_model("prompt_lm").model_type
    'prompt_lm'
"""

from __future__ import annotations

import inspect

import torch
import torch.nn.functional as F
from torch import nn
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForCausalLM,
    AutoModelForMaskedLM,
    PreTrainedModel,
)

from ..data import Record
from ..errors import ArgumentError
from .configuration import PromptLMConfig
from .data import PromptCollator, encode_prompts
from .modeling_prompt_lm import (  # the masked-LM half, standalone: the code a p-tuning folder carries
    PromptLMOutput,
    SoftPromptEncoder,
    insert_soft_vectors,
    masked_word_logprobs,
    padded,
)
from .template import Template
from .verbalizer import label_scores

__all__ = ["PromptLMModel", "PromptLMOutput", "SoftPromptEncoder"]


class PromptLMModel(PreTrainedModel):
    """A masked or causal LM scoring label words at a template's blank; see :class:`PromptLMConfig`.

    Build one over a pretrained LM with :meth:`from_backbone`; load a trained one with ``from_pretrained`` (or
    ``AutoModel.from_pretrained``). Inputs come from :class:`~plm_recipes.prompting.data.PromptCollator`.
    """

    config_class = PromptLMConfig
    base_model_prefix = "backbone"
    supports_gradient_checkpointing = True

    def __init__(self, config: PromptLMConfig, backbone: PreTrainedModel | None = None):
        super().__init__(config)
        config.validate()
        if backbone is None:
            if config.backbone is None:
                raise ValueError("PromptLMConfig needs the language model's config, or build the model with "
                                 "PromptLMModel.from_backbone(path, ...)")
            auto = AutoModelForMaskedLM if config.lm_type == "masked" else AutoModelForCausalLM
            backbone = auto.from_config(config.backbone)
        config.backbone = backbone.config
        self.backbone = backbone
        num_soft = Template(config.template).num_soft_tokens
        hidden = backbone.get_input_embeddings().embedding_dim
        self.prompt_encoder = SoftPromptEncoder(num_soft, hidden, config.prompt_encoder) if num_soft else None
        self.post_init()

    @classmethod
    def from_backbone(cls, name_or_path: str, config: PromptLMConfig, **kwargs) -> tuple[PromptLMModel, list[str]]:
        """A new model over a pretrained language model (a folder or a hub id).

        Returns the model and the names of its new parameters (the prompt encoder, and any LM weight the
        checkpoint lacked: multilingual-e5 has no MLM head, so its head's transform starts untrained while the
        output projection is the tied input embedding matrix). ``kwargs`` go to ``from_pretrained``.
        """
        auto = AutoModelForMaskedLM if config.lm_type == "masked" else AutoModelForCausalLM
        backbone, info = auto.from_pretrained(name_or_path, output_loading_info=True, **kwargs)
        attention = backbone.config._attn_implementation
        config.backbone = backbone.config
        model = cls(config, backbone=backbone)
        # nesting the backbone's config resets its attention implementation (sdpa, ...): set it back
        model.config.backbone._attn_implementation = attention
        new = [f"backbone.{name}" for name in info["missing_keys"]]
        if model.prompt_encoder is not None:
            model.init_soft_prompt_from_vocabulary()
            new += [name for name, _ in model.named_parameters() if name.startswith("prompt_encoder.")]
        return model, sorted(new)

    def init_soft_prompt_from_vocabulary(self, seed: int = 0) -> None:
        """Start the learned vectors as the input embeddings of random vocabulary tokens (Lester et al., 2021:
        better than random values, and on the embeddings' own scale)."""
        generator = torch.Generator().manual_seed(seed)
        embeddings = self.backbone.get_input_embeddings()
        count = self.prompt_encoder.embedding.num_embeddings
        ids = torch.randint(0, embeddings.num_embeddings, (count,), generator=generator)
        with torch.no_grad():
            self.prompt_encoder.embedding.weight.copy_(embeddings(ids.to(embeddings.weight.device)))

    def get_input_embeddings(self) -> nn.Module:
        return self.backbone.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.backbone.set_input_embeddings(value)

    def get_output_embeddings(self) -> nn.Module | None:
        return self.backbone.get_output_embeddings()

    def prompt_inputs(self, tokenizer, texts: list[str], texts_b: list[str] | None = None) -> dict[str, torch.Tensor]:
        """The inputs of :meth:`forward` for ``texts`` (and ``texts_b``): each written into the template and batched
        (:func:`~plm_recipes.prompting.data.encode_prompts`, :class:`~plm_recipes.prompting.data.PromptCollator`), on
        the model's device. ``MaskedPromptLMModel.prompt_inputs`` gives the same, so a card's snippet runs whichever
        class loaded the folder."""
        records = [Record("<input>", i + 1, {"label": None, "text": text,
                                             "text_b": None if texts_b is None else texts_b[i]})
                   for i, text in enumerate(texts)]
        config = self.config
        columns = encode_prompts(records, Template(config.template), tokenizer, lm_type=config.lm_type,
                                 blank_length=config.blank_length, max_length=config.max_seq_length)
        batch = PromptCollator(tokenizer.pad_token_id, config.lm_type)(
            [dict(zip(columns, values)) for values in zip(*columns.values())])
        return {k: v.to(self.device) for k, v in batch.items()}

    # --- the verbalizer as tensors (from the config, not buffers: from_pretrained would leave buffers that the
    # checkpoint lacks uninitialised) ----------------------------------------------------------------------

    def _verbalizer_tensors(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``word_ids`` ``(words, longest word)`` (right-padded with 0), ``word_lengths`` ``(words,)`` and
        ``word_labels`` ``(words,)``."""
        cached = getattr(self, "_verbalizer_cache", None)
        if cached is None or cached[0].device != device:
            ids, lengths = padded(self.config.word_token_ids)
            labels = torch.tensor(self.config.word_labels, dtype=torch.long)
            cached = (ids.to(device), lengths.to(device), labels.to(device))
            self._verbalizer_cache = cached
        return cached

    # --- forward ------------------------------------------------------------------------------------------

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        soft_mask: torch.Tensor | None = None,
        blank_positions: torch.Tensor | None = None,
        suffix_ids: torch.Tensor | None = None,
        suffix_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **kwargs,
    ) -> PromptLMOutput:
        """Label scores for a batch.

        Args:
            input_ids, attention_mask: ``(batch, length)``. Masked LMs: the whole input, right-padded. Causal LMs:
                the text up to the blank, left-padded.
            soft_mask: ``(batch, length)``, 1 where a learned vector goes (templates with ``{soft}``).
            blank_positions: ``(batch, blank_length)`` (masked LMs): the positions of the blank's mask tokens.
            suffix_ids, suffix_mask: ``(batch, suffix_length)`` (causal LMs): the ids after the blank,
                right-padded; every label word is scored followed by them.
            labels: ``(batch,)`` label ids, for the loss.
        """
        word_ids, word_lengths, word_labels = self._verbalizer_tensors(input_ids.device)
        embeds = self._input_embeddings(input_ids, soft_mask)
        if self.config.lm_type == "masked":
            word_scores = self._masked_word_scores(embeds, attention_mask, blank_positions, word_ids, **kwargs)
            extra = None
        else:
            word_scores, extra = self._causal_word_scores(embeds, attention_mask, suffix_ids, suffix_mask, word_ids,
                                                          word_lengths)
        logits = label_scores(word_scores, word_lengths, word_labels, len(self.config.label_words),
                              self.config.token_reduction, self.config.word_reduction, extra_word_scores=extra)
        loss = F.cross_entropy(logits, labels) if labels is not None else None
        return PromptLMOutput(loss=loss, logits=logits)

    def _input_embeddings(self, input_ids: torch.Tensor, soft_mask: torch.Tensor | None) -> torch.Tensor:
        embeds = self.backbone.get_input_embeddings()(input_ids)
        if self.prompt_encoder is not None:
            embeds = insert_soft_vectors(embeds, soft_mask, self.prompt_encoder())
        return embeds

    def _masked_word_scores(self, embeds, attention_mask, blank_positions, word_ids, **kwargs) -> torch.Tensor:
        """``(batch, words, tokens)`` log-probabilities of each word's tokens at the blank."""
        if blank_positions is None:
            raise ValueError("a masked LM needs blank_positions (PromptCollator gives them)")
        try:
            return masked_word_logprobs(self.backbone, embeds, attention_mask, blank_positions, word_ids, **kwargs)
        except ValueError as error:  # a masked LM of an unexpected shape
            raise ArgumentError(str(error)) from None

    def _causal_word_scores(self, embeds, attention_mask, suffix_ids, suffix_mask, word_ids, word_lengths):
        """``(batch, words, tokens)`` log-probabilities of each word's tokens after the text up to the blank, and
        ``(batch, words)``: the log-probability of what follows the blank, after each word.

        The text up to the blank is read once; its key/value cache is repeated for every label word, which then
        reads ``word + suffix`` (a few tokens when the blank ends the template)."""
        if suffix_ids is None or suffix_mask is None:
            raise ValueError("a causal LM needs suffix_ids and suffix_mask (PromptCollator gives them)")
        batch, num_words = embeds.shape[0], word_ids.shape[0]
        positions = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
        first = self.backbone(inputs_embeds=embeds, attention_mask=attention_mask, position_ids=positions,
                              use_cache=True, logits_to_keep=1)
        cache = getattr(first, "cache", None) or first.past_key_values
        if cache is None:  # transformers turns the cache off under gradient checkpointing
            raise ArgumentError("a causal LM reads the text once and each label word from its key/value cache, "
                                "which gradient checkpointing turns off: train without --gradient_checkpointing")
        cache.batch_repeat_interleave(num_words)
        # continuation of row (b, w): word w's tokens, then row b's suffix, right-padded
        continuation, cont_mask, word_len = _continuations(word_ids, word_lengths, suffix_ids, suffix_mask)
        prefix_mask = attention_mask.repeat_interleave(num_words, 0)
        start = attention_mask.long().sum(-1).repeat_interleave(num_words, 0)
        cont_positions = start[:, None] + torch.arange(continuation.shape[1], device=start.device)
        second = self.backbone(input_ids=continuation, attention_mask=torch.cat([prefix_mask, cont_mask], 1),
                               position_ids=cont_positions, use_cache=False, **{_cache_argument(self.backbone): cache})
        # the token at continuation position j is predicted at j - 1 (position 0: by the prefix's last token)
        logits = torch.cat([first.logits[:, -1:].repeat_interleave(num_words, 0), second.logits[:, :-1]], 1)
        token_lp = logits.float().log_softmax(-1).gather(2, continuation[..., None])[..., 0]  # (batch*words, cont)
        token_lp = token_lp.masked_fill(cont_mask == 0, 0.0).view(batch, num_words, -1)
        width = word_ids.shape[1]
        cont_positions_index = torch.arange(token_lp.shape[-1], device=token_lp.device)
        in_suffix = cont_positions_index[None, :] >= word_len[:, None]  # (words, cont)
        suffix_lp = token_lp.masked_fill(~in_suffix[None], 0.0).sum(-1)  # (batch, words)
        return token_lp[..., :width], suffix_lp


def _cache_argument(model: nn.Module) -> str:
    """The keyword that passes a key/value cache: ``cache`` from transformers 5.24 (``past_key_values``, deprecated
    there, before)."""
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def _continuations(word_ids, word_lengths, suffix_ids, suffix_mask):
    """``(batch * words, width)`` ids and mask of ``word + suffix`` for every example and word, right-padded;
    and each word's length ``(words,)``."""
    batch, num_words = suffix_ids.shape[0], word_ids.shape[0]
    width = int(word_lengths.max().item()) + suffix_ids.shape[1]
    ids = word_ids.new_zeros(batch, num_words, width)
    mask = word_ids.new_zeros(batch, num_words, width)
    for w in range(num_words):
        n = int(word_lengths[w])
        ids[:, w, :n] = word_ids[w, :n]
        mask[:, w, :n] = 1
        ids[:, w, n : n + suffix_ids.shape[1]] = suffix_ids
        mask[:, w, n : n + suffix_ids.shape[1]] = suffix_mask
    return ids.view(batch * num_words, width), mask.view(batch * num_words, width), word_lengths


AutoConfig.register(PromptLMConfig.model_type, PromptLMConfig, exist_ok=True)
AutoModel.register(PromptLMConfig, PromptLMModel, exist_ok=True)
