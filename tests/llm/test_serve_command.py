"""``plm-recipes llm serve`` as a command: a port in use is one line before any loading, and Ctrl-C / SIGTERM stop
it while a streamed answer is in progress, leaving no client hanging."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading

import openai
import pytest

from plm_recipes.cli import main as cli_main
from plm_recipes.llm import TransformersBackend

PROMPT = "这部电影很"


def test_serve_on_a_port_in_use_is_one_line_before_loading(tiny_chat, capsys, monkeypatch):
    def no_loading(*args, **kwargs):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(TransformersBackend, "from_pretrained", no_loading)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SystemExit) as e:
            cli_main(["llm", "serve", "--model", str(tiny_chat), "--port", str(port)])
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and len(err) == 1 and f"cannot listen on 127.0.0.1:{port}" in err[0], err


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_serve_stops_on_ctrl_c_and_sigterm(tiny_chat, signum):
    process = subprocess.Popen(
        [sys.executable, "-c", "from plm_recipes.cli import main; main()", "llm", "serve", "--model", str(tiny_chat),
         "--port", "0", "--served_model", "tiny"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()  # printed once the model is loaded and the port taken
        assert line.startswith("serving tiny at http://127.0.0.1:"), (line, process.stderr.read())
        base_url = line.split(" at ")[1].split()[0]
        client = openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0)
        assert client.completions.create(model="tiny", prompt=PROMPT, max_tokens=1).usage.completion_tokens == 1
        streaming, ended = threading.Event(), threading.Event()

        def long_answer() -> None:  # a request in progress when the signal comes
            try:
                for _ in client.completions.create(model="tiny", prompt=PROMPT, max_tokens=1000, stream=True):
                    streaming.set()
            except (openai.APIError, openai.APIConnectionError):
                pass  # the server says it is shutting down, or closes the connection
            finally:
                streaming.set()
                ended.set()

        threading.Thread(target=long_answer, daemon=True).start()
        assert streaming.wait(timeout=60)
        process.send_signal(signum)
        assert process.wait(timeout=30) == 0
        assert process.stderr.read().strip().endswith("stopped")
        assert ended.wait(timeout=30)  # the client is not left hanging
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
