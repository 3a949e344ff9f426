"""``plm-recipes predict qa`` (answer questions), ``predict fill`` (fill [MASK]) and ``augment fill`` (variants of
each line of a file, for data augmentation)."""

from __future__ import annotations

import argparse
import sys

from ..cli import add_progress_argument, in_batches, positive_int, write_jsonl
from ..data import read_text_lines
from ..errors import PlmRecipesError
from ..files import atomic_write


def predict_qa(args: argparse.Namespace) -> None:
    from .data import read_qa
    from .predictor import QuestionAnswerer

    questions, contexts = list(args.question or []), list(args.context or [])
    if len(questions) != len(contexts):
        raise PlmRecipesError(f"--question and --context pair up in order: got {len(questions)} --question and "
                              f"{len(contexts)} --context")
    if args.file:
        records = read_qa(args.file, require_answer=False)
        questions += records["question"]
        contexts += records["context"]
    if not questions:
        raise PlmRecipesError("nothing to answer: pass --question Q --context C (repeatable) or --file F.jsonl")
    qa = QuestionAnswerer(args.model, device=args.device, batch_size=args.batch_size,
                          source_template=args.source_template)
    answers = qa.answer(questions, contexts, num_beams=args.num_beams, max_new_tokens=args.max_new_tokens)
    if args.output:
        write_jsonl(args.output, [{"question": q, "answer": a} for q, a in zip(questions, answers)])
        return
    for question, answer in zip(questions, answers):
        print(f"Q: {question}\nA: {answer}")


def predict_fill(args: argparse.Namespace) -> None:
    from .predictor import MaskFiller

    texts = list(args.text or []) + (read_text_lines(args.file) if args.file else [])
    if not texts:
        raise PlmRecipesError("nothing to fill: pass --text \"...[MASK]...\" (repeatable) or --file F")
    filler = MaskFiller(args.model, device=args.device, batch_size=args.batch_size)
    filled = in_batches(lambda chunk: filler.fill_many(chunk, num_return_sequences=args.n, do_sample=args.sample),
                        texts, args.batch_size, progress=not args.no_progress, what="filling")
    rows = [{"text": text, "filled": fillings} for text, fillings in zip(texts, filled)]
    if args.output:
        write_jsonl(args.output, rows)
        return
    for row in rows:
        print(row["text"])
        for filling in row["filled"]:
            print(f"  {filling}")


def augment_fill(args: argparse.Namespace) -> None:
    from .predictor import MaskFiller

    texts = read_text_lines(args.input)  # --output was checked writable before the work (plm_recipes.cli.main)
    filler = MaskFiller(args.model, device=args.device, batch_size=args.batch_size)
    # line i's spans are masked with seed + i, whatever the batch it falls in
    variants = in_batches(lambda chunk: filler.augment_many([text for _, text in chunk], n=args.n,
                                                            seeds=[args.seed + i for i, _ in chunk]),
                          list(enumerate(texts)), args.batch_size, progress=not args.no_progress, what="augmenting")
    with atomic_write(args.output) as f:  # renamed into place when complete: a failure leaves no half file
        for text, found in zip(texts, variants):
            for variant in found:
                f.write(variant + "\n")
            if args.keep_original:
                f.write(text + "\n")
    written = sum(map(len, variants))
    print(f"wrote {written} variants of {len(texts)} texts to {args.output}", file=sys.stderr)


def add_commands(commands: argparse._SubParsersAction, predict_tasks: argparse._SubParsersAction) -> None:
    def common(p):
        p.add_argument("--model", required=True, help="A model folder saved by the recipe.")
        p.add_argument("--device", default=None, help="cpu, cuda, ... (default: GPU when there is one).")

    p = predict_tasks.add_parser("qa", help="Answer questions about a context (recipes/t5_qa.py models, or a chat "
                                            "model zero-shot).")
    common(p)
    p.add_argument("--question", action="append", help="A question; repeat with --context for several.")
    p.add_argument("--context", action="append", help="The text the answer is in.")
    p.add_argument("--file", help="JSON lines (or csv / tsv) with question and context.")
    p.add_argument("--output", help="Write JSON lines here instead of printing.")
    p.add_argument("--num_beams", type=positive_int, default=None, help="Default: as the model was evaluated.")
    p.add_argument("--max_new_tokens", type=positive_int, default=None)
    p.add_argument("--batch_size", type=positive_int, default=16)
    p.add_argument("--source_template", default=None,
                   help="The prompt, with {question} and {context} (default: the one the model was trained with; "
                        "for a chat model never trained for QA, an instruction to answer from the context).")
    p.set_defaults(func=predict_qa)

    p = predict_tasks.add_parser("fill", help="Fill [MASK] in texts (recipes/t5_filling.py models).")
    common(p)
    p.add_argument("--text", action="append", help="A text with one or more [MASK]; repeatable.")
    p.add_argument("--file", help="A UTF-8 file, one text per line.")
    p.add_argument("--n", type=positive_int, default=1, help="Distinct fillings per text (default 1).")
    p.add_argument("--sample", action="store_true", help="Sample instead of beam search.")
    p.add_argument("--output", help="Write JSON lines here instead of printing.")
    p.add_argument("--batch_size", type=positive_int, default=32, help="Texts filled together (default 32).")
    add_progress_argument(p)
    p.set_defaults(func=predict_fill)

    augment = commands.add_parser("augment", help="Write variants of texts for data augmentation.")
    methods = augment.add_subparsers(dest="method", required=True)
    p = methods.add_parser("fill", help="Mask random spans of each line and fill them (recipes/t5_filling.py).")
    common(p)
    p.add_argument("--input", required=True, help="A UTF-8 file, one text per line.")
    p.add_argument("--output", required=True, help="Where to write the variants, one per line.")
    p.add_argument("--n", type=positive_int, default=4, help="Variants per line (fewer when the model repeats).")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--keep_original", action="store_true", help="Write each original line after its variants.")
    p.add_argument("--batch_size", type=positive_int, default=32,
                   help="Lines filled together (default 32), each with --n samples.")
    add_progress_argument(p)
    p.set_defaults(func=augment_fill)
