"""Option scoring and generation on the tiny random chat model (tiny_chat.py): scores checked against one plain
forward pass per prompt and option, the shared prefix encoded once per call, contextual calibration."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from helpers import DATA

from plm_recipes.cli import main as cli_main
from plm_recipes.llm import (
    TransformersBackend,
    classification_messages,
    classify,
    read_choice_examples,
    read_labels,
    render_chat,
)

LLM = DATA / "llm"
TEXTS = ["西瓜很新鲜，切开是沙瓤的", "房间干净", "屏幕色彩鲜艳，看视频很舒服，续航一天没问题"]


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


# --- calibration -------------------------------------------------------------------------------------------------


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
