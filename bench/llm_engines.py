#!/usr/bin/env python
"""Benchmark: ``plm-recipes llm ... --backend openai`` against two OpenAI-compatible servers on this machine,
``plm-recipes llm serve`` (transformers, float32) and llama.cpp's (llama-cpp-python's ``python -m llama_cpp.server``,
built from source), both serving qwen2.5-coder-0.5b-instruct: ours the folder ``../shared/tools/prepare_models.py``
dequantizes from the Q4_K_M GGUF, llama.cpp that GGUF itself.

1. **Requests**: which of the requests the OpenAI API defines each server answers, and how, probed with the official
   ``openai`` client (streaming, usage, finish_reason, stop, n, an unbounded max_tokens, another model's name,
   content parts, response_format, tools, a list of prompts, echoed prompt log-probabilities). The echoed
   log-probabilities are compared with ours token by token, as given and shifted by one position.
2. **Commands**: ``llm classify | match | extract --backend openai`` on a small zero-shot sample of bench/llm.py's
   items (its data and seeded split), each method: accuracy (F1 for extraction), items/s, or the one line the
   command ended with.

    nice python bench/llm_engines.py --gguf DIR/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf [--items 10]
        [--extract_items 3] [--threads 2]

Results: ``bench/results/llm_engines.json``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from common import RESULTS, ROOT, require, save

sys.path.insert(0, str(ROOT))

MODEL = "qwen2.5-coder-0.5b-instruct"
NAME = "qwen"  # the name both servers serve the model under
ASK = [{"role": "user", "content": "用一句话介绍杭州。"}]


# --- servers --------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_ours(model_dir: Path) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen([sys.executable, "-c", "from plm_recipes.cli import main; main()", "llm", "serve",
                                "--model", str(model_dir), "--port", "0", "--served_model", NAME],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = process.stdout.readline()  # "serving NAME at URL (Ctrl-C stops)" once loaded
    if " at " not in line:
        raise SystemExit(f"llm serve did not start: {line!r}")
    return process, line.split(" at ")[1].split()[0]


def start_llama_cpp(gguf: Path, threads: int, context: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(gguf),
                                "--model_alias", NAME, "--host", "127.0.0.1", "--port", str(port),
                                "--n_ctx", str(context), "--n_threads", str(threads), "--verbose", "false"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for line in process.stderr:  # uvicorn says when it listens
        if "Uvicorn running on" in line:
            return process, f"http://127.0.0.1:{port}/v1"
    raise SystemExit("llama_cpp.server did not start (is llama-cpp-python[server] installed?)")


# --- 1. requests ----------------------------------------------------------------------------------------------


def outcome(call: Callable[[], str]) -> str:
    """What a probe saw, or the error the server answered, in a few words."""
    import openai

    try:
        return call()
    except openai.APIStatusError as e:
        message = e.message if isinstance(e.message, str) else str(e.body)
        return f"HTTP {e.status_code}: {' '.join(message.split())[:140]}"
    except Exception as e:  # a broken stream, a timeout
        return f"{type(e).__name__}: {' '.join(str(e).split())[:140]}"


def probe(base_url: str, prompt_text: str) -> tuple[dict[str, str], list | None]:
    import openai

    client = openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0, timeout=300)

    def chat(**kw):
        return client.chat.completions.create(**{"model": NAME, "messages": ASK, "max_tokens": 24,
                                                 "temperature": 0, **kw})

    def stream_chat() -> str:
        whole = chat().choices[0].message.content
        chunks = list(chat(stream=True, stream_options={"include_usage": True}))
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        usage = chunks[-1].usage is not None
        return f"{len(chunks)} chunks, {'same text' if text == whole else 'OTHER text'}, usage chunk: {usage}"

    def stream_completion() -> str:
        chunks = list(client.completions.create(model=NAME, prompt="def add(a, b):", max_tokens=12, temperature=0,
                                                stream=True))
        return f"{len(chunks)} chunks, last finish_reason {chunks[-1].choices[0].finish_reason!r}"

    def usage() -> str:
        u = chat(max_tokens=4).usage
        return f"prompt {u.prompt_tokens}, completion {u.completion_tokens}, total {u.total_tokens}" if u else "none"

    def finish(**kw) -> str:
        c = chat(**kw).choices[0]
        return f"{c.finish_reason!r} after {c.message.content!r}"

    def stop() -> str:
        c = client.completions.create(model=NAME, prompt="def add(a, b):\n", max_tokens=40, temperature=0,
                                      stop=["\n"]).choices[0]
        return f"{c.finish_reason!r}, text {c.text!r}"

    def n() -> str:
        reply = chat(n=2, temperature=1.0, seed=1, max_tokens=8)
        return f"{len(reply.choices)} choices"

    def unbounded() -> str:
        start = time.perf_counter()
        c = chat(max_tokens=10**6).choices[0]
        return f"answered ({c.finish_reason!r}, {time.perf_counter() - start:.1f} s)"

    def other_model() -> str:
        chat(model="gpt-4o", max_tokens=2)
        return "answered (the name is not checked)"

    def parts() -> str:
        given = chat(messages=[{"role": "user", "content": [{"type": "text", "text": ASK[0]["content"]}]}])
        same = given.choices[0].message.content == chat().choices[0].message.content
        return "answered, " + ("same answer as the string" if same else "OTHER answer than the string")

    def json_schema() -> str:
        schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
        text = chat(response_format={"type": "json_schema", "json_schema": {"name": "c", "schema": schema}},
                    max_tokens=40).choices[0].message.content
        try:
            return f"answered, valid JSON with 'city': {'city' in json.loads(text)}"
        except ValueError:
            return f"answered, not JSON: {text[:40]!r}"

    def tools() -> str:
        tool = {"type": "function", "function": {"name": "weather", "parameters": {
            "type": "object", "properties": {"city": {"type": "string"}}}}}
        m = chat(tools=[tool], tool_choice="auto").choices[0].message
        return f"answered, tool_calls: {bool(m.tool_calls)}"

    def prompt_list() -> str:
        reply = client.completions.create(model=NAME, prompt=["苹果", "香蕉"], max_tokens=2, temperature=0)
        return f"{len(reply.choices)} choices for 2 prompts"

    echoed: list = []

    def echo_logprobs() -> str:
        reply = client.completions.create(model=NAME, prompt=prompt_text, max_tokens=0, echo=True, logprobs=1,
                                          temperature=0)
        lp = reply.choices[0].logprobs
        if lp is None or not lp.token_logprobs:
            return "no log-probabilities"
        echoed.extend(lp.token_logprobs)
        extra = len(reply.choices[0].text) - len(prompt_text)
        return f"{len(lp.token_logprobs)} token log-probabilities; {extra} characters generated after the prompt"

    probes = {"chat completion": lambda: finish(), "stream chat": stream_chat,
              "stream completion": stream_completion, "usage": usage,
              "finish_reason at max_tokens 3": lambda: finish(max_tokens=3),
              "finish_reason at the end": lambda: finish(messages=[{"role": "user", "content": "1+1=? 只回答数字"}]),
              "stop ['\\n']": stop, "n=2": n, "max_tokens 10^6": unbounded, "model 'gpt-4o'": other_model,
              "content as text parts": parts, "response_format json_schema": json_schema, "tools": tools,
              "completions, 2 prompts": prompt_list, "echo + logprobs, max_tokens 0": echo_logprobs}
    results = {}
    for name, call in probes.items():
        results[name] = outcome(call)
        print(f"  {name}: {results[name]}", flush=True)
    return results, echoed or None


def alignment(model_dir: Path, text: str, theirs: list) -> dict:
    """How a server's echoed log-probabilities of ``text`` compare with transformers' (the float32 model ours
    serves): mean |difference| from the right values (token t under the distribution of position t - 1) and from
    each token under the distribution of its own position (what an off-by-one gives)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        log_probs = torch.log_softmax(model(torch.tensor([ids])).logits[0].float(), dim=-1)
    right = [None] + [log_probs[t - 1, ids[t]].item() for t in range(1, len(ids))]
    own = [log_probs[t, ids[t]].item() for t in range(len(ids))]

    def mad(a, b):
        pairs = [(x, y) for x, y in zip(a, b) if x is not None and y is not None]
        return round(sum(abs(x - y) for x, y in pairs) / len(pairs), 3)

    return {"tokens": [len(ids), len(theirs)], "mad_from_right": mad(theirs, right),
            "mad_from_own_position": mad(theirs, own)}


# --- 2. commands ----------------------------------------------------------------------------------------------


def run_command(argv: list[str], output: Path) -> tuple[list[dict] | None, float, str]:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", "from plm_recipes.cli import main; main()", *argv, "--output",
                           str(output), "--no_progress"], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    if done.returncode != 0:
        return None, seconds, errors[0] if errors else done.stderr.strip().splitlines()[-1]
    return [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()], seconds, ""


def commands(base_url: str, model_dir: Path, sample: dict, folder: Path) -> list[dict]:
    from plm_recipes.llm.metrics import triple_f1

    common = ["--backend", "openai", "--base_url", base_url, "--served_model", NAME, "--tokenizer", str(model_dir)]
    runs = []
    for kind, method in [("classify", "choice"), ("classify", "generate"), ("match", "choice"),
                         ("match", "generate"), ("extract", "generate")]:
        items = sample[kind]
        if kind == "classify":
            argv = ["llm", "classify", *common, "--labels", str(folder / "labels.txt"), "--file",
                    str(folder / "texts.txt"), "--method", method]
        elif kind == "match":
            argv = ["llm", "match", *common, "--file", str(folder / "pairs.tsv"), "--method", method,
                    "--max_new_tokens", "8"]
        else:
            argv = ["llm", "extract", *common, "--schema", str(folder / "schema.json"), "--file",
                    str(folder / "extract.txt"), "--max_new_tokens", "160"]
        rows, seconds, error = run_command(argv, folder / f"{kind}-{method}.jsonl")
        run = {"command": f"llm {kind}", "method": method, "items": len(items), "seconds": round(seconds, 1)}
        if rows is None:
            run["error"] = error
        elif kind == "extract":
            gold = [i["triples"] for i in items]
            run["triple_f1"] = round(triple_f1([r["result"] for r in rows], gold)["f1"], 4)
            run["items_per_s"] = round(len(items) / seconds, 3)
        else:
            run["accuracy"] = round(sum(r["label"] == i["label"] for r, i in zip(rows, items)) / len(items), 4)
            run["items_per_s"] = round(len(items) / seconds, 3)
        print(f"  {run}", flush=True)
        runs.append(run)
    return runs


def write_sample(args, folder: Path) -> dict:
    """bench/llm.py's evaluated items (its data, seed and split): the first ``--items`` of classification and
    matching, ``--extract_items`` of extraction, and the extraction schema from its training part."""
    import llm as bench_llm

    _, data_dir = require(MODEL, "llm_instructions")
    _, lcqmc_dir = require(MODEL, "lcqmc")
    classification, extraction = bench_llm.load_instructions(data_dir / "train.jsonl")
    for item in classification:
        item["text"] = item["text"][:100]
    labels = sorted({i["label"] for i in classification})
    classify = bench_llm.split(classification, 20, 42)[0][: args.items]
    match = bench_llm.split(bench_llm.load_lcqmc(lcqmc_dir / "dev.tsv"), 20, 42, balance="label")[0][: args.items]
    evaluated, train = bench_llm.split(extraction, 8, 42)
    schema: dict[str, list[str]] = {}
    for item in train:
        for t in item["triples"]:
            schema.setdefault(t["subject_type"], [])
            if t["predicate"] not in schema[t["subject_type"]]:
                schema[t["subject_type"]].append(t["predicate"])
    (folder / "labels.txt").write_text("\n".join(labels) + "\n", encoding="utf-8")
    (folder / "texts.txt").write_text("".join(i["text"].replace("\n", " ") + "\n" for i in classify), encoding="utf-8")
    (folder / "pairs.tsv").write_text("".join(f"{i['text_a']}\t{i['text_b']}\n" for i in match), encoding="utf-8")
    (folder / "extract.txt").write_text("".join(i["text"] + "\n" for i in evaluated[: args.extract_items]),
                                        encoding="utf-8")
    (folder / "schema.json").write_text(json.dumps(schema, ensure_ascii=False), encoding="utf-8")
    return {"classify": classify, "match": match, "extract": evaluated[: args.extract_items]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gguf", required=True, help="The Q4_K_M GGUF of qwen2.5-coder-0.5b-instruct.")
    parser.add_argument("--items", type=int, default=10, help="Classification and matching items.")
    parser.add_argument("--extract_items", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="llama.cpp's threads.")
    parser.add_argument("--engines", default="ours,llama.cpp")
    parser.add_argument("--parts", default="requests,commands", help="requests: the probes only; commands too.")
    args = parser.parse_args()

    model_dir, _ = require(MODEL, "llm_instructions")
    if "llama.cpp" in args.engines and importlib.util.find_spec("llama_cpp") is None:
        raise SystemExit("llama.cpp's server needs `pip install 'llama-cpp-python[server]'` (it builds from source)")

    results: dict = {"model": MODEL, "gguf": Path(args.gguf).name, "items": args.items,
                     "extract_items": args.extract_items, "engines": {}}
    previous = RESULTS / "llm_engines.json"
    if previous.exists():  # a run of some engines or parts keeps the others' results
        kept = json.loads(previous.read_text(encoding="utf-8")).get("engines", {})
        results["engines"] = {engine: kept[engine] for engine in kept}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        sample = write_sample(args, folder)
        prompt_text = "<|im_start|>user\n苹果很甜<|im_end|>\n<|im_start|>assistant\n水果<|im_end|>"
        for engine in args.engines.split(","):
            print(f"{engine}:", flush=True)
            process, base_url = start_ours(model_dir) if engine == "ours" else \
                start_llama_cpp(Path(args.gguf), args.threads, 2048)
            try:
                requests, echoed = probe(base_url, prompt_text)
                record = results["engines"].setdefault(engine, {})
                record["requests"] = requests
                if "commands" in args.parts:
                    record["commands"] = commands(base_url, model_dir, sample, folder)
            finally:
                process.terminate()
                process.wait(timeout=60)
            if echoed:
                record["echoed_logprobs"] = alignment(model_dir, prompt_text, echoed)
                print(f"  echoed log-probabilities against transformers': {record['echoed_logprobs']}")
    print(f"wrote {save('llm_engines', results)}")


if __name__ == "__main__":
    main()
