"""The LLM family's tasks on a tiny random chat model (tests/llm/tiny_chat.py): labels read off free answers, JSON
repair on a table of broken answers, extraction checked against schema and text, bad input, and the commands
(locally and through a server on loopback). Option scoring: test_scoring.py; the HTTP backend:
test_openai_backend.py; LoRA SFT: test_sft.py."""

from __future__ import annotations

import json

import pytest
from helpers import DATA

from plm_recipes.cli import main as cli_main
from plm_recipes.errors import ArgumentError, DataFormatError, PlmRecipesError
from plm_recipes.llm import (
    NOT_MENTIONED,
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
    repair_json,
)
from plm_recipes.llm.data import read_instructions
from plm_recipes.llm.metrics import field_f1, triple_f1

LLM = DATA / "llm"
TEXTS = ["西瓜很新鲜，切开是沙瓤的", "房间干净", "屏幕色彩鲜艳，看视频很舒服，续航一天没问题"]


@pytest.fixture(scope="module")
def labels() -> list[str]:
    return read_labels(LLM / "labels.txt")


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


