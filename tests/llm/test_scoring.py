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


def few_shot_chats(labels, texts=TEXTS) -> list[list[dict]]:
    examples = read_choice_examples(LLM / "classify_examples.jsonl", labels)
    return [classification_messages(t, labels, examples) for t in texts]


# five prompts of different lengths (left padding) and options of 2 to 4 tokens (right padding)
MORE_TEXTS = [*TEXTS, "物流很快，包装完好，水果没有坏的", "差"]


@pytest.mark.parametrize("batch_size", [1, 2, 3, 8])
def test_one_prefix_per_call_scores_as_each_batch_alone_and_a_plain_forward_pass(backend, labels, batch_size):
    """The few-shot prefix encoded once for the call and copied into every batch (batches of 2, 2, 1 or 3, 2 or 5
    prompts; a batch of one continues from the prefix too) gives the scores of today's per-batch prefix and of one
    plain forward pass per prompt and option."""
    chats = few_shot_chats(labels, MORE_TEXTS)
    texts = [*labels, "电脑配件", "不知道是什么"]
    options = backend.option_token_ids(texts)
    assert len({len(o) for o in options}) > 2  # options of different lengths: right padding
    prompts = backend.encode_prompts(chats, max(map(len, options)))
    assert len({len(p) for p in prompts}) >= 4  # prompts of different lengths: left padding
    backend.batch_size = batch_size
    per_call = backend.score_options(chats, texts)
    per_batch = np.concatenate([backend.scorer(prompts[i:i + batch_size], options)  # each batch its own prefix
                                for i in range(0, len(prompts), batch_size)])
    np.testing.assert_allclose(per_call, per_batch, atol=1e-5, rtol=0)
    expected = direct_scores(backend, chats, texts)
    assert expected.std() > 0.5
    np.testing.assert_allclose(per_call, expected, atol=1e-3, rtol=0)


def test_the_shared_prefix_is_encoded_once_per_call(backend, labels):
    chats = few_shot_chats(labels, MORE_TEXTS)
    prompts = backend.encode_prompts(chats, 8)
    shared = backend.scorer.shared_prefix(prompts).length
    assert shared > 50  # the system message, the few-shot turns and the instruction
    widths = []
    hook = backend.model.register_forward_pre_hook(lambda _, args, kwargs: widths.append(
        tuple(kwargs["input_ids"].shape)), with_kwargs=True)
    try:
        backend.batch_size = 2
        backend.score_options(chats, labels)
    finally:
        hook.remove()
    assert widths.count((1, shared)) == 1  # the prefix, once
    assert len(widths) == 1 + 2 * 3  # then each of the 3 batches: its prompts' own tokens, then the options
    assert all(rows > 1 or width < shared for rows, width in widths[1:])


def test_a_prefix_the_prompts_do_not_start_with_is_refused(backend, labels):
    prompts = backend.encode_prompts(few_shot_chats(labels), 8)
    prefix = backend.scorer.shared_prefix(prompts)
    with pytest.raises(ValueError, match="does not start with the .* tokens of the shared prefix"):
        backend.scorer([prompts[0][1:]], backend.option_token_ids(labels), prefix=prefix)
    with pytest.raises(ValueError, match="followed by one of its own"):
        backend.scorer([prompts[0][:prefix.length]], backend.option_token_ids(labels), prefix=prefix)


def test_generation_is_greedy_and_a_shared_prefix_changes_nothing(backend, labels):
    conversations = few_shot_chats(labels, MORE_TEXTS)
    alone = [backend.generate([c], 12)[0] for c in conversations]  # one prompt: no prefix, no padding
    for batch_size in (8, 2):  # one batch; batches of 2, 2, 1 from the prefix encoded once
        backend.batch_size = batch_size
        assert backend.generate(conversations, 12) == alone
    assert len(set(alone)) > 1  # the answers depend on the prompt


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
