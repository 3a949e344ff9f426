"""Seq2seq generation: metrics by hand, the source template, decoding, span corruption and sentinels (both
styles), question answering end to end (a tiny T5 learns to copy; reload; a file without answers; the CLI), and
mask filling end to end (fill, augment, no sentinel in any output)."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest
import torch
from helpers import DATA, build_tiny_t5, character_vocab, load_recipe
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

from plm_recipes import cli
from plm_recipes.errors import ArgumentError, DataFormatError, ModelLoadError
from plm_recipes.seq2seq import GenerationMetrics, SourceTemplate, decode, mask_spans, read_qa, sentinel_tokens
from plm_recipes.seq2seq.masking import decode_spans, sentinel_separator, split_on_sentinels
from plm_recipes.seq2seq.metrics import char_f1, corpus_bleu, rouge_l

S = DATA / "seq2seq"


@pytest.fixture(scope="module")
def vocab():
    return character_vocab(sorted(DATA.rglob("*.txt")) + sorted(DATA.rglob("*.jsonl")) + sorted(DATA.rglob("*.csv")))


@pytest.fixture(scope="module")
def tiny_mt5_style(tmp_path_factory, vocab):
    return build_tiny_t5(tmp_path_factory.mktemp("tiny-t5-extra-id"), vocab, sentinels="<extra_id_{}>")


# --- metrics ------------------------------------------------------------------------------------------------


def test_bleu_by_hand():
    # prediction 我爱北京 (4 chars), reference 我爱北京天安门 (7): every n-gram of the prediction matches
    scores = corpus_bleu(["我爱北京"], ["我爱北京天安门"])
    brevity = math.exp(1 - 7 / 4)
    assert scores["bleu_1"] == pytest.approx(brevity) and scores["bleu_4"] == pytest.approx(brevity)
    # 北京天安 vs 我爱北京天安门: unigrams 4/4, bigrams 3/3, trigrams 2/2, 4-grams 1/1 -> 1 x brevity
    scores = corpus_bleu(["北京天安", "门"], ["我爱北京天安门", "门"])
    # pooled: 5 unigrams (all match), 3 bigrams, 2 trigrams, 1 4-gram, all matching; lengths 5 vs 8
    assert scores["bleu_4"] == pytest.approx(math.exp(1 - 8 / 5))
    # a clipped count: 的的的 against 的 matches once
    assert corpus_bleu(["的的的"], ["的"])["bleu_1"] == pytest.approx(1 / 3)
    assert corpus_bleu(["完全不同"], ["毫无关系"])["bleu_4"] == 0.0


def test_rouge_l_em_and_f1_score_chinese():
    assert rouge_l("3-7日", "月经干净后3-7日") == pytest.approx(2 * 1 * (4 / 9) / (1 + 4 / 9))
    assert rouge_l("紫禁城", "紫禁城") == 1.0 and rouge_l("", "紫禁城") == 0.0
    assert char_f1("北京市", "北京") == pytest.approx(2 * (2 / 3) * 1 / (2 / 3 + 1))
    metrics = GenerationMetrics().compute(predictions=["约6300公里", "曹雪芹"], references=["约6300公里", "高鹗"])
    assert metrics["exact_match"] == 0.5 and metrics["rouge_l"] == pytest.approx(0.5)
    # whitespace and case do not count: a WordPiece decode puts spaces between Chinese characters
    assert GenerationMetrics().compute(predictions=["紫 禁 城 ABC"], references=["紫禁城abc"])["exact_match"] == 1.0


# --- data ------------------------------------------------------------------------------------------------------


def test_template_cuts_the_context_never_the_question(tiny_t5):
    tokenizer = AutoTokenizer.from_pretrained(tiny_t5)
    template = SourceTemplate("问题：{question}原文：{context}")
    question, context = "故宫又称什么", "北京故宫又称紫禁城，位于北京中轴线的中心，是明清两代的皇家宫殿。"
    ids = template.encode(tokenizer, {"question": question, "context": context}, max_length=20)
    text = decode(tokenizer, [ids])[0]
    assert len(ids) == 20 and ids[0] == tokenizer.cls_token_id and ids[-1] == tokenizer.sep_token_id
    assert text.startswith(f"问题：{question}原文：") and text.endswith(context[:20 - 2 - 12])
    full = template.encode(tokenizer, {"question": question, "context": context}, max_length=128)
    assert decode(tokenizer, [full])[0] == template.format({"question": question, "context": context})
    assert template.questions_cut == 0
    template.encode(tokenizer, {"question": question * 5, "context": context}, max_length=12)
    assert template.questions_cut == 1


@pytest.mark.parametrize("template, message", [
    ("原文：{context}", r"lacks \{question\}"),
    ("{question}{answer_text}{context}", r"unknown field \{answer_text\}"),
    ("问题：{question", "expected '}'"),
])
def test_bad_templates(template, message):
    with pytest.raises(ArgumentError, match=message):
        SourceTemplate(template)


def test_decode_replaces_minus_100(tiny_t5):
    tokenizer = AutoTokenizer.from_pretrained(tiny_t5)
    ids = tokenizer("紫禁城", add_special_tokens=False)["input_ids"]
    padded = np.array([[*ids, tokenizer.sep_token_id, -100, -100]])
    assert decode(tokenizer, padded) == ["紫禁城"]
    # batches generated separately come back as rows of different lengths
    assert decode(tokenizer, [[*ids, tokenizer.sep_token_id], ids[:1]]) == ["紫禁城", "紫"]


def test_qa_records_name_the_line(tmp_path):
    path = tmp_path / "qa.jsonl"
    path.write_text('{"context": "甲", "question": "乙", "answer": "丙"}\n{"context": "甲", "answer": "丙"}\n',
                    encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"qa\.jsonl, line 2: missing key\(s\) 'question'"):
        read_qa(path)
    questions = read_qa(S / "qa_questions.jsonl", require_answer=False)
    assert questions["answer"] == ["", "", ""]
    with pytest.raises(DataFormatError, match="no record has an answer"):
        read_qa(S / "qa_questions.jsonl")
    path.write_text('{"context": "甲", "question": "乙", "answer": "丙"}\n{"context": "丁", "question": "戊", '
                    '"answer": ""}\n', encoding="utf-8")
    assert read_qa(path)["answer"] == ["丙"]  # a record with nothing to learn is skipped (and logged)


# --- span corruption and sentinels -----------------------------------------------------------------------------


@pytest.mark.parametrize("style", ["extra{}", "<extra_id_{}>"])
def test_masking_keeps_every_character_once(style):
    sentinels = [style.format(i) for i in range(10)]
    separator = sentinel_separator(sentinels)
    rng = random.Random(0)
    for _ in range(300):
        text = "".join(rng.choice("这家餐厅的菜味道很好abc123，。") for _ in range(rng.randint(2, 60)))
        example = mask_spans(text, sentinels, rng, separator=separator)
        spans = split_on_sentinels(example.target, sentinels)
        assert spans[:len(example.spans)] == [s.strip() for s in example.spans]
        rebuilt = example.source
        for i, span in enumerate(example.spans):
            rebuilt = rebuilt.replace(f"{separator}{sentinels[i]}{separator}", span, 1)
        assert rebuilt == text
        assert example.target.endswith(sentinels[len(example.spans)])
        hidden = sum(map(len, example.spans))
        assert 1 <= hidden < len(text)


def test_sentinels_of_both_styles(tiny_t5, tiny_mt5_style, tmp_path):
    bert_style = AutoTokenizer.from_pretrained(tiny_t5)
    t5_style = AutoTokenizer.from_pretrained(tiny_mt5_style)
    assert sentinel_tokens(bert_style)[:2] == ["extra0", "extra1"] and len(sentinel_tokens(bert_style)) == 20
    assert sentinel_tokens(t5_style)[:2] == ["<extra_id_0>", "<extra_id_1>"]
    for tokenizer in (bert_style, t5_style):
        sentinels = sentinel_tokens(tokenizer)
        sep = sentinel_separator(sentinels)
        ids = tokenizer(f"{sentinels[0]}{sep}好吃{sep}{sentinels[1]}{sep}干净{sep}{sentinels[2]}")["input_ids"]
        assert decode_spans(tokenizer, ids, sentinels) == ["好吃", "干净", ""]
    # a vocabulary without sentinels of either style: refused, naming the tokenizer
    plain_dir = tmp_path / "plain"
    plain_dir.mkdir()
    (plain_dir / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "好"]), encoding="utf-8")
    from transformers import BertTokenizerFast

    with pytest.raises(ArgumentError, match=r"the tokenizer \(BertTokenizer\w*\) has no sentinel tokens"):
        sentinel_tokens(BertTokenizerFast(vocab=str(plain_dir / "vocab.txt")))
    # the count stops at the first missing sentinel: extra0 and extra1 alone are two
    (plain_dir / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "extra0", "extra1", "extra3"]),
                                         encoding="utf-8")
    assert sentinel_tokens(BertTokenizerFast(vocab=str(plain_dir / "vocab.txt"))) == ["extra0", "extra1"]


# --- question answering end to end -------------------------------------------------------------------------


def _copy_task(path, n=24, seed=0):
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as f:
        for _ in range(n):
            text = "".join(rng.choice("一二三") for _ in range(2))
            f.write(json.dumps({"context": text, "question": "复制", "answer": text}, ensure_ascii=False) + "\n")
    return path


def test_a_tiny_t5_learns_to_copy(tiny_t5, tmp_path):
    data = _copy_task(tmp_path / "copy.jsonl")
    common = ["--validation_file", str(data), "--do_eval", "--use_cpu", "--disable_tqdm", "true",
              "--log_level", "error", "--generation_max_length", "6", "--per_device_eval_batch_size", "32"]
    before = load_recipe("t5_qa").main(["--model_name_or_path", str(tiny_t5), "--output_dir", str(tmp_path / "b"),
                                        *common])["eval"]
    out = tmp_path / "copy"
    after = load_recipe("t5_qa").main([
        "--model_name_or_path", str(tiny_t5), "--train_file", str(data), "--do_train", "--output_dir", str(out),
        "--learning_rate", "1e-2", "--max_steps", "60", "--warmup_steps", "0", "--per_device_train_batch_size", "24",
        "--eval_strategy", "no", "--save_strategy", "no", "--load_best_model_at_end", "false", *common,
    ])
    assert after["eval"]["eval_loss"] < before["eval_loss"] / 3
    assert before["eval_exact_match"] == 0 and after["eval"]["eval_exact_match"] >= 0.25
    assert after["eval"]["eval_f1"] > before["eval_f1"] + 0.5
    saved = json.loads((out / "seq2seq_config.json").read_text(encoding="utf-8"))
    assert saved["task"] == "qa" and saved["source_template"] == "问题：{question}原文：{context}"

    # the folder reloads with plain transformers and answers as the predictor does
    from plm_recipes.seq2seq.predictor import QuestionAnswerer

    qa = QuestionAnswerer(str(out), device="cpu")
    answers = qa.answer(["复制", "复制"], ["一二", "三一"])
    model = AutoModelForSeq2SeqLM.from_pretrained(out)
    tokenizer = AutoTokenizer.from_pretrained(out)
    inputs = tokenizer(["问题：复制原文：一二"], return_tensors="pt")
    with torch.no_grad():
        generated = model.generate(**inputs, max_new_tokens=6, num_beams=1, do_sample=False)
    assert decode(tokenizer, generated) == answers[:1]


def test_learning_rate_mapping_gives_matching_parameters_their_rate(tiny_t5, tmp_path):
    from plm_recipes.seq2seq import Seq2SeqRecipeConfig
    from plm_recipes.seq2seq.trainer import RecipeSeq2SeqTrainer

    def optimizer(mapping):
        args = Seq2SeqRecipeConfig(str(tmp_path), learning_rate=1e-3, use_cpu=True, report_to=[],
                                   learning_rate_mapping=mapping)
        model = AutoModelForSeq2SeqLM.from_pretrained(tiny_t5)
        trainer = RecipeSeq2SeqTrainer(model=model, args=args)
        names = {id(p): n for n, p in model.named_parameters()}
        return {names[id(p)]: group["lr"] for group in trainer.create_optimizer().param_groups for p in group["params"]}

    rates = optimizer('{"relative_attention_bias": 0.03}')  # JSON, as from the command line
    biases = {n for n in rates if "relative_attention_bias" in n}
    assert len(biases) == 2  # the encoder's and the decoder's (their first layers hold them)
    assert {rates[n] for n in biases} == {0.03} and {r for n, r in rates.items() if n not in biases} == {1e-3}

    with pytest.raises(ArgumentError, match=r"'relative_bias\$' matches no trainable parameter"):
        optimizer({"relative_bias$": 0.03, "relative_attention_bias": 0.03})
    with pytest.raises(ArgumentError, match="should be a number above 0"):
        optimizer({"relative_attention_bias": "fast"})
    with pytest.raises(ArgumentError, match="is not a regular expression"):
        optimizer({"relative_attention_bias(": 0.03})


def test_qa_recipe_predicts_a_file_without_answers_and_the_cli(tiny_t5, tmp_path, capsys):
    out = tmp_path / "qa"
    results = load_recipe("t5_qa").main([
        "--model_name_or_path", str(tiny_t5), "--train_file", str(S / "qa_train.jsonl"),
        "--validation_file", str(S / "qa_dev.jsonl"), "--test_file", str(S / "qa_questions.jsonl"),
        "--do_train", "--do_eval", "--do_predict", "--output_dir", str(out), "--max_steps", "2",
        "--per_device_train_batch_size", "4", "--use_cpu", "--disable_tqdm", "true", "--log_level", "error",
        "--generation_max_length", "6",
    ])
    assert "test_exact_match" not in results["test"] and results["test"]["test_samples_per_second"] > 0  # no answers
    for key in ("eval_bleu_4", "eval_rouge_l", "eval_exact_match", "eval_f1"):
        assert 0 <= results["eval"][key] <= 1
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 3 and all(row["answer"] is None and isinstance(row["prediction"], str) for row in rows)
    assert not list(out.glob("*.bin")) and not list(out.glob("*.pkl"))
    capsys.readouterr()

    cli.main(["predict", "qa", "--model", str(out), "--question", "故宫又称什么", "--context", "北京故宫又称紫禁城。"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Q: 故宫又称什么" and lines[1].startswith("A: ")
    with pytest.raises(SystemExit):
        cli.main(["predict", "qa", "--model", str(out), "--question", "故宫又称什么"])
    assert "pair up in order" in capsys.readouterr().err


# --- mask filling end to end -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def filling_model(tiny_t5, tmp_path_factory):
    out = tmp_path_factory.mktemp("filling") / "model"
    results = load_recipe("t5_filling").main([
        "--model_name_or_path", str(tiny_t5), "--train_file", str(S / "corpus.txt"),
        "--validation_file", str(S / "corpus.txt"), "--do_train", "--do_eval", "--output_dir", str(out),
        "--max_steps", "2", "--per_device_train_batch_size", "8", "--use_cpu", "--disable_tqdm", "true",
        "--log_level", "error", "--generation_max_length", "8",
    ])
    assert 0 <= results["eval"]["eval_span_f1"] <= 1 and "eval_loss" in results["eval"]
    return out


def _scripted(filler, outputs: list[str]):
    """Make the filler's model "generate" these target texts (its decoding and assembling are what is tested)."""
    tokenizer = filler.tokenizer

    def generate(inputs, **kwargs):
        return [tokenizer(text)["input_ids"] for text in outputs]

    filler._generate = generate


def test_fill_assembles_spans_and_never_leaks_sentinels(filling_model):
    from plm_recipes.seq2seq.predictor import MaskFiller

    filler = MaskFiller(str(filling_model), device="cpu")
    _scripted(filler, ["extra0 菜 extra1 服务 extra2", "extra0 菜 extra1 服务 extra2", "extra0 环境 extra1",
                       "extra0 extra1 服务", "extra0 味道 extra1 态度 extra2 extra3 多余"])
    filled = filler.fill("这家餐厅的[MASK]很好，[MASK]也热情。", num_return_sequences=5)
    # duplicates dropped; a filling that leaves a mask empty dropped; extra spans ignored
    assert filled == ["这家餐厅的菜很好，服务也热情。", "这家餐厅的味道很好，态度也热情。"]
    assert all("extra" not in text and "[MASK]" not in text for text in filled)
    with pytest.raises(Exception, match=r"no \[MASK\]"):
        filler.fill("没有要填的地方")


def test_augment_writes_distinct_variants(filling_model, tmp_path, capsys):
    from plm_recipes.seq2seq.predictor import MaskFiller

    filler = MaskFiller(str(filling_model), device="cpu")
    text = "这家餐厅的菜味道很好"
    _scripted(filler, ["extra0 菜 extra1", "extra0 味道 extra1", "extra0 菜 extra1"])
    variants = filler.augment(text, n=4, seed=1)
    assert variants and len(set(variants)) == len(variants) and text not in variants
    assert all("extra" not in v and len(v) > 0 for v in variants)

    source = tmp_path / "in.txt"
    source.write_text("这家餐厅的菜味道很好\n手机收到了，外观很漂亮\n", encoding="utf-8")
    cli.main(["augment", "fill", "--model", str(filling_model), "--input", str(source),
              "--output", str(tmp_path / "out.txt"), "--n", "2"])
    written = (tmp_path / "out.txt").read_text(encoding="utf-8").splitlines()
    assert all("extra" not in line for line in written)  # an untrained model may write nothing: never sentinels
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.txt", "out.txt"]  # no temporary file left behind


def test_augment_fills_the_mask_a_text_already_holds(filling_model):
    """The text says where to fill: that [MASK] is filled, and no span of our own is masked (which could cut the
    [MASK] in half: '...紘ASK]，下次还会再买')."""
    from plm_recipes.seq2seq.predictor import MaskFiller

    filler = MaskFiller(str(filling_model), device="cpu")
    seen = []
    original_fill = filler.fill_many
    filler.fill_many = lambda texts, **kwargs: seen.extend(texts) or original_fill(texts, **kwargs)
    _scripted(filler, ["extra0 菜 extra1", "extra0 味道 extra1"])
    variants = filler.augment("这家餐厅的[MASK]很好，下次还会再买", n=2, seed=3)
    assert seen and set(seen) == {"这家餐厅的[MASK]很好，下次还会再买"}  # masked by us: never
    assert variants == ["这家餐厅的菜很好，下次还会再买", "这家餐厅的味道很好，下次还会再买"]


def _without_padding(rows, pad_id):
    rows = [list(row) for row in rows]
    for row in rows:
        while row and row[-1] == pad_id:
            row.pop()
    return rows


def test_batched_filling_gives_what_one_text_at_a_time_gives(filling_model, tmp_path):
    """Texts of different lengths filled together (padded on the right) give, greedy or by beam search, what each
    gives alone: the generated ids, the fillings, and augment's variants (masked with the same seeds)."""
    import shutil

    from transformers import AutoModelForSeq2SeqLM

    from plm_recipes.seq2seq.predictor import MaskFiller

    # the two-step model may answer every text alike: its weights, shaken (seeded), answer each text its own way
    filling_model = shutil.copytree(filling_model, tmp_path / "shaken")
    model = AutoModelForSeq2SeqLM.from_pretrained(filling_model)
    torch.manual_seed(0)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter) * parameter.std().nan_to_num(0.02).clamp(min=0.02))
    model.save_pretrained(filling_model)
    texts = ["这家餐厅的[MASK]很好", "手机收到了，[MASK]很漂亮，[MASK]也快", "[MASK]", "物流很快，包装也很[MASK]，下次还会再买"]
    alone, together = (MaskFiller(str(filling_model), device="cpu", batch_size=size) for size in (1, 3))
    pad = alone.tokenizer.pad_token_id
    inputs = [alone.tokenizer(text.replace("[MASK]", " extra0 "))["input_ids"] for text in texts]
    one_by_one = _without_padding(alone._generate(inputs, do_sample=False, max_new_tokens=12), pad)
    assert one_by_one == _without_padding(together._generate(inputs, do_sample=False, max_new_tokens=12), pad)
    assert len({tuple(row) for row in one_by_one}) > 1 and max(map(len, one_by_one)) > 1  # not all the same
    for settings in ({}, {"num_return_sequences": 2}):  # greedy; beam search with 2 beams
        expected = [alone.fill(text, max_new_tokens=12, **settings) for text in texts]
        assert together.fill_many(texts, max_new_tokens=12, **settings) == expected
    lines = ["这家餐厅的菜味道很好", "手机收到了，外观很漂亮", "好", "物流很快，包装也很结实，下次还会再买"]
    expected = [alone.augment(line, n=2, seed=7 + i, do_sample=False) for i, line in enumerate(lines)]
    assert together.augment_many(lines, n=2, seeds=[7, 8, 9, 10], do_sample=False) == expected
    assert expected[2] == []  # one character: nothing to mask


def test_augment_fill_batches_with_progress_and_no_repeated_warning(filling_model, tmp_path, capfd):
    """The saved model's generation config holds transformers' default max_length (written by the trainer's
    evaluation); generate() must not warn about it on every batch. Several batches: lines/s at the end."""
    saved = json.loads((filling_model / "generation_config.json").read_text(encoding="utf-8"))
    assert saved.get("max_length") is not None  # what made generate() warn before
    source = tmp_path / "in.txt"
    source.write_text("这家餐厅的菜味道很好\n手机收到了，外观很漂亮\n物流很快，包装也很结实\n", encoding="utf-8")
    cli.main(["augment", "fill", "--model", str(filling_model), "--input", str(source),
              "--output", str(tmp_path / "out.txt"), "--n", "2", "--batch_size", "2", "--no_progress"])
    err = capfd.readouterr().err
    assert "augmenting: 3 items in" in err and "items/s" in err
    assert "max_length" not in err and "max_new_tokens" not in err
    cli.main(["predict", "fill", "--model", str(filling_model), "--text", "这家餐厅的[MASK]很好",
              "--text", "[MASK]也热情", "--text", "手机[MASK]", "--batch_size", "2", "--no_progress"])
    captured = capfd.readouterr()
    assert "filling: 3 items in" in captured.err and "max_length" not in captured.err
    assert captured.out.splitlines()[0] == "这家餐厅的[MASK]很好"


def test_a_qa_model_is_not_a_filler(tiny_t5, filling_model, tmp_path):
    from plm_recipes.seq2seq.predictor import QuestionAnswerer

    with pytest.raises(ModelLoadError, match="mask filling"):
        QuestionAnswerer(str(filling_model))
    with pytest.raises(ModelLoadError, match="seq2seq_config.json"):
        QuestionAnswerer(str(tiny_t5))


def test_filling_with_extra_id_sentinels(tiny_mt5_style, tmp_path):
    out = tmp_path / "fill"
    load_recipe("t5_filling").main([
        "--model_name_or_path", str(tiny_mt5_style), "--train_file", str(S / "corpus.txt"), "--do_train",
        "--output_dir", str(out), "--max_steps", "1", "--eval_strategy", "no", "--save_strategy", "no",
        "--load_best_model_at_end", "false", "--use_cpu", "--disable_tqdm", "true", "--log_level", "error",
    ])
    saved = json.loads((out / "seq2seq_config.json").read_text(encoding="utf-8"))
    assert saved["sentinels"][0] == "<extra_id_0>"


def test_mask_filling_refuses_lora_before_any_model_loads(tmp_path):
    """The seq2seq config carries QA's LoRA settings; the filling recipe trains whole models and says so."""
    from plm_recipes.errors import ArgumentError

    with pytest.raises(ArgumentError, match="--use_peft: mask filling trains every weight"):
        load_recipe("t5_filling").main([
            "--model_name_or_path", str(tmp_path / "no-model"), "--train_file", str(S / "corpus.txt"), "--do_train",
            "--use_peft", "--output_dir", str(tmp_path / "out")])
