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

This module holds the model's side (:class:`ModelServer`: from a request to token ids, decodings and echoed
log-probabilities, one request at a time) and :func:`serve`; :mod:`.http_handler` the HTTP side, :mod:`.echo` the
log-probabilities of given text.
"""

from __future__ import annotations

import logging
import select
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from http.server import ThreadingHTTPServer

import torch

from ..chat import TEMPLATE_KWARGS, render_chat
from .decoding import Decoding, Sampling
from .echo import prompt_logprobs
from .http_handler import RequestHandler
from .openai_api import Job, RequestError
from .transformers_backend import TransformersBackend

logger = logging.getLogger(__name__)  # also the request handler's


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
        super().__init__(address, RequestHandler)
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


    def prompt_logprobs(self, prompts: list[str]) -> list[tuple[dict, torch.Tensor]]:
        """``echo`` + ``logprobs``: see :func:`~plm_recipes.llm.echo.prompt_logprobs`."""
        return prompt_logprobs(self.backend, prompts)

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
