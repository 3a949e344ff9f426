"""The LLM family on a tiny random chat model (tests/llm/tiny_chat.py): option scoring checked against a direct
computation, generation with a shared prefix, JSON repair on a table of broken answers, the OpenAI-compatible
backend against a real server on loopback, the commands, bad input, and LoRA SFT end to end with reload."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
import torch
from helpers import DATA, load_recipe

from plm_recipes.cli import main as cli_main
from plm_recipes.errors import ArgumentError, DataFormatError, PlmRecipesError
from plm_recipes.llm import (
    NOT_MENTIONED,
    ChoiceExample,
    OpenAIBackend,
    TransformersBackend,
    choice_from_answer,
    classification_messages,
    classify,
    extract,
    match,
    parse_extraction,
    parse_schema,
    read_choice_examples,
    read_labels,
    render_chat,
    repair_json,
)
from plm_recipes.llm.data import read_instructions
from plm_recipes.llm.metrics import field_f1, triple_f1
from plm_recipes.llm.server import ModelServer

LLM = DATA / "llm"
TEXTS = ["西瓜很新鲜，切开是沙瓤的", "房间干净", "屏幕色彩鲜艳，看视频很舒服，续航一天没问题"]


@pytest.fixture(scope="module")
def backend(tiny_chat) -> TransformersBackend:
    return TransformersBackend.from_pretrained(str(tiny_chat), device="cpu", progress=False)


@pytest.fixture(scope="module")
def labels() -> list[str]:
    return read_labels(LLM / "labels.txt")


def direct_scores(backend: TransformersBackend, conversations, options) -> np.ndarray:
    """log P(option + end | prompt) by one plain forward pass over prompt + option, no cache, no padding."""
    rows = []
    for messages in conversations:
        prompt = backend.tokenizer(render_chat(backend.tokenizer, messages), add_special_tokens=False)["input_ids"]
        row = []
        for option in backend.option_token_ids(options):
            with torch.no_grad():
                logits = backend.model(torch.tensor([prompt + option])).logits[0]
            log_probs = torch.log_softmax(logits.double(), dim=-1)
            row.append(sum(log_probs[len(prompt) - 1 + t, option[t]].item() for t in range(len(option))))
        rows.append(row)
    return np.array(rows)


# --- option scoring ---------------------------------------------------------------------------------------------


def test_option_scoring_matches_a_direct_computation(backend, labels):
    examples = read_choice_examples(LLM / "classify_examples.jsonl", labels)
    conversations = [classification_messages(t, labels, examples) for t in TEXTS]  # a shared few-shot prefix
    expected = direct_scores(backend, conversations, labels)
    assert expected.std() > 0.5  # the tiny model prefers some labels: the check below is not trivial
    backend.batch_size = 2  # a batch of two and a batch of one, prompts of different lengths (padding)
    scores = backend.score_options(conversations, labels)
    np.testing.assert_allclose(scores, expected, atol=1e-3)

    choices = classify(backend, TEXTS, labels, examples, calibrated=False)
    for choice, row in zip(choices, expected):
        assert choice.label == labels[int(row.argmax())]  # the option the model scores highest
        softmax = np.exp(row - row.max()) / np.exp(row - row.max()).sum()
        assert choice.probability == pytest.approx(softmax.max(), abs=1e-4)
        assert sum(choice.scores.values()) == pytest.approx(1.0)
    lengths = backend.option_lengths(labels)  # "mean": per-token scores
    for choice, row in zip(classify(backend, TEXTS, labels, examples, normalization="mean", calibrated=False), expected):
        assert choice.label == labels[int((row / lengths).argmax())]


def test_option_scoring_counts_the_end_of_the_answer(backend):
    # "电脑" is the beginning of "电脑配件": without the end token its score could only be higher
    options = ["电脑", "电脑配件"]
    ids = backend.option_token_ids(options)
    assert ids[0][-1] == ids[1][-1] == backend.tokenizer.convert_tokens_to_ids("<|im_end|>")
    conversation = [classification_messages(TEXTS[0], options)]
    np.testing.assert_allclose(backend.score_options(conversation, options),
                               direct_scores(backend, conversation, options), atol=1e-3)


def test_chat_template_thinking_is_turned_off(backend):
    messages = [{"role": "user", "content": "你好"}]
    assert "<think>" in backend.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert "<think>" not in render_chat(backend.tokenizer, messages)


def test_generation_is_greedy_and_a_shared_prefix_changes_nothing(backend, labels):
    examples = read_choice_examples(LLM / "classify_examples.jsonl", labels)
    conversations = [classification_messages(t, labels, examples) for t in TEXTS]
    backend.batch_size = 8
    together = backend.generate(conversations, 12)
    alone = [backend.generate([c], 12)[0] for c in conversations]
    assert together == alone == backend.generate(conversations, 12)
    assert len(set(together)) > 1  # the answers depend on the prompt


@pytest.mark.parametrize(("answer", "label"), [
    ('["水果"]', "水果"), ("酒店。", "酒店"), ("“平板”", "平板"), ("这是一条关于酒店的评论", "酒店"),
    ("不是", "不是"), ("是的", "是"), ("不是。", "不是"), ("水果或者酒店", None), ("不知道", None), ("", None),
])
def test_choice_from_free_answers(answer, label):
    labels = ["是", "不是"] if "是" in answer and "这是" not in answer else ["水果", "酒店", "平板"]
    assert choice_from_answer(answer, labels) == label


def test_free_generation_may_name_no_label_and_choice_always_does(backend, labels):
    generated = classify(backend, TEXTS, labels, method="generate", max_new_tokens=4)
    assert all(c.answer is not None and c.probability is None for c in generated)
    assert all(c.label is None or c.label in labels for c in generated)
    chosen = match(backend, [("花呗怎么提额", "如何提高花呗额度")])
    assert chosen[0].label in ("是", "不是") and 0 < chosen[0].probability <= 1


# --- extraction: JSON repair, schema, grounding ---------------------------------------------------------------

TEXT = "张译，男，1978年出生，演员。"
FIELDS = ["姓名", "性别", "出生日期"]
REPAIRS = [  # (what a model wrote, the fields read from it; None: unreadable)
    ('{"姓名": ["张译"], "性别": ["男"], "出生日期": ["1978年"]}', {"姓名": ["张译"], "性别": ["男"], "出生日期": ["1978年"]}),
    ('```json\n{"姓名": ["张译"], "性别": ["男"]}\n```', {"姓名": ["张译"], "性别": ["男"], "出生日期": [NOT_MENTIONED]}),
    ("{'姓名': ['张译'], '性别': ['男']}", {"姓名": ["张译"], "性别": ["男"], "出生日期": [NOT_MENTIONED]}),
    ('{"姓名": ["张译"], "性别": ["男"],}', {"姓名": ["张译"], "性别": ["男"], "出生日期": [NOT_MENTIONED]}),
    ('{"姓名": ["张译"], "性别": ["男"]', {"姓名": ["张译"], "性别": ["男"], "出生日期": [NOT_MENTIONED]}),
    ('{“姓名”: [“张译”], “性别”: “男”}', {"姓名": ["张译"], "性别": ["男"], "出生日期": [NOT_MENTIONED]}),
    ('答案如下：{"姓名": "张译", "出生日期": 1978}', {"姓名": ["张译"], "性别": [NOT_MENTIONED], "出生日期": ["1978"]}),
    ('[{"姓名": ["张译"]}]', {"姓名": ["张译"], "性别": [NOT_MENTIONED], "出生日期": [NOT_MENTIONED]}),
    ('{"姓名": ["原文中未提及"], "性别": []}', {"姓名": [NOT_MENTIONED], "性别": [NOT_MENTIONED], "出生日期": [NOT_MENTIONED]}),
    ("抱歉，我无法从句子中找到这些信息。", None),
    ("", None),
    ('["张译", "男"]', None),
]


@pytest.mark.parametrize(("answer", "expected"), REPAIRS)
def test_json_repair_table(answer, expected):
    extraction = parse_extraction(answer, FIELDS, TEXT)
    assert extraction.result == expected
    assert (extraction.error is None) == (expected is not None)
    assert extraction.raw == answer


def test_values_not_in_the_text_are_marked_not_invented():
    e = parse_extraction('{"姓名": ["张译", "张艺谋"], "性别": ["女"], "职业": ["演员"]}', FIELDS, TEXT)
    assert e.result == {"姓名": ["张译"], "性别": [NOT_MENTIONED], "出生日期": [NOT_MENTIONED]}
    assert {"field": "姓名", "value": "张艺谋"} in e.not_in_text and {"field": "性别", "value": "女"} in e.not_in_text
    assert any(d.get("reason") == "not in the schema" for d in e.not_in_text)


def test_relation_triples_are_checked_against_schema_and_text():
    schema = {"影视作品": ["主演", "导演"]}
    text = "《喜剧之王》是周星驰主演的电影。"
    answer = ('[{"subject": "喜剧之王", "predicate": "主演", "object": "周星驰"}, '
              '{"subject": "喜剧之王", "predicate": "编剧", "object": "周星驰"}, '
              '{"subject": "喜剧之王", "predicate": "导演", "object": "李力持"}, {"subject": "喜剧之王"}, "x"]')
    e = parse_extraction(answer, schema, text)
    assert e.result == [{"subject": "喜剧之王", "predicate": "主演", "object": "周星驰", "subject_type": "影视作品"}]
    assert [d["reason"] for d in e.not_in_text] == ["relation not in the schema", "not in the text",
                                                    "subject, predicate or object missing", "not an object"]
    assert parse_extraction("[]", schema, text).result == []
    assert repair_json('{"a": "他说"你好""}') == {"a": '他说"你好"'}


def test_extraction_never_raises_on_what_a_model_writes(backend):
    results = extract(backend, ["张伟，男，1990年出生。", "王丽是一位护士。"], FIELDS, max_new_tokens=20)
    for r in results:  # a random model writes garbage: every item is reported, none raises
        assert (r.error is None) == (r.result is not None)
        assert r.result is None or set(r.result) == set(FIELDS)


def test_extraction_metrics_by_hand():
    gold = [[{"subject": "A", "predicate": "主演", "object": "B"}, {"subject": "A", "predicate": "导演", "object": "C"}]]
    predicted = [[{"subject": "A", "predicate": "主演", "object": "B"}, {"subject": "A", "predicate": "导演", "object": "D"}]]
    assert triple_f1(predicted, gold) == {"precision": 0.5, "recall": 0.5, "f1": 0.5}
    assert field_f1(predicted, gold)["f1"] == pytest.approx(0.75)  # 3 of 4 fields right (A twice, B)
    assert triple_f1([None], gold)["f1"] == 0.0


# --- bad input ---------------------------------------------------------------------------------------------------


def test_bad_input_is_one_clear_line(tmp_path, backend):
    empty = tmp_path / "labels.txt"
    empty.write_text("\n\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match="labels.txt: the label set is empty"):
        read_labels(empty)
    with pytest.raises(ArgumentError, match="at least 2 labels"):
        classify(backend, ["x"], read_labels_from(tmp_path, ["水果"]))
    with pytest.raises(ArgumentError, match="labels given twice: 水果"):
        read_labels_from(tmp_path, ["水果", "水果"])
    for schema in ('{"人物": "国籍"}', "[1, 2]", "[]", "{}", '{"人物": [1]}'):
        with pytest.raises(ArgumentError, match="--schema"):
            parse_schema(schema)
    assert parse_schema({"人物": ["国籍"]}) == {"人物": ["国籍"]}
    examples = tmp_path / "examples.jsonl"
    examples.write_text('{"text": "苹果很甜", "label": "水果"}\n{"text": "很好", "label": "汽车"}\n', encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"examples.jsonl, line 2: label '汽车' is not in the label set"):
        read_choice_examples(examples, ["水果", "酒店"])
    with pytest.raises(PlmRecipesError, match=r"input 1: the prompt is \d+ tokens .* beyond the model's context of 64"):
        TransformersBackend(backend.model, backend.tokenizer, max_length=64, progress=False).score_options(
            [classification_messages("很长的评论" * 20, ["水果", "酒店"])], ["水果", "酒店"])
    instructions = tmp_path / "sft.jsonl"
    instructions.write_text('{"context": "问题", "target": "答案"}\n{"context": "问题"}\n', encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"sft.jsonl, line 2: 'target' is missing"):
        read_instructions(instructions)


def read_labels_from(folder, labels):
    path = folder / "some_labels.txt"
    path.write_text("\n".join(labels) + "\n", encoding="utf-8")
    return read_labels(path)


# --- the OpenAI-compatible backend against a real server on loopback -----------------------------------------


@pytest.fixture(scope="module")
def server(backend):
    server = ModelServer(("127.0.0.1", 0), backend, "tiny-chat")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_http_backend_against_a_loopback_server(server, backend, labels):
    remote = OpenAIBackend(server.base_url, tokenizer=backend.tokenizer, progress=False)
    assert remote.model == "tiny-chat"  # the first model GET /v1/models lists
    conversations = [classification_messages(t, labels) for t in TEXTS]
    assert remote.generate(conversations, 10) == backend.generate(conversations, 10)
    np.testing.assert_allclose(remote.score_options(conversations, labels),
                               backend.score_options(conversations, labels), atol=1e-3)
    local = classify(backend, TEXTS, labels)
    over_http = classify(remote, TEXTS, labels)
    assert [c.label for c in over_http] == [c.label for c in local]


def test_http_errors_are_one_line(server, backend):
    remote = OpenAIBackend(server.base_url, tokenizer=backend.tokenizer, progress=False)
    with pytest.raises(PlmRecipesError, match="answered 400 Bad Request: .*'messages' must be"):
        remote._request("/chat/completions", {"model": "tiny-chat", "messages": []})
    with pytest.raises(PlmRecipesError, match="answered 404"):
        remote._request("/embeddings", {"input": "x"})
    with pytest.raises(ArgumentError, match="pass --tokenizer"):
        OpenAIBackend(server.base_url, model="tiny-chat", progress=False).score_options([[{"role": "user",
                                                                                          "content": "x"}]], ["a", "b"])
    port = server.server_address[1]
    with pytest.raises(PlmRecipesError, match="cannot reach the server"):
        OpenAIBackend("http://127.0.0.1:9/v1", model="x", progress=False).generate([[{"role": "user",
                                                                                      "content": "x"}]], 4)
    assert port != 9


# --- the commands ----------------------------------------------------------------------------------------------


def test_llm_commands(tiny_chat, server, tmp_path, capsys):
    model = str(tiny_chat)
    out = tmp_path / "classified.jsonl"
    cli_main(["llm", "classify", "--model", model, "--labels", str(LLM / "labels.txt"), "--examples",
              str(LLM / "classify_examples.jsonl"), "--file", str(LLM / "texts.txt"), "--output", str(out),
              "--no_progress"])
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 3 and all(r["label"] in read_labels(LLM / "labels.txt") and r["probability"] for r in rows)

    remote = tmp_path / "remote.jsonl"  # the same through the server
    cli_main(["llm", "classify", "--backend", "openai", "--base_url", server.base_url, "--tokenizer", model,
              "--labels", str(LLM / "labels.txt"), "--examples", str(LLM / "classify_examples.jsonl"),
              "--file", str(LLM / "texts.txt"), "--output", str(remote), "--no_progress"])
    assert [json.loads(line)["label"] for line in remote.read_text(encoding="utf-8").splitlines()] == \
        [r["label"] for r in rows]

    cli_main(["llm", "match", "--model", model, "--file", str(LLM / "pairs.tsv"), "--examples",
              str(LLM / "match_examples.jsonl"), "--method", "generate", "--max_new_tokens", "3", "--no_progress"])
    printed = capsys.readouterr().out.strip().splitlines()
    assert len(printed) == 3 and all("花呗" in printed[0] for _ in [0])

    extracted = tmp_path / "extracted.jsonl"
    cli_main(["llm", "extract", "--model", model, "--schema", str(LLM / "schema_fields.json"), "--examples",
              str(LLM / "extract_examples.jsonl"), "--file", str(LLM / "extract_texts.txt"), "--max_new_tokens",
              "24", "--output", str(extracted), "--no_progress"])
    rows = [json.loads(line) for line in extracted.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 2 and all({"text", "result", "not_in_text", "error", "raw"} <= set(r) for r in rows)


def test_llm_command_errors(tiny_chat, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["llm", "classify", "--model", str(tiny_chat), "--labels", "水果", "--text", "苹果"])
    assert exit_info.value.code == 2
    assert "error: --labels '水果': expected at least 2 labels" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli_main(["llm", "match", "--model", str(tiny_chat), "--file", str(LLM / "texts.txt")])
    assert "texts.txt, line 1: expected 2 tab-separated texts" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli_main(["llm", "extract", "--model", str(tiny_chat), "--schema", '{"人物": "国籍"}', "--text", "x"])
    assert "error: --schema: expected a list of strings" in capsys.readouterr().err


# --- LoRA SFT end to end, then reload --------------------------------------------------------------------------


def test_llm_sft_recipe_end_to_end_and_reload(tiny_chat, tmp_path, capsys):
    out = tmp_path / "sft"
    results = load_recipe("llm_sft").main([
        "--model_name_or_path", str(tiny_chat), "--train_file", str(LLM / "instructions_train.jsonl"),
        "--validation_file", str(LLM / "instructions_dev.jsonl"), "--test_file", str(LLM / "instructions_dev.jsonl"),
        "--do_train", "--do_eval", "--do_predict", "--output_dir", str(out), "--max_steps", "8",
        "--learning_rate", "5e-2", "--per_device_train_batch_size", "4", "--eval_strategy", "no",
        "--save_strategy", "no", "--load_best_model_at_end", "false", "--logging_steps", "2", "--use_cpu",
        "--disable_tqdm", "true", "--report_to", "none", "--max_new_tokens", "8", "--lora_r", "4",
        "--lora_alpha", "8"])
    assert results["train"]["train_samples"] == 8 and "eval_loss" in results["eval"]
    assert 0 <= results["test"]["test_exact_match"] <= 1
    for name in ("adapter_config.json", "adapter_model.safetensors", "run_config.yaml", "README.md",
                 "predictions.jsonl", "tokenizer_config.json"):
        assert (out / name).is_file(), name
    assert not (out / "model.safetensors").exists()  # the adapter only
    assert "global step " in capsys.readouterr().out
    # TRL's bf16 autocast and activation checkpointing are off on a CPU (a generic single-threaded kernel there)
    record = (out / "run_config.yaml").read_text(encoding="utf-8")
    assert "bf16: false" in record and "gradient_checkpointing: false" in record

    # reload through the commands' loader: the adapter over its base model, and it learned the training answers
    base = TransformersBackend.from_pretrained(str(tiny_chat), progress=False)
    tuned = TransformersBackend.from_pretrained(str(out), progress=False)
    records = read_instructions(LLM / "instructions_train.jsonl")
    prompts = [r["prompt"] for r in records]
    targets = [r["completion"][0]["content"] for r in records]
    gain = [tuned.score_options([p], [t])[0, 0] - base.score_options([p], [t])[0, 0] for p, t in zip(prompts, targets)]
    assert np.mean(gain) > 1.0, gain

    from peft import AutoPeftModelForCausalLM  # and with PEFT alone, as anyone downstream loads it

    peft_model = AutoPeftModelForCausalLM.from_pretrained(str(out)).merge_and_unload()
    ids = torch.tensor([[5, 6, 7, 8]])
    with torch.no_grad():
        torch.testing.assert_close(peft_model(ids).logits, tuned.model(ids).logits, atol=1e-4, rtol=1e-4)


def test_llm_sft_config_runs_and_its_record_reruns_it(tiny_chat, tmp_path, monkeypatch):
    import yaml
    from helpers import ROOT

    monkeypatch.chdir(ROOT)  # the config names data/ paths relative to the repository
    first, second = tmp_path / "first", tmp_path / "second"
    results = load_recipe("llm_sft").main([
        "--config", "recipes/configs/llm_sft.yaml", "--model_name_or_path", str(tiny_chat),
        "--output_dir", str(first), "--max_steps", "2", "--use_cpu", "--disable_tqdm", "true", "--max_new_tokens", "4",
        "--lora_layers", "1",  # all-linear spelled out for the one layer
        "--report_to", "none"])
    assert {"train", "eval", "test"} <= set(results)
    record = yaml.safe_load((first / "run_config.yaml").read_text(encoding="utf-8"))
    assert record["lora_r"] == 16 and record["system_prompt"].startswith("你是") and record["lora_layers"] == "1"
    adapter = json.loads((first / "adapter_config.json").read_text(encoding="utf-8"))
    assert adapter["layers_to_transform"] == [1] and "q_proj" in adapter["target_modules"]
    card = (first / "README.md").read_text(encoding="utf-8")
    assert "- lora_r: `16`" in card and "recipes/llm_sft.py" in card
    load_recipe("llm_sft").main(["--config", str(first / "run_config.yaml"), "--output_dir", str(second)])
    again = yaml.safe_load((second / "run_config.yaml").read_text(encoding="utf-8"))
    where = {"output_dir", "logging_dir", "run_name"}
    assert {k: v for k, v in again.items() if k not in where} == {k: v for k, v in record.items() if k not in where}


def test_calibration_divides_out_what_the_prompt_alone_favours(backend, labels):
    from plm_recipes.llm.prompts import classification_messages as messages
    from plm_recipes.llm.scoring import option_probabilities
    from plm_recipes.llm.tasks import CONTENT_FREE

    plain = classify(backend, TEXTS, labels, calibrated=False)
    calibrated = classify(backend, TEXTS, labels)  # the default
    prior = option_probabilities(backend.score_options([messages(t, labels) for t in CONTENT_FREE], labels)).mean(0)
    for p, c in zip(plain, calibrated):
        expected = np.array([p.scores[label] for label in labels]) / prior
        expected /= expected.sum()
        assert c.label == labels[int(expected.argmax())]
        assert [c.scores[label] for label in labels] == pytest.approx(expected.tolist(), abs=1e-6)


def test_the_commands_calibrate_unless_told_not_to(tiny_chat, backend, labels, tmp_path):
    expected = {True: classify(backend, TEXTS, labels), False: classify(backend, TEXTS, labels, calibrated=False)}
    for calibrated, flag in ((True, []), (False, ["--no-calibrate"])):
        out = tmp_path / f"{calibrated}.jsonl"
        cli_main(["llm", "classify", "--model", str(tiny_chat), "--labels", str(LLM / "labels.txt"), "--output",
                  str(out), "--no_progress", *flag, *[arg for t in TEXTS for arg in ("--text", t)]])
        rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
        assert [r["scores"] for r in rows] == [pytest.approx(c.scores, abs=1e-5) for c in expected[calibrated]]
    assert any(a.scores != pytest.approx(b.scores, abs=1e-3) for a, b in zip(expected[True], expected[False]))
