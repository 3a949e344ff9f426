"""A small OpenAI-compatible HTTP server for a local chat model (``plm-recipes llm serve``), on the standard
library's ``http.server``: enough for :class:`~plm_recipes.llm.backends.OpenAIBackend`, the tests and trying the
HTTP path on a laptop. For real serving use vLLM, TGI or llama.cpp's server.

Endpoints (JSON in, JSON out; requests are served one at a time, the model being one):

- ``GET /v1/models``: the served model;
- ``POST /v1/chat/completions``: ``{"messages", "max_tokens"}`` -> the greedy answer (``temperature`` and
  sampling settings are ignored: answers are deterministic; ``chat_template_kwargs`` go to the template);
- ``POST /v1/completions``: ``{"prompt": str | [str], "max_tokens", "echo", "logprobs"}``. With ``echo`` and
  ``logprobs`` the answer carries the log-probability of every prompt token (``tokens``, ``token_logprobs`` with
  ``None`` for the first, ``text_offset``), as vLLM returns them: what option scoring over HTTP reads.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import torch

from ..errors import PlmRecipesError
from .backends import TEMPLATE_KWARGS, TransformersBackend

logger = logging.getLogger(__name__)


class _BadRequest(Exception):
    pass


class ModelServer(ThreadingHTTPServer):
    """``ModelServer((host, port), backend, name)``; ``serve_forever()`` serves until ``shutdown()``. Port 0 picks a
    free port (``server.server_address[1]``)."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], backend: TransformersBackend, name: str):
        super().__init__(address, _Handler)
        self.backend = backend
        self.model_name = name
        self.lock = threading.Lock()

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/v1"

    # --- what the endpoints compute -------------------------------------------------------------------------

    def chat(self, body: dict) -> dict:
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages or not all(
                isinstance(m, dict) and isinstance(m.get("content"), str) for m in messages):
            raise _BadRequest("'messages' must be a non-empty list of {role, content}")
        max_tokens = _max_tokens(body, default=256)
        kwargs = body.get("chat_template_kwargs") or {}
        if kwargs and kwargs != TEMPLATE_KWARGS:
            raise _BadRequest(f"this server renders chat templates with {TEMPLATE_KWARGS} only")
        with self.lock:
            answer = self.backend.generate([messages], max_tokens)[0] if max_tokens else ""
        return {"id": f"chatcmpl-{time.time_ns()}", "object": "chat.completion", "created": int(time.time()),
                "model": self.model_name,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": answer},
                             "finish_reason": "stop"}]}

    def complete(self, body: dict) -> dict:
        prompts = body.get("prompt")
        prompts = [prompts] if isinstance(prompts, str) else prompts
        if not isinstance(prompts, list) or not prompts or not all(isinstance(p, str) and p for p in prompts):
            raise _BadRequest("'prompt' must be a non-empty string or list of strings")
        max_tokens = _max_tokens(body, default=16)
        echo, logprobs = bool(body.get("echo")), body.get("logprobs")
        choices = []
        with self.lock:
            for index, prompt in enumerate(prompts):
                text = self._continue(prompt, max_tokens) if max_tokens else ""
                choice: dict[str, Any] = {"index": index, "text": (prompt if echo else "") + text,
                                          "finish_reason": "length", "logprobs": None}
                if echo and logprobs is not None:
                    choice["logprobs"] = self._prompt_logprobs(prompt)
                choices.append(choice)
        return {"id": f"cmpl-{time.time_ns()}", "object": "text_completion", "created": int(time.time()),
                "model": self.model_name, "choices": choices}

    @torch.no_grad()
    def _continue(self, prompt: str, max_tokens: int) -> str:
        tok, model = self.backend.tokenizer, self.backend.model
        ids = tok(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"].to(self.backend.device)
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_tokens,
                             do_sample=False, pad_token_id=tok.pad_token_id)
        return tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True)

    @torch.no_grad()
    def _prompt_logprobs(self, prompt: str) -> dict:
        tok, model = self.backend.tokenizer, self.backend.model
        encoded = tok(prompt, add_special_tokens=False, return_offsets_mapping=True)
        ids = encoded["input_ids"]
        if len(ids) > self.backend.max_length:
            raise _BadRequest(f"the prompt is {len(ids)} tokens, beyond the model's context of "
                              f"{self.backend.max_length}")
        logits = model(input_ids=torch.tensor([ids], device=self.backend.device)).logits[0].float()
        log_probs = torch.log_softmax(logits, dim=-1)
        values: list[float | None] = [None] + [log_probs[t - 1, ids[t]].item() for t in range(1, len(ids))]
        return {"tokens": tok.convert_ids_to_tokens(ids), "token_logprobs": values,
                "text_offset": [start for start, _ in encoded["offset_mapping"]], "top_logprobs": None}


def _max_tokens(body: dict, default: int) -> int:
    value = body.get("max_tokens", body.get("max_completion_tokens", default))
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise _BadRequest("'max_tokens' must be a whole number >= 0")
    return value


class _Handler(BaseHTTPRequestHandler):
    server: ModelServer

    def log_message(self, format: str, *args) -> None:  # through logging, not stderr
        logger.info("%s - %s", self.address_string(), format % args)

    def _send(self, status: int, payload: dict) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str) -> None:
        self._send(status, {"error": {"message": message, "type": "invalid_request_error", "code": status}})

    def do_GET(self) -> None:
        if self.path.rstrip("/") == "/v1/models":
            self._send(200, {"object": "list", "data": [{"id": self.server.model_name, "object": "model",
                                                         "owned_by": "plm-recipes"}]})
        else:
            self._error(404, f"no such endpoint: GET {self.path}")

    def do_POST(self) -> None:
        routes = {"/v1/chat/completions": self.server.chat, "/v1/completions": self.server.complete}
        route = routes.get(self.path.rstrip("/"))
        if route is None:
            self._error(404, f"no such endpoint: POST {self.path}")
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length).decode("utf-8"))
            if not isinstance(body, dict):
                raise _BadRequest("the request body must be a JSON object")
            self._send(200, route(body))
        except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as e:
            self._error(400, f"the request body is not JSON: {e}")
        except (_BadRequest, PlmRecipesError) as e:  # PlmRecipesError: a prompt beyond the context
            self._error(400, str(e))
        except Exception as e:  # the model failed: say so to the client, keep serving
            logger.exception("request failed")
            self._error(500, f"{type(e).__name__}: {e}")


def serve(backend: TransformersBackend, name: str, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve ``backend`` until interrupted."""
    server = ModelServer((host, port), backend, name)
    print(f"serving {name} at {server.base_url} (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
