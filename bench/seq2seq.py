#!/usr/bin/env python
"""Benchmark: T5 question answering and mask filling, with a small T5 trained from scratch (no seq2seq
checkpoint exists on these machines).

The model: a T5 built from a config (default d_model 128, 2 + 2 layers, 4 heads, d_ff 512, no dropout) with a
character vocabulary of the training text in BERT's layout plus the sentinels ``extra0`` ... ``extra99`` (the
layout of the Chinese T5 checkpoints users start from, ``uer/t5-base-chinese-cluecorpussmall``). Random weights:
what it learns, it learns here. Its relative position biases train at their own rate
(``--learning_rate_mapping``, ``--position_bias_learning_rate``; see README).

* QA, in two stages, both ``recipes/t5_qa.py``:
  1. span copying (``--pretrain_steps``): self-supervised extractive QA made from the training contexts and the
     corpus (a span of a text is the answer, the characters just before it the question), which teaches the
     model to find characters in its input and copy what follows, as a pretrained T5 would already do;
  2. fine-tuning on ``../shared/data/dureader_qg/train.json`` (799 examples), evaluated on ``dev.json`` (185; no
     context in both): BLEU-4, ROUGE-L, exact match and character F1, overall and on the answers that are spans
     of their context; the eval loss against the unigram entropy of the answers' tokens (what a model that
     learned nothing but token frequencies would score); train tokens/s, generation tokens/s, peak memory.
  ``--pretrain_steps 0`` trains on the QA data alone; ``--position_bias_learning_rate 1e-3`` (= the learning
  rate) shows what the biases' own rate is worth.
* Filling: ``recipes/t5_filling.py`` on ``../shared/data/corpus/*.jsonl`` (lines cut to 120 characters; the last
  10% of the lines held out, the first 100 of them evaluated): span exact match and F1, and a few augmented
  variants.

    python bench/seq2seq.py [--pretrain_steps 3000] [--qa_steps 600] [--fill_steps 2000] [--only qa|fill]

Target (issue #20): a model that has clearly learned within about 15 minutes of 2 CPU cores: eval loss well below
the unigram entropy, exact match above 0 on answers that are spans of the context. (For scale: Randeng-T5-784M-QA
reports CMRC2018 F1 77.9 / EM 57.1 from a pretrained model; the older project's log never got its loss below 9.3.)
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from common import ROOT, print_table, require, run_recipe, save

sys.path.insert(0, str(ROOT))


def build_model(folder: Path, args: argparse.Namespace, texts: list[str]) -> Path:
    """A T5 with random weights, of the size asked, and a character vocabulary: BERT's special tokens, every
    character of ``texts`` (the training text; a character that is not a CJK ideograph also as a WordPiece
    continuation ``##c``, so that a Latin word splits into characters too) and the sentinels ``extra0`` ...
    ``extra99``: the layout of the Chinese T5 checkpoints (``uer/t5-*-chinese-cluecorpussmall``: a BERT tokenizer,
    sentinels as words), with a vocabulary the size of what a model trained here sees: about 4,400 tokens where
    bert-base-chinese has 21,128, whose rows a model trained for minutes would barely touch."""
    import torch
    from transformers import BertTokenizerFast, T5Config, T5ForConditionalGeneration

    chars = sorted({c.lower() for text in texts for c in text if not c.isspace()})
    continuations = [f"##{c}" for c in chars if not "\u4e00" <= c <= "\u9fff"]
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars, *continuations, *(f"extra{i}" for i in range(100))]
    path = folder / "t5-zh-scratch"
    path.mkdir(parents=True)
    (path / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = BertTokenizerFast(vocab=str(path / "vocab.txt"))
    tokenizer.model_max_length = 512
    config = T5Config(vocab_size=len(tokenizer), d_model=args.d_model, d_kv=args.d_model // args.heads,
                      d_ff=4 * args.d_model, num_layers=args.layers, num_heads=args.heads,
                      dropout_rate=args.dropout, pad_token_id=tokenizer.pad_token_id,
                      eos_token_id=tokenizer.sep_token_id, decoder_start_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    model = T5ForConditionalGeneration(config)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    print(f"T5 from scratch: d_model {args.d_model}, {args.layers} + {args.layers} layers, {args.heads} heads, "
          f"vocabulary {len(tokenizer)}, {sum(p.numel() for p in model.parameters()) / 1e6:.1f}M parameters",
          flush=True)
    return path


def span_copy_examples(texts: list[str], path: Path, count: int, seed: int, window: int = 100) -> Path:
    """Self-supervised extractive QA written as t5_qa records, to teach a T5 with random weights to find and copy
    a span of its input before it meets real questions: a window of a text is the context, a span of it (4-24
    characters) the answer, and the 3-6 characters just before the span the question. To answer, the model must
    find the question's characters in the context and copy what follows them, the skill an extractive answer
    needs, which a pretrained T5 brings and a model with random weights does not learn from 799 examples."""
    import random

    rng = random.Random(seed)
    texts = [t for t in texts if len(t) >= 16]
    with open(path, "w", encoding="utf-8") as f:
        written = 0
        while written < count:
            text = rng.choice(texts)
            start = rng.randint(0, max(0, len(text) - window))
            context = text[start:start + window]
            length, before = rng.randint(4, 24), rng.randint(3, 6)
            if len(context) < before + length:
                continue
            i = rng.randint(before, len(context) - length)
            question, answer = context[i - before:i], context[i:i + length]
            if len(question.strip()) < 2 or not answer.strip():
                continue
            f.write(json.dumps({"context": context, "question": question, "answer": answer}, ensure_ascii=False)
                    + "\n")
            written += 1
    return path


def unigram_entropy(tokenizer, texts: list[str]) -> float:
    """Entropy (nats per token) of the answers' tokens, end token included: the loss of a model that knows only
    how often each token occurs."""
    from plm_recipes.seq2seq.model_files import target_ids

    counts = Counter(token for text in texts for token in target_ids(tokenizer, text, 10_000))
    total = sum(counts.values())
    return -sum(c / total * math.log(c / total) for c in counts.values())


def pretrain(model: Path, data: Path, corpus: Path, args: argparse.Namespace) -> tuple[Path, dict]:
    """Stage 1: ``recipes/t5_qa.py`` on :func:`span_copy_examples` made from the training contexts (never the dev
    ones) and the corpus. Returns the model folder and the stage's measurements."""
    from plm_recipes.seq2seq.data import read_corpus, read_qa

    folder = Path(tempfile.mkdtemp(prefix="bench_t5_pretrain_"))
    texts = sorted(set(read_qa(data / "train.json")["context"]))
    texts += [line for path in sorted(corpus.glob("*.jsonl")) for line in read_corpus(path, "text", 16)]
    examples = span_copy_examples(texts, folder / "span_copy.jsonl", args.pretrain_steps * args.pretrain_batch_size,
                                  args.seed)
    argv = [
        "--model_name_or_path", str(model), "--train_file", str(examples), "--do_train", "--output_dir",
        str(folder / "model"), "--max_steps", str(args.pretrain_steps), "--per_device_train_batch_size",
        str(args.pretrain_batch_size), "--learning_rate", str(args.pretrain_learning_rate),
        "--lr_scheduler_type", "constant_with_warmup", "--warmup_steps", "100", "--max_seq_length", "160",
        "--learning_rate_mapping", json.dumps({"relative_attention_bias": args.position_bias_learning_rate}),
        "--max_target_length", "32", "--save_strategy", "no", "--eval_strategy", "no", "--load_best_model_at_end",
        "false", "--freeze_word_embeddings", "false",
        "--logging_steps", "100", "--use_cpu", "--disable_tqdm", "true", "--seed", str(args.seed),
    ]
    print(f"stage 1, span copying: {len(texts)} texts, {args.pretrain_steps} steps ... "
          f"(log: {folder}/bench.log)", flush=True)
    measured = run_recipe("t5_qa", argv, folder / "bench.log")
    state = json.loads((folder / "model" / "trainer_state.json").read_text(encoding="utf-8"))
    curve = [(e["step"], round(e["loss"], 3)) for e in state["log_history"] if "loss" in e]
    return folder / "model", {"texts": len(texts), "loss_curve": curve, "process_s": measured["process_s"],
                              "train_runtime": measured["results"]["train"]["train_runtime"],
                              "peak_rss_MiB": measured["peak_rss_mib"]}


def run_qa(model: Path, data: Path, args: argparse.Namespace) -> dict:
    from transformers import AutoTokenizer

    from plm_recipes.seq2seq import GenerationMetrics
    from plm_recipes.seq2seq.data import read_qa
    from plm_recipes.seq2seq.predictor import QuestionAnswerer

    out = Path(tempfile.mkdtemp(prefix="bench_t5_qa_"))
    argv = [
        "--model_name_or_path", str(model), "--train_file", str(data / "train.json"),
        "--validation_file", str(data / "dev.json"), "--test_file", str(data / "dev.json"),
        "--do_train", "--do_eval", "--do_predict", "--output_dir", str(out),
        "--max_steps", str(args.qa_steps), "--per_device_train_batch_size", "16",
        "--learning_rate", str(args.qa_learning_rate),
        "--learning_rate_mapping", json.dumps({"relative_attention_bias": args.position_bias_learning_rate}),
        "--max_seq_length", "256", "--max_target_length", "32", "--generation_max_length", "32",
        "--eval_strategy", "steps", "--eval_steps", str(args.qa_steps // 3), "--save_strategy", "steps",
        "--save_steps", str(args.qa_steps // 3), "--freeze_word_embeddings", "false", "--logging_steps", "50",
        "--per_device_eval_batch_size", "32", "--use_cpu", "--disable_tqdm", "true", "--seed", "42",
    ]
    print(f"training t5_qa ... (log: {out}/bench.log)", flush=True)
    measured = run_recipe("t5_qa", argv, out / "bench.log")
    results = measured["results"]
    state = json.loads((out / "trainer_state.json").read_text(encoding="utf-8"))
    curve = [(e["step"], round(e["eval_loss"], 3), round(e["eval_rouge_l"], 4), round(e["eval_exact_match"], 4))
             for e in state["log_history"] if "eval_rouge_l" in e]

    train = read_qa(data / "train.json")
    tokenizer = AutoTokenizer.from_pretrained(out)
    entropy = unigram_entropy(tokenizer, train["answer"])
    # tokens seen in training: source + target tokens of the examples, times the passes over them
    from plm_recipes.seq2seq import SourceTemplate
    from plm_recipes.seq2seq.model_files import target_ids

    template = SourceTemplate("问题：{question}原文：{context}")
    per_example = sum(len(template.encode(tokenizer, row, 256)) + len(target_ids(tokenizer, row["answer"], 32))
                      for row in train) / len(train)
    eval_seconds = sum(e.get("eval_runtime", 0.0) for e in state["log_history"] if "eval_rouge_l" in e)
    train_seconds = results["train"]["train_runtime"] - eval_seconds
    train_tokens_per_s = per_example * 16 * state["global_step"] / train_seconds

    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text(encoding="utf-8").splitlines()]
    spans = [r for r in rows if r["answer"] and r["answer"] in r["context"]]
    span_metrics = GenerationMetrics().compute(predictions=[r["prediction"] for r in spans],
                                               references=[r["answer"] for r in spans])
    qa = QuestionAnswerer(str(out), device="cpu", batch_size=32)
    dev = read_qa(data / "dev.json")
    start = time.perf_counter()
    answers = qa.answer(dev["question"], dev["context"])
    seconds = time.perf_counter() - start
    generated_tokens = sum(len(tokenizer(a, add_special_tokens=False)["input_ids"]) + 1 for a in answers)
    test = results["test"]
    return {
        "test": test, "span_metrics": span_metrics, "span_count": len(spans), "curve": curve,
        "eval_loss": results["eval"]["eval_loss"], "unigram_entropy": entropy,
        "train_tokens/s": train_tokens_per_s, "generation_tokens/s": generated_tokens / seconds,
        "peak_rss_MiB": measured["peak_rss_mib"], "process_s": measured["process_s"], "steps": state["global_step"],
        "examples": [{"question": r["question"], "answer": r["answer"], "prediction": r["prediction"]}
                     for r in rows[:5]],
    }


def run_fill(model: Path, corpus: Path, args: argparse.Namespace) -> dict:
    from plm_recipes.seq2seq.data import read_corpus
    from plm_recipes.seq2seq.predictor import MaskFiller

    folder = Path(tempfile.mkdtemp(prefix="bench_t5_fill_data_"))
    lines = [line for path in sorted(corpus.glob("*.jsonl")) for line in read_corpus(path, "text", 8)]
    held_out = max(1, len(lines) // 10)
    (folder / "train.txt").write_text("\n".join(lines[:-held_out]) + "\n", encoding="utf-8")
    (folder / "validation.txt").write_text("\n".join(lines[-held_out:][:100]) + "\n", encoding="utf-8")
    out = Path(tempfile.mkdtemp(prefix="bench_t5_fill_"))
    argv = [
        "--model_name_or_path", str(model), "--train_file", str(folder / "train.txt"),
        "--validation_file", str(folder / "validation.txt"), "--do_train", "--do_eval", "--output_dir", str(out),
        "--max_steps", str(args.fill_steps), "--per_device_train_batch_size", "16", "--learning_rate", "1e-3",
        "--learning_rate_mapping", json.dumps({"relative_attention_bias": args.position_bias_learning_rate}),
        "--max_seq_length", "160", "--eval_strategy", "steps", "--eval_steps", str(args.fill_steps // 2),
        "--save_strategy", "steps", "--save_steps", str(args.fill_steps // 2), "--freeze_word_embeddings", "false",
        "--logging_steps", "50", "--per_device_eval_batch_size", "32", "--use_cpu", "--disable_tqdm", "true",
        "--generation_max_length", "48", "--seed", "42",
    ]
    print(f"training t5_filling ... (log: {out}/bench.log)", flush=True)
    measured = run_recipe("t5_filling", argv, out / "bench.log")
    filler = MaskFiller(str(out), device="cpu")
    samples = lines[-held_out:][:3]
    variants = {text: filler.augment(text[:60], n=3, seed=0) for text in samples}
    return {"eval": measured["results"]["eval"], "peak_rss_MiB": measured["peak_rss_mib"],
            "process_s": measured["process_s"], "train_lines": len(lines) - held_out, "variants": variants}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--d_model", type=int, default=128)
    parser.add_argument("--layers", type=int, default=2, help="Encoder layers, and as many decoder layers.")
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument("--position_bias_learning_rate", type=float, default=0.03,
                        help="The learning rate of T5's relative position biases (--learning_rate_mapping).")
    parser.add_argument("--pretrain_steps", type=int, default=3000,
                        help="Stage 1 (span copying) before QA; 0: train on the QA data alone.")
    parser.add_argument("--pretrain_batch_size", type=int, default=32)
    parser.add_argument("--pretrain_learning_rate", type=float, default=1e-3)
    parser.add_argument("--qa_steps", type=int, default=600)
    parser.add_argument("--qa_learning_rate", type=float, default=1e-3)
    parser.add_argument("--fill_steps", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--only", choices=["qa", "fill"])
    args = parser.parse_args()

    _, qa_data = require(None, "dureader_qg")
    _, corpus = require(None, "corpus")
    from plm_recipes.seq2seq.data import read_corpus, read_qa

    train = read_qa(qa_data / "train.json")
    corpus_lines = [line for path in sorted(corpus.glob("*.jsonl")) for line in read_corpus(path, "text", 8)]
    corpus_lines = corpus_lines[:-max(1, len(corpus_lines) // 10)]  # run_fill holds the last 10% out
    model = build_model(Path(tempfile.mkdtemp(prefix="bench_t5_model_")), args,
                        [*train["context"], *train["question"], *train["answer"], *corpus_lines])
    payload: dict = {"args": vars(args)}
    if args.only in (None, "qa"):
        qa_model = model
        if args.pretrain_steps:
            qa_model, payload["pretrain"] = pretrain(model, qa_data, corpus, args)
            print(f"stage 1: training loss by step {payload['pretrain']['loss_curve']}, "
                  f"{payload['pretrain']['process_s']:.0f} s", flush=True)
        qa = run_qa(qa_model, qa_data, args)
        payload["qa"] = qa
        t, s = qa["test"], qa["span_metrics"]
        print()
        print_table([
            {"answers": "all dev (185)", "BLEU-4": f"{t['test_bleu_4']:.4f}", "ROUGE-L": f"{t['test_rouge_l']:.4f}",
             "EM": f"{t['test_exact_match']:.4f}", "F1": f"{t['test_f1']:.4f}"},
            {"answers": f"spans of the context ({qa['span_count']})", "BLEU-4": f"{s['bleu_4']:.4f}",
             "ROUGE-L": f"{s['rouge_l']:.4f}", "EM": f"{s['exact_match']:.4f}", "F1": f"{s['f1']:.4f}"},
        ], [(k, k) for k in ("answers", "BLEU-4", "ROUGE-L", "EM", "F1")])
        print(f"\nsteps {qa['steps']}, eval loss {qa['eval_loss']:.3f} nats/token vs unigram entropy "
              f"{qa['unigram_entropy']:.3f}; train {qa['train_tokens/s']:.0f} tokens/s, generation "
              f"{qa['generation_tokens/s']:.1f} tokens/s, peak RSS {qa['peak_rss_MiB']:.0f} MiB, "
              f"{qa['process_s']:.0f} s")
        print("curve (step, eval loss, ROUGE-L, EM):", qa["curve"])
        for example in qa["examples"]:
            print(f"  Q {example['question']} | A {example['answer']} | predicted {example['prediction']}")
    if args.only in (None, "fill"):
        fill = run_fill(model, corpus, args)
        payload["fill"] = fill
        e = fill["eval"]
        print(f"\nfilling: {fill['train_lines']} training lines; held-out span exact match "
              f"{e['eval_span_exact_match']:.4f}, span F1 {e['eval_span_f1']:.4f}, eval loss {e['eval_loss']:.3f}; "
              f"peak RSS {fill['peak_rss_MiB']:.0f} MiB, {fill['process_s']:.0f} s")
        for text, variants in fill["variants"].items():
            print(f"  {text[:60]}\n    -> " + "\n    -> ".join(variants or ["(no variant)"]))
    print("results saved to", save("seq2seq", payload))


if __name__ == "__main__":
    main()
