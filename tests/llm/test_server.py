"""``plm-recipes llm serve`` through the official ``openai`` client, on a tiny random chat model (tiny_chat.py) on a
free loopback port: streaming as server-sent events, ``usage``, a true ``finish_reason`` both ways, ``stop``,
``n``, ``max_tokens`` bounded by the context, the model name checked, content as text parts, 400 for what the
server does not do and timeouts (the command itself: test_serve_command.py)."""

from __future__ import annotations

import json
import urllib.request

import openai
import pytest
import torch
from loopback import start_server, stop_server

from plm_recipes.llm import TransformersBackend, render_chat
from plm_recipes.llm.decoding import Decoding

MESSAGES = [{"role": "user", "content": "苹果很甜，这是哪一类？"}]
PROMPT = "这部电影很"


@pytest.fixture(scope="module")
def client(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0, timeout=60)


def greedy_ids(backend: TransformersBackend, prompt_ids: list[int], n: int) -> list[int]:
    """The tiny model's greedy continuation, by plain ``generate`` (no end token)."""
    out = backend.model.generate(input_ids=torch.tensor([prompt_ids]), max_new_tokens=n, min_new_tokens=n,
                                 do_sample=False, pad_token_id=backend.tokenizer.pad_token_id)
    return out[0, len(prompt_ids):].tolist()


def chat_prompt_ids(backend: TransformersBackend, messages=MESSAGES) -> list[int]:
    return backend.tokenizer(render_chat(backend.tokenizer, messages), add_special_tokens=False)["input_ids"]


# --- answers, usage, finish_reason ----------------------------------------------------------------------------


def test_chat_answer_usage_and_length_finish(client, backend):
    reply = client.chat.completions.create(model="tiny-chat", messages=MESSAGES, max_tokens=5, temperature=0)
    prompt = chat_prompt_ids(backend)
    expected = backend.tokenizer.decode(greedy_ids(backend, prompt, 5), skip_special_tokens=True)
    choice = reply.choices[0]
    assert (choice.message.role, choice.message.content, choice.finish_reason) == ("assistant", expected, "length")
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens, reply.usage.total_tokens) == \
        (len(prompt), 5, len(prompt) + 5)
    assert reply.model == "tiny-chat" and reply.object == "chat.completion"


def test_an_end_token_finishes_with_stop(tiny_chat):
    """The model's own end token (generation_config.eos_token_id) made the greedy answer's k-th token: the answer
    is the k tokens before it, with finish_reason "stop"."""
    backend = TransformersBackend.from_pretrained(str(tiny_chat), device="cpu", progress=False)
    prompt = chat_prompt_ids(backend)
    tokens = greedy_ids(backend, prompt, 6)
    k = next(i for i in range(1, len(tokens)) if tokens[i] not in tokens[:i])
    backend.model.generation_config.eos_token_id = tokens[k]
    server = start_server(backend)
    try:
        client = openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)
        reply = client.chat.completions.create(model="tiny-chat", messages=MESSAGES, max_tokens=6, temperature=0)
        completion = client.completions.create(model="tiny-chat", prompt=backend.tokenizer.decode(prompt),
                                               max_tokens=6, temperature=0)
    finally:
        stop_server(server)
    expected = backend.tokenizer.decode(tokens[:k], skip_special_tokens=True)
    assert (reply.choices[0].message.content, reply.choices[0].finish_reason) == (expected, "stop")
    assert reply.usage.completion_tokens == k
    assert (completion.choices[0].text, completion.choices[0].finish_reason) == (expected, "stop")


def test_completion_usage_echo_and_length_finish(client, backend):
    reply = client.completions.create(model="tiny-chat", prompt=PROMPT, max_tokens=4, temperature=0)
    prompt = backend.tokenizer(PROMPT, add_special_tokens=False)["input_ids"]
    expected = backend.tokenizer.decode(greedy_ids(backend, prompt, 4), skip_special_tokens=True)
    assert (reply.choices[0].text, reply.choices[0].finish_reason) == (expected, "length")
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (len(prompt), 4)
    echoed = client.completions.create(model="tiny-chat", prompt=PROMPT, max_tokens=4, temperature=0, echo=True)
    assert echoed.choices[0].text == PROMPT + expected


def test_echoed_prompt_logprobs_match_a_plain_forward_pass(server, backend):
    """The shared prefix encoded once and the rest in one right-padded batch give each prompt's log-probabilities
    as one forward pass over it alone does."""
    prompts = [PROMPT + "好看", PROMPT + "无聊，不推荐给任何人", PROMPT, "物"]
    for group in (prompts, prompts[:1], prompts[3:]):
        answers = server.prompt_logprobs(group)
        for prompt, (answer, following) in zip(group, answers):
            ids = backend.tokenizer(prompt, add_special_tokens=False)["input_ids"]
            with torch.no_grad():
                log_probs = torch.log_softmax(backend.model(torch.tensor([ids])).logits[0].float(), dim=-1)
            expected = [log_probs[t - 1, ids[t]].item() for t in range(1, len(ids))]
            assert answer["token_logprobs"][0] is None and len(answer["token_logprobs"]) == len(ids)
            assert answer["token_logprobs"][1:] == pytest.approx(expected, abs=1e-4), prompt
            torch.testing.assert_close(following, log_probs[-1], atol=1e-4, rtol=0)


def test_echo_with_logprobs_and_one_generated_token(client, backend):
    """What vLLM answers and lm-eval / option scoring send: the prompt's log-probabilities, then the generated
    token with its own."""
    reply = client.completions.create(model="tiny-chat", prompt=[PROMPT, "物流"], max_tokens=1, echo=True,
                                      logprobs=1, temperature=0)
    for prompt, choice in zip([PROMPT, "物流"], reply.choices):
        ids = backend.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        token = greedy_ids(backend, ids, 1)[0]
        with torch.no_grad():
            following = torch.log_softmax(backend.model(torch.tensor([ids])).logits[0, -1].float(), dim=-1)
        assert choice.text == prompt + backend.tokenizer.decode([token]) and choice.finish_reason == "length"
        assert len(choice.logprobs.token_logprobs) == len(ids) + 1 and choice.logprobs.text_offset[-1] == len(prompt)
        assert choice.logprobs.token_logprobs[-1] == pytest.approx(following[token].item(), abs=1e-4)
    assert reply.usage.completion_tokens == 2


# --- streaming -----------------------------------------------------------------------------------------------


def test_chat_stream_is_the_answer_in_pieces(client):
    whole = client.chat.completions.create(model="tiny-chat", messages=MESSAGES, max_tokens=8, temperature=0)
    chunks = list(client.chat.completions.create(model="tiny-chat", messages=MESSAGES, max_tokens=8, temperature=0,
                                                 stream=True, stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content and len([c for c in chunks if c.choices]) > 3
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"
    assert chunks[-1].choices == [] and chunks[-1].usage.model_dump() == whole.usage.model_dump()
    assert all(c.object == "chat.completion.chunk" and c.model == "tiny-chat" for c in chunks)


def test_completion_stream_and_done_event(client, server):
    whole = client.completions.create(model="tiny-chat", prompt=PROMPT, max_tokens=6, temperature=0)
    chunks = list(client.completions.create(model="tiny-chat", prompt=PROMPT, max_tokens=6, temperature=0,
                                            stream=True))
    assert "".join(c.choices[0].text for c in chunks) == whole.choices[0].text
    assert chunks[-1].choices[0].finish_reason == "length" and chunks[-1].usage is None
    request = urllib.request.Request(server.base_url + "/completions", method="POST", data=json.dumps(
        {"prompt": PROMPT, "max_tokens": 2, "stream": True}).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.headers["Content-Type"].startswith("text/event-stream")
        events = response.read().decode("utf-8").split("\n\n")
    assert events[-2:] == ["data: [DONE]", ""] and all(e.startswith("data: ") for e in events[:-1])


# --- stop, n --------------------------------------------------------------------------------------------------


def test_stop_strings_end_the_answer_before_them(client):
    answer = client.chat.completions.create(model="tiny-chat", messages=MESSAGES, max_tokens=12,
                                            temperature=0).choices[0].message.content
    start = next(i for i in range(1, len(answer) - 1) if answer.find(answer[i:i + 2]) == i)
    stop = answer[start:start + 2]
    for kwargs in ({}, {"stream": True}):
        reply = client.chat.completions.create(model="tiny-chat", messages=MESSAGES, max_tokens=12, temperature=0,
                                               stop=[stop, "never written"], **kwargs)
        if kwargs:
            chunks = [c for c in reply if c.choices]
            text = "".join(c.choices[0].delta.content or "" for c in chunks)
            finish = chunks[-1].choices[0].finish_reason
        else:
            text, finish = reply.choices[0].message.content, reply.choices[0].finish_reason
        assert (text, finish) == (answer[:start], "stop"), kwargs


def test_decoding_holds_back_what_may_begin_a_stop_string(backend):
    """Pieces, once shown, cannot be taken back: a piece that showed the beginning of a stop string the next
    tokens complete would leave it in the answer. Every stop string from every place of the answer ends it right
    before its first occurrence, with finish_reason "stop" (characters cut between tokens included)."""
    prompt = chat_prompt_ids(backend)
    answer = "".join(Decoding(backend.model, backend.tokenizer, prompt, 10))
    assert len(answer) >= 8
    for start in range(1, len(answer) - 2):
        stop = answer[start:start + 3].strip("\ufffd")
        decoding = Decoding(backend.model, backend.tokenizer, prompt, 10, stop=["never written", stop])
        assert ("".join(decoding), decoding.finish_reason) == (answer[:answer.find(stop)], "stop"), stop


def test_n_answers_per_prompt(client):
    kwargs = dict(model="tiny-chat", messages=MESSAGES, max_tokens=6, temperature=1.0, seed=7, n=3)
    reply = client.chat.completions.create(**kwargs)
    assert [c.index for c in reply.choices] == [0, 1, 2]
    assert len({c.message.content for c in reply.choices}) > 1  # sampled: not three copies
    assert [c.finish_reason for c in reply.choices] == ["length"] * 3 and reply.usage.completion_tokens == 18
    again = client.chat.completions.create(**kwargs)  # the same seed, the same answers
    assert [c.message.content for c in again.choices] == [c.message.content for c in reply.choices]
    texts = client.completions.create(model="tiny-chat", prompt=[PROMPT, "物流"], n=2, max_tokens=2, temperature=0,
                                      echo=True)
    assert [(c.index, c.text[:2]) for c in texts.choices] == [(0, "这部"), (1, "这部"), (2, "物流"),
                                                              (3, "物流")]
    streamed = list(client.chat.completions.create(**kwargs, stream=True))
    assert {c.choices[0].index for c in streamed} == {0, 1, 2}


# --- limits ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ["chat", "completions"])
def test_max_tokens_is_bounded_by_the_context(client, endpoint):
    ask = (lambda **kw: client.chat.completions.create(messages=MESSAGES, **kw)) if endpoint == "chat" else \
        (lambda **kw: client.completions.create(prompt=PROMPT, **kw))
    with pytest.raises(openai.BadRequestError, match="maximum context length is 1024 tokens") as e:
        ask(model="tiny-chat", max_tokens=10**9)
    assert e.value.code == "context_length_exceeded" and e.value.param == "max_tokens"
    with pytest.raises(openai.BadRequestError, match="maximum context length"):
        ask(model="tiny-chat", max_tokens=1024)
    assert ask(model="tiny-chat", max_tokens=1, temperature=0).usage.completion_tokens == 1  # the lock was freed


def test_a_request_past_its_timeout_or_kept_waiting_is_refused(backend):
    server = start_server(backend, request_timeout=1e-6)  # the deadline passes before the first token
    try:
        client = openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)
        with pytest.raises(openai.InternalServerError, match="not finished after 0 tokens") as e:
            client.chat.completions.create(model="tiny-chat", messages=MESSAGES, max_tokens=4)
        assert e.value.status_code == 504
        with pytest.raises(openai.APIError, match="not finished after 0 tokens"):  # streamed: an error event
            list(client.chat.completions.create(model="tiny-chat", messages=MESSAGES, max_tokens=4, stream=True))
        with server.lock:  # another request holds the model
            with pytest.raises(openai.InternalServerError, match="stayed busy") as e:
                client.completions.create(model="tiny-chat", prompt=PROMPT, max_tokens=1)
        assert e.value.status_code == 503
    finally:
        stop_server(server)


# --- what a request names -------------------------------------------------------------------------------------


def test_the_model_name_is_checked(client, server):
    assert [m.id for m in client.models.list()] == ["tiny-chat"]
    assert client.models.retrieve("tiny-chat").id == "tiny-chat"
    with urllib.request.urlopen(server.base_url + "/models/tiny%2Dchat", timeout=60) as response:  # URL-encoded
        assert json.loads(response.read())["id"] == "tiny-chat"
    for call in (lambda: client.chat.completions.create(model="gpt-4o", messages=MESSAGES, max_tokens=1),
                 lambda: client.completions.create(model="gpt-4o", prompt=PROMPT, max_tokens=1),
                 lambda: client.models.retrieve("gpt-4o")):
        with pytest.raises(openai.NotFoundError, match="`gpt-4o` does not exist") as e:
            call()
        assert e.value.code == "model_not_found"


def test_content_as_text_parts(client):
    parts = [{"role": "system", "content": [{"type": "text", "text": "你是助手"}]},
             {"role": "user", "content": [{"type": "text", "text": "苹果"}, {"type": "text", "text": "很甜"}]}]
    joined = [{"role": "system", "content": "你是助手"}, {"role": "user", "content": "苹果\n很甜"}]
    answers = [client.chat.completions.create(model="tiny-chat", messages=m, max_tokens=6, temperature=0)
               for m in (parts, joined)]
    assert answers[0].choices[0].message.content == answers[1].choices[0].message.content
    assert answers[0].usage.prompt_tokens == answers[1].usage.prompt_tokens
    image = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "http://x/y.png"}}]}]
    with pytest.raises(openai.BadRequestError, match="parts of type 'image_url' are not supported"):
        client.chat.completions.create(model="tiny-chat", messages=image)


@pytest.mark.parametrize(("extra", "message"), [
    ({"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}},
     "response_format 'json_schema' is not supported"),
    ({"response_format": {"type": "json_object"}}, "response_format 'json_object' is not supported"),
    ({"tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]},
     "tools and function calling are not supported"),
    ({"tool_choice": "required"}, "tools and function calling are not supported"),
    ({"logprobs": True}, "logprobs are not supported in chat completions"),
    ({"logit_bias": {"10": 5}}, "logit_bias is not supported"),
    ({"presence_penalty": 0.5}, "presence_penalty is not supported"),
    ({"n": 0}, "'n' must be a whole number from 1 to 128"),
    ({"temperature": 3}, "'temperature' must be a number from 0 to 2"),
    ({"stop": ""}, "'stop' must be a non-empty string"),
    ({"max_tokens": -1}, "'max_tokens' must be a whole number >= 0"),
])
def test_what_the_server_does_not_do_is_a_400(client, extra, message):
    with pytest.raises(openai.BadRequestError, match=message):
        client.chat.completions.create(**{"model": "tiny-chat", "messages": MESSAGES, "max_tokens": 2, **extra})


@pytest.mark.parametrize(("extra", "message"), [
    ({"suffix": "。"}, "suffix"),
    ({"logprobs": 1}, "logprobs are returned for the prompt and at most one generated token"),
    ({"logprobs": 1, "echo": True, "max_tokens": 2}, "with max_tokens 0 or 1"),
    ({"best_of": 3}, "best_of is not supported"), ({"prompt": [1, 2, 3]}, "token ids are not supported"),
])
def test_what_completions_do_not_do_is_a_400(client, extra, message):
    with pytest.raises(openai.BadRequestError, match=message):
        client.completions.create(**{"model": "tiny-chat", "prompt": PROMPT, "max_tokens": 2, **extra})
