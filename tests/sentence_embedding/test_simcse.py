"""Unsupervised sentence embeddings: reading sentences, word repetition, the ESimCSE loss by hand (queue, momentum
encoder), SimCSE and ESimCSE end to end (every trainable parameter changes, the saved model reloads to the same
embeddings), and ``plm-recipes predict similarity``."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch
from helpers import DATA, load_recipe
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer.modules import Dense, Pooling
from transformers import AutoModel

from plm_recipes import cli
from plm_recipes.pairs import read_pairs
from plm_recipes.errors import ArgumentError, DataFormatError
from plm_recipes.sentence_embedding import ESimCSELoss, TrainingHead, read_sentences, word_repetition

S = DATA / "sentence_embedding"
SPECIAL = [0, 1, 2, 3]  # pad, unk, cls, sep in the tests' hand-made batches
PAD, CLS, SEP = 0, 2, 3


# --- reading sentences ----------------------------------------------------------------------------------


def test_txt_is_one_sentence_a_line_and_empty_lines_are_counted():
    sentences = read_sentences(S / "sentences.txt")
    lines = (S / "sentences.txt").read_text(encoding="utf-8").splitlines()
    assert sentences.texts == [line for line in lines if line.strip()]
    assert sentences.empty == sum(1 for line in lines if not line.strip()) == 1


def test_tsv_fields_are_sentences(tmp_path):
    path = tmp_path / "unlabeled.tsv"
    path.write_text("谁有这张高清的\t这张高清图谁有\n\n英雄联盟什么英雄最好\t \n", encoding="utf-8")
    sentences = read_sentences(path)
    assert sentences.texts == ["谁有这张高清的", "这张高清图谁有", "英雄联盟什么英雄最好"]
    assert sentences.empty == 2  # the blank line and the blank field
    assert read_sentences(path, ["2"]).texts == ["这张高清图谁有"]


def test_tsv_line_without_the_column_names_the_line(tmp_path):
    path = tmp_path / "unlabeled.tsv"
    path.write_text("一\t二\n三\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"unlabeled\.tsv, line 2: expected at least 2 tab-separated fields"):
        read_sentences(path, ["1", "2"])
    with pytest.raises(DataFormatError, match=r"field numbers counted from 1"):
        read_sentences(path, ["text"])


def test_json_columns(tmp_path):
    path = tmp_path / "corpus.jsonl"
    path.write_text('{"q": "怎么开证明", "a": "去街道办"}\n{"q": "", "a": "不知道"}\n', encoding="utf-8")
    assert read_sentences(path, ["q", "a"]).texts == ["怎么开证明", "去街道办", "不知道"]
    with pytest.raises(DataFormatError, match=r"corpus\.jsonl, line 1: none of the columns \['text'\] is present"):
        read_sentences(path)


def test_file_with_no_sentence(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_text("\n  \n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"empty\.txt"):
        read_sentences(path)


def test_evaluation_pairs_with_a_bad_label_name_the_line(tmp_path):
    path = tmp_path / "dev.tsv"
    path.write_text("一\t二\t1\n三\t四\tyes\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"dev\.tsv, line 2: label must be 0 or 1, found 'yes'"):
        read_pairs(path)


# --- word repetition --------------------------------------------------------------------------------------


def _batch(rows: list[list[int]], with_types: bool = False) -> dict:
    width = max(map(len, rows))
    batch = {"input_ids": torch.tensor([r + [PAD] * (width - len(r)) for r in rows]),
             "attention_mask": torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows])}
    if with_types:
        batch["token_type_ids"] = torch.zeros_like(batch["input_ids"])
    return batch


def test_word_repetition_keeps_the_tokens_in_order():
    rng = random.Random(0)
    rows = [[CLS, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, SEP], [CLS, 20, 21, SEP], [CLS, 30, SEP]]
    for _ in range(50):
        out = word_repetition(_batch(rows, with_types=True), 0.32, SPECIAL, PAD, rng=rng)
        for row, ids, mask in zip(rows, out["input_ids"].tolist(), out["attention_mask"].tolist()):
            length = sum(mask)
            assert mask == [1] * length + [0] * (len(mask) - length) and set(ids[length:]) <= {PAD}
            ids = ids[:length]
            assert ids[0] == CLS and ids[-1] == SEP and ids.count(CLS) == 1 and ids.count(SEP) == 1
            body, original = ids[1:-1], row[1:-1]
            assert sorted(set(body)) == sorted(original)  # nothing lost, nothing new
            assert [t for i, t in enumerate(body) if i == 0 or body[i - 1] != t] == original  # order kept
            assert all(body.count(t) <= 2 for t in original)
            assert len(body) - len(original) <= max(2, int(0.32 * len(original)))
        assert out["token_type_ids"].shape == out["input_ids"].shape


def test_word_repetition_changes_lengths_and_respects_max_length():
    rng = random.Random(1)
    row = [CLS, *range(10, 20), SEP]
    lengths = {int(word_repetition(_batch([row]), 0.32, SPECIAL, PAD, rng=rng)["attention_mask"].sum())
               for _ in range(40)}
    assert min(lengths) == len(row) and max(lengths) > len(row)  # sometimes nothing, sometimes several doubled
    for _ in range(20):
        out = word_repetition(_batch([row]), 1.0, SPECIAL, PAD, max_length=len(row) + 1, rng=rng)
        ids = out["input_ids"][0].tolist()
        assert len(ids) <= len(row) + 1 and ids[-1] == SEP
        assert [t for i, t in enumerate(ids) if i == 0 or ids[i - 1] != t] == row  # every original token kept


def test_word_repetition_never_repeats_the_prompt_and_keeps_natural_repeats():
    rng = random.Random(2)
    prompt = [CLS, 40, 41]  # "query: " as sentence-transformers tokenizes it: prompt_length counts CLS too
    row = [*prompt, 10, 10, 11, 12, 13, 14, SEP]  # a sentence that repeats a token of its own ("谢谢")
    for prompt_length in (3, torch.tensor([3])):
        seen_longer = False
        for _ in range(30):
            batch = {**_batch([row]), "prompt_length": prompt_length}
            ids = word_repetition(batch, 1.0, SPECIAL, PAD, rng=rng)["input_ids"][0].tolist()
            assert ids[:3] == prompt and ids[3] != 40 and ids[3] != 41  # the prompt as it was, once
            seen_longer |= len(ids) > len(row)
        assert seen_longer
    for _ in range(20):  # room for one repeat: the sentence's own tokens, its "10 10" included, all stay
        ids = word_repetition(_batch([row]), 1.0, SPECIAL, PAD, max_length=len(row) + 1, rng=rng)["input_ids"]
        ids = ids[0].tolist()
        assert len(ids) <= len(row) + 1 and ids[-1] == SEP and ids.count(10) >= 2
        assert all(ids.count(t) >= row.count(t) for t in row)


def test_word_repetition_with_left_padding():
    """Causal LMs' tokenizers (gemma's) pad on the left: the rows are read from their real tokens and padded back
    on the left."""
    rng = random.Random(3)
    rows = [[CLS, 10, 11, 12, 13, 14, 15, SEP], [CLS, 20, SEP]]
    width = max(map(len, rows))
    batch = {"input_ids": torch.tensor([[PAD] * (width - len(r)) + r for r in rows]),
             "attention_mask": torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows]),
             "prompt_length": 1}
    for _ in range(30):
        out = word_repetition(batch, 1.0, SPECIAL, PAD, rng=rng)
        for row, ids, mask in zip(rows, out["input_ids"].tolist(), out["attention_mask"].tolist()):
            length = sum(mask)
            assert mask == [0] * (len(mask) - length) + [1] * length and set(ids[:len(mask) - length]) <= {PAD}
            ids = ids[len(mask) - length:]
            assert [t for i, t in enumerate(ids) if i == 0 or ids[i - 1] != t] == row  # order kept, nothing lost


# --- the ESimCSE loss by hand ------------------------------------------------------------------------------


@pytest.fixture
def encoder(tiny_bert):
    """The tiny encoder without dropout, so that the same sentence always embeds the same way."""
    return SentenceTransformer(str(tiny_bert), device="cpu").eval()


def _features(model, texts):
    return model.preprocess(texts)


def test_esimcse_queue_holds_earlier_momentum_embeddings_only(encoder):
    loss = ESimCSELoss(encoder, queue_size=4, momentum=0.9, dup_rate=0.0, seed=0)
    batches = [["平板电脑", "手机屏幕"], ["北京天气", "便宜机票"], ["英语口语", "红烧肉"]]
    seen: list[torch.Tensor] = []
    for texts in batches:
        before = None if loss.queue is None else loss.queue.clone()
        features = _features(encoder, texts)
        loss([features, _features(encoder, texts)])
        momentum_model, _ = loss.momentum_encoder
        with torch.no_grad():
            keys = momentum_model(_features(encoder, texts))["sentence_embedding"]
        # the batch's own keys arrive after its loss: the queue before this batch held only earlier batches
        if before is not None:
            assert all(not torch.allclose(before[i], keys[j]) for i in range(len(before)) for j in range(len(keys)))
            assert torch.allclose(before, torch.cat(seen)[-4:])
        seen.append(keys)
        assert torch.allclose(loss.queue, torch.cat(seen)[-4:], atol=1e-6)
        # the queue comes from the momentum encoder, not from the model being trained (which an optimizer step,
        # simulated here, has moved away from it)
        with torch.no_grad():
            model_keys = encoder(_features(encoder, texts))["sentence_embedding"]
            if before is not None:
                assert not torch.allclose(loss.queue[-2:], model_keys, atol=1e-3)
            for p in encoder.parameters():
                p.add_(0.05 * torch.randn_like(p))
    assert len(loss.queue) == 4


def test_momentum_encoder_follows_the_model_and_is_never_trained(encoder):
    loss = ESimCSELoss(encoder, queue_size=2, momentum=0.9, dup_rate=0.0, seed=0)
    texts = ["平板电脑", "手机屏幕"]
    loss([_features(encoder, texts), _features(encoder, texts)])
    momentum_model, _ = loss.momentum_encoder
    assert all(not p.requires_grad for p in momentum_model.parameters())
    assert not any(p is q for p in momentum_model.parameters() for q in loss.parameters())  # not optimized, not saved
    old = [p.clone() for p in momentum_model.parameters()]
    with torch.no_grad():
        for p in encoder.parameters():
            p.add_(0.5)
    loss([_features(encoder, texts), _features(encoder, texts)])
    for before, now, current in zip(old, momentum_model.parameters(), encoder.parameters()):
        assert torch.allclose(now, 0.9 * before + 0.1 * current, atol=1e-6)


def test_esimcse_loss_against_a_hand_computation(encoder):
    loss = ESimCSELoss(encoder, scale=20.0, queue_size=3, momentum=0.5, dup_rate=0.0, seed=0)
    loss([_features(encoder, ["北京天气", "便宜机票", "英语口语"])] * 2)  # fills the queue
    queue = loss.queue.clone()
    texts = ["平板电脑", "手机屏幕"]
    value = loss([_features(encoder, texts), _features(encoder, texts)])
    with torch.no_grad():
        h = torch.nn.functional.normalize(encoder(_features(encoder, texts))["sentence_embedding"], dim=-1)
        q = torch.nn.functional.normalize(queue, dim=-1)
    expected = 0.0
    for i in range(2):
        logits = 20.0 * torch.cat([h @ h[i], q @ h[i]])
        expected += -(logits[i] - torch.logsumexp(logits, 0)) / 2
    assert value.item() == pytest.approx(expected.item(), rel=1e-4)


def test_training_head_becomes_a_dense_module():
    head = TrainingHead(4)
    dense = head.as_dense()
    x = torch.randn(3, 4)
    assert torch.allclose(dense({"sentence_embedding": x})["sentence_embedding"], head(x))


# --- the recipe end to end --------------------------------------------------------------------------------


def _run(tiny_bert, out, *extra):
    return load_recipe("simcse").main([
        "--model_name_or_path", str(tiny_bert), "--train_file", str(S / "sentences.txt"),
        "--validation_file", str(S / "dev.txt"), "--test_file", str(S / "dev.txt"),
        "--do_train", "--do_eval", "--do_predict", "--output_dir", str(out),
        "--max_steps", "4", "--per_device_train_batch_size", "8", "--learning_rate", "1e-3",
        "--eval_steps", "2", "--save_steps", "2", "--use_cpu", "--disable_tqdm", "true", "--log_level", "error",
        "--seed", "3", *extra,
    ])


def _changed(tiny_bert, out) -> tuple[set[str], set[str]]:
    # through the model class, so that both sides name the weights alike (transformers 5.2 saves LayerNorm weights
    # it loaded as gamma / beta under their new names)
    before = dict(AutoModel.from_pretrained(tiny_bert).state_dict())
    after = dict(AutoModel.from_pretrained(out).state_dict())
    assert before.keys() == after.keys()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    return changed, set(before) - changed


@pytest.mark.parametrize("method", ["simcse", "esimcse"])
def test_recipe_trains_every_parameter_and_reloads(tiny_bert, tmp_path, method):
    out = tmp_path / method
    results = _run(tiny_bert, out, "--method", method, "--queue_size", "8")
    changed, unchanged = _changed(tiny_bert, out)
    # every weight trains, the word embeddings too; BERT's pooler is not read by mean pooling
    assert unchanged == {"pooler.dense.weight", "pooler.dense.bias"}
    assert any("encoder.layer.0" in k for k in changed) and any("encoder.layer.1" in k for k in changed)
    for split in ("eval", "test"):
        assert 0 <= results[split][f"{split}_f1"] <= 1 and -1 <= results[split][f"{split}_spearman"] <= 1

    saved = json.loads((out / "matching_config.json").read_text(encoding="utf-8"))
    assert saved["kind"] == "bi-encoder" and saved["threshold"] == results["eval"]["eval_threshold"]
    assert method in saved["objective"]
    run = (out / "run_config.yaml").read_text(encoding="utf-8")
    assert f"method: {method}" in run and "temperature: 0.05" in run

    # a plain SentenceTransformer reloads it, with no project code, and scores the pairs as the trained model did
    # (predict_results.tsv is written by the run's own model after training)
    reloaded = SentenceTransformer(str(out), device="cpu")
    assert not any(isinstance(m, Dense) for m in reloaded)
    pairs = read_pairs(S / "dev.txt")
    scores = [float(line.split("\t")[3]) for line in
              (out / "predict_results.tsv").read_text(encoding="utf-8").splitlines()[1:]]
    embeddings = reloaded.encode([*pairs["text_a"], *pairs["text_b"]], normalize_embeddings=True)
    n = len(pairs)
    np.testing.assert_allclose(scores, (embeddings[:n] * embeddings[n:]).sum(1), atol=1e-5)


def test_freeze_layers_trains_the_layers_above_only(tiny_bert, tmp_path):
    out = tmp_path / "frozen"
    _run(tiny_bert, out, "--freeze_layers", "1")
    changed, unchanged = _changed(tiny_bert, out)
    assert changed and all(k.startswith("encoder.layer.1.") for k in changed)  # the tiny BERT has 2 layers
    assert any(k.startswith("embeddings.") and "word" not in k for k in unchanged)
    assert "freeze_layers: 1" in (out / "run_config.yaml").read_text(encoding="utf-8")


def test_mlp_head_is_trained_and_dropped_unless_kept(tiny_bert, tmp_path):
    out = tmp_path / "mlp"
    _run(tiny_bert, out, "--mlp_head", "--pooling", "cls", "--keep_mlp_head", "--method", "esimcse")
    model = SentenceTransformer(str(out), device="cpu")
    modules = list(model)
    assert isinstance(modules[1], Pooling) and modules[1].pooling_mode == "cls"
    assert isinstance(modules[2], Dense) and len(modules) == 3
    dropped = tmp_path / "dropped"
    _run(tiny_bert, dropped, "--mlp_head", "--max_steps", "2")
    assert not any(isinstance(m, Dense) for m in SentenceTransformer(str(dropped), device="cpu"))


def test_head_parameters_train_with_the_model(encoder, tmp_path):
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments

    from plm_recipes.sentence_embedding import ProjectedMultipleNegativesRankingLoss

    head = TrainingHead(encoder.get_sentence_embedding_dimension())
    before = head.linear.weight.clone()
    texts = read_sentences(S / "sentences.txt").as_pairs()
    loss = ProjectedMultipleNegativesRankingLoss(encoder, head)
    args = SentenceTransformerTrainingArguments(output_dir=str(tmp_path), max_steps=2, per_device_train_batch_size=8,
                                                learning_rate=1e-2, report_to=[], use_cpu=True, save_strategy="no")
    SentenceTransformerTrainer(model=encoder, args=args, train_dataset=texts, loss=loss).train()
    assert not torch.equal(before, head.linear.weight)


def _record_prompts(monkeypatch) -> list:
    """Every prompt ``SentenceTransformer.preprocess`` is given: the trainer's collator and ``encode`` both pass
    one, ``None`` for none (the model card's token statistics call it without)."""
    prompts = []
    preprocess = SentenceTransformer.preprocess

    def recording(self, inputs, **kwargs):
        if "prompt" in kwargs:
            prompts.append(kwargs["prompt"])
        return preprocess(self, inputs, **kwargs)

    monkeypatch.setattr(SentenceTransformer, "preprocess", recording)
    return prompts


def test_prompt_reaches_training_evaluation_and_the_saved_model(tiny_bert, tmp_path, monkeypatch):
    prompts = _record_prompts(monkeypatch)
    out = tmp_path / "prompted"
    _run(tiny_bert, out, "--prompts", "query: ", "--max_steps", "2")
    assert len(prompts) > 4 and set(prompts) == {"query: "}  # every batch trained on and every text evaluated
    monkeypatch.undo()

    config = json.loads((out / "config_sentence_transformers.json").read_text(encoding="utf-8"))
    assert config["prompts"]["default"] == "query: " and config["default_prompt_name"] == "default"
    reloaded = SentenceTransformer(str(out), device="cpu")
    texts = ["怎么开初婚未育证明", "今天会下雨吗"]
    np.testing.assert_allclose(reloaded.encode(texts), reloaded.encode(["query: " + t for t in texts], prompt=""),
                               atol=1e-6)
    assert not np.allclose(reloaded.encode(texts), reloaded.encode(texts, prompt=""), atol=1e-4)

    # a model saved with a default prompt trains with it when --prompts is not given; the run above saved one
    prompts = _record_prompts(monkeypatch)
    _run(out, tmp_path / "again", "--max_steps", "2")
    assert set(prompts) == {"query: "}


def test_esimcse_repeats_words_of_the_sentence_not_of_the_prompt(tiny_bert, tmp_path, monkeypatch):
    from plm_recipes.sentence_embedding import losses

    seen = []
    repeat = losses.word_repetition

    def recording(features, *args, **kwargs):
        seen.append(features.get("prompt_length"))
        return repeat(features, *args, **kwargs)

    monkeypatch.setattr(losses, "word_repetition", recording)
    _run(tiny_bert, tmp_path / "esimcse", "--method", "esimcse", "--prompts", "query: ", "--max_steps", "2")
    tokenizer = SentenceTransformer(str(tiny_bert), device="cpu").tokenizer
    assert seen and all(int(length) == len(tokenizer("query: ")["input_ids"]) - 1 for length in seen)


def test_bad_settings_are_clear_errors(tiny_bert, tmp_path):
    with pytest.raises(ArgumentError, match="--keep_mlp_head needs --mlp_head"):
        _run(tiny_bert, tmp_path / "a", "--keep_mlp_head")
    with pytest.raises(ArgumentError, match="--temperature must be above 0"):
        _run(tiny_bert, tmp_path / "b", "--temperature", "0")
    with pytest.raises(ArgumentError, match="one prompt for every text"):
        _run(tiny_bert, tmp_path / "c", "--prompts", '{"anchor": "query: "}')


def test_cli_predict_similarity(tiny_bert, tmp_path, capsys):
    out = tmp_path / "model"
    _run(tiny_bert, out, "--max_steps", "2")
    threshold = json.loads((out / "matching_config.json").read_text(encoding="utf-8"))["threshold"]
    capsys.readouterr()  # the run's own output
    cli.main(["predict", "similarity", "--model", str(out), "--a", "怎么开初婚未育证明", "--b", "初婚未育证明怎么开？",
              "--a", "今天会下雨吗", "--b", "这是什么歌"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    score, decision, a, b = lines[0].split("\t")
    assert a == "怎么开初婚未育证明" and b == "初婚未育证明怎么开？"
    assert decision == ("match" if float(score) >= threshold else "no match")

    cli.main(["predict", "similarity", "--model", str(out), "--file", str(S / "dev.txt"),
              "--output", str(tmp_path / "scores.jsonl")])
    rows = [json.loads(line) for line in (tmp_path / "scores.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) == len(read_pairs(S / "dev.txt")) and {"score", "match"} <= rows[0].keys()

    with pytest.raises(SystemExit) as e:
        cli.main(["predict", "similarity", "--model", str(out), "--a", "一"])
    assert e.value.code != 0 and "--a and --b pair up in order" in capsys.readouterr().err
