"""UIE: reading and checking data, offsets and windows, span decoding and F1, the model's save/reload, the
PaddleNLP and doccano converters, schemas and the predictor, and the recipe end to end on a tiny model."""

from __future__ import annotations

import json
import logging
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import DATA, ROOT, load_recipe

from plm_recipes.errors import ArgumentError, DataFormatError, ModelLoadError
from plm_recipes.extraction import (
    SchemaError,
    Span,
    SpanPointerLoss,
    UIEConfig,
    UIEExample,
    UIEModel,
    UIEPredictor,
    decode_examples,
    decode_window,
    encode_examples,
    parse_schema,
    prompt_group,
    read_uie_examples,
    span_f1,
)
from plm_recipes.extraction.convert import convert_paddle_checkpoint, read_pdparams
from plm_recipes.extraction.data import SpanCollator
from plm_recipes.extraction.doccano import convert_doccano, read_doccano
from plm_recipes.loading import train_tokenizer

EXTRACTION = DATA / "extraction"
MIXED = "2019年9月Apple在Cupertino发布了iPhone 11，起售价5499元，张三说：very good!"


def write_lines(path: Path, rows) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in rows),
                    encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def wordpiece():
    """A WordPiece tokenizer with subword pieces (## continuations), trained on mixed Chinese / Latin / digits."""
    texts = [MIXED, "Apple and Cupertino and iPhone", "价格5499元和4999元", "very good, very nice"] * 20
    texts += [line for line in (EXTRACTION / "train.txt").read_text(encoding="utf-8").splitlines()]
    return train_tokenizer(texts, vocab_size=300)


# --- data ----------------------------------------------------------------------------------------------------


def test_the_bundled_samples_read_and_every_span_is_checked():
    for name in ("train.txt", "dev.txt", "test.txt"):
        examples = read_uie_examples(EXTRACTION / name)
        assert examples and all(e.content[s:t] for e in examples for s, t in e.spans)
    assert any(not e.spans for e in examples) and any(e.spans for e in examples)


@pytest.mark.parametrize("row, message", [
    ({"content": "张三在北京", "result_list": [{"text": "北京", "start": 3, "end": 9}], "prompt": "地点"},
     "line 2: result_list[0]: offsets 3..9 are outside the text (its length is 5"),
    ({"content": "张三在北京", "result_list": [{"text": "上海", "start": 3, "end": 5}], "prompt": "地点"},
     "line 2: result_list[0]: text '上海' is not content[3:5], which is '北京'"),
    ({"content": "张三在北京", "result_list": [], "prompt": ""}, "line 2: \"prompt\" must be a non-empty string"),
    ({"content": "张三在北京", "prompt": "地点"}, "line 2: missing 'result_list'"),
    ("{not json", "line 2: invalid JSON"),
])
def test_a_bad_line_names_file_line_and_what_was_expected(tmp_path, row, message):
    good = {"content": "张三在北京", "result_list": [{"text": "张三", "start": 0, "end": 2}], "prompt": "人物"}
    path = write_lines(tmp_path / "train.txt", [good, row])
    with pytest.raises(DataFormatError) as raised:
        read_uie_examples(path)
    assert str(path) in str(raised.value) and message in str(raised.value)


def test_offsets_on_mixed_script_text_survive_tokenization(wordpiece):
    gold = ["2019年9月", "Apple", "Cupertino", "iPhone 11", "5499元", "very good"]  # in text order
    spans = tuple((MIXED.index(t), MIXED.index(t) + len(t)) for t in gold)
    encoded = encode_examples([UIEExample(MIXED, "实体", spans)], wordpiece, max_seq_length=128, doc_stride=32)
    assert len(encoded) == 1 and encoded.unreachable == 0 and encoded.inexact == 0
    assert any(len(wordpiece.tokenize(t)) > 1 for t in gold)  # some spans are several subword pieces
    starts = np.array(encoded.inputs["start_labels"][0])
    ends = np.array(encoded.inputs["end_labels"][0])
    # a model that is sure exactly where the labels are gives back exactly the gold character spans
    probs = lambda labels: np.where(labels == 1, 0.99, 0.01)  # noqa: E731
    found = decode_window(probs(starts), probs(ends), encoded.offsets[0])
    assert [MIXED[s.start:s.end] for s in found] == gold
    # prompt tokens and special tokens are never targets
    assert all((starts[i] == -100) == (o is None) for i, o in enumerate(encoded.offsets[0]))


def test_a_span_inside_a_token_is_counted_as_inexact(tmp_path):
    """A vocabulary with "5499" as one word (and no piece of it), so that no tokenizer version can split at the
    span's edges: the span "49" lies inside a token."""
    from transformers import BertTokenizerFast

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "起", "售", "价", "元", "数", "字", "5499"]
    (tmp_path / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = BertTokenizerFast(vocab_file=str(tmp_path / "vocab.txt"))
    text = "起售价5499元"
    start = text.index("49")
    encoded = encode_examples([UIEExample(text, "数字", ((start, start + 2),))], tokenizer, 64, 16)
    assert (3, 7) in encoded.offsets[0]  # "5499" is one token
    assert encoded.inexact == 1


def test_long_texts_are_read_in_windows_and_spans_map_back_exactly(wordpiece):
    names = ["张三", "Apple", "李四", "iPhone 11", "王五"]
    text = "".join(f"第{i}段：{names[i % len(names)]}在城市里工作了很多年。" for i in range(30)) + "最后是王五"
    spans = []
    for name in names:
        at = text.find(name)
        while at != -1:
            spans.append((at, at + len(name)))
            at = text.find(name, at + 1)
    example = UIEExample(text, "名字", tuple(sorted(spans)))
    encoded = encode_examples([example], wordpiece, max_seq_length=64, doc_stride=16)
    assert len(encoded) > 5 and set(encoded.example_index) == {0}
    assert encoded.unreachable == 0
    covered = {c for offsets in encoded.offsets for o in offsets if o is not None for c in range(*o)}
    assert covered >= {i for i, c in enumerate(text) if not c.isspace()}  # no text lost past max_seq_length
    # perfect logits per window, decoded and merged: every span once, at its exact offsets
    width = max(len(x) for x in encoded.inputs["start_labels"])

    def pad(rows):  # sure logits where the labels are 1, padding as the Trainer pads predictions
        logits = [np.where(np.array(r) == 1, 10.0, -10.0) for r in rows]
        return np.stack([np.pad(x, (0, width - len(x)), constant_values=-100) for x in logits])

    merged = decode_examples(pad(encoded.inputs["start_labels"]), pad(encoded.inputs["end_labels"]),
                             encoded.example_index, encoded.offsets, 1)
    assert [(s.start, s.end) for s in merged[0]] == sorted(spans)


def test_the_windows_are_those_of_the_transformers_call(wordpiece):
    """The windows are read from the tokenizer's backend (tokenizers) directly: the same ids, token types and
    offsets as the transformers call on the pairs, window for window; the attention mask (all ones) is left to
    the collator, which writes it."""
    long_text = "".join(f"第{i}段：Apple在Cupertino发布了iPhone {i}，起售价5499元。" for i in range(12))
    examples = [UIEExample(MIXED, "实体"), UIEExample(long_text, "产品名称"), UIEExample("张三", "人物"),
                UIEExample(long_text[:90], "价格")]
    encoded = encode_examples(examples, wordpiece, max_seq_length=48, doc_stride=8, with_labels=False)
    tokens = wordpiece([e.prompt for e in examples], [e.content for e in examples], truncation="only_second",
                       max_length=48, stride=8, return_overflowing_tokens=True, return_offsets_mapping=True)
    assert len(encoded) > len(examples) + 5  # the long texts in several windows
    assert encoded.example_index == tokens["overflow_to_sample_mapping"]
    assert encoded.inputs.keys() == {"input_ids", "token_type_ids"}
    assert encoded.inputs["input_ids"] == tokens["input_ids"]
    assert encoded.inputs["token_type_ids"] == tokens["token_type_ids"]
    assert encoded.offsets == [[tuple(o) if s == 1 else None for o, s in zip(row, tokens.sequence_ids(i))]
                               for i, row in enumerate(tokens["offset_mapping"])]
    rows = [{k: v[i] for k, v in encoded.inputs.items()} for i in range(len(encoded))]
    batch = SpanCollator(wordpiece)(rows)
    assert batch["attention_mask"].sum(1).tolist() == [len(ids) for ids in tokens["input_ids"]]
    assert wordpiece("一", "二", truncation=True).keys() >= {"attention_mask"}  # the tokenizer's call untouched


def test_a_prompt_that_leaves_no_room_for_text_is_refused(wordpiece):
    with pytest.raises(ArgumentError, match="leaves .* tokens of text per window"):
        encode_examples([UIEExample("张三在北京", "人物" * 40)], wordpiece, max_seq_length=64, doc_stride=16)


def test_the_collator_pads_labels_with_ignore_on_the_padding_side(wordpiece):
    encoded = encode_examples([UIEExample("张三在北京", "人物", ((0, 2),)), UIEExample("张三在北京工作了十年", "地点", ((3, 5),))],
                              wordpiece, 64, 16)
    rows = [{k: v[i] for k, v in encoded.inputs.items()} for i in range(2)]
    wordpiece.padding_side = "left"  # a tokenizer set up for generation: windows are still padded on the right
    try:
        batch = SpanCollator(wordpiece)(rows)
    finally:
        wordpiece.padding_side = "right"
    short = len(rows[0]["input_ids"])
    assert batch["start_labels"].shape == batch["input_ids"].shape
    assert (batch["start_labels"][0, short:] == -100).all() and batch["attention_mask"][0, short:].sum() == 0
    assert batch["input_ids"][0, :short].tolist() == rows[0]["input_ids"]


def test_decoding_refuses_predictions_that_are_not_one_row_per_window():
    with pytest.raises(ValueError, match="one row per window"):
        decode_examples(np.zeros((2, 4)), np.zeros((2, 4)), [0, 0, 1], [[None] * 4] * 3, 2)


# --- decoding, metrics, loss ----------------------------------------------------------------------------------


def test_decoding_pairs_each_end_with_the_nearest_open_start():
    offsets = [None] + [(i, i + 1) for i in range(8)] + [None]
    start = [0, .9, 0, 0, .8, 0, 0, .7, 0, 0]
    end = [0, 0, .9, 0, 0, .6, .9, 0, .8, .9]  # the end at token 9 is not text: ignored
    assert decode_window(start, end, offsets) == [Span(0, 2, 0.81), Span(3, 5, 0.48), Span(6, 8, 0.56)]
    assert decode_window(start, end, offsets, threshold=0.85) == [Span(0, 2, 0.81)]
    # the same relation twice in a text: both spans come back (PaddleNLP #3390)
    assert len(decode_window([0, .9, 0, .9, 0], [0, 0, .9, 0, .9], [None, (0, 1), (1, 2), (5, 6), (6, 7)])) == 2


def test_span_f1_and_groups_by_hand():
    predictions = [{(0, 2), (4, 6)}, {(1, 3)}, set()]
    references = [{(0, 2)}, {(1, 3), (5, 7)}, {(2, 4)}]
    groups = [prompt_group(p) for p in ("人物", "张三的父亲", "李四的父亲")]
    r = span_f1(predictions, references, groups)
    assert (r["precision"], r["recall"]) == (2 / 3, 2 / 4)
    assert r["f1"] == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))
    assert groups[1:] == ["*的父亲", "*的父亲"]
    assert (r["per_class/*的父亲/precision"], r["per_class/*的父亲/recall"], r["per_class/*的父亲/support"]) == (1.0, 1 / 3, 3)
    assert prompt_group("父亲 of 张三", "{relation} of {subject}") == "父亲 of *"


def test_span_pointer_loss_is_the_mean_bce_over_text_positions():
    start_logits = torch.tensor([[0.3, -1.2, 2.0, 0.5]])
    end_logits = torch.tensor([[1.0, 0.1, -0.4, 3.0]])
    start_labels = torch.tensor([[-100, 1.0, 0.0, -100]])
    end_labels = torch.tensor([[-100, 0.0, 1.0, -100]])
    bce = lambda x, y: -(y * np.log(1 / (1 + np.exp(-x))) + (1 - y) * np.log(1 - 1 / (1 + np.exp(-x))))  # noqa: E731
    expected = ((bce(-1.2, 1) + bce(2.0, 0)) / 2 + (bce(0.1, 0) + bce(-0.4, 1)) / 2) / 2
    loss = SpanPointerLoss()(start_logits, end_logits, start_labels, end_labels)
    assert loss.item() == pytest.approx(expected, rel=1e-6)


# --- the model ------------------------------------------------------------------------------------------------


def test_the_model_saves_as_safetensors_and_reloads_with_automodel(tiny_bert, tmp_path):
    from transformers import AutoModel

    model, new = UIEModel.from_encoder(str(tiny_bert), relation_template="{relation} of {subject}")
    assert new == ["linear_end.bias", "linear_end.weight", "linear_start.bias", "linear_start.weight"]
    model.save_pretrained(tmp_path)
    # the model code beside the weights, for trust_remote_code loading without the package (test_uie_hub.py)
    assert sorted(os.listdir(tmp_path)) == ["config.json", "losses.py", "model.safetensors", "modeling.py"]
    reloaded = AutoModel.from_pretrained(tmp_path)  # no trust_remote_code: the package registers "uie"
    assert isinstance(reloaded, UIEModel) and reloaded.config.relation_template == "{relation} of {subject}"
    ids = torch.tensor([[2, 10, 11, 3, 12, 13, 3]])
    model.eval()
    torch.testing.assert_close(model(ids).start_logits, reloaded(ids).start_logits)
    labels = torch.zeros_like(ids, dtype=torch.float)
    assert reloaded(ids, start_labels=labels, end_labels=labels).loss > 0


def test_a_uie_config_without_an_encoder_is_refused_in_one_sentence(tmp_path):
    from plm_recipes.extraction import UIETrainingConfig

    with pytest.raises(ValueError, match="UIEConfig needs the encoder's config"):
        UIEModel(UIEConfig())
    with pytest.raises(ArgumentError, match="eval_do_concat_batches"):
        UIETrainingConfig(output_dir=str(tmp_path), eval_do_concat_batches=False)


# --- the PaddleNLP converter ----------------------------------------------------------------------------------

# UIEModel name -> PaddleNLP name (the converter's table, the other way): this fabricates a PaddleNLP checkpoint.
_TO_PADDLE = {
    "attention.self.query": "self_attn.q_proj", "attention.self.key": "self_attn.k_proj",
    "attention.self.value": "self_attn.v_proj", "attention.output.dense": "self_attn.out_proj",
    "attention.output.LayerNorm": "norm1", "intermediate.dense": "linear1", "output.dense": "linear2",
    "output.LayerNorm": "norm2",
}


def paddle_state_dict(model: UIEModel, prefix: str) -> dict[str, np.ndarray]:
    state = {}
    for name, tensor in model.state_dict().items():
        array = tensor.numpy().copy()
        if name.startswith("linear_"):
            state[name] = array.T if name.endswith("weight") else array
        elif name.startswith("encoder.embeddings."):
            rest = name.removeprefix("encoder.embeddings.").replace("LayerNorm", "layer_norm")
            state[f"{prefix}.embeddings.{rest}"] = array
        else:
            layer, rest = name.removeprefix("encoder.encoder.layer.").split(".", 1)
            module, param = rest.rsplit(".", 1)
            linear = _TO_PADDLE[module].startswith(("self_attn", "linear")) and param == "weight"
            state[f"{prefix}.encoder.layers.{layer}.{_TO_PADDLE[module]}.{param}"] = array.T if linear else array
    state[f"{prefix}.pooler.dense.weight"] = np.zeros((8, 8), dtype=np.float32)  # dropped by the converter
    return state


@pytest.mark.parametrize("prefix", ["ernie", "encoder"])
def test_a_paddlenlp_checkpoint_converts_to_the_same_model(tmp_path, prefix):
    from transformers import ErnieConfig

    ernie = ErnieConfig(vocab_size=40, hidden_size=8, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                        max_position_embeddings=2048, type_vocab_size=4, use_task_id=True, task_type_vocab_size=3,
                        layer_norm_eps=1e-12, pad_token_id=0)
    torch.manual_seed(0)
    original = UIEModel(UIEConfig(encoder=ernie)).eval()
    with torch.no_grad():
        original.encoder.embeddings.word_embeddings.weight[0] = 0  # Paddle's padding row reads as zeros
        for p in original.parameters():  # non-trivial norms and biases, so a missed transpose or swap shows
            p.add_(torch.randn_like(p) * 0.1)
        original.encoder.embeddings.word_embeddings.weight[0] = 0
    paddle_dir = tmp_path / "uie-paddle"
    paddle_dir.mkdir()
    with open(paddle_dir / "model_state.pdparams", "wb") as f:
        pickle.dump(paddle_state_dict(original, prefix), f, protocol=4)
    config = {k: getattr(ernie, k) for k in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                                               "max_position_embeddings", "type_vocab_size", "task_type_vocab_size",
                                               "use_task_id", "hidden_act")}
    (paddle_dir / "model_config.json").write_text(json.dumps({"init_args": [{**config, "init_class": "ErnieModel"}],
                                                              "init_class": "UIE"}), encoding="utf-8")
    vocab = ["[PAD]", "[CLS]", "[SEP]", "[MASK]", "[UNK]"] + list("张三在北京工作人物地点的父亲") + [f"x{i}" for i in range(21)]
    (paddle_dir / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")

    converted = convert_paddle_checkpoint(paddle_dir, tmp_path / "converted").eval()
    ids = torch.tensor([[1, 10, 11, 2, 5, 6, 7, 8, 9, 2, 0]])
    types = torch.tensor([[0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 0]])
    mask = (ids != 0).long()
    expected = original(ids, attention_mask=mask, token_type_ids=types)
    got = converted(ids, attention_mask=mask, token_type_ids=types)
    torch.testing.assert_close(got.start_logits, expected.start_logits)
    torch.testing.assert_close(got.end_logits, expected.end_logits)
    uie = UIEPredictor(str(tmp_path / "converted"), schema=["人物"], device="cpu")  # the folder loads for prediction
    assert uie.max_seq_length == 512 and uie.tokenizer.convert_tokens_to_ids("张") == 5


def test_a_pdparams_file_that_holds_code_is_refused(tmp_path):
    class Exploit:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    path = tmp_path / "model_state.pdparams"
    path.write_bytes(pickle.dumps({"ernie.embeddings.word_embeddings.weight": Exploit()}))
    with pytest.raises(ModelLoadError, match="refusing to load .*system"):
        read_pdparams(path)


# --- doccano ----------------------------------------------------------------------------------------------------


def test_doccano_conversion_entities_relations_and_negatives():
    texts = read_doccano(EXTRACTION / "doccano_ext.jsonl")
    splits = convert_doccano(texts, splits=(1.0, 0.0, 0.0), negative_ratio=1, seed=0, shuffle=False)
    train = splits["train"]
    first = [e for e in train if e["content"] == texts[0].text]
    by_prompt = {e["prompt"]: [r["text"] for r in e["result_list"]] for e in first}
    assert by_prompt["人物"] == ["谭孝曾", "谭元寿"] and by_prompt["谭孝曾的父亲"] == ["谭元寿"]
    assert by_prompt["谭孝曾的出生地"] == ["北京"]
    positives = [e for e in first if e["result_list"]]
    negatives = [e for e in first if not e["result_list"]]
    entity_positives = sum("的" not in e["prompt"] for e in positives)
    assert 0 < sum("的" not in e["prompt"] for e in negatives) <= entity_positives  # ratio 1
    assert sum("的" in e["prompt"] for e in negatives) <= len(positives) - entity_positives
    # dev and test get every negative: each absent label, each entity with each relation it lacks
    full = convert_doccano(texts, splits=(0.0, 1.0, 0.0), shuffle=False)["dev"]
    first_full = [e for e in full if e["content"] == texts[0].text]
    labels = {e.label for t in texts for e in t.entities}
    relations = {r.type for t in texts for r in t.relations}
    assert len(first_full) == len(labels) + 4 * len(relations)  # 4 entities in the first text
    for example in train + full:  # every offset is right
        assert all(example["content"][r["start"]:r["end"]] == r["text"] for r in example["result_list"])


def test_doccano_splits_are_by_text_and_seeded():
    texts = read_doccano(EXTRACTION / "doccano_ext.jsonl")
    a = convert_doccano(texts, splits=(0.5, 0.25, 0.25), seed=7)
    b = convert_doccano(texts, splits=(0.5, 0.25, 0.25), seed=7)
    assert a == b
    contents = {name: {e["content"] for e in examples} for name, examples in a.items()}
    assert not contents["train"] & contents["dev"] and not contents["dev"] & contents["test"]
    assert sum(len(c) for c in contents.values()) == len(texts)


@pytest.mark.parametrize("line, message", [
    ({"text": "张三在北京", "entities": [{"id": 1, "label": "人物", "start_offset": 0, "end_offset": 2}],
      "relations": [{"id": 0, "from_id": 1, "to_id": 9, "type": "出生地"}]},
     "line 1: relations[0]: to_id 9 is not an entity id of this line (ids: 1)"),
    ({"text": "张三在北京", "entities": [{"id": 1, "label": "人物", "start_offset": 3, "end_offset": 8}], "relations": []},
     "line 1: entities[0]: offsets 3..8 are outside the text (its length is 5)"),
    ({"text": "张三在北京", "entities": [{"id": 1, "label": "人物", "start_offset": 0, "end_offset": 2, "text": "李四"}],
      "relations": []}, "line 1: entities[0]: text '李四' is not text[0:2], which is '张三'"),
    ({"text": "张三在北京", "entities": [{"id": [1], "label": "人物", "start_offset": 0, "end_offset": 2}],
      "relations": []}, "line 1: entities[0]: the id must be a number or a string, found [1]"),
    ({"text": "张三在北京", "entities": [{"id": 1, "label": "人物", "start_offset": 0, "end_offset": 2}],
      "relations": [{"from_id": {"a": 1}, "to_id": 1, "type": "父亲"}]},
     "line 1: relations[0]: from_id {'a': 1} is not an entity id of this line"),
])
def test_bad_doccano_lines_name_the_line_and_part(tmp_path, line, message):
    path = write_lines(tmp_path / "doccano.jsonl", [line])
    with pytest.raises(DataFormatError) as raised:
        read_doccano(path)
    assert message in str(raised.value)


def test_doccano_splits_must_sum_to_one():
    with pytest.raises(ArgumentError, match="three fractions"):
        convert_doccano(read_doccano(EXTRACTION / "doccano_ext.jsonl"), splits=(0.8, 0.3, 0.1))


# --- schemas and the predictor --------------------------------------------------------------------------------


def test_schemas_parse_as_paddlenlp_writes_them():
    nested = parse_schema("['时间', {'竞赛名称': ['主办方', '承办方']}, {'歌曲': {'歌手': ['国籍']}}]")
    assert [n.name for n in nested] == ["时间", "竞赛名称", "歌曲"]
    assert [c.name for c in nested[1].children] == ["主办方", "承办方"]
    assert nested[2].children[0].name == "歌手" and nested[2].children[0].children[0].name == "国籍"
    assert parse_schema('{"人物": "父亲"}')[0].children[0].name == "父亲"
    for bad, message in [("", "empty"), ("[1, 2]", r"schema\[0\]: expected a name"),
                         ('{"人物": {"父亲": [null, 5]}}', r"schema\['人物'\]\['父亲'\]\[0\]"),
                         ("['人物', '人物']", "'人物' appears twice"), ("{'情感倾向[正向，负向]': []}", "options"),
                         ("[unclosed", "cannot read the schema")]:
        with pytest.raises(SchemaError, match=message):
            parse_schema(bad)


class ScriptedUIE(UIEPredictor):
    """The predictor's schema walk over a scripted model: ``answers`` maps (prompt, text) to answer texts."""

    def __init__(self, answers, template="{subject}的{relation}"):
        self.answers, self.asked = answers, []
        self.model = type("M", (), {"config": UIEConfig(relation_template=template)})()
        self.schema = None

    def extract(self, queries):
        self.asked.append(list(queries))
        out = []
        for prompt, text in queries:
            found = []
            for answer in self.answers.get((prompt, text), []):
                start = text.index(answer)
                found.append(Span(start, start + len(answer), 0.9))
            out.append(found)
        return out


def test_relations_stay_with_their_own_subject_and_every_prompt_of_a_level_is_one_batch():
    text = "谭孝曾是谭元寿的长子，谭元寿是谭富英的儿子"
    uie = ScriptedUIE({("人物", text): ["谭孝曾", "谭元寿", "谭富英"], ("谭孝曾的父亲", text): ["谭元寿"],
                       ("谭元寿的父亲", text): ["谭富英"], ("地点", "北京很大"): ["北京"]})
    results = uie([text, "北京很大"], schema={"人物": ["父亲"], "地点": []})
    people = results[0]["人物"]
    assert [p["text"] for p in people] == ["谭孝曾", "谭元寿", "谭富英"]
    relations = {p["text"]: [r["text"] for r in p["relations"]["父亲"]] for p in people}
    assert relations == {"谭孝曾": ["谭元寿"], "谭元寿": ["谭富英"], "谭富英": []}
    assert results[1] == {"地点": [{"text": "北京", "start": 0, "end": 2, "probability": 0.9}]}
    assert [len(batch) for batch in uie.asked] == [4, 3]  # level 1: 2 types x 2 texts; level 2: 3 subjects


def test_the_predictor_refuses_a_folder_that_is_not_a_uie_model(tiny_bert):
    with pytest.raises(ModelLoadError, match="not a UIE model"):
        UIEPredictor(str(tiny_bert), schema=["人物"])


# --- the recipe and the command line, end to end ---------------------------------------------------------------


def toy_doccano(path: Path) -> Path:
    """A learnable toy in doccano's format: "<人物>在<地点>工作", with the relation 工作地点 from person to place."""
    rows = []
    for name in ["张伟", "李娜", "刘洋", "赵敏", "苏洵", "唐僧"]:
        for place in ["北京", "上海", "杭州", "海州", "眉山", "武汉"]:
            rows.append({"text": f"{name}在{place}工作",
                         "relations": [{"id": 0, "from_id": 1, "to_id": 2, "type": "工作地点"}],
                         "entities": [{"id": 1, "label": "人物", "start_offset": 0, "end_offset": 2},
                                      {"id": 2, "label": "地点", "start_offset": 3, "end_offset": 5}]})
    return write_lines(path, rows)


def test_convert_train_reload_predict_by_schema(tiny_bert, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cli = [sys.executable, "-m", "plm_recipes.cli"]
    converted = tmp_path / "data"
    done = subprocess.run([*cli, "uie", "convert", "--doccano_file", str(toy_doccano(tmp_path / "doccano.jsonl")),
                           "--output_dir", str(converted), "--splits", "0.8", "0.2", "0.0"],
                          capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert {p.name for p in converted.iterdir()} == {"train.txt", "dev.txt"}  # no test texts: no test file
    before = (converted / "train.txt").read_bytes()
    again = subprocess.run([*cli, "uie", "convert", "--doccano_file", str(EXTRACTION / "doccano_ext.jsonl"),
                            "--output_dir", str(converted)], capture_output=True, text=True, env=env)
    assert again.returncode == 2 and "already exist; pass --overwrite" in again.stderr
    assert (converted / "train.txt").read_bytes() == before  # nothing lost

    out = tmp_path / "uie"
    results = load_recipe("uie").main([
        "--model_name_or_path", str(tiny_bert), "--train_file", str(converted / "train.txt"),
        "--validation_file", str(converted / "dev.txt"), "--do_train", "--do_eval", "--output_dir", str(out),
        "--num_train_epochs", "20", "--learning_rate", "5e-3", "--freeze_word_embeddings", "false",
        "--threshold", "0.3", "--max_seq_length", "64", "--doc_stride", "16", "--eval_strategy", "no",
        "--save_strategy", "no", "--load_best_model_at_end", "false", "--use_cpu", "--disable_tqdm", "true",
        "--seed", "0",
    ])
    assert {"eval_precision", "eval_recall", "eval_f1", "eval_per_class/*的工作地点/f1"} <= set(results["eval"])
    assert results["eval"]["eval_f1"] > 0.7  # it learns the toy, relations included (0.86 when written)
    assert not list(out.glob("*.bin")) and (out / "model.safetensors").is_file()

    uie = UIEPredictor(str(out), device="cpu")  # the settings the run saved
    assert (uie.threshold, uie.max_seq_length, uie.doc_stride) == (0.3, 64, 16)
    done = subprocess.run([*cli, "predict", "uie", "--model", str(out), "--schema", '{"人物": ["工作地点"]}',
                           "--text", "赵敏在眉山工作"], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    text, result = done.stdout.split("\n", 1)
    people = {p["text"]: [r["text"] for r in p["relations"]["工作地点"]] for p in json.loads(result)["人物"]}
    assert text == "赵敏在眉山工作" and "眉山" in people["赵敏"]
    done = subprocess.run([*cli, "predict", "uie", "--model", str(out), "--schema", "[人物", "--text", "x"],
                          capture_output=True, text=True, env=env)
    assert done.returncode == 2 and done.stderr.startswith("error: cannot read the schema")
    assert "Traceback" not in done.stderr


def test_the_predictor_finds_what_the_recipe_predicted(tiny_bert, tmp_path, caplog):
    """A UIE model whose pointers were set by hand (random and large, so many tokens pass the threshold): the
    recipe's --do_predict (Trainer, windows, decoding) and UIEPredictor (its own batching) give the same spans."""
    model, _ = UIEModel.from_encoder(str(tiny_bert), max_seq_length=48, doc_stride=8)
    torch.manual_seed(1)
    with torch.no_grad():
        for head in (model.linear_start, model.linear_end):
            head.weight.normal_(std=2.0)
    handmade = tmp_path / "handmade"
    model.save_pretrained(handmade)
    from transformers import AutoTokenizer

    AutoTokenizer.from_pretrained(tiny_bert).save_pretrained(handmade)
    out = tmp_path / "predicted"
    load_recipe("uie").main([
        "--model_name_or_path", str(handmade), "--test_file", str(EXTRACTION / "test.txt"), "--do_predict",
        "--max_seq_length", "48", "--doc_stride", "8", "--output_dir", str(out), "--use_cpu",
        "--per_device_eval_batch_size", "7",
    ])
    written = [json.loads(line) for line in (out / "predictions.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(written) == len(read_uie_examples(EXTRACTION / "test.txt"))
    spans = UIEPredictor(str(handmade), device="cpu", batch_size=5).extract(
        [(row["prompt"], row["content"]) for row in written])
    assert [[(s.start, s.end) for s in found] for found in spans] == \
        [[(r["start"], r["end"]) for r in row["result_list"]] for row in written]
    # probabilities agree up to float noise from different batch padding
    assert [s.probability for found in spans for s in found] == \
        pytest.approx([r["probability"] for row in written for r in row["result_list"]], abs=1e-5)
    assert sum(map(len, spans)) > 20  # the comparison is not between empty lists
    left = UIEPredictor(str(handmade), device="cpu", batch_size=5)
    left.tokenizer.padding_side = "left"  # windows are padded on the right whatever the tokenizer says
    assert left.extract([(row["prompt"], row["content"]) for row in written]) == spans
    assert all(row["content"][r["start"]:r["end"]] == r["text"] for row in written for r in row["result_list"])

    uie = UIEPredictor(str(handmade), device="cpu")
    assert uie(["", "   "], schema=["人物"]) == [{}, {}]
    # a relation prompt from a long entity leaves no room for text: skipped with a warning, the rest answered
    long_subject = "长" * 45
    predictor_log = logging.getLogger("plm_recipes.extraction.predictor")
    predictor_log.addHandler(caplog.handler)  # the recipe's logging setup stops plm_recipes at its own handler
    try:
        answers = uie.extract([(long_subject + "的父亲", "张三在北京"), ("人物", "张三在北京")])
    finally:
        predictor_log.removeHandler(caplog.handler)
    assert answers[0] == [] and f"Skipped the prompt '{long_subject}的父亲'" in caplog.text
    assert answers[1] == uie.extract([("人物", "张三在北京")])[0]


def test_two_processes_with_torchrun(tiny_bert, tmp_path):
    """The documented two-process command on a machine without a GPU and without --use_cpu: one process group of
    two (gloo), one set of outputs."""
    from helpers import free_port

    out = tmp_path / "ddp"
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(free_port()),
         "recipes/uie.py", "--model_name_or_path", str(tiny_bert), "--train_file", str(EXTRACTION / "train.txt"),
         "--do_train", "--output_dir", str(out), "--max_steps", "2", "--per_device_train_batch_size", "4",
         "--max_seq_length", "64", "--doc_stride", "16", "--eval_strategy", "no", "--save_strategy", "no",
         "--load_best_model_at_end", "false", "--disable_tqdm", "true"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-3000:]
    assert "world size: 2" in output and "world size: 1" not in output
    assert "Process rank 0 finished training: 2 steps." in output
    assert "Process rank 1 finished training: 2 steps." in output
    assert (out / "model.safetensors").is_file() and (out / "run_config.yaml").is_file()
