"""Question answering with causal LMs through recipes/t5_qa.py: the prompt (chat template or not) and its labels,
the answer-only loss, a tiny model learning to copy (fully and with LoRA), the saved folder answering through
``predict qa`` as the trainer evaluated it, and zero-shot answers from a chat model never trained for QA."""

from __future__ import annotations

import json
import random

import pytest
import torch
from helpers import DATA, load_recipe
from tiny_causal import build_tiny_causal_lm
from transformers import AutoModelForCausalLM, AutoTokenizer

from plm_recipes import cli
from plm_recipes.errors import ModelLoadError
from plm_recipes.seq2seq import SourceTemplate
from plm_recipes.seq2seq.causal import CAUSAL_SOURCE_TEMPLATE, CausalQAPrompt, answer_loss, split_prompts
from plm_recipes.seq2seq.data import Seq2SeqCollator
from plm_recipes.seq2seq.predictor import QuestionAnswerer

S = DATA / "seq2seq"


def _texts() -> list[str]:
    return [p.read_text(encoding="utf-8") for p in sorted(S.iterdir())] + [CAUSAL_SOURCE_TEMPLATE] * 3


@pytest.fixture(scope="module")
def tiny_chat_lm(tmp_path_factory):
    return build_tiny_causal_lm(tmp_path_factory.mktemp("tiny-chat-lm"), _texts(), chat=True)


@pytest.fixture(scope="module")
def tiny_base_lm(tmp_path_factory):
    return build_tiny_causal_lm(tmp_path_factory.mktemp("tiny-base-lm"), _texts(), chat=False)


def _copy_task(path, n=24, seed=0):
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as f:
        for _ in range(n):
            text = "".join(rng.choice("一二三") for _ in range(2))
            f.write(json.dumps({"context": text, "question": "复制", "answer": text}, ensure_ascii=False) + "\n")
    return path


COMMON = ["--use_cpu", "--disable_tqdm", "true", "--log_level", "error", "--generation_max_length", "6",
          "--per_device_eval_batch_size", "8", "--source_template", "{question}：{context}="]


# --- prompts and labels -------------------------------------------------------------------------------------


@pytest.mark.parametrize("chat", [True, False])
def test_prompt_tokens_carry_no_loss(tiny_chat_lm, tiny_base_lm, chat):
    folder = tiny_chat_lm if chat else tiny_base_lm
    tokenizer = AutoTokenizer.from_pretrained(folder)
    tokenizer.padding_side = "left"
    prompt = CausalQAPrompt(tokenizer, SourceTemplate(CAUSAL_SOURCE_TEMPLATE))
    assert prompt.chat is chat
    rows = [{"question": "故宫又称什么", "context": "北京故宫又称紫禁城。", "answer": "紫禁城"},
            {"question": "治疗的最佳时间", "context": "最佳时间是月经干净后3-7日", "answer": "3-7日"}]
    examples = [prompt.example(row, 256, 16) for row in rows]
    text = tokenizer.decode(examples[0]["input_ids"])
    if chat:  # the template inside the user's turn; the answer then the end of the assistant's turn
        assert text.startswith("<|im_start|>user\n阅读下面的原文") and text.endswith(
            "答案：<|im_end|>\n<|im_start|>assistant\n紫禁城<|im_end|>")
    else:
        assert text.startswith("阅读下面的原文") and text.endswith("答案：紫禁城<|endoftext|>")
    batch = Seq2SeqCollator(tokenizer)(examples)
    labels, mask = batch["labels"], batch["attention_mask"]
    for i, row in enumerate(rows):
        answer = tokenizer(row["answer"], add_special_tokens=False)["input_ids"] + [prompt.end_id]
        labelled = labels[i][labels[i] != -100].tolist()
        assert labelled == answer  # the answer and its end token, nothing else
        assert labels[i][-len(answer):].tolist() == batch["input_ids"][i][-len(answer):].tolist() == answer
        assert (labels[i][mask[i] == 0] == -100).all()  # padding on the left carries none either
    prompts, targets = split_prompts(batch["input_ids"], mask, labels)
    assert [p + t for p, t in zip(prompts, targets)] == [e["input_ids"] for e in examples]
    assert prompts[0] == prompt.prompt_ids(rows[0], 256)

    # the loss over the answers' columns only equals the model's own loss over the whole rows
    model = AutoModelForCausalLM.from_pretrained(folder)
    position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
    with torch.no_grad():
        ours, outputs = answer_loss(model, batch)
        theirs = model(**batch, position_ids=position_ids).loss
    assert outputs.logits.shape[1] < batch["input_ids"].shape[1] // 2  # the head never saw most of the prompt
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-5)
    everything = {**batch, "labels": torch.where(mask.bool(), batch["input_ids"], -100)}
    with torch.no_grad():
        assert model(**everything, position_ids=position_ids).loss.item() != pytest.approx(ours.item(), rel=1e-3)


def test_the_template_cuts_only_the_context(tiny_chat_lm):
    tokenizer = AutoTokenizer.from_pretrained(tiny_chat_lm)
    prompt = CausalQAPrompt(tokenizer, SourceTemplate(CAUSAL_SOURCE_TEMPLATE))
    row = {"question": "故宫又称什么", "context": "北京故宫又称紫禁城，位于北京中轴线的中心，是明清两代的皇家宫殿。" * 5}
    full = prompt.prompt_ids(row, 512)
    cut = prompt.prompt_ids(row, len(full) - 20)
    assert len(cut) == len(full) - 20
    text = tokenizer.decode(cut)
    assert text.endswith("问题：故宫又称什么\n答案：<|im_end|>\n<|im_start|>assistant\n")
    assert prompt.template.questions_cut == 0


# --- training, saving, predicting ----------------------------------------------------------------------------


def test_a_tiny_causal_lm_learns_to_copy_and_predict_qa_answers_as_evaluated(tiny_base_lm, tmp_path, capsys):
    data = _copy_task(tmp_path / "copy.jsonl")
    before = load_recipe("t5_qa").main(["--model_name_or_path", str(tiny_base_lm), "--validation_file", str(data),
                                        "--do_eval", "--output_dir", str(tmp_path / "b"), *COMMON])["eval"]
    out = tmp_path / "copy"
    after = load_recipe("t5_qa").main([
        "--model_name_or_path", str(tiny_base_lm), "--train_file", str(data), "--validation_file", str(data),
        "--test_file", str(data), "--do_train", "--do_eval", "--do_predict", "--output_dir", str(out),
        "--learning_rate", "1e-2", "--max_steps", "80", "--warmup_steps", "0", "--per_device_train_batch_size", "24",
        "--eval_strategy", "no", "--save_strategy", "no", "--load_best_model_at_end", "false", *COMMON,
    ])
    assert after["eval"]["eval_loss"] < before["eval_loss"] / 3
    assert before["eval_exact_match"] == 0 and after["eval"]["eval_exact_match"] >= 0.25
    assert after["eval"]["eval_f1"] > before["eval_f1"] + 0.5
    saved = json.loads((out / "seq2seq_config.json").read_text(encoding="utf-8"))
    assert saved["model_kind"] == "causal" and saved["chat_template"] is False
    assert saved["source_template"] == "{question}：{context}="

    # the saved folder answers through predict qa as the trainer's evaluation did
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text(encoding="utf-8").splitlines()]
    qa = QuestionAnswerer(str(out), device="cpu", batch_size=8)
    answers = qa.answer([r["question"] for r in rows], [r["context"] for r in rows])
    assert answers == [r["prediction"] for r in rows]
    assert after["test"]["test_exact_match"] == pytest.approx(
        sum(a == r["answer"] for a, r in zip(answers, rows)) / len(rows))
    capsys.readouterr()
    cli.main(["predict", "qa", "--model", str(out), "--question", rows[0]["question"],
              "--context", rows[0]["context"], "--device", "cpu"])
    assert capsys.readouterr().out.splitlines() == [f"Q: {rows[0]['question']}", f"A: {answers[0]}"]


def test_lora_adapter_folder_reloads_and_answers_as_evaluated(tiny_chat_lm, tmp_path):
    data = _copy_task(tmp_path / "copy.jsonl", n=16)
    out = tmp_path / "lora"
    results = load_recipe("t5_qa").main([
        "--model_name_or_path", str(tiny_chat_lm), "--train_file", str(data), "--test_file", str(data),
        "--do_train", "--do_predict", "--output_dir", str(out), "--use_lora", "true", "--lora_r", "4",
        "--learning_rate", "1e-2", "--max_steps", "3", "--per_device_train_batch_size", "8",
        "--eval_strategy", "no", "--save_strategy", "no", "--load_best_model_at_end", "false", *COMMON,
    ])
    assert (out / "adapter_config.json").is_file() and not (out / "model.safetensors").exists()
    adapter = json.loads((out / "adapter_config.json").read_text(encoding="utf-8"))
    assert adapter["base_model_name_or_path"] == str(tiny_chat_lm) and adapter["task_type"] == "CAUSAL_LM"
    assert json.loads((out / "seq2seq_config.json").read_text(encoding="utf-8"))["chat_template"] is True
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text(encoding="utf-8").splitlines()]
    qa = QuestionAnswerer(str(out), device="cpu", batch_size=8)
    assert qa.answer([r["question"] for r in rows], [r["context"] for r in rows]) == [r["prediction"] for r in rows]
    assert 0 <= results["test"]["test_f1"] <= 1
    # the adapter changed the model: the merged weights differ from the base model's
    base = AutoModelForCausalLM.from_pretrained(tiny_chat_lm)
    merged = dict(qa.model.named_parameters())
    assert any(not torch.equal(p, merged[n]) for n, p in base.named_parameters() if "proj" in n)


# --- zero-shot -----------------------------------------------------------------------------------------------


def test_zero_shot_with_a_chat_model_never_trained_for_qa(tiny_chat_lm, tiny_base_lm, capsys):
    qa = QuestionAnswerer(str(tiny_chat_lm), device="cpu")
    assert qa.prompt.chat and qa.config["source_template"] == CAUSAL_SOURCE_TEMPLATE
    text = qa.tokenizer.decode(qa.prompt.prompt_ids({"question": "故宫又称什么", "context": "北京故宫又称紫禁城。"},
                                                    qa.config["max_source_length"]))
    assert text == ("<|im_start|>user\n阅读下面的原文，用原文中的一段文字回答问题，只写出答案。\n原文：北京故宫又称紫禁城。\n"
                    "问题：故宫又称什么\n答案：<|im_end|>\n<|im_start|>assistant\n")
    answers = qa.answer(["故宫又称什么", "治疗的最佳时间"], ["北京故宫又称紫禁城。", "最佳时间是月经干净后3-7日"],
                        max_new_tokens=4)
    assert len(answers) == 2 and all(isinstance(a, str) and "<|im_end|>" not in a for a in answers)
    cli.main(["predict", "qa", "--model", str(tiny_chat_lm), "--question", "故宫又称什么", "--context",
              "北京故宫又称紫禁城。", "--max_new_tokens", "4", "--source_template", "{context}\n{question}"])
    assert capsys.readouterr().out.startswith("Q: 故宫又称什么\nA: ")
    with pytest.raises(ModelLoadError, match="no chat template: zero-shot answers need an instruction-tuned"):
        QuestionAnswerer(str(tiny_base_lm), device="cpu")


def test_predict_qa_refuses_a_folder_that_cannot_generate(tiny_bert):
    with pytest.raises(ModelLoadError, match=r"predict qa` needs a model trained by recipes/t5_qa.py or a chat model"):
        QuestionAnswerer(str(tiny_bert), device="cpu")


def test_a_seq2seq_model_trains_a_lora_adapter_too(tiny_t5, tmp_path):
    data = _copy_task(tmp_path / "copy.jsonl", n=8)
    out = tmp_path / "t5-lora"
    load_recipe("t5_qa").main([
        "--model_name_or_path", str(tiny_t5), "--train_file", str(data), "--test_file", str(data), "--do_train",
        "--do_predict", "--output_dir", str(out), "--use_lora", "true", "--lora_r", "4",
        "--lora_target_modules", "q,v", "--max_steps", "2", "--per_device_train_batch_size", "8",
        "--eval_strategy", "no", "--save_strategy", "no", "--load_best_model_at_end", "false", "--use_cpu",
        "--disable_tqdm", "true", "--log_level", "error", "--generation_max_length", "6",
    ])
    adapter = json.loads((out / "adapter_config.json").read_text(encoding="utf-8"))
    assert adapter["task_type"] == "SEQ_2_SEQ_LM" and sorted(adapter["target_modules"]) == ["q", "v"]
    assert json.loads((out / "seq2seq_config.json").read_text(encoding="utf-8"))["model_kind"] == "seq2seq"
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text(encoding="utf-8").splitlines()]
    qa = QuestionAnswerer(str(out), device="cpu", batch_size=8)
    assert qa.prompt is None  # the encoder reads the template, no prompt to continue
    assert qa.answer([r["question"] for r in rows], [r["context"] for r in rows],
                     max_new_tokens=5) == [r["prediction"] for r in rows]
