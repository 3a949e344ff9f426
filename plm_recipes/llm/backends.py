"""Where the model runs: in this process through ``transformers`` (:class:`TransformersBackend`), or behind an
OpenAI-compatible HTTP server such as vLLM, TGI or llama.cpp's server (:class:`OpenAIBackend`).

Both do the two things the tasks need:

- ``generate(conversations, max_new_tokens)``: the assistant's answer to each chat, greedy (deterministic);
- ``score_options(conversations, options)``: the log-likelihood of each option as the assistant's whole answer,
  an array of shape ``(len(conversations), len(options))`` (see :mod:`plm_recipes.llm.scoring`).

Chat templates that think before answering (Qwen3's ``enable_thinking``) are rendered with thinking turned off.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import torch

from ..errors import ArgumentError, ModelLoadError, PlmRecipesError
from ..loading import load_or_explain
from .scoring import OptionScorer

logger = logging.getLogger(__name__)

Conversation = Sequence[dict[str, str]]

# Keyword arguments every chat template render gets: thinking templates (Qwen3) answer directly, and templates
# that do not know the variable ignore it (jinja leaves unknown variables undefined).
TEMPLATE_KWARGS = {"enable_thinking": False}


class Backend(Protocol):
    """What the tasks call; see the module docstring."""

    def generate(self, conversations: Sequence[Conversation], max_new_tokens: int) -> list[str]: ...

    def score_options(self, conversations: Sequence[Conversation], options: Sequence[str]) -> np.ndarray: ...


def render_chat(tokenizer, messages: Conversation, *, add_generation_prompt: bool = True) -> str:
    """``messages`` through ``tokenizer``'s chat template, as text, ending with the assistant's turn opening."""
    if not getattr(tokenizer, "chat_template", None):
        raise ArgumentError("the model's tokenizer has no chat template (tokenizer_config.json 'chat_template', or "
                            "chat_template.jinja); use an instruction-tuned (chat) model")
    return tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=add_generation_prompt,
                                         **TEMPLATE_KWARGS)


def turn_end_text(tokenizer) -> str:
    """What the chat template writes right after an assistant answer (``<|im_end|>`` for ChatML templates, the
    ``eos_token`` for others); option scoring scores it after the option, so that an option which is the
    beginning of another (``电脑`` / ``电脑配件``) is not preferred for ending early."""
    marker = "\u2063OPTION\u2063"
    probe = [{"role": "user", "content": "?"}, {"role": "assistant", "content": marker}]
    try:
        rendered = tokenizer.apply_chat_template(probe, tokenize=False, **TEMPLATE_KWARGS)
    except Exception:  # a template that refuses the probe: fall back to the end-of-sequence token
        rendered = ""
    if marker in rendered:
        after = rendered.split(marker, 1)[1].strip()
        if after:
            ids = tokenizer(after, add_special_tokens=False)["input_ids"]
            if ids:
                return tokenizer.decode(ids[:1])
    if tokenizer.eos_token is None:
        raise ArgumentError("cannot tell where the model's answers end: the chat template writes nothing after an "
                            "answer and the tokenizer has no eos_token")
    return tokenizer.eos_token


def _default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class TransformersBackend:
    """A chat model in this process: a model folder or hub id, or a LoRA adapter folder from
    ``recipes/llm_sft.py`` (loaded over its base model and merged).

    Args:
        model: the ``AutoModelForCausalLM``; or use :meth:`from_pretrained`.
        tokenizer: its tokenizer, with a chat template.
        batch_size: conversations per forward pass (option scoring runs ``batch_size`` prompts with all their
            options at once).
        max_length: the longest prompt + answer in tokens; default: the model's context
            (``max_position_embeddings``), capped by the tokenizer's ``model_max_length``.
        progress: show a progress bar over batches.
    """

    def __init__(self, model, tokenizer, *, batch_size: int = 8, max_length: int | None = None,
                 progress: bool = True):
        self.model = model.eval()
        self.tokenizer = tokenizer
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.batch_size = batch_size
        self.max_length = max_length or context_length(model.config, tokenizer)
        self.progress = progress
        self.scorer = OptionScorer(model, pad_token_id=tokenizer.pad_token_id)
        self._turn_end: str | None = None

    @classmethod
    def from_pretrained(cls, name_or_path: str, *, device: str | None = None, dtype: str | None = None,
                        batch_size: int = 8, max_length: int | None = None, progress: bool = True,
                        trust_remote_code: bool = False) -> TransformersBackend:
        """Load a model folder, hub id or LoRA adapter folder (``adapter_config.json``) for inference."""
        from transformers import AutoModelForCausalLM, AutoTokenizer

        torch_dtype = _dtype(dtype)
        adapter = os.path.isfile(os.path.join(name_or_path, "adapter_config.json"))
        if adapter:
            with open(os.path.join(name_or_path, "adapter_config.json"), encoding="utf-8") as f:
                base = json.load(f).get("base_model_name_or_path")
            if not base:
                raise ModelLoadError(f"{name_or_path}/adapter_config.json names no base_model_name_or_path")
        else:
            base = name_or_path
        model = load_or_explain(lambda: AutoModelForCausalLM.from_pretrained(
            base, dtype=torch_dtype, trust_remote_code=trust_remote_code), base)
        if adapter:
            from peft import PeftModel

            model = load_or_explain(lambda: PeftModel.from_pretrained(model, name_or_path), name_or_path,
                                    "LoRA adapter").merge_and_unload()
        tokenizer = load_or_explain(lambda: AutoTokenizer.from_pretrained(
            name_or_path, trust_remote_code=trust_remote_code), name_or_path, "tokenizer")
        model.to(torch.device(device) if device else _default_device())
        return cls(model, tokenizer, batch_size=batch_size, max_length=max_length, progress=progress)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def turn_end(self) -> str:
        if self._turn_end is None:
            self._turn_end = turn_end_text(self.tokenizer)
        return self._turn_end

    # --- prompts ----------------------------------------------------------------------------------------------

    def encode_prompts(self, conversations: Sequence[Conversation], reserve: int) -> list[list[int]]:
        """The token ids of each rendered chat; a prompt that leaves fewer than ``reserve`` tokens of the
        context for the answer is an error naming it."""
        encoded = []
        for i, messages in enumerate(conversations):
            ids = self.tokenizer(render_chat(self.tokenizer, messages), add_special_tokens=False)["input_ids"]
            if len(ids) + reserve > self.max_length:
                raise PlmRecipesError(
                    f"input {i + 1}: the prompt is {len(ids)} tokens and its answer needs up to {reserve} more, "
                    f"beyond the model's context of {self.max_length} tokens; shorten the text, use fewer few-shot "
                    "examples or a smaller --max_new_tokens")
            encoded.append(ids)
        return encoded

    def _batches(self, n: int, description: str):
        from tqdm.auto import tqdm

        starts = range(0, n, self.batch_size)
        return tqdm(starts, desc=description, unit="batch", disable=not self.progress or len(starts) <= 1)

    # --- the two operations -----------------------------------------------------------------------------------

    @torch.no_grad()
    def generate(self, conversations: Sequence[Conversation], max_new_tokens: int) -> list[str]:
        """Greedy answers (no sampling: the same input gives the same output), at most ``max_new_tokens`` each."""
        prompts = self.encode_prompts(conversations, max_new_tokens)
        pad = self.tokenizer.pad_token_id
        answers: list[str] = []
        stop = [self.tokenizer.convert_tokens_to_ids(self.turn_end)]
        if self.tokenizer.eos_token_id is not None:
            stop.append(self.tokenizer.eos_token_id)
        for start in self._batches(len(prompts), "generating"):
            batch = prompts[start:start + self.batch_size]
            ids, mask, cache = self._with_shared_prefix(batch)
            out = self.model.generate(input_ids=ids, attention_mask=mask, **{self.scorer.cache_name: cache},
                                      max_new_tokens=max_new_tokens, do_sample=False, num_beams=1, eos_token_id=stop,
                                      pad_token_id=pad, temperature=None, top_p=None, top_k=None)
            answers += [text.strip() for text in
                        self.tokenizer.batch_decode(out[:, ids.shape[1]:], skip_special_tokens=True)]
        return answers

    def _with_shared_prefix(self, batch: list[list[int]]):
        """Input ids, attention mask and a key/value cache for generating from ``batch``: the tokens all prompts
        start with (the system message, few-shot turns, the instruction) are encoded once, into the cache,
        repeated for each row; the rest is left-padded after them (position ids follow the attention mask, so
        padding in the middle is skipped)."""
        from .scoring import _common_prefix_length, output_cache

        pad = self.tokenizer.pad_token_id
        shared = _common_prefix_length(batch)
        width = max(map(len, batch)) - shared
        rows = [p[:shared] + [pad] * (width - (len(p) - shared)) + p[shared:] for p in batch]
        mask = [[1] * shared + [0] * (width - (len(p) - shared)) + [1] * (len(p) - shared) for p in batch]
        ids = torch.tensor(rows, device=self.device)
        mask = torch.tensor(mask, device=self.device)
        cache = None
        if shared:
            cache = output_cache(self.model(input_ids=ids[:1, :shared], use_cache=True, logits_to_keep=1))
            cache.batch_repeat_interleave(len(batch))
        return ids, mask, cache

    @torch.no_grad()
    def score_options(self, conversations: Sequence[Conversation], options: Sequence[str]) -> np.ndarray:
        """``log P(option + turn end | prompt)`` summed over the option's tokens, shape ``(n, len(options))``;
        see :class:`~plm_recipes.llm.scoring.OptionScorer`. :meth:`option_lengths` gives the token counts."""
        option_ids = self.option_token_ids(options)
        prompts = self.encode_prompts(conversations, max(map(len, option_ids)))
        scores = []
        for start in self._batches(len(prompts), "scoring options"):
            scores.append(self.scorer(prompts[start:start + self.batch_size], option_ids))
        return np.concatenate(scores, axis=0) if scores else np.zeros((0, len(options)))

    def option_token_ids(self, options: Sequence[str]) -> list[list[int]]:
        """Each option's tokens as the assistant would write them, with the turn's end token."""
        end = self.tokenizer(self.turn_end, add_special_tokens=False)["input_ids"]
        return [self.tokenizer(option, add_special_tokens=False)["input_ids"] + end for option in options]

    def option_lengths(self, options: Sequence[str]) -> np.ndarray:
        return np.array([len(ids) for ids in self.option_token_ids(options)])


def context_length(config, tokenizer) -> int:
    """The model's context in tokens: ``max_position_embeddings`` (or ``n_positions``), capped by the tokenizer's
    ``model_max_length`` when that is set to a real value."""
    length = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None) or 2048
    tok = getattr(tokenizer, "model_max_length", None)
    if tok and tok < 1_000_000:
        length = min(length, tok)
    return int(length)


def _dtype(name: str | None):
    """``--dtype``: float32 unless asked (transformers 5 would load a checkpoint's own dtype, bfloat16 for most
    chat models, which CPUs without bfloat16 instructions run several times slower)."""
    if name is None:
        return torch.float32
    if name == "auto":
        return "auto"
    if name not in ("float32", "bfloat16", "float16"):
        raise ArgumentError(f"--dtype {name}: expected float32, bfloat16, float16 or auto")
    return getattr(torch, name)


# --- HTTP ---------------------------------------------------------------------------------------------------------


class ServerAnswerError(PlmRecipesError):
    """An OpenAI-compatible server answered with an HTTP error ``status``."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


class OpenAIBackend:
    """A model behind an OpenAI-compatible server (vLLM, TGI, llama.cpp's server, ``plm-recipes llm serve``).

    Generation uses ``POST {base_url}/chat/completions`` (temperature 0, ``max_tokens``, and
    ``chat_template_kwargs: {"enable_thinking": false}``, which vLLM and llama.cpp's server read).

    Option scoring needs the log-probabilities of given text, which only the legacy completions endpoint returns
    (``POST {base_url}/completions`` with ``echo: true, logprobs: 1, max_tokens: 1``): vLLM and
    ``plm-recipes llm serve`` support it; TGI does not, nor does llama-cpp-python's server (it answers a list of
    prompts with a 500, and its echoed log-probabilities are one position off: ``bench/llm_engines.py``), so use
    ``--method generate`` with them. The prompt is rendered here with the model's chat template, so scoring
    needs ``tokenizer``.

    Args:
        base_url: e.g. ``http://127.0.0.1:8000/v1``.
        model: the model name the server expects (``GET /v1/models`` lists them); default: its first model.
        tokenizer: the model's tokenizer (a folder or hub id), for option scoring.
        api_key: sent as ``Authorization: Bearer ...`` (default: ``$OPENAI_API_KEY`` when set).
    """

    def __init__(self, base_url: str, *, model: str | None = None, tokenizer: Any = None, api_key: str | None = None,
                 timeout: float = 600.0, batch_size: int = 8, progress: bool = True):
        if not base_url.startswith(("http://", "https://")):
            raise ArgumentError(f"--base_url {base_url}: expected an http:// or https:// address ending in /v1")
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self.timeout = timeout
        self.batch_size = batch_size
        self.progress = progress
        if isinstance(tokenizer, str):
            from transformers import AutoTokenizer

            name = tokenizer
            tokenizer = load_or_explain(lambda: AutoTokenizer.from_pretrained(name), name, "tokenizer")
        self.tokenizer = tokenizer
        self.model = model or self._first_model()

    def _request(self, path: str, payload: dict | None = None) -> dict:
        url = self.base_url + path
        data = None if payload is None else json.dumps(payload, ensure_ascii=False).encode("utf-8")
        request = urllib.request.Request(url, data=data, method="GET" if payload is None else "POST")
        request.add_header("Content-Type", "application/json")
        if self.api_key:
            request.add_header("Authorization", f"Bearer {self.api_key}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as e:
            detail = " ".join(e.read().decode("utf-8", "replace").split())[:300]
            raise ServerAnswerError(f"{url}: the server answered {e.code} {e.reason}: {detail}", e.code) from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise PlmRecipesError(f"{url}: cannot reach the server ({reason}); is it running at --base_url "
                                  f"{self.base_url}?") from None

    def _first_model(self) -> str:
        models = self._request("/models").get("data") or []
        if not models:
            raise PlmRecipesError(f"{self.base_url}/models lists no model; pass --served_model NAME")
        return models[0]["id"]

    def _each(self, items: Sequence, description: str):
        from tqdm.auto import tqdm

        return tqdm(items, desc=description, unit="item", disable=not self.progress or len(items) <= 1)

    def generate(self, conversations: Sequence[Conversation], max_new_tokens: int) -> list[str]:
        answers = []
        for messages in self._each(conversations, "generating"):
            reply = self._request("/chat/completions", {
                "model": self.model, "messages": list(messages), "max_tokens": max_new_tokens, "temperature": 0,
                "chat_template_kwargs": TEMPLATE_KWARGS,
            })
            answers.append((reply["choices"][0]["message"].get("content") or "").strip())
        return answers

    def score_options(self, conversations: Sequence[Conversation], options: Sequence[str]) -> np.ndarray:
        if self.tokenizer is None:
            raise ArgumentError("option scoring over HTTP renders the chat template here: pass --tokenizer (the "
                                "served model's tokenizer folder or hub id), or use --method generate")
        end = turn_end_text(self.tokenizer)
        scores = np.zeros((len(conversations), len(options)))
        for i, messages in enumerate(self._each(conversations, "scoring options")):
            prompt = render_chat(self.tokenizer, messages)
            texts = [prompt + option + end for option in options]
            try:
                reply = self._request("/completions", {"model": self.model, "prompt": texts, "max_tokens": 1,
                                                       "echo": True, "logprobs": 1, "temperature": 0})
            except ServerAnswerError as e:
                raise PlmRecipesError(f"{e} -- this server cannot score options (it needs /v1/completions with a "
                                      "list of prompts, echo: true, logprobs and max_tokens: 1, as vLLM and "
                                      "plm-recipes llm serve answer them): use --method generate") from None
            choices = sorted(reply.get("choices", []), key=lambda c: c.get("index", 0))
            if len(choices) != len(texts):
                raise PlmRecipesError(f"{self.base_url}/completions answered {len(choices)} choices for "
                                      f"{len(texts)} prompts; the server does not score given text")
            for j, choice in enumerate(choices):
                scores[i, j] = _answer_logprob(choice, len(prompt), len(texts[j]), self.base_url)
        return scores


def _answer_logprob(choice: dict, prompt_chars: int, text_chars: int, base_url: str) -> float:
    """The summed log-probability of the tokens of an echoed completion (``logprobs.tokens``, ``token_logprobs``,
    ``text_offset``) that start at or after character ``prompt_chars`` and before ``text_chars``, the end of the
    text sent: the token generated after it (the request asks for one: vLLM refuses ``max_tokens: 0`` in some
    versions, llama-cpp-python reads it as "no limit") is not the option's."""
    logprobs = choice.get("logprobs") or {}
    offsets, values = logprobs.get("text_offset"), logprobs.get("token_logprobs")
    if not offsets or not values:
        raise PlmRecipesError(f"{base_url}/completions returned no log-probabilities of the prompt (echo + "
                              "logprobs); this server cannot score options: use --method generate")
    total = 0.0
    for offset, value in zip(offsets, values):
        if prompt_chars <= offset < text_chars:
            if value is None:
                raise PlmRecipesError(f"{base_url}/completions returned a null log-probability inside the answer")
            total += value
    return total
