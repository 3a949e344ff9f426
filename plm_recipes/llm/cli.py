"""``plm-recipes llm classify | match | extract | serve``: a chat model (a local folder, a hub id, a LoRA adapter
from ``recipes/llm_sft.py``, or an OpenAI-compatible server) answering with few-shot prompts.

    plm-recipes llm classify --model Qwen/Qwen2.5-0.5B-Instruct --labels data/llm/labels.txt \\
        --examples data/llm/classify_examples.jsonl --file data/llm/texts.txt
    plm-recipes llm match --model outputs/llm_sft --file data/llm/pairs.tsv
    plm-recipes llm extract --model Qwen/Qwen2.5-0.5B-Instruct --schema data/llm/schema_fields.json --text "..."
    plm-recipes llm serve --model Qwen/Qwen2.5-0.5B-Instruct --port 8000
    plm-recipes llm classify --backend openai --base_url http://127.0.0.1:8000/v1 \\
        --tokenizer Qwen/Qwen2.5-0.5B-Instruct --labels 水果,酒店,平板 --text "..."
"""

from __future__ import annotations

import argparse
import json
import sys

from ..causal_lm import check_can_generate
from ..cli import finite_float, positive_int, texts_from_args, write_jsonl
from ..data import read_lines
from ..errors import ArgumentError, DataFormatError

CHAT_MODEL = "a chat model (a causal language model with a trained LM head and a chat template)"


def load_backend(args: argparse.Namespace):
    """The backend the flags ask for."""
    from .backends import OpenAIBackend, TransformersBackend

    progress = not args.no_progress
    if args.backend == "openai":
        if not args.base_url:
            raise ArgumentError("--backend openai needs --base_url (e.g. http://127.0.0.1:8000/v1)")
        return OpenAIBackend(args.base_url, model=args.served_model, tokenizer=args.tokenizer or args.model,
                             batch_size=args.batch_size, progress=progress)
    if not args.model:
        raise ArgumentError("pass --model (a model folder, a hub id or a LoRA adapter folder), or --backend openai")
    check_can_generate(args.model, f"plm-recipes llm {args.llm_command}", needs=CHAT_MODEL)
    return TransformersBackend.from_pretrained(args.model, device=args.device, dtype=args.dtype,
                                               batch_size=args.batch_size, progress=progress)


def _choices_out(args: argparse.Namespace, inputs: list[dict], choices) -> None:
    rows = [{**given, **choice.to_dict()} for given, choice in zip(inputs, choices)]
    if args.output:
        write_jsonl(args.output, rows)
        return
    for row in rows:
        shown = " | ".join(str(v) for k, v in row.items() if k in ("text", "text_a", "text_b"))
        probability = f"{row['probability']:.3f}" if row.get("probability") is not None else "-"
        answer = f"  (answer: {row['answer']!r})" if "answer" in row else ""
        print(f"{row['label']}\t{probability}\t{shown}{answer}")
    invalid = sum(row["label"] is None for row in rows)
    if invalid:
        print(f"{invalid} of {len(rows)} answers named no label (free generation; --method choice always picks "
              "one)", file=sys.stderr)


def classify_command(args: argparse.Namespace) -> None:
    from .prompts import labels_from_argument, read_choice_examples
    from .tasks import classify

    labels = labels_from_argument(args.labels)  # checked before the model loads: a typo costs nothing
    examples = read_choice_examples(args.examples, labels) if args.examples else []
    texts = texts_from_args(args)
    choices = classify(load_backend(args), texts, labels, examples, method=args.method,
                       normalization=args.normalization, max_new_tokens=args.max_new_tokens,
                       calibrated=args.calibrate and args.method == "choice")
    _choices_out(args, [{"text": t} for t in texts], choices)


def read_pair_lines(path: str) -> list[tuple[str, str]]:
    """``text_a<TAB>text_b`` lines."""
    pairs = []
    for number, line in read_lines(path):
        fields = line.split("\t")
        if len(fields) != 2 or not all(f.strip() for f in fields):
            raise DataFormatError(path, number, f"expected 2 tab-separated texts (text_a<TAB>text_b), found "
                                                f"{len(fields)} field(s)")
        pairs.append((fields[0].strip(), fields[1].strip()))
    if not pairs:
        raise DataFormatError(path, None, "no pairs; expected text_a<TAB>text_b lines")
    return pairs


def match_command(args: argparse.Namespace) -> None:
    from .prompts import MATCH_OPTIONS, read_choice_examples
    from .tasks import match

    examples = read_choice_examples(args.examples, MATCH_OPTIONS, pairs=True) if args.examples else []
    if (args.a is None) != (args.b is None) or (args.a and len(args.a) != len(args.b)):
        raise ArgumentError("give --a and --b together, as many of each")
    pairs = list(zip(args.a or [], args.b or []))
    if args.file:
        pairs += read_pair_lines(args.file)
    if not pairs:
        raise ArgumentError("nothing to match: pass --a TEXT --b TEXT (repeatable) or --file (text_a<TAB>text_b lines)")
    choices = match(load_backend(args), pairs, examples, method=args.method, normalization=args.normalization,
                    max_new_tokens=args.max_new_tokens, calibrated=args.calibrate and args.method == "choice")
    _choices_out(args, [{"text_a": a, "text_b": b} for a, b in pairs], choices)


def extract_command(args: argparse.Namespace) -> None:
    from .prompts import parse_schema, read_extraction_examples
    from .tasks import extract

    schema = parse_schema(args.schema)
    examples = read_extraction_examples(args.examples) if args.examples else []
    texts = texts_from_args(args)
    results = extract(load_backend(args), texts, schema, examples, max_new_tokens=args.max_new_tokens)
    rows = [{"text": t, **r.to_dict()} for t, r in zip(texts, results)]
    failed = sum(r.error is not None for r in results)
    if args.output:
        write_jsonl(args.output, rows)
    else:
        for row in rows:
            print(row["text"])
            print(json.dumps(row["result"], ensure_ascii=False) if row["error"] is None
                  else f"  unreadable answer ({row['error']}): {row['raw']!r}")
    if failed:
        print(f"{failed} of {len(rows)} answers could not be read as the schema asks (reported per item)",
              file=sys.stderr)


def serve_command(args: argparse.Namespace) -> None:
    """Check the folder, take the port, then load the model: a wrong folder or a port in use costs no loading."""
    from .backends import TransformersBackend
    from .server import ModelServer, serve

    check_can_generate(args.model, "plm-recipes llm serve", needs=CHAT_MODEL)
    try:
        server = ModelServer((args.host, args.port), None, args.served_model or args.model,
                             request_timeout=args.request_timeout)
    except OSError as e:
        raise ArgumentError(f"cannot listen on {args.host}:{args.port} ({e.strerror or e}); is another server "
                            "running there? Pick another --port (0: any free one).") from None
    try:
        server.backend = TransformersBackend.from_pretrained(args.model, device=args.device, dtype=args.dtype,
                                                             batch_size=1, progress=False)
    except KeyboardInterrupt:  # Ctrl-C while loading: no traceback
        server.server_close()
        print("stopped before the model was loaded", file=sys.stderr)
        raise SystemExit(130) from None
    except BaseException:
        server.server_close()
        raise
    serve(server)


def _seconds(text: str) -> float:
    """An argparse type: a number of seconds above 0."""
    value = finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds above 0, got {text!r}")
    return value


def _add_model_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", help="A chat model: a folder, a hub id, or a LoRA adapter folder (recipes/llm_sft.py).")
    p.add_argument("--backend", choices=("transformers", "openai"), default="transformers",
                   help="transformers (default): run the model here; openai: ask an OpenAI-compatible server.")
    p.add_argument("--base_url", help="The server's address with --backend openai, e.g. http://127.0.0.1:8000/v1.")
    p.add_argument("--served_model", help="The model name the server expects (default: the first it lists).")
    p.add_argument("--tokenizer", help="With --backend openai and --method choice: the served model's tokenizer "
                                       "(folder or hub id), to render its chat template here (default: --model).")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1, ... (default: GPU when there is one).")
    p.add_argument("--dtype", default=None, help="float32, bfloat16, float16 or auto (default: float32).")
    p.add_argument("--batch_size", type=positive_int, default=8)
    p.add_argument("--no_progress", action="store_true", help="No progress bar.")


def _add_io(p: argparse.ArgumentParser, file_help: str) -> None:
    p.add_argument("--file", help=file_help)
    p.add_argument("--output", help="Write JSON lines here instead of printing.")


def _add_choice_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--method", choices=("choice", "generate"), default="choice",
                   help="choice (default): score every label as the answer and take the likeliest (always a valid "
                        "label, with its probability); generate: free generation, the label read off the answer.")
    p.add_argument("--normalization", choices=("sum", "mean"), default="sum",
                   help="Option scores: sum (default) of the option's token log-probabilities, whose softmax over "
                        "the options is the model's probability; mean: per token.")
    p.add_argument("--calibrate", action=argparse.BooleanOptionalAction, default=True,
                   help="Contextual calibration of --method choice (Zhao et al., 2021), on by default: divide the "
                        "label probabilities by those the prompt gives a content-free input ('N/A', ''); "
                        "--no-calibrate gives the model's own probabilities (for an adapter tuned on the task, "
                        "compare both on held-out items: it helped some tuned adapters and cost others).")
    p.add_argument("--max_new_tokens", type=positive_int, default=16, help="Longest answer with --method generate.")


def add_commands(commands: argparse._SubParsersAction, predict_tasks: argparse._SubParsersAction) -> None:
    llm = commands.add_parser("llm", help="Prompt a chat model: classify, match, extract; serve one over HTTP.")
    tasks = llm.add_subparsers(dest="llm_command", required=True)

    c = tasks.add_parser("classify", help="Choose each text's label from a label set (few-shot).")
    _add_model_arguments(c)
    c.add_argument("--labels", required=True, help="A label set file (one per line) or labels separated by commas.")
    c.add_argument("--examples", help='Few-shot examples: JSON lines {"text", "label"}.')
    c.add_argument("--text", action="append", help="A text to classify; repeat for several.")
    _add_io(c, "A UTF-8 file with one text per line.")
    _add_choice_arguments(c)
    c.set_defaults(func=classify_command)

    m = tasks.add_parser("match", help="Whether two texts mean the same: 是 / 不是 (few-shot).")
    _add_model_arguments(m)
    m.add_argument("--a", action="append", help="First text of a pair; repeat with --b for several.")
    m.add_argument("--b", action="append", help="Second text of a pair.")
    m.add_argument("--examples", help='Few-shot examples: JSON lines {"text_a", "text_b", "label": "是" or "不是"}.')
    _add_io(m, "text_a<TAB>text_b lines.")
    _add_choice_arguments(m)
    m.set_defaults(func=match_command)

    e = tasks.add_parser("extract", help="Extract a schema's fields or relation triples as JSON (few-shot).")
    _add_model_arguments(e)
    e.add_argument("--schema", required=True,
                   help="A JSON file or JSON text: a list of fields '[\"姓名\", \"性别\"]' or subject types with "
                        "their relations '{\"人物\": [\"出生日期\"]}'; or fields separated by commas.")
    e.add_argument("--examples", help='Few-shot examples: JSON lines {"text", "answer"}.')
    e.add_argument("--text", action="append", help="A text; repeat for several.")
    _add_io(e, "A UTF-8 file with one text per line.")
    e.add_argument("--max_new_tokens", type=positive_int, default=256, help="Longest answer in tokens.")
    e.set_defaults(func=extract_command)

    s = tasks.add_parser("serve", help="Serve a local chat model over an OpenAI-compatible HTTP API.")
    s.add_argument("--model", required=True, help="A chat model folder, hub id or LoRA adapter folder.")
    s.add_argument("--served_model", help="The name clients use (default: --model).")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000, help="The port (default 8000; 0: any free one, printed).")
    s.add_argument("--request_timeout", type=_seconds, default=600.0,
                   help="Seconds a request may wait for the model and generate (default 600); past it the "
                        "answer is a 503 (busy) or 504 (too long).")
    s.add_argument("--device", default=None)
    s.add_argument("--dtype", default=None)
    s.set_defaults(func=serve_command, output=None)
