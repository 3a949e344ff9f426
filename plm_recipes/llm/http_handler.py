"""The HTTP side of ``plm-recipes llm serve``: one request handler for :class:`~plm_recipes.llm.server.ModelServer`
(routes, JSON bodies and errors, server-sent events for ``stream: true``)."""

from __future__ import annotations

import json
import logging
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

from ..errors import PlmRecipesError
from .decoding import GenerationTimeout
from .openai_api import Job, RequestError, read_chat, read_completion

if TYPE_CHECKING:
    from .server import ModelServer

logger = logging.getLogger("plm_recipes.llm.server")


def _usage(prompt_tokens: int, completion_tokens: int) -> dict:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


class RequestHandler(BaseHTTPRequestHandler):
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
