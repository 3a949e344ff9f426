"""Supervised matching: data checks, metrics, the listwise loss by hand, the three recipes end to end, reloading,
ranking with the category-embedding cache, and the CLI."""

from __future__ import annotations

import json
import math
import os
import shutil

import datasets
import numpy as np
import pytest
import torch
from helpers import DATA, load_recipe
from sentence_transformers import CrossEncoder, SentenceTransformer
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from plm_recipes import cli
from plm_recipes.pairs import read_pairs
from plm_recipes.errors import DataFormatError
from plm_recipes.matching import BiEncoderMatcher, CrossEncoderMatcher, Matcher
from plm_recipes.matching.data import group_pairs, read_categories
from plm_recipes.matching.losses import listwise_softmax_loss
from plm_recipes.pairs.metrics import BinaryMatchMetrics, best_f1_threshold

M = DATA / "matching"


# --- data ---------------------------------------------------------------------------------------------


def test_pairs_load_with_int_labels():
    pairs = read_pairs(M / "train.txt")
    assert pairs.column_names == ["text_a", "text_b", "label"] and set(pairs["label"]) == {0, 1}


def test_pair_with_wrong_column_count(tmp_path):
    path = tmp_path / "train.txt"
    path.write_text("平板：触屏电脑。\t屏幕清晰\t1\n平板：触屏电脑。\t屏幕清晰\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"train\.txt, line 2: expected 3 tab-separated fields "
                                              r"\(text_a<TAB>text_b<TAB>label\), found 2"):
        read_pairs(path)


def test_pair_label_must_be_binary(tmp_path):
    path = tmp_path / "train.txt"
    path.write_text("平板：触屏电脑。\t屏幕清晰\t1\n平板：触屏电脑。\t屏幕清晰\t2\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"train\.txt, line 2: label must be 0 or 1, found '2'"):
        read_pairs(path)


def test_categories(tmp_path):
    categories = read_categories(M / "types_desc.txt")
    assert len(categories) == 10 and categories[0].text == f"{categories[0].name}：{categories[0].description}"


def test_empty_category_file(tmp_path):
    (tmp_path / "types.txt").write_text("\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"types\.txt: the description file is empty"):
        read_categories(tmp_path / "types.txt")


def test_category_id_used_twice(tmp_path):
    (tmp_path / "types.txt").write_text("0\t水果\t能吃的果实\n1\t平板\t触屏电脑\n1\t手机\t便携电话\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"types\.txt, line 3: id 1 is already used on line 2 \(平板\)"):
        read_categories(tmp_path / "types.txt")


def test_exactly_repeated_category_line_is_skipped(tmp_path):
    (tmp_path / "types.txt").write_text("0\t水果\t能吃的果实\n0\t水果\t能吃的果实\n1\t平板\t触屏电脑\n", encoding="utf-8")
    assert [c.name for c in read_categories(tmp_path / "types.txt")] == ["水果", "平板"]


def test_category_line_without_description(tmp_path):
    (tmp_path / "types.txt").write_text("0\t水果\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"line 1: expected 3 tab-separated fields \(id<TAB>name<TAB>description\)"):
        read_categories(tmp_path / "types.txt")


# --- metrics and loss -----------------------------------------------------------------------------------


def test_binary_match_metrics_on_a_hand_example():
    # scores 0.9 0.8 0.6 0.4 0.1 ; labels 1 0 1 1 0 ; threshold 0.5 -> predicted 1 1 1 0 0: TP 2, FP 1, FN 1
    r = BinaryMatchMetrics(keep_in_memory=True).compute(
        predictions=[0.9, 0.8, 0.6, 0.4, 0.1], references=[1, 0, 1, 1, 0], threshold=0.5
    )
    assert r["precision"] == pytest.approx(2 / 3) and r["recall"] == pytest.approx(2 / 3)
    assert r["f1"] == pytest.approx(2 / 3) and r["accuracy"] == pytest.approx(3 / 5)
    # the best cut keeps 0.9..0.4: P 3/4, R 1 -> F1 6/7
    assert r["best_threshold"] == pytest.approx(0.4) and r["best_f1"] == pytest.approx(6 / 7)
    assert r["spearman"] == pytest.approx(0.288675, abs=1e-5)


def test_best_threshold_never_splits_tied_scores():
    threshold, f1 = best_f1_threshold(np.array([0.5, 0.5, 0.1]), np.array([1, 0, 0]))
    assert threshold == 0.5 and f1 == pytest.approx(2 / 3)


def test_listwise_loss_on_two_groups_by_hand():
    logits = torch.tensor([2.0, 0.0, 1.0, 5.0, 3.0], requires_grad=True)
    labels = torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0])
    groups = torch.tensor([7, 7, 7, 3, 3])  # any ids; a group's pairs need not be adjacent
    loss = listwise_softmax_loss(logits, labels, groups)
    first = -(2 - math.log(math.exp(2) + math.exp(0) + math.exp(1)))
    second = -(3 - math.log(math.exp(5) + math.exp(3)))
    assert loss.item() == pytest.approx((first + second) / 2, rel=1e-6)
    loss.backward()
    assert logits.grad[0] < 0 and logits.grad[3] > 0  # raise the positive, lower the negative that outscores it


def test_listwise_loss_ignores_groups_with_nothing_to_rank():
    logits = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    # a group without a positive, and a group of one pair
    loss = listwise_softmax_loss(logits, torch.tensor([0.0, 0.0, 1.0]), torch.tensor([0, 0, 1]))
    assert loss.item() == 0.0 and loss.requires_grad
    two_positives = listwise_softmax_loss(logits[:2], torch.tensor([1.0, 1.0]), torch.tensor([0, 0]))
    assert two_positives.item() == pytest.approx(-0.5 * (math.log(1 / (1 + math.e)) + math.log(math.e / (1 + math.e))))


def test_pairs_grouped_by_text():
    pairs = datasets.Dataset.from_dict({"text_a": ["水果", "电脑", "手机", "水果", "手机"],
                                        "text_b": ["苹果", "苹果", "屏幕很好", "屏幕很好", "苹果"],
                                        "label": [1, 0, 0, 1, 0]})
    grouped = group_pairs(pairs)
    assert grouped.column_names == ["text_a", "text_b", "label"]  # the columns' order: what the loss reads
    assert grouped["text_b"] == ["苹果", "屏幕很好"]  # in order of first appearance
    assert grouped["text_a"] == [["水果", "电脑", "手机"], ["手机", "水果"]] and grouped["label"] == [[1, 0, 0], [0, 1]]


def tiny_cross_encoder(tiny_bert):

    torch.manual_seed(0)
    model = CrossEncoder(str(tiny_bert), num_labels=1, device="cpu")
    model.eval()  # no dropout: the pieces and the whole batch see the same network
    return model


def loss_and_gradients(loss, inputs, labels):
    loss.model.zero_grad()
    value = loss(inputs, labels)
    value.backward()
    return value.detach(), {n: p.grad.clone() for n, p in loss.model.named_parameters() if p.grad is not None}


def test_pointwise_loss_in_pieces_equals_the_whole_batch(tiny_bert):
    """PointwiseMatchingLoss runs the model on length-sorted pieces of the batch and puts the scores back: the loss and
    every gradient are the whole batch's, and the loss is sentence-transformers' BinaryCrossEntropyLoss."""
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss

    from plm_recipes.matching.losses import PointwiseMatchingLoss

    model = tiny_cross_encoder(tiny_bert)
    pairs = read_pairs(M / "train.txt").select(range(16))
    inputs, labels = [pairs["text_a"], pairs["text_b"]], torch.tensor(pairs["label"])
    assert len({len(a) + len(b) for a, b in zip(*inputs)}) > 4  # pairs of several lengths: the pieces differ
    whole, whole_grads = loss_and_gradients(BinaryCrossEntropyLoss(model), inputs, labels)
    calls = []
    model[0].register_forward_hook(lambda module, args, output: calls.append(1))
    for pieces in (1, 4, 16):
        calls.clear()
        value, grads = loss_and_gradients(PointwiseMatchingLoss(model, pieces=pieces), inputs, labels)
        assert len(calls) == pieces  # the model ran on that many pieces
        assert torch.allclose(value, whole, atol=1e-6), pieces
        assert grads.keys() == whole_grads.keys()
        assert all(torch.allclose(grads[n], whole_grads[n], atol=1e-6) for n in grads), pieces
    scores = PointwiseMatchingLoss(model, pieces=4).scores(list(zip(*inputs)))
    assert torch.allclose(torch.sigmoid(scores), torch.tensor(model.predict(list(zip(*inputs)))), atol=1e-5)


def test_pointwise_loss_adds_the_listwise_term_on_grouped_rows(tiny_bert):
    from plm_recipes.matching.losses import PointwiseMatchingLoss

    model = tiny_cross_encoder(tiny_bert)
    pairs = datasets.Dataset.from_dict({"text_a": ["水果", "电脑", "手机", "水果"],
                                        "text_b": ["苹果很甜", "苹果很甜", "屏幕很好", "屏幕很好"],
                                        "label": [1, 0, 0, 1]})
    grouped = group_pairs(pairs)
    rows = [grouped["text_a"], grouped["text_b"]], [torch.tensor(label) for label in grouped["label"]]
    flat = [pairs["text_a"], pairs["text_b"]], torch.tensor(pairs["label"])
    with torch.no_grad():
        logits = PointwiseMatchingLoss(model).scores(list(zip(*flat[0])))
        bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, flat[1].float())
        expected = bce + 0.5 * listwise_softmax_loss(logits, flat[1], torch.tensor([0, 0, 1, 1]))
        assert PointwiseMatchingLoss(model).forward(*flat).item() == pytest.approx(bce.item(), rel=1e-6)
        for pieces in (1, 3):
            loss = PointwiseMatchingLoss(model, listwise_weight=0.5, pieces=pieces)
            assert loss(*rows).item() == pytest.approx(expected.item(), rel=1e-5)


def test_pointwise_trainer_runs_pairs_in_pieces_with_the_whole_batch_gradient(tiny_bert, tmp_path):
    """Rows of pairs: the trainer splits sentence-transformers' batch of texts by tokenized length
    (PointwiseMatchingLoss.split_rows) and runs a forward and backward pass per piece, the word embeddings' sparse
    gradients made dense after the last: the loss and every gradient are the whole batch's. Grouped rows (the
    listwise term) are left to the loss."""
    from sentence_transformers.cross_encoder.data_collator import CrossEncoderDataCollator

    from plm_recipes.matching import PointwiseMatchingConfig
    from plm_recipes.matching.cross_encoder import PointwiseMatchingTrainer
    from plm_recipes.matching.losses import PointwiseMatchingLoss

    pairs = read_pairs(M / "train.txt").select(range(16)).select_columns(["text_a", "text_b", "label"])
    loss = PointwiseMatchingLoss(tiny_cross_encoder(tiny_bert))
    batch = CrossEncoderDataCollator(preprocess_fn=loss.model.preprocess)(list(pairs))  # the trainer's collator
    split = loss.split_rows(dict(batch), 4)
    lengths = [[len(a) + len(b) for a, b in zip(piece["text_a"], piece["text_b"])] for piece in split]
    assert [len(piece) for piece in lengths] == [4, 4, 4, 4] and min(lengths[0]) >= max(lengths[3])
    assert sorted(sum((piece["label"].tolist() for piece in split), [])) == sorted(pairs["label"])
    assert loss.split_rows({"text_a": [["a", "b"]], "text_b": ["c"], "label": [torch.tensor([1, 0])]}, 4) is None

    results = {}
    for pieces in (1, 4):
        model = tiny_cross_encoder(tiny_bert)
        for module in model.modules():
            if isinstance(module, torch.nn.Dropout):
                module.p = 0.0  # the same forward twice
        args = PointwiseMatchingConfig(str(tmp_path / str(pieces)), micro_batches_by_length=pieces, use_cpu=True,
                                       report_to="none")
        trainer = PointwiseMatchingTrainer(model=model, args=args, train_dataset=pairs,
                                           loss=PointwiseMatchingLoss(model))
        assert (trainer.pair_pieces, trainer.loss.pieces) == (pieces, 1)
        trainer.current_gradient_accumulation_steps = 1  # set by the training loop
        value = trainer.training_step(model, dict(batch))
        embedding = model.model.get_input_embeddings()
        assert not embedding.sparse and not embedding.weight.grad.is_sparse
        results[pieces] = value.item(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    (whole_loss, whole), (split_loss, split) = results[1], results[4]
    assert split_loss == pytest.approx(whole_loss, rel=1e-5)
    assert whole.keys() == split.keys() and "0.model.bert.embeddings.word_embeddings.weight" in whole
    for name in whole:
        torch.testing.assert_close(split[name], whole[name], rtol=1e-4, atol=1e-6, msg=name)

    listwise = PointwiseMatchingTrainer(model=model, args=args, train_dataset=pairs,
                                        loss=PointwiseMatchingLoss(model, listwise_weight=1.0))
    assert (listwise.pair_pieces, listwise.loss.pieces) == (1, 4)


# --- the recipes ------------------------------------------------------------------------------------------


def run(name, model, out, *extra):
    return load_recipe(name).main([
        "--model_name_or_path", str(model),
        "--train_file", str(M / "train.txt"), "--validation_file", str(M / "dev.txt"), "--test_file", str(M / "dev.txt"),
        "--do_train", "--do_eval", "--do_predict", "--output_dir", str(out),
        "--use_cpu", "--disable_tqdm", "true", "--seed", "0", "--per_device_train_batch_size", "16",
        "--freeze_word_embeddings", "false",  # the tiny model's embeddings are random: they must learn
        *extra,
    ])


def predicted_scores(out):
    rows = [line.split("\t") for line in (out / "predict_results.tsv").read_text(encoding="utf-8").splitlines()[1:]]
    return [r[1] for r in rows], [r[2] for r in rows], np.array([float(r[3]) for r in rows])


@pytest.fixture(scope="module")
def pointwise(tiny_bert, tmp_path_factory):
    out = tmp_path_factory.mktemp("pointwise") / "model"
    return out, run("matching_pointwise", tiny_bert, out, "--num_train_epochs", "2", "--learning_rate", "1e-3",
                    "--categories_file", str(M / "types_desc.txt"), "--negatives_per_positive", "2",
                    "--listwise_weight", "1", "--train_sampling_strategy", "group_by_length")


@pytest.fixture(scope="module")
def dssm(tiny_bert, tmp_path_factory):
    out = tmp_path_factory.mktemp("dssm") / "model"
    return out, run("matching_dssm", tiny_bert, out, "--num_train_epochs", "3", "--learning_rate", "5e-3")


@pytest.fixture(scope="module")
def cosent(tiny_bert, tmp_path_factory):
    out = tmp_path_factory.mktemp("cosent") / "model"
    return out, run("matching_sentence_transformer", tiny_bert, out, "--num_train_epochs", "3",
                    "--learning_rate", "5e-3")


def test_pointwise_end_to_end_and_reload(pointwise):
    out, results = pointwise
    for key in ("eval_precision", "eval_recall", "eval_f1", "eval_spearman"):
        assert key in results["eval"]
    assert json.loads((out / "matching_config.json").read_text()) == {
        "kind": "cross-encoder", "threshold": 0.5, "objective": "binary cross-entropy + 1 x listwise softmax"}
    assert results["train"]["train_samples"] > 120  # the sample file's pairs and the sampled negatives
    # loads with plain transformers and as a sentence-transformers CrossEncoder, with the trainer's scores
    text_a, text_b, before = predicted_scores(out)
    model = AutoModelForSequenceClassification.from_pretrained(out)
    assert model.config.num_labels == 1
    cross_encoder = CrossEncoder(str(out), device="cpu")
    assert np.allclose(cross_encoder.predict(list(zip(text_a, text_b)), show_progress_bar=False), before, atol=1e-5)
    matcher = Matcher.from_pretrained(str(out), device="cpu")
    assert isinstance(matcher, CrossEncoderMatcher)
    assert np.allclose(matcher.score_pairs(text_a, text_b), before, atol=1e-5)
    from transformers import pipeline  # the folder's root is a plain transformers classifier: a sigmoid on the logit

    scores = pipeline("text-classification", model=str(out), device="cpu")(
        [{"text": a, "text_pair": b} for a, b in zip(text_a[:4], text_b[:4])])
    assert [s["label"] for s in scores] == ["match"] * 4
    assert np.allclose([s["score"] for s in scores], before[:4], atol=1e-5)


def test_pointwise_from_scratch_and_its_checkpoints_are_cross_encoders(tiny_bert, tmp_path):
    """--config_name with a tokenizer learned from the pairs trains a cross-encoder too; a checkpoint (no
    matching_config.json yet) is read as the cross-encoder it is, a sentence-transformers bi-encoder as a bi-encoder."""
    from plm_recipes.pairs.model_files import load_matching_config

    out = tmp_path / "model"
    load_recipe("matching_pointwise").main([
        "--config_name", "bert", "--config_overrides", "hidden_size=32,num_hidden_layers=1,num_attention_heads=2,"
        "intermediate_size=64", "--train_tokenizer_vocab_size", "300", "--train_file", str(M / "train.txt"),
        "--do_train", "--output_dir", str(out), "--max_steps", "2", "--save_strategy", "steps", "--save_steps", "1",
        "--save_total_limit", "2", "--eval_strategy", "no", "--load_best_model_at_end", "false", "--use_cpu",
        "--disable_tqdm", "true", "--per_device_train_batch_size", "8"])
    for folder in (out / "checkpoint-1", out / "checkpoint-2", out):
        assert (folder / "modules.json").is_file()
        assert load_matching_config(str(folder))["kind"] == "cross-encoder", folder
    assert CrossEncoder(str(out), device="cpu").predict([("水果", "苹果很甜")]).shape == (1,)
    encoder = tmp_path / "bi-encoder"
    SentenceTransformer(str(tiny_bert), device="cpu").save(str(encoder))
    assert load_matching_config(str(encoder)) == {"kind": "bi-encoder", "threshold": 0.5}


def test_dssm_end_to_end_and_reload(dssm):
    out, results = dssm
    assert results["eval"]["eval_spearman"] > 0.2  # the tiny towers learn to rank on 120 pairs
    history = json.loads((out / "logs" / "log_history.json").read_text())
    losses = [h["loss"] for h in history if "loss" in h]
    assert losses[-1] < losses[0]
    text_a, text_b, before = predicted_scores(out)
    model = SentenceTransformer(str(out), device="cpu")
    a = model.encode(text_a, normalize_embeddings=True, show_progress_bar=False)
    b = model.encode(text_b, normalize_embeddings=True, show_progress_bar=False)
    assert np.allclose((a * b).sum(axis=1), before, atol=1e-5)
    assert json.loads((out / "matching_config.json").read_text())["threshold"] == 0.5
    assert "pipeline_tag: sentence-similarity" in (out / "README.md").read_text(encoding="utf-8")
    assert not (out / "training_args.bin").exists()


def test_sentence_transformer_cosent_calibrates_a_threshold(cosent):
    out, results = cosent
    config = json.loads((out / "matching_config.json").read_text())
    assert config["objective"] == "cosent" and -1 < config["threshold"] < 1 and config["threshold"] != 0.5
    assert results["eval"]["eval_threshold"] == pytest.approx(config["threshold"])
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["best_metric"] == pytest.approx(max(h["eval_best_f1"] for h in state["log_history"]
                                                     if "eval_best_f1" in h))
    text_a, text_b, before = predicted_scores(out)
    matcher = Matcher.from_pretrained(str(out), device="cpu")
    assert isinstance(matcher, BiEncoderMatcher)
    assert np.allclose(matcher.score_pairs(text_a, text_b), before, atol=1e-5)


def test_softmax_objective_runs(tiny_bert, tmp_path):
    results = run("matching_sentence_transformer", tiny_bert, tmp_path, "--objective", "softmax", "--max_steps", "2",
                  "--eval_strategy", "no", "--load_best_model_at_end", "false")
    assert "eval_f1" in results["eval"]
    assert SentenceTransformer(str(tmp_path), device="cpu").get_sentence_embedding_dimension() == 32


def test_prompt_is_saved_as_the_models_default(tiny_bert, tmp_path):
    run("matching_dssm", tiny_bert, tmp_path, "--prompts", "query: ", "--max_steps", "2", "--eval_strategy", "no",
        "--load_best_model_at_end", "false")
    model = SentenceTransformer(str(tmp_path), device="cpu")
    assert model.prompts[model.default_prompt_name] == "query: "
    # the run's own predictions were made with the prompt: the reloaded model, which applies it, scores the same
    text_a, text_b, before = predicted_scores(tmp_path)
    a = model.encode(["query: " + t for t in text_a], prompt="", normalize_embeddings=True)
    b = model.encode(["query: " + t for t in text_b], prompt="", normalize_embeddings=True)
    assert np.allclose((a * b).sum(axis=1), before, atol=1e-5)


def test_bad_pair_label_through_the_recipe(tiny_bert, tmp_path):
    bad = tmp_path / "train.txt"
    bad.write_text("平板：触屏电脑。\t屏幕清晰\t1\n平板：触屏电脑。\t屏幕清晰\tyes\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"line 2: label must be 0 or 1, found 'yes'"):
        load_recipe("matching_dssm").main(["--model_name_or_path", str(tiny_bert), "--train_file", str(bad),
                                           "--do_train", "--eval_strategy", "no", "--load_best_model_at_end", "false",
                                           "--output_dir", str(tmp_path / "out"), "--use_cpu"])


# --- ranking, cache, CLI -----------------------------------------------------------------------------------


def test_rank_returns_categories_above_the_threshold(dssm):
    out, _ = dssm
    categories = read_categories(M / "types_desc.txt")
    matcher = Matcher.from_pretrained(str(out), device="cpu")
    ranked = matcher.rank(["这台笔记本电脑屏幕清晰", "橘子很甜"], categories, threshold=-1.0)
    assert [len(r) for r in ranked] == [10, 10]
    scores = [s for _, s in ranked[0]]
    assert scores == sorted(scores, reverse=True)
    assert matcher.rank("橘子很甜", categories, threshold=2.0) == [[]]  # cosine never reaches 2
    top = matcher.rank(["橘子很甜"], categories, threshold=-1.0, top_k=3)[0]
    assert top == ranked[1][:3]


def test_category_embeddings_are_cached_and_invalidated(dssm, tmp_path):
    out, _ = dssm
    shutil.rmtree(out / "label_embeddings", ignore_errors=True)
    categories = read_categories(M / "types_desc.txt")
    first = Matcher.from_pretrained(str(out), device="cpu")
    first.rank(["橘子很甜"], categories)
    assert first.cache.misses == 1 and len(os.listdir(out / "label_embeddings")) == 1
    first.rank(["屏幕清晰"], categories)
    assert first.cache.hits == 1 and first.cache.misses == 1

    # a new process finds it on disk, and gets the same embeddings as encoding afresh
    second = Matcher.from_pretrained(str(out), device="cpu")
    cached = second.category_embeddings(categories)
    assert second.cache.hits == 1 and second.cache.misses == 0
    assert np.allclose(cached, second.encode([c.text for c in categories]), atol=1e-6)

    # editing a description rebuilds it (and replaces the stale file)
    edited = [*categories[:-1], type(categories[-1])(categories[-1].id, categories[-1].name, "一种乳制品品牌。")]
    second.category_embeddings(edited)
    assert second.cache.misses == 1 and len(os.listdir(out / "label_embeddings")) == 1

    # so does a retrained (changed) model
    weights = out / "model.safetensors"
    os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 10**9))
    third = Matcher.from_pretrained(str(out), device="cpu")
    third.category_embeddings(edited)
    assert third.cache.misses == 1 and third.cache.hits == 0


@pytest.mark.parametrize("damage", ["truncate", "wrong_shape", "not_numpy"])
def test_a_damaged_cache_entry_is_rebuilt(dssm, damage):
    out, _ = dssm
    shutil.rmtree(out / "label_embeddings", ignore_errors=True)
    categories = read_categories(M / "types_desc.txt")
    expected = Matcher.from_pretrained(str(out), device="cpu").rank(["橘子很甜"], categories, threshold=-1)
    [entry] = (out / "label_embeddings").glob("*.npy")
    if damage == "truncate":
        entry.write_bytes(entry.read_bytes()[:100])
    elif damage == "wrong_shape":
        np.save(entry, np.zeros((3, 7), dtype=np.float32))
    else:
        entry.write_text("not an array", encoding="utf-8")
    matcher = Matcher.from_pretrained(str(out), device="cpu")
    assert matcher.rank(["橘子很甜"], categories, threshold=-1) == expected
    assert matcher.cache.misses == 1 and matcher.cache.hits == 0
    [rebuilt] = (out / "label_embeddings").glob("*.npy")  # written again, whole; no temporary file left
    assert np.load(rebuilt).shape[0] == len(categories)
    assert Matcher.from_pretrained(str(out), device="cpu").category_embeddings(categories).shape[0] == len(categories)


def test_cli_predict_matching_and_embed(dssm, pointwise, tmp_path, capsys):
    out, _ = dssm
    cli.main(["predict", "matching", "--model", str(out), "--labels", str(M / "types_desc.txt"),
              "--text", "橘子很甜", "--threshold", "-1", "--top_k", "2", "--device", "cpu"])
    line = capsys.readouterr().out.strip()
    assert line.startswith("橘子很甜\t[('") and line.count("', ") == 2

    target = tmp_path / "emb.npy"
    cli.main(["embed", "--model", str(out), "--input", str(M / "queries.txt"), "--output", str(target),
              "--normalize", "--device", "cpu"])
    embeddings = np.load(target)
    assert embeddings.shape == (5, 32) and np.allclose(np.linalg.norm(embeddings, axis=1), 1, atol=1e-5)

    with pytest.raises(SystemExit):
        cli.main(["embed", "--model", str(pointwise[0]), "--input", str(M / "queries.txt"),
                  "--output", str(tmp_path / "x.npy")])
    assert "has no embeddings of its own" in capsys.readouterr().err


def test_new_parameters_get_their_own_learning_rate(tiny_bert, tmp_path):
    from plm_recipes.args import RecipeTrainingArguments
    from plm_recipes.trainer import RecipeTrainer

    model, info = AutoModelForSequenceClassification.from_pretrained(tiny_bert, num_labels=2, output_loading_info=True)
    new = set(info["missing_keys"])
    assert "classifier.weight" in new
    args = RecipeTrainingArguments(str(tmp_path), learning_rate=1e-5, use_cpu=True, new_parameters_learning_rate=1e-3,
                                   freeze_word_embeddings=False)
    trainer = RecipeTrainer(model=model, args=args, new_parameters=new)
    optimizer = trainer.create_optimizer()
    by_lr = {}
    for group in optimizer.param_groups:
        by_lr.setdefault(group["lr"], set()).update(id(p) for p in group["params"])
    named = dict(model.named_parameters())
    assert by_lr[1e-3] == {id(named[n]) for n in new}
    assert len(by_lr[1e-5]) == len(named) - len(new)


def test_pointwise_head_starts_as_torch_linear_and_a_trained_head_is_kept(tiny_bert, pointwise):
    recipe = load_recipe("matching_pointwise")
    model, info = AutoModelForSequenceClassification.from_pretrained(tiny_bert, num_labels=1, output_loading_info=True)
    new = set(info["missing_keys"])
    pooler = model.bert.pooler.dense.weight.detach().clone()
    assert recipe.init_new_output_layer(model, new) == ["classifier"]
    bound = 1 / math.sqrt(model.config.hidden_size)  # nn.Linear: uniform within 1/sqrt(fan_in), bias included
    weight, bias = model.classifier.weight.detach(), model.classifier.bias.detach()
    # uniform: std bound / sqrt(3) = 0.58 bound (transformers' normal(0.02) with a zero bias fails both checks)
    assert weight.abs().max() <= bound and weight.std() > 0.3 * bound and bias.abs().item() > 0
    assert torch.equal(model.bert.pooler.dense.weight, pooler)  # only the output layer is reset
    trained = AutoModelForSequenceClassification.from_pretrained(pointwise[0])  # a checkpoint with its head
    head = trained.classifier.weight.detach().clone()
    assert recipe.init_new_output_layer(trained, set()) == [] and torch.equal(trained.classifier.weight, head)


def test_pointwise_trains_on_sentence_transformers_with_the_new_head_and_its_rate(tiny_bert, tmp_path):
    """The recipe's model is a CrossEncoder holding the transformers model it initialised (the head reset as
    torch.nn.Linear does), trained by a CrossEncoderTrainer whose optimizer gives the new weights their own rate and
    whose training step runs 4 pieces on a CPU; one step changes every trainable parameter."""
    from sentence_transformers.cross_encoder import CrossEncoderTrainer

    from plm_recipes.matching import PointwiseMatchingConfig
    from plm_recipes.matching.cross_encoder import MATCH_CONFIG, PointwiseMatchingTrainer, cross_encoder_from
    from plm_recipes.matching.losses import PointwiseMatchingLoss

    recipe = load_recipe("matching_pointwise")
    torch.manual_seed(0)
    model, info = AutoModelForSequenceClassification.from_pretrained(tiny_bert, output_loading_info=True,
                                                                     **MATCH_CONFIG)
    new = sorted(info["missing_keys"])
    recipe.init_new_output_layer(model, new)
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    weights = {n: p.detach().clone() for n, p in model.state_dict().items()}
    cross_encoder, names = cross_encoder_from(model, tokenizer, 64, new)
    assert sorted(names) == sorted(f"0.model.{n}" for n in new)  # the same weights under the CrossEncoder's names
    assert {n: torch.equal(p, weights[n]) for n, p in cross_encoder.model.state_dict().items()} == \
        dict.fromkeys(weights, True)
    assert model.classifier.weight.is_meta  # emptied: the CrossEncoder holds the only copy
    assert cross_encoder.max_seq_length == 64 and cross_encoder.num_labels == 1

    args = PointwiseMatchingConfig(str(tmp_path), learning_rate=1e-5, new_parameters_learning_rate=1e-3, use_cpu=True,
                                   max_steps=1, per_device_train_batch_size=16, report_to="none", save_strategy="no",
                                   warmup_steps=0, disable_tqdm=True)
    train = read_pairs(M / "train.txt").select_columns(["text_a", "text_b", "label"])
    trainer = PointwiseMatchingTrainer(model=cross_encoder, args=args, train_dataset=train,
                                       loss=PointwiseMatchingLoss(cross_encoder), new_parameters=names)
    assert isinstance(trainer, CrossEncoderTrainer) and (trainer.pair_pieces, trainer.loss.pieces) == (4, 1)
    by_lr = {}
    for group in trainer.create_optimizer().param_groups:
        by_lr.setdefault(group["lr"], set()).update(id(p) for p in group["params"])
    named = dict(cross_encoder.named_parameters())
    assert by_lr[1e-3] == {id(named[n]) for n in names} and len(by_lr[1e-5]) == len(named) - len(names)
    before = {n: p.detach().clone() for n, p in named.items()}
    trainer.train()
    assert [n for n, p in cross_encoder.named_parameters() if torch.equal(p, before[n])] == []


def test_sampled_negatives_never_pair_a_text_with_its_own_category():
    from plm_recipes.matching.data import add_sampled_negatives

    categories = read_categories(M / "types_desc.txt")
    pairs = read_pairs(M / "train.txt")
    more = add_sampled_negatives(pairs, categories, per_positive=3, seed=1)
    positives = sum(pairs["label"])
    assert len(more) == len(pairs) + 3 * positives
    own = {(a, b) for a, b, y in zip(pairs["text_a"], pairs["text_b"], pairs["label"]) if y == 1}
    texts_own = {b: a for a, b in own}
    seen = set()
    for a, b, y in zip(more["text_a"], more["text_b"], more["label"]):
        assert (a, b) not in seen  # no pair twice
        seen.add((a, b))
        if (a, b) not in own:
            assert y == 0 and texts_own.get(b) != a
    assert add_sampled_negatives(pairs, categories, 3, seed=1)["text_a"] == more["text_a"]  # reproducible


def test_negatives_need_a_category_file():
    from plm_recipes.errors import ArgumentError
    from plm_recipes.matching import PairDataArguments

    with pytest.raises(ArgumentError, match="--negatives_per_positive needs --categories_file"):
        PairDataArguments(negatives_per_positive=2)


def test_length_grouped_batches_cover_every_example_once_with_less_padding():
    from datasets import Dataset

    from plm_recipes.pairs.bi_encoder import LengthGroupedBatchSampler

    rng = np.random.default_rng(0)
    n = 1003
    lengths = rng.integers(1, 200, size=n)
    data = Dataset.from_dict({"text_a": ["短"] * n, "text_b": ["字" * int(x) for x in lengths], "label": [0.0] * n})
    sampler = LengthGroupedBatchSampler(data, batch_size=16, drop_last=False, valid_label_columns=["label"], seed=3)
    batches = list(sampler)
    assert sorted(i for batch in batches for i in batch) == list(range(n))
    assert len(batches) == len(sampler) == 63
    padded = sum(len(b) * max(lengths[i] for i in b) for b in batches)
    random_order = rng.permutation(n)
    padded_random = sum(len(random_order[i:i + 16]) * max(lengths[random_order[i:i + 16]]) for i in range(0, n, 16))
    assert padded < 0.7 * padded_random
    sampler.set_epoch(1)
    again = list(sampler)
    assert again != batches  # a new order each epoch ...
    assert {frozenset(b) for b in again} != {frozenset(b) for b in batches}  # ... and new batches
    # a small dataset is still cut into 4 chunks, so that its batches change between epochs
    small = LengthGroupedBatchSampler(data.select(range(96)), batch_size=16, drop_last=False,
                                      valid_label_columns=["label"], seed=3)
    first = {frozenset(b) for b in small}
    small.set_epoch(1)
    assert {frozenset(b) for b in small} != first


def test_dssm_with_length_grouped_batches(tiny_bert, tmp_path):
    results = run("matching_dssm", tiny_bert, tmp_path, "--max_steps", "3", "--train_sampling_strategy",
                  "group_by_length", "--eval_strategy", "no", "--load_best_model_at_end", "false")
    assert results["train"]["train_samples"] == 120


@pytest.mark.parametrize(("flag", "value", "message"), [
    ("--threshold", "nan", "argument --threshold: expected a finite number, got 'nan'"),
    ("--threshold", "inf", "argument --threshold: expected a finite number, got 'inf'"),
    ("--top_k", "-1", "argument --top_k: expected a whole number >= 1, got -1"),
])
def test_cli_refuses_values_that_would_silently_drop_results(dssm, capsys, flag, value, message):
    out, _ = dssm
    with pytest.raises(SystemExit) as e:
        cli.main(["predict", "matching", "--model", str(out), "--labels", str(M / "types_desc.txt"),
                  "--text", "屏幕很清晰", flag, value])
    assert e.value.code == 2 and message in capsys.readouterr().err
