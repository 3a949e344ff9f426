"""The requests of OpenAI's chat and completions API that ``plm-recipes llm serve`` answers, read and checked: what
a request asks for becomes a :class:`Job`, and what the server does not do is refused (:class:`RequestError`, a
400 naming the parameter) instead of being silently ignored.

Supported: ``messages`` (roles system, developer, user, assistant; content a string or a list of text parts),
``prompt`` (a string or a list of strings), ``max_tokens`` / ``max_completion_tokens``, ``n``, ``stop``,
``temperature``, ``top_p``, ``seed``, ``stream`` with ``stream_options.include_usage``, ``echo`` and, for option
scoring, ``logprobs`` with ``echo`` and ``max_tokens`` 0 or 1 (the prompt's log-probabilities, and the one
generated token's, as vLLM returns them),
``chat_template_kwargs`` (vLLM's). Refused: tools and function calls, ``response_format`` other than text,
chat ``logprobs``, ``logit_bias``, penalties, ``best_of``, ``suffix``, token-id prompts, images and audio.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class RequestError(Exception):
    """A request the server cannot answer as asked: ``status`` 400 (or 404 for an unknown model), with OpenAI's
    error ``code`` and the ``param`` at fault."""

    def __init__(self, message: str, param: str | None = None, status: int = 400, code: str | None = None):
        super().__init__(message)
        self.param, self.status, self.code = param, status, code

    def to_dict(self) -> dict:
        return {"error": {"message": str(self), "type": "invalid_request_error", "param": self.param,
                          "code": self.code}}


@dataclass
class Job:
    """What one request asks for. ``prompts`` are texts (completions) or conversations (chat); each gets ``n``
    answers."""

    chat: bool
    prompts: list[Any]
    max_tokens: int | None
    n: int = 1
    stop: list[str] = field(default_factory=list)
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None
    stream: bool = False
    include_usage: bool = False
    echo: bool = False
    prompt_logprobs: bool = False
    template_kwargs: dict = field(default_factory=dict)


# parameters that change the answer and that this server does not implement: refused with a 400 unless they hold
# their "off" value
_UNSUPPORTED = {
    "tools": "tools and function calling are not supported",
    "functions": "tools and function calling are not supported",
    "logit_bias": "logit_bias is not supported",
    "presence_penalty": "presence_penalty is not supported",
    "frequency_penalty": "frequency_penalty is not supported",
    "audio": "audio output is not supported",
    "prediction": "predicted outputs are not supported",
}
_OFF_VALUES = (None, [], {}, 0, 0.0, "none", False)


def read_chat(body: dict) -> Job:
    """A ``POST /v1/chat/completions`` body as a :class:`Job`."""
    _refuse_unsupported(body)
    for name in ("tool_choice", "function_call"):
        if body.get(name) not in (None, "none", "auto"):
            raise RequestError("tools and function calling are not supported", name)
    fmt = body.get("response_format")
    if fmt is not None and (not isinstance(fmt, dict) or fmt.get("type") != "text"):
        kind = fmt.get("type") if isinstance(fmt, dict) else fmt
        raise RequestError(f"response_format {kind!r} is not supported: answers are free text", "response_format")
    if body.get("logprobs") or body.get("top_logprobs") is not None:
        raise RequestError("logprobs are not supported in chat completions (/v1/completions returns a prompt's "
                           "log-probabilities with echo: true and max_tokens 0 or 1)", "logprobs")
    modalities = body.get("modalities")
    if modalities not in (None, ["text"]):
        raise RequestError("only text output is supported", "modalities")
    kwargs = body.get("chat_template_kwargs") or {}
    if not isinstance(kwargs, dict):
        raise RequestError("'chat_template_kwargs' must be an object", "chat_template_kwargs")
    return Job(chat=True, prompts=[read_messages(body.get("messages"))], template_kwargs=kwargs,
               max_tokens=_max_tokens(body), **_common(body))


def read_completion(body: dict) -> Job:
    """A ``POST /v1/completions`` body as a :class:`Job`."""
    _refuse_unsupported(body)
    if body.get("suffix"):
        raise RequestError("suffix (insertion) is not supported", "suffix")
    if body.get("best_of") not in (None, 1, body.get("n", 1)):
        raise RequestError("best_of is not supported", "best_of")
    prompts = body.get("prompt")
    prompts = [prompts] if isinstance(prompts, str) else prompts
    if isinstance(prompts, list) and prompts and all(isinstance(p, int) or isinstance(p, list) for p in prompts):
        raise RequestError("prompts given as token ids are not supported: send text", "prompt")
    if not isinstance(prompts, list) or not prompts or not all(isinstance(p, str) and p for p in prompts):
        raise RequestError("'prompt' must be a non-empty string or a list of non-empty strings", "prompt")
    max_tokens = _max_tokens(body)
    max_tokens = 16 if max_tokens is None else max_tokens  # OpenAI's default for completions
    echo, logprobs = bool(body.get("echo")), body.get("logprobs") is not None
    job = Job(chat=False, prompts=prompts, max_tokens=max_tokens, echo=echo, prompt_logprobs=logprobs,
              **_common(body))
    if logprobs and not (echo and max_tokens <= 1 and not job.stream):
        raise RequestError("logprobs are returned for the prompt and at most one generated token: send echo: true "
                           "with max_tokens 0 or 1 (not streamed)", "logprobs")
    return job


def read_messages(messages: Any) -> list[dict[str, str]]:
    """``messages`` as ``[{role, content: str}]``: text parts joined by line breaks, ``developer`` read as
    ``system``."""
    if not isinstance(messages, list) or not messages:
        raise RequestError("'messages' must be a non-empty list of {role, content}", "messages")
    read = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise RequestError(f"messages[{i}] must be an object {{role, content}}", "messages")
        role = message.get("role")
        if role in ("tool", "function") or message.get("tool_calls") or message.get("function_call"):
            raise RequestError("tools and function calling are not supported", f"messages[{i}]")
        if role not in ("system", "developer", "user", "assistant"):
            raise RequestError(f"messages[{i}].role {role!r}: expected system, developer, user or assistant",
                               "messages")
        read.append({"role": "system" if role == "developer" else role,
                     "content": _text_content(message.get("content"), i)})
    return read


def _text_content(content: Any, i: int) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list) and content:
        texts = []
        for part in content:
            kind = part.get("type") if isinstance(part, dict) else None
            if kind != "text" or not isinstance(part.get("text"), str):
                raise RequestError(f"messages[{i}].content: parts of type {kind!r} are not supported (text only)",
                                   "messages")
            texts.append(part["text"])
        return "\n".join(texts)
    raise RequestError(f"messages[{i}].content must be a string or a list of text parts", "messages")


def _refuse_unsupported(body: dict) -> None:
    for name, message in _UNSUPPORTED.items():
        if body.get(name) not in _OFF_VALUES:
            raise RequestError(message, name)


def _common(body: dict) -> dict:
    """``n``, ``stop``, sampling and streaming settings, checked."""
    n = body.get("n", 1)
    n = 1 if n is None else n
    if not _is_int(n) or not 1 <= n <= 128:
        raise RequestError("'n' must be a whole number from 1 to 128", "n")
    stop = body.get("stop")
    stop = [] if stop is None else [stop] if isinstance(stop, str) else stop
    if not isinstance(stop, list) or not all(isinstance(s, str) and s for s in stop):
        raise RequestError("'stop' must be a non-empty string or a list of them", "stop")
    temperature = _number(body, "temperature", 1.0, 0.0, 2.0)
    top_p = _number(body, "top_p", 1.0, 0.0, 1.0)
    if top_p == 0:
        raise RequestError("'top_p' must be above 0", "top_p")
    seed = body.get("seed")
    if seed is not None and not _is_int(seed):
        raise RequestError("'seed' must be a whole number", "seed")
    options = body.get("stream_options") or {}
    return {"n": n, "stop": stop, "temperature": temperature, "top_p": top_p, "seed": seed,
            "stream": bool(body.get("stream")), "include_usage": bool(options.get("include_usage"))}


def _max_tokens(body: dict) -> int | None:
    name = "max_completion_tokens" if body.get("max_completion_tokens") is not None else "max_tokens"
    value = body.get(name)
    if value is not None and (not _is_int(value) or value < 0):
        raise RequestError(f"'{name}' must be a whole number >= 0", name)
    return value


def _number(body: dict, name: str, default: float, low: float, high: float) -> float:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise RequestError(f"'{name}' must be a number from {low:g} to {high:g}", name)
    return float(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
