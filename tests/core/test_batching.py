"""Length-sorted micro-batches (plm_recipes.batching): how a batch is split, and that a training step on the pieces
(or a forward pass in pieces, for a bi-encoder whose loss crosses rows) gives the whole batch's loss and gradients."""

from __future__ import annotations

import pytest
import torch
from helpers import build_tiny_bert, character_vocab
from transformers import AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding

from plm_recipes.batching import forward_in_pieces, split_by_length
from plm_recipes.classification import TextClassificationConfig
from plm_recipes.pairs.bi_encoder import BiEncoderConfig, BiEncoderTrainer
from plm_recipes.trainer import RecipeTrainer

TEXTS = ["这个笔记本电脑运行很快", "好", "水果很新鲜，下次还会再买", "物流慢", "书的印刷质量不错，纸张也很好，值得推荐",
         "一般", "酒店的服务很周到", "手机屏幕太小了，不太满意"]


def test_split_by_length_partitions_rows_and_cuts_padding():
    mask = torch.tensor([[1, 1, 1, 1, 0], [1, 0, 0, 0, 0], [1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [1, 1, 1, 0, 0]])
    batch = {"input_ids": mask * torch.arange(1, 6), "attention_mask": mask, "labels": torch.arange(5),
             "return_loss": True}
    pieces = split_by_length(batch, 2)
    # longest rows first, sizes differing by at most one, each cut to its own longest row, rows in their order
    assert [p["labels"].tolist() for p in pieces] == [[0, 2, 4], [1, 3]]
    assert [p["input_ids"].shape[1] for p in pieces] == [5, 2]
    assert pieces[1]["input_ids"].tolist() == [[1, 0], [1, 2]]
    assert all(p["return_loss"] is True for p in pieces)  # non-tensors pass through
    assert sorted(sum((p["labels"].tolist() for p in split_by_length(batch, 9)), [])) == list(range(5))
    # per-token labels are cut with the inputs when named a sequence
    tokens = {**batch, "labels": batch["input_ids"] * 10}
    pieces = split_by_length(tokens, 2, sequence_keys=("input_ids", "attention_mask", "labels"))
    assert [p["labels"].shape[1] for p in pieces] == [5, 2]


def test_split_by_length_left_padding_keeps_the_tokens():
    mask = torch.tensor([[0, 0, 1, 1], [1, 1, 1, 1], [0, 0, 0, 1]])
    batch = {"input_ids": mask * 7, "attention_mask": mask}
    pieces = split_by_length(batch, 3, padding_side="left")
    assert [p["attention_mask"].tolist() for p in pieces] == [[[1, 1, 1, 1]], [[1, 1]], [[1]]]


@pytest.mark.parametrize("batch", [
    {"input_ids": torch.ones(3, 4, dtype=torch.long)},  # no attention mask
    {"input_ids": torch.ones(3, 4, dtype=torch.long), "attention_mask": torch.ones(3, 4), "group": torch.ones(2)},
    {"input_ids": torch.ones(1, 4, dtype=torch.long), "attention_mask": torch.ones(1, 4)},  # one row
    # multi-label targets exactly as wide as the padded rows: not taken for a sequence
    {"input_ids": torch.ones(3, 4, dtype=torch.long), "attention_mask": torch.ones(3, 4), "labels": torch.ones(3, 4)},
])
def test_split_by_length_refuses_what_it_cannot_split(batch):
    assert split_by_length(batch, 4) is None


def gradients(model):
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("freeze", [False, True])
def test_training_step_in_pieces_gives_the_whole_batch_gradient(tmp_path, freeze):
    (tmp_path / "texts.txt").write_text("\n".join(TEXTS), encoding="utf-8")
    path = build_tiny_bert(tmp_path / "bert", character_vocab([tmp_path / "texts.txt"]),
                           hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)  # the same forward twice
    tokenizer = AutoTokenizer.from_pretrained(path)
    batch = DataCollatorWithPadding(tokenizer)(
        [{**tokenizer(t), "labels": i % 3} for i, t in enumerate(TEXTS)])
    assert batch["attention_mask"].float().mean() < 0.7  # much padding to save
    grads = {}
    for pieces in (1, 3):
        torch.manual_seed(0)  # the same new head
        model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=3)
        args = TextClassificationConfig(str(tmp_path / f"out{pieces}"), micro_batches_by_length=pieces, use_cpu=True,
                                        report_to="none", freeze_word_embeddings=freeze)
        trainer = RecipeTrainer(model=model, args=args, processing_class=tokenizer, row_mean_loss=True)
        trainer.create_optimizer()
        trainer.current_gradient_accumulation_steps = 1  # set by the training loop
        loss = trainer.training_step(model, dict(batch))
        grads[pieces] = (loss.item(), gradients(model))
        embedding = model.get_input_embeddings()
        assert not embedding.sparse and (freeze or not embedding.weight.grad.is_sparse)
    (loss1, whole), (loss3, split) = grads[1], grads[3]
    assert loss3 == pytest.approx(loss1, rel=1e-5)
    assert whole.keys() == split.keys() and ("bert.embeddings.word_embeddings.weight" in whole) != freeze
    for name in whole:
        torch.testing.assert_close(split[name], whole[name], rtol=1e-4, atol=1e-6, msg=name)


def test_auto_setting_splits_on_a_cpu_only_when_the_loss_allows(tmp_path):
    args = TextClassificationConfig(str(tmp_path), use_cpu=True, report_to="none")
    assert args.micro_batches_by_length is None
    model = torch.nn.Linear(2, 2)
    assert RecipeTrainer(model=model, args=args, row_mean_loss=True)._micro_batches() == 4
    with pytest.raises(Exception, match="micro_batches_by_length must be 1"):
        TextClassificationConfig(str(tmp_path), micro_batches_by_length=0, report_to="none")


@pytest.mark.parametrize("padding_side", ["right", "left"])
def test_forward_in_pieces_puts_rows_and_tokens_back_in_place(padding_side):
    mask = torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0], [1, 1, 1, 1], [1, 1, 0, 0], [1, 0, 0, 0]])
    if padding_side == "left":
        mask = mask.flip(1)
    batch = {"input_ids": mask * torch.arange(1, 6).unsqueeze(1), "attention_mask": mask, "return_loss": True}
    calls = []

    def forward(features):  # a row's outputs depend on its own tokens only, as an encoder's do
        calls.append(features["input_ids"].shape)
        tokens = (features["input_ids"] * features["attention_mask"]).float().unsqueeze(-1).repeat(1, 1, 3)
        return {**features, "token_embeddings": tokens, "sentence_embedding": tokens.sum(dim=1),
                "layers": (tokens.sum(dim=1), tokens), "width": features["attention_mask"].shape[1],
                "texts": [str(row) for row in features["input_ids"].sum(dim=1).tolist()], "scale": torch.ones(1)}

    whole = forward(dict(batch))
    calls.clear()
    out = forward_in_pieces(forward, batch, 3, padding_side)
    assert calls == [(2, 4), (2, 2), (1, 1)]  # longest rows first, each piece cut to its own longest row
    assert out["input_ids"] is batch["input_ids"] and out["attention_mask"] is batch["attention_mask"]
    for key in ("token_embeddings", "sentence_embedding"):
        torch.testing.assert_close(out[key], whole[key], msg=key)
    torch.testing.assert_close(out["layers"][1], whole["layers"][1])  # a tuple's tensors too
    assert out["texts"] == whole["texts"]  # a list with a value per row, back in row order too
    assert out["width"] == 4 and out["return_loss"] is True and out["scale"].shape == (1,)  # else: the first piece's
    # a tensor output (not a dict)
    torch.testing.assert_close(forward_in_pieces(lambda f: forward(f)["sentence_embedding"], batch, 2, padding_side),
                               whole["sentence_embedding"])
    # rows all as long as each other, or a batch that cannot be split: one call on the whole batch
    calls.clear()
    same = {"input_ids": torch.ones(3, 5, dtype=torch.long), "attention_mask": torch.ones(3, 5, dtype=torch.long)}
    assert forward_in_pieces(forward, same, 3)["sentence_embedding"].shape == (3, 3) and len(calls) == 1


def bi_encoder_step(tmp_path, model, loss, pieces: int):
    """A BiEncoderTrainer on the TEXTS pairs in one batch, ready for one ``training_step``: the trainer and the batch."""
    import datasets

    pairs = datasets.Dataset.from_dict({"text_a": TEXTS, "text_b": TEXTS[3:] + TEXTS[:3],
                                        "label": [float(i % 2) for i in range(len(TEXTS))]})
    args = BiEncoderConfig(str(tmp_path / f"out{pieces}"), micro_batches_by_length=pieces, use_cpu=True,
                           report_to="none", per_device_train_batch_size=len(TEXTS))
    trainer = BiEncoderTrainer(model=model, args=args, train_dataset=pairs, loss=loss)
    batch = next(iter(trainer.get_train_dataloader()))
    trainer.create_optimizer()
    trainer.current_gradient_accumulation_steps = 1  # set by the training loop
    return trainer, batch


@pytest.mark.parametrize("loss_name", ["CoSENTLoss", "MultipleNegativesRankingLoss", "CosineSimilarityLoss"])
def test_bi_encoder_step_in_pieces_gives_the_whole_batch_gradient(tmp_path, loss_name):
    """A bi-encoder's loss may compare every text with every other (CoSENT, in-batch negatives): the step encodes
    each column in length-sorted pieces and the loss sees the whole batch, so its value and every gradient are the
    whole batch's; the word embeddings' gradient is dense again afterwards, and the loss keeps its own model."""
    from sentence_transformers import SentenceTransformer, losses

    (tmp_path / "texts.txt").write_text("\n".join(TEXTS), encoding="utf-8")
    path = build_tiny_bert(tmp_path / "bert", character_vocab([tmp_path / "texts.txt"]),
                           hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    results = {}
    for pieces in (1, 3):
        model = SentenceTransformer(str(path), device="cpu")
        loss = getattr(losses, loss_name)(model)
        trainer, batch = bi_encoder_step(tmp_path, model, loss, pieces)
        calls = []
        model[0].register_forward_hook(lambda module, args, output: calls.append(output["token_embeddings"].shape))
        value = trainer.training_step(trainer.model_wrapped, batch)
        assert len(calls) == 2 * pieces  # each of the two text columns, in that many pieces
        assert loss.model is model  # the loss calls its model directly again after the step
        embedding = model[0].auto_model.get_input_embeddings()
        assert not embedding.sparse and not embedding.weight.grad.is_sparse
        results[pieces] = value.item(), gradients(model)
    (whole_loss, whole), (split_loss, split) = results[1], results[3]
    assert split_loss == pytest.approx(whole_loss, rel=1e-5)
    assert whole.keys() == split.keys() and any("word_embeddings" in name for name in whole)
    for name in whole:
        torch.testing.assert_close(split[name], whole[name], rtol=1e-4, atol=1e-6, msg=name)


def test_bi_encoder_losses_that_rerun_layers_train_on_whole_batches(tmp_path):
    """AdaptiveLayerLoss records the model's outputs call by call to rerun its layers: it must see whole batches;
    the wrapper the other losses call passes the model's own methods on."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.losses import AdaptiveLayerLoss, CoSENTLoss

    from plm_recipes.batching import ForwardInPieces

    (tmp_path / "texts.txt").write_text("\n".join(TEXTS), encoding="utf-8")
    path = build_tiny_bert(tmp_path / "bert", character_vocab([tmp_path / "texts.txt"]))
    model = SentenceTransformer(str(path), device="cpu")
    assert ForwardInPieces(model, 4).get_embedding_dimension() == model.get_embedding_dimension() == 32
    trainer, batch = bi_encoder_step(tmp_path, model, AdaptiveLayerLoss(model, CoSENTLoss(model)), 4)
    rows = []
    model[0].register_forward_hook(lambda module, args, output: rows.append(output["token_embeddings"].shape[0]))
    trainer.training_step(trainer.model_wrapped, batch)
    assert rows and set(rows) == {len(TEXTS)}
