"""A prompt model over a masked LM in one file that needs only torch and transformers: the code a p-tuning folder
carries for people without this package.

A p-tuning model over a masked LM has no plain-transformers equivalent (PEFT's prompt learning puts its vectors
before the text and scores no blank), so its folder loads as a custom model, as on the Hub:
:func:`~plm_recipes.prompting.export.save_remote_code` copies this file beside the weights and writes an ``auto_map``
into ``config.json``, and ``AutoModel.from_pretrained(folder, trust_remote_code=True)`` builds
:class:`MaskedPromptLMModel` from it in a Python that never imports plm_recipes: the same weights, the same label
scores as the package's ``PromptClassifier`` (``prompt_inputs`` writes texts into the template with
``template_pieces.py``, saved beside it, as :class:`~plm_recipes.prompting.template.Template` does).

The package builds on this file rather than repeating it: its ``PromptLMConfig`` (which adds validation),
``SoftPromptEncoder``, :func:`label_scores` and the masked-LM scoring are the ones defined here.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import (
    AutoConfig,
    AutoModelForMaskedLM,
    PretrainedConfig,
    PreTrainedModel,
)
from transformers.utils import ModelOutput

from .template_pieces import encode_prompt, template_parts

TOKEN_REDUCTIONS = ("mean", "sum", "first")
WORD_REDUCTIONS = ("mean", "max", "logsumexp")


class PromptLMConfig(PretrainedConfig):
    """What a prompt classifier is made of (``model_type: "prompt_lm"``).

    Args:
        backbone: the language model's config (a config or its dict).
        lm_type: ``"masked"`` or ``"causal"``.
        template: the template string (:class:`~plm_recipes.prompting.template.Template`).
        label_words: each label's words, in label order (``{"水果": ["水果"], ...}``); ``id2label`` follows it.
        word_token_ids: each label word's token ids (:meth:`Verbalizer.word_ids`), word by word.
        token_reduction, word_reduction: how token log-probabilities become a word's score and word scores a
            label's (:func:`label_scores`).
        prompt_encoder: how the ``{soft}`` vectors are produced: ``lstm`` (P-tuning's bidirectional LSTM + MLP over
            the learned embeddings), ``mlp``, or ``none`` (the embeddings themselves, as in prompt tuning).
        max_seq_length: the longest input in tokens (template, blank and learned vectors included).
    """

    model_type = "prompt_lm"
    sub_configs = {"backbone": AutoConfig}

    def __init__(self, backbone: PretrainedConfig | dict | None = None, lm_type: str = "masked",
                 template: str = "{MASK}{textA}", label_words: dict[str, list[str]] | None = None,
                 word_token_ids: list[list[int]] | None = None, token_reduction: str = "mean",
                 word_reduction: str = "mean", prompt_encoder: str = "lstm", max_seq_length: int = 256, **kwargs):
        if isinstance(backbone, dict):  # read back from config.json
            backbone = dict(backbone)
            backbone = AutoConfig.for_model(backbone.pop("model_type", "bert"), **backbone)
        self.backbone = backbone
        self.lm_type = lm_type
        self.template = template
        self.label_words = dict(label_words or {})
        self.word_token_ids = [list(ids) for ids in word_token_ids or []]
        self.token_reduction = token_reduction
        self.word_reduction = word_reduction
        self.prompt_encoder = prompt_encoder
        self.max_seq_length = max_seq_length
        if self.label_words:
            kwargs.setdefault("id2label", dict(enumerate(self.label_words)))
            kwargs.setdefault("label2id", {label: i for i, label in enumerate(self.label_words)})
        super().__init__(**kwargs)

    @property
    def labels(self) -> list[str]:
        """The label names in id order (``id2label``: a saved config's JSON keeps ``label_words`` sorted by key)."""
        return [self.id2label[i] for i in range(len(self.id2label))] if self.label_words else []

    @property
    def word_labels(self) -> list[int]:
        """The label id of each of ``word_token_ids``: label by label, in id order, each label's words in order."""
        return [i for i, label in enumerate(self.labels) for _ in self.label_words[label]]

    @property
    def blank_length(self) -> int:
        """Tokens of the longest label word: a masked LM's blank is that many mask tokens."""
        return max((len(ids) for ids in self.word_token_ids), default=1)


@dataclass
class PromptLMOutput(ModelOutput):
    """``loss`` (cross-entropy over labels, when ``labels`` were given) and ``logits``, ``(batch, labels)``."""

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None


class SoftPromptEncoder(nn.Module):
    """Learned prompt vectors, ``(num_tokens, hidden)``.

    ``lstm``: embeddings through a 2-layer bidirectional LSTM and a 2-layer MLP (P-tuning's prompt encoder, Liu
    et al., 2021, which found it trains more stably than free vectors); ``mlp``: the MLP only; ``none``: the
    embeddings themselves (prompt tuning, Lester et al., 2021).
    """

    def __init__(self, num_tokens: int, hidden_size: int, kind: str = "lstm"):
        super().__init__()
        self.kind = kind
        self.embedding = nn.Embedding(num_tokens, hidden_size)
        if kind == "lstm":
            self.lstm = nn.LSTM(hidden_size, hidden_size // 2, num_layers=2, bidirectional=True, batch_first=True)
        if kind in ("lstm", "mlp"):
            self.mlp = nn.Sequential(nn.Linear(hidden_size, hidden_size), nn.ReLU(),
                                     nn.Linear(hidden_size, hidden_size))

    def forward(self) -> torch.Tensor:
        vectors = self.embedding.weight[None]
        if self.kind == "lstm":
            vectors = self.lstm(vectors)[0]
        if self.kind in ("lstm", "mlp"):
            vectors = self.mlp(vectors)
        return vectors[0]


def label_scores(token_logprobs: torch.Tensor, word_lengths: torch.Tensor, word_labels: torch.Tensor, num_labels: int,
                 token_reduction: str = "mean", word_reduction: str = "mean",
                 extra_word_scores: torch.Tensor | None = None) -> torch.Tensor:
    """One score per label from the log-probabilities of its words' tokens at the blank.

    Args:
        token_logprobs: ``(batch, words, tokens)``: ``log p(token k of word w)`` at the blank; positions past a
            word's length are ignored.
        word_lengths: ``(words,)`` tokens in each word.
        word_labels: ``(words,)`` the label id of each word.
        num_labels: how many labels.
        token_reduction: a word's score from its tokens': ``mean`` (default; long words are not penalised for their
            length), ``sum`` (the word's log-probability), ``first`` (its first token only).
        word_reduction: a label's score from its words': ``mean`` (PET's choice, Schick & Schütze 2021), ``max``,
            ``logsumexp`` (the probability that any of its words is there, in log space).
        extra_word_scores: ``(batch, words)`` added to each word's score before the words are combined (a causal
            LM's log-probability of the text after the blank, given the word).

    Returns:
        ``(batch, labels)``: scores to use as logits (a softmax over them gives the label probabilities).

        >>> lp = torch.log(torch.tensor([[[0.5, 0.2], [0.1, 0.0], [0.4, 0.3]]]))  # 1 example, 3 words
        >>> label_scores(lp, torch.tensor([2, 1, 2]), torch.tensor([0, 0, 1]), 2, "sum", "max").exp()
        tensor([[0.1000, 0.1200]])
    """
    if token_reduction not in TOKEN_REDUCTIONS:
        raise ValueError(f"token_reduction must be one of {TOKEN_REDUCTIONS}, got {token_reduction!r}")
    if word_reduction not in WORD_REDUCTIONS:
        raise ValueError(f"word_reduction must be one of {WORD_REDUCTIONS}, got {word_reduction!r}")
    positions = torch.arange(token_logprobs.shape[-1], device=token_logprobs.device)
    valid = positions[None, :] < word_lengths[:, None]  # (words, tokens)
    if token_reduction == "first":
        words = token_logprobs[..., 0]
    else:
        words = token_logprobs.masked_fill(~valid, 0.0).sum(-1)
        if token_reduction == "mean":
            words = words / word_lengths.to(words.dtype)
    if extra_word_scores is not None:
        words = words + extra_word_scores
    # (batch, words) -> (batch, labels): each label's words, reduced
    one_hot = F.one_hot(word_labels, num_labels).T.bool()  # (labels, words)
    expanded = words[:, None, :].expand(-1, num_labels, -1)  # (batch, labels, words)
    if word_reduction == "mean":
        return (expanded * one_hot).sum(-1) / one_hot.sum(-1).to(words.dtype)
    filled = expanded.masked_fill(~one_hot, float("-inf"))
    return filled.amax(-1) if word_reduction == "max" else filled.logsumexp(-1)


def insert_soft_vectors(embeds: torch.Tensor, soft_mask: torch.Tensor | None, vectors: torch.Tensor) -> torch.Tensor:
    """``embeds`` ``(batch, length, hidden)`` with the k-th position ``soft_mask`` marks in each row replaced by the
    k-th of ``vectors`` ``(count, hidden)``."""
    if soft_mask is None:
        raise ValueError("the template has {soft} vectors: pass soft_mask (prompt_inputs gives it)")
    count = vectors.shape[0]
    rows, cols = soft_mask.nonzero(as_tuple=True)
    if rows.numel() != count * embeds.shape[0]:
        raise ValueError(f"each input needs {count} soft positions, soft_mask marks {rows.numel()} in all")
    index = torch.arange(rows.numel(), device=rows.device) % count
    return embeds.index_put((rows, cols), vectors.to(embeds.dtype)[index])


def masked_word_logprobs(backbone: PreTrainedModel, embeds: torch.Tensor, attention_mask: torch.Tensor,
                         blank_positions: torch.Tensor, word_ids: torch.Tensor, **kwargs) -> torch.Tensor:
    """``(batch, words, tokens)``: the log-probability of token k of each word at the k-th blank position of a
    masked LM; the vocabulary projection runs only at the blank. ``word_ids``: ``(words, longest)``, right-padded."""
    base = backbone.base_model
    heads = [module for _, module in backbone.named_children() if module is not base]
    if len(heads) != 1:  # BERT: bert / cls, RoBERTa: roberta / lm_head, ...
        raise ValueError(f"{type(backbone).__name__}: expected an encoder and one MLM head, found the modules "
                         f"{[name for name, _ in backbone.named_children()]}")
    kwargs = {k: v for k, v in kwargs.items() if k == "token_type_ids" and v is not None}
    hidden = base(inputs_embeds=embeds, attention_mask=attention_mask, **kwargs).last_hidden_state
    index = blank_positions[..., None].expand(-1, -1, hidden.shape[-1])
    logprobs = heads[0](hidden.gather(1, index)).float().log_softmax(-1)  # (batch, blank, vocab)
    ids = word_ids.T[None].expand(logprobs.shape[0], -1, -1)  # (batch, tokens, words)
    return logprobs[:, : word_ids.shape[1]].gather(2, ids).transpose(1, 2)


def padded(sequences: list[list[int]], value: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ``(rows, longest)`` ids and each row's length."""
    width = max((len(s) for s in sequences), default=1)
    ids = torch.full((len(sequences), max(width, 1)), value, dtype=torch.long)
    for i, s in enumerate(sequences):
        ids[i, : len(s)] = torch.tensor(s, dtype=torch.long)
    return ids, torch.tensor([len(s) for s in sequences], dtype=torch.long)


class MaskedPromptLMModel(PreTrainedModel):
    """A masked LM scoring label words at a template's blank, with learned ``{soft}`` vectors: the inference half
    of the package's ``PromptLMModel`` for masked LMs, reading the same folder (``backbone.*``,
    ``prompt_encoder.*``).

        inputs = model.prompt_inputs(tokenizer, ["房间干净，早餐也不错"])
        model(**inputs).logits  # (1, labels); model.config.labels names them
    """

    config_class = PromptLMConfig
    base_model_prefix = "backbone"

    def __init__(self, config: PromptLMConfig):
        super().__init__(config)
        if config.lm_type != "masked":
            raise ValueError(f"{type(self).__name__} reads masked LMs; this config's lm_type is {config.lm_type!r}")
        self.backbone = AutoModelForMaskedLM.from_config(config.backbone)
        num_soft = sum(count for kind, count in template_parts(config.template) if kind == "soft")
        hidden = self.backbone.get_input_embeddings().embedding_dim
        self.prompt_encoder = SoftPromptEncoder(num_soft, hidden, config.prompt_encoder) if num_soft else None
        self.post_init()

    def get_input_embeddings(self) -> nn.Module:
        return self.backbone.get_input_embeddings()

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, blank_positions: torch.Tensor,
                soft_mask: torch.Tensor | None = None, labels: torch.Tensor | None = None, **kwargs) -> PromptLMOutput:
        """``(batch, labels)`` label scores of right-padded inputs (:meth:`prompt_inputs` makes them)."""
        embeds = self.backbone.get_input_embeddings()(input_ids)
        if self.prompt_encoder is not None:
            embeds = insert_soft_vectors(embeds, soft_mask, self.prompt_encoder())
        word_ids, word_lengths = (t.to(input_ids.device) for t in padded(self.config.word_token_ids))
        word_labels = torch.tensor(self.config.word_labels, device=input_ids.device)
        token_lp = masked_word_logprobs(self.backbone, embeds, attention_mask, blank_positions, word_ids, **kwargs)
        logits = label_scores(token_lp, word_lengths, word_labels, len(self.config.labels),
                              self.config.token_reduction, self.config.word_reduction)
        return PromptLMOutput(loss=F.cross_entropy(logits, labels) if labels is not None else None, logits=logits)

    def prompt_inputs(self, tokenizer, texts: list[str], texts_b: list[str] | None = None) -> dict[str, torch.Tensor]:
        """The model's inputs for ``texts``: each written into the template (:func:`encode_prompt`: special tokens
        around it, a blank of ``blank_length`` mask tokens, placeholders where the learned vectors go, its texts
        cut longest first to ``max_seq_length`` tokens), right-padded, on the model's device."""
        blank, pad = self.config.blank_length, tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        rows, softs, blanks = [], [], []
        for i, text in enumerate(texts):
            prefix, suffix, prefix_soft, suffix_soft, _ = encode_prompt(
                tokenizer, self.config.template, text, texts_b[i] if texts_b else None, blank_length=blank,
                max_length=self.config.max_seq_length, placeholder_id=pad)
            rows.append(prefix + [tokenizer.mask_token_id] * blank + suffix)
            softs.append(prefix_soft + [0] * blank + suffix_soft)
            blanks.append(list(range(len(prefix), len(prefix) + blank)))
        input_ids, lengths = padded(rows, pad)
        attention_mask = (torch.arange(input_ids.shape[1]) < lengths[:, None]).long()
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask, "blank_positions": torch.tensor(blanks),
                  "soft_mask": padded(softs)[0]}
        return {k: v.to(self.device) for k, v in inputs.items()}
