"""A small OpenAI-compatible HTTP server for a local chat model (``plm-recipes llm serve``), on the standard
library's ``http.server``: enough for the official ``openai`` client, :class:`~plm_recipes.llm.backends.OpenAIBackend`,
the tests and trying the HTTP path on a laptop. For real serving use vLLM, TGI or llama.cpp's server.

Endpoints (requests are answered one at a time, the model being one; :mod:`plm_recipes.llm.openai_api` lists the
parameters read and those refused with a 400):

- ``GET /v1/models``, ``GET /v1/models/{id}``: the served model;
- ``POST /v1/chat/completions``: answers to ``messages``, streamed as server-sent events with ``stream: true``;
- ``POST /v1/completions``: continuations of ``prompt``; with ``echo`` and ``logprobs`` (and ``max_tokens`` 0 or
  1) the log-probability of every prompt token and of the generated one (``tokens``, ``token_logprobs`` with
  ``None`` for the first, ``text_offset``), as vLLM returns them: what option scoring over HTTP reads.

Every answer carries ``usage`` and a true ``finish_reason`` ("stop": an end token or a ``stop`` string; "length":
``max_tokens`` reached). A prompt plus ``max_tokens`` beyond the model's context is a 400, as OpenAI answers it;
a request that waits for the model or runs longer than ``request_timeout`` is a 503 / 504, so no request holds the
model for ever. A model name other than the served one is a 404 (``model_not_found``).
"""

from __future__ import annotations

import json
import logging
import select
import signal
import socket
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import torch

from ..errors import PlmRecipesError
from .backends import TEMPLATE_KWARGS, TransformersBackend, render_chat
from .decoding import Decoding, GenerationTimeout, Sampling
from .openai_api import Job, RequestError, read_chat, read_completion

logger = logging.getLogger(__name__)


class ModelServer(ThreadingHTTPServer):
    """``ModelServer((host, port), backend, name)``; ``serve_forever()`` serves until ``shutdown()``. Port 0 picks a
    free port (``server.server_address[1]``). The socket is bound at once, so ``backend`` may be set afterwards
    (``llm serve`` binds before it loads the model: a port in use costs no loading).

    Args:
        request_timeout: the longest a request may wait for the model plus generate, in seconds.
    """

    daemon_threads = True

    def __init__(self, address: tuple[str, int], backend: TransformersBackend | None, name: str,
                 request_timeout: float = 600.0):
        super().__init__(address, _Handler)
        self.backend = backend
        self.model_name = name
        self.request_timeout = request_timeout
        self.lock = threading.Lock()
        self.stopping = threading.Event()

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/v1"

    def check_model(self, body: dict) -> None:
        """A 404 like OpenAI's for a model name other than the served one (none given: the served one)."""
        name = body.get("model")
        if name is not None and name != self.model_name:
            raise RequestError(f"The model `{name}` does not exist; this server serves `{self.model_name}`.",
                               "model", status=404, code="model_not_found")

    # --- from a job to token ids ------------------------------------------------------------------------------

    def prompt_ids(self, job: Job) -> list[list[int]]:
        """Each prompt's token ids (a conversation through the chat template), its length checked against the
        context with the answer's ``max_tokens``; ``job.max_tokens`` of None becomes what the context leaves."""
        tok = self.backend.tokenizer
        if job.chat:
            if job.template_kwargs and job.template_kwargs != TEMPLATE_KWARGS:
                raise RequestError(f"this server renders chat templates with {TEMPLATE_KWARGS} only",
                                   "chat_template_kwargs")
            texts = [render_chat(tok, messages) for messages in job.prompts]
        else:
            texts = job.prompts
        ids = [tok(text, add_special_tokens=False)["input_ids"] for text in texts]
        context, longest = self.backend.max_length, max(map(len, ids))
        if job.max_tokens is None:
            job.max_tokens = max(context - longest, 0)
        if longest + job.max_tokens > context:
            raise RequestError(
                f"This model's maximum context length is {context} tokens. However, you requested "
                f"{longest + job.max_tokens} tokens ({longest} in the {'messages' if job.chat else 'prompt'}, "
                f"{job.max_tokens} in the completion). Please reduce the length of the "
                f"{'messages' if job.chat else 'prompt'} or completion.", "max_tokens", code="context_length_exceeded")
        return ids

    def end_ids(self, job: Job) -> list[int]:
        """Tokens that end an answer: the chat template's turn end (chat) and the end-of-sequence tokens."""
        tok, config = self.backend.tokenizer, self.backend.model.generation_config
        ends = [tok.eos_token_id, *([config.eos_token_id] if isinstance(config.eos_token_id, int)
                                    else config.eos_token_id or [])]
        if job.chat:
            ends.append(tok.convert_tokens_to_ids(self.backend.turn_end))
        return [e for e in ends if e is not None]

    # --- answering --------------------------------------------------------------------------------------------

    def acquire(self) -> float:
        """Take the model; return the request's deadline. A 503 when it stays busy for ``request_timeout``."""
        if not self.lock.acquire(timeout=self.request_timeout):
            raise RequestError(f"the model stayed busy for {self.request_timeout:g} s (requests are answered one at "
                               "a time); try again", status=503, code="server_busy")
        return time.monotonic() + self.request_timeout

    def sampling(self, job: Job) -> Sampling:
        """How the request's tokens are chosen: greedy at temperature 0, else sampled (seeded by ``seed``)."""
        generator = None
        if job.temperature > 0:
            generator = torch.Generator(device=self.backend.device)
            if job.seed is None:
                generator.seed()  # a fresh random seed
            else:
                generator.manual_seed(job.seed)
        return Sampling(job.temperature, job.top_p, generator)

    def decodings(self, job: Job, ids: list[list[int]], deadline: float) -> Iterator[tuple[int, Decoding]]:
        """``(choice index, decoding)`` for each prompt's ``n`` answers, in OpenAI's order (prompt by prompt)."""
        sampling = self.sampling(job)
        for p, prompt in enumerate(ids):
            for j in range(job.n):
                yield p * job.n + j, Decoding(self.backend.model, self.backend.tokenizer, prompt, job.max_tokens,
                                              self.end_ids(job), job.stop, sampling, deadline,
                                              self.stopping.is_set)

    @torch.no_grad()
    def prompt_logprobs(self, prompts: list[str]) -> list[tuple[dict, torch.Tensor]]:
        """``echo`` + ``logprobs``: for each prompt, the log-probability of every token after the ones before it
        (``None`` for the first), and the log-probabilities of the token that would follow it. The tokens all
        prompts start with (a chat and its question, scored with each option after it) are encoded once; each
        prompt's own tokens follow from their key/value cache, in one right-padded batch."""
        from .scoring import _common_prefix_length, cache_argument, output_cache

        tok, model, device = self.backend.tokenizer, self.backend.model, self.backend.device
        encoded = [tok(p, add_special_tokens=False, return_offsets_mapping=True) for p in prompts]
        ids = [e["input_ids"] for e in encoded]
        shared = _common_prefix_length(ids) if len(ids) > 1 else len(ids[0]) - 1
        cache_name = cache_argument(model)
        prefix_logits, cache = None, None
        if shared:
            out = model(input_ids=torch.tensor([ids[0][:shared]], device=device), use_cache=True)
            prefix_logits, cache = out.logits[0].float(), output_cache(out)
            cache.batch_repeat_interleave(len(ids))
        rest = [row[shared:] for row in ids]
        width = max(map(len, rest))
        pad = tok.pad_token_id if tok.pad_token_id is not None else 0
        rows = torch.tensor([r + [pad] * (width - len(r)) for r in rest], device=device)
        mask = torch.tensor([[1] * shared + [1] * len(r) + [0] * (width - len(r)) for r in rest], device=device)
        rest_logits = model(input_ids=rows, attention_mask=mask, use_cache=True,
                            **{cache_name: cache}).logits.float()  # (n, width, V)
        answers = []
        for i, row in enumerate(ids):
            # token t is predicted by position t - 1: the shared prefix's logits, then the prompt's own
            logits = rest_logits[i, :len(row) - shared - 1]
            if prefix_logits is not None:
                logits = torch.cat([prefix_logits, logits])
            values = torch.log_softmax(logits, dim=-1).gather(1, torch.tensor(row[1:], device=device)[:, None])
            answers.append(({"tokens": tok.convert_ids_to_tokens(row),
                             "token_logprobs": [None] + values[:, 0].tolist(),
                             "text_offset": [start for start, _ in encoded[i]["offset_mapping"]],
                             "top_logprobs": None},
                            torch.log_softmax(rest_logits[i, len(row) - shared - 1], dim=-1)))
        return answers

    def echo_choice(self, job: Job, index: int, answer: tuple[dict, torch.Tensor], sampling: Sampling) -> dict:
        """A choice of an ``echo`` + ``logprobs`` request: the prompt's log-probabilities and, with ``max_tokens``
        1, the token chosen after it with its own (none when it is an end token: finish_reason "stop")."""
        prompt = job.prompts[index // job.n]
        logprobs, following = answer
        logprobs = {name: list(value) if isinstance(value, list) else value for name, value in logprobs.items()}
        if job.max_tokens == 0:
            return {"index": index, "text": prompt, "finish_reason": "length", "logprobs": logprobs}
        token = sampling.choose(following)
        if token in self.end_ids(job):
            return {"index": index, "text": prompt, "finish_reason": "stop", "logprobs": logprobs}
        logprobs["tokens"].append(self.backend.tokenizer.convert_ids_to_tokens(token))
        logprobs["token_logprobs"].append(following[token].item())
        logprobs["text_offset"].append(len(prompt))
        text = prompt + self.backend.tokenizer.decode([token], skip_special_tokens=True)
        return {"index": index, "text": text, "finish_reason": "length", "logprobs": logprobs}


def _usage(prompt_tokens: int, completion_tokens: int) -> dict:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


class _Handler(BaseHTTPRequestHandler):
    server: ModelServer
    timeout = 60  # seconds a client may take to send its request (a stalled client holds no model)

    def log_message(self, format: str, *args) -> None:  # through logging, not stderr
        logger.info("%s - %s", self.address_string(), format % args)

    def _send(self, status: int, payload: dict) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _event(self, payload: dict | str) -> None:
        data = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
        self.wfile.write(f"data: {data}\n\n".encode("utf-8"))
        self.wfile.flush()

    def do_GET(self) -> None:
        path = self.path.rstrip("/")
        model = {"id": self.server.model_name, "object": "model", "created": 0, "owned_by": "plm-recipes"}
        if path == "/v1/models":
            self._send(200, {"object": "list", "data": [model]})
        elif path.startswith("/v1/models/"):
            try:
                self.server.check_model({"model": urllib.parse.unquote(path[len("/v1/models/"):])})
                self._send(200, model)
            except RequestError as e:
                self._send(e.status, e.to_dict())
        else:
            self._send(404, RequestError(f"no such endpoint: GET {self.path}", status=404).to_dict())

    def do_POST(self) -> None:
        readers = {"/v1/chat/completions": read_chat, "/v1/completions": read_completion}
        read = readers.get(self.path.rstrip("/"))
        try:
            if read is None:
                raise RequestError(f"no such endpoint: POST {self.path}", status=404)
            try:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8"))
            except (ValueError, UnicodeDecodeError) as e:
                raise RequestError(f"the request body is not JSON: {e}") from None
            if not isinstance(body, dict):
                raise RequestError("the request body must be a JSON object")
            self.server.check_model(body)
            job = read(body)
            self._answer(job)
        except RequestError as e:
            self._send(e.status, e.to_dict())
        except PlmRecipesError as e:  # a model without a chat template
            self._send(400, RequestError(str(e)).to_dict())
        except GenerationTimeout as e:
            self._send(504, {"error": {"message": f"{e} (--request_timeout {self.server.request_timeout:g} s)",
                                       "type": "timeout", "param": None, "code": "timeout"}})
        except Exception as e:  # the model failed: say so to the client, keep serving
            logger.exception("request failed")
            self._send(500, {"error": {"message": f"{type(e).__name__}: {e}", "type": "server_error",
                                       "param": None, "code": None}})

    def _answer(self, job: Job) -> None:
        deadline = self.server.acquire()
        try:  # the tokenizer too is used under the lock: a fast tokenizer is not safe to share between threads
            ids = self.server.prompt_ids(job)
            if job.stream:
                self._stream(job, ids, deadline)
            else:
                self._send(200, self._complete(job, ids, deadline))
        finally:
            self.server.lock.release()

    def _header(self, job: Job) -> dict:
        return {"id": f"{'chatcmpl' if job.chat else 'cmpl'}-{time.time_ns()}",
                "object": "chat.completion" if job.chat else "text_completion", "created": int(time.time()),
                "model": self.server.model_name}

    def _complete(self, job: Job, ids: list[list[int]], deadline: float) -> dict:
        if job.prompt_logprobs:  # echo with max_tokens 0 or 1: the prompts' log-probabilities
            answers = self.server.prompt_logprobs(job.prompts)
            sampling = self.server.sampling(job)
            choices = [self.server.echo_choice(job, index, answers[index // job.n], sampling)
                       for index in range(len(job.prompts) * job.n)]
            generated = sum(len(c["logprobs"]["tokens"]) - len(answers[c["index"] // job.n][0]["tokens"])
                            for c in choices)
            return {**self._header(job), "choices": choices, "usage": _usage(sum(map(len, ids)), generated)}
        choices: list[dict[str, Any]] = []
        completion_tokens = 0
        for index, decoding in self.server.decodings(job, ids, deadline):
            prompt = job.prompts[index // job.n]
            text = "".join(decoding)
            completion_tokens += decoding.completion_tokens
            if job.chat:
                choices.append({"index": index, "message": {"role": "assistant", "content": text},
                                "finish_reason": decoding.finish_reason, "logprobs": None})
            else:
                choices.append({"index": index, "text": (prompt if job.echo else "") + text,
                                "finish_reason": decoding.finish_reason, "logprobs": None})
        return {**self._header(job), "choices": choices, "usage": _usage(sum(map(len, ids)), completion_tokens)}

    def _stream(self, job: Job, ids: list[list[int]], deadline: float) -> None:
        """Server-sent events: a chunk per piece of text, a last chunk per choice with its finish reason, then
        (``stream_options.include_usage``) one with the usage, then ``data: [DONE]``."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        header = self._header(job)
        header["object"] = "chat.completion.chunk" if job.chat else "text_completion"
        extra = {"usage": None} if job.include_usage else {}

        def chunk(index: int, text: str | None, finish_reason: str | None = None, first: bool = False) -> dict:
            if job.chat:
                delta = {} if text is None else {"content": text}
                if first:
                    delta["role"] = "assistant"
                choice = {"index": index, "delta": delta, "finish_reason": finish_reason, "logprobs": None}
            else:
                choice = {"index": index, "text": text or "", "finish_reason": finish_reason, "logprobs": None}
            return {**header, "choices": [choice], **extra}

        completion_tokens = 0
        try:
            for index, decoding in self.server.decodings(job, ids, deadline):
                first = job.prompts[index // job.n] if job.echo else ""
                self._event(chunk(index, first, first=True))
                for piece in decoding:
                    self._event(chunk(index, piece))
                completion_tokens += decoding.completion_tokens
                self._event(chunk(index, None, decoding.finish_reason))
        except (BrokenPipeError, ConnectionResetError):  # the client left: stop generating
            logger.info("client disconnected during a stream")
            return
        except Exception as e:  # the status is sent: say it in the stream, as OpenAI's streamed errors are
            if isinstance(e, GenerationTimeout):
                error = {"message": f"{e} (--request_timeout {self.server.request_timeout:g} s)", "type": "timeout",
                         "param": None, "code": "timeout"}
            else:
                logger.exception("request failed")
                error = {"message": f"{type(e).__name__}: {e}", "type": "server_error", "param": None, "code": None}
            self._event({"error": error})
            return
        if job.include_usage:
            self._event({**header, "choices": [], "usage": _usage(sum(map(len, ids)), completion_tokens)})
        self._event("[DONE]")


def serve(server: ModelServer) -> None:
    """Serve until Ctrl-C (SIGINT) or SIGTERM, then stop: the request in progress is ended, the port freed.

    The signal may reach any thread of the process, while Python runs its handlers in the main thread only, when
    that thread next runs Python code: a main thread blocked on a lock or an event would not wake. So the main
    thread waits on a socket that the signal itself writes to (``signal.set_wakeup_fd``, as asyncio does)."""
    wake_read, wake_write = socket.socketpair()
    wake_write.setblocking(False)
    previous_fd = signal.set_wakeup_fd(wake_write.fileno(), warn_on_full_buffer=False)
    previous = {s: signal.signal(s, lambda *_: None) for s in (signal.SIGINT, signal.SIGTERM)}
    thread = threading.Thread(target=server.serve_forever, name="llm-serve", daemon=True)
    thread.start()
    print(f"serving {server.model_name} at {server.base_url} (Ctrl-C stops)", flush=True)
    try:
        select.select([wake_read], [], [])
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()
        for s, handler in previous.items():
            signal.signal(s, handler)
        signal.set_wakeup_fd(previous_fd)
        wake_read.close()
        wake_write.close()
        print("stopped", file=sys.stderr, flush=True)
