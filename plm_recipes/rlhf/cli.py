"""``plm-recipes predict reward`` (a score per text), ``plm-recipes generate`` (completions from a policy) and
``plm-recipes label reward`` (scores or rankings of a policy's generations, typed at the terminal)."""

from __future__ import annotations

import argparse
import shlex

from ..causal_lm import check_can_generate
from ..cli import add_io_arguments, finite_float, in_batches, positive_int, texts_from_args, write_jsonl
from ..data import read_text_lines
from ..errors import PlmRecipesError


def predict(args: argparse.Namespace) -> None:
    from .reward import RewardScorer

    texts = texts_from_args(args)
    scorer = RewardScorer(args.model, label=args.label, max_length=args.max_length, batch_size=args.batch_size,
                          device=args.device)
    scores = in_batches(scorer, texts, args.batch_size, progress=not args.no_progress, what="scoring")
    if args.output:
        write_jsonl(args.output, [{"text": t, "score": s} for t, s in zip(texts, scores)])
        return
    for text, score in zip(texts, scores):
        print(f"{score:.4f}\t{text}")


def prompts_from_args(args: argparse.Namespace) -> list[str]:
    prompts = list(args.prompt or [])
    if args.file:
        prompts += read_text_lines(args.file)
    if not prompts:
        raise PlmRecipesError("nothing to generate from: pass --prompt TEXT (repeatable) or --file FILE (one prompt "
                              "per line)")
    return prompts


def generate_command(args: argparse.Namespace) -> None:
    import torch
    from transformers import set_seed

    from .policy import generate, load_policy

    check_sampling(args, sampling=not args.greedy)
    prompts = prompts_from_args(args)
    check_can_generate(args.model, "plm-recipes generate")
    model, tokenizer = load_policy(args.model)
    model.to(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    set_seed(args.seed)
    completions = generate(model, tokenizer, prompts, max_new_tokens=args.max_new_tokens,
                           num_return_sequences=args.num_return_sequences, do_sample=not args.greedy,
                           temperature=args.temperature, top_p=args.top_p, batch_size=args.batch_size)
    if args.output:
        write_jsonl(args.output, [{"prompt": p, "completions": c} for p, c in zip(prompts, completions)])
        return
    for prompt, texts in zip(prompts, completions):
        for text in texts:  # one line per completion: its own line breaks are shown as \n
            print((prompt + text).replace("\n", "\\n"))


def label_command(args: argparse.Namespace) -> None:
    from .labeling import LabelingSession, ModelGenerator

    check_sampling(args)
    prompts = read_text_lines(args.prompts)
    check_can_generate(args.model, "plm-recipes label reward")
    session = LabelingSession(args.output, mode=args.mode, num_generations=args.num_generations,
                              min_score=args.min_score, max_score=args.max_score,
                              resume_command=label_command_line(args))
    with session:  # --output is locked before the model loads: a second session on it stops here
        generator = ModelGenerator(args.model, max_new_tokens=args.max_new_tokens, temperature=args.temperature,
                                   seed=args.seed, device=args.device)
        session.run(prompts, generator)


def label_command_line(args: argparse.Namespace) -> str:
    """The ``plm-recipes label reward`` command of ``args``, to show how to go on after Ctrl-C."""
    options = ["model", "prompts", "output", "mode", "num_generations", "min_score", "max_score", "max_new_tokens",
               "temperature", "seed", "device"]
    words = ["plm-recipes", "label", "reward"]
    for name in options:
        value = getattr(args, name, None)
        if value is not None:
            words += [f"--{name}", f"{value:g}" if isinstance(value, float) else str(value)]
    return shlex.join(words)


def check_sampling(args: argparse.Namespace, sampling: bool = True) -> None:
    """Refuse sampling settings that cannot sample, before any model loads: a temperature of 0 or below (greedy
    decoding is ``--greedy``), a ``--top_p`` outside (0, 1]."""
    if not sampling:
        return
    if args.temperature <= 0:
        greedy = "; for greedy decoding pass --greedy" if hasattr(args, "greedy") else ""
        raise PlmRecipesError(f"--temperature {args.temperature:g}: sampling needs a temperature above 0{greedy}")
    top_p = getattr(args, "top_p", 1.0)
    if not 0 < top_p <= 1:
        raise PlmRecipesError(f"--top_p {top_p:g}: expected a probability above 0 and at most 1 (1 keeps every "
                              "token)")


def add_generation_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max_new_tokens", type=positive_int, default=32)
    parser.add_argument("--temperature", type=finite_float, default=0.7)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1, ... (default: GPU when there is one).")


def add_commands(commands: argparse._SubParsersAction, predict_tasks: argparse._SubParsersAction) -> None:
    p = predict_tasks.add_parser("reward", help="A score per text from a reward model (recipes/reward_model.py) "
                                                "or a classifier's label probability.")
    add_io_arguments(p)
    p.add_argument("--label", default=None,
                   help="For a classifier with several labels: the label (name or index) whose probability is the "
                        "score. A one-output reward model needs none.")
    p.add_argument("--max_length", type=positive_int, default=256, help="Longest text in tokens (truncated).")
    p.set_defaults(func=predict)

    g = commands.add_parser("generate", help="Completions of prompts by a causal LM (recipes/rlhf_sentiment.py "
                                             "policies, any causal LM folder).")
    g.add_argument("--model", required=True, help="A causal LM folder or hub id.")
    g.add_argument("--prompt", action="append", help="A prompt; repeat for several.")
    g.add_argument("--file", help="A UTF-8 file with one prompt per line.")
    g.add_argument("--num_return_sequences", type=positive_int, default=1)
    g.add_argument("--greedy", action="store_true", help="Greedy decoding instead of sampling.")
    g.add_argument("--top_p", type=finite_float, default=1.0)
    g.add_argument("--batch_size", type=positive_int, default=16)
    g.add_argument("--output", help="Write JSON lines {prompt, completions} here instead of printing.")
    add_generation_arguments(g)
    g.set_defaults(func=generate_command)

    label = commands.add_parser("label", help="Label a model's outputs by hand at the terminal.")
    tasks = label.add_subparsers(dest="label_task", required=True)
    r = tasks.add_parser("reward", help="Score (or rank) a policy's generations for each prompt; every answer is "
                                        "written to --output at once, and a rerun resumes where it stopped.")
    r.add_argument("--model", required=True, help="The policy: a causal LM folder or hub id.")
    r.add_argument("--prompts", required=True, help="A UTF-8 file with one prompt per line.")
    r.add_argument("--output", required=True, help="JSON lines of scores (score mode) or rank lists (rank mode); "
                                                    "appended to, and read back to resume.")
    r.add_argument("--mode", choices=["score", "rank"], default="score",
                   help="score: a number per generation; rank: order the generations, best first (a rank list "
                        "recipes/reward_model.py trains on).")
    r.add_argument("--num_generations", type=positive_int, default=4, help="Generations shown per prompt.")
    r.add_argument("--min_score", type=finite_float, default=0.0)
    r.add_argument("--max_score", type=finite_float, default=10.0)
    add_generation_arguments(r)
    r.set_defaults(func=label_command)
