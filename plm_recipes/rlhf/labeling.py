"""Human reward at the terminal: a person scores (or ranks) a policy's generations for each prompt.

Two files, both JSON lines, both appended to and flushed (``fsync``) after every answer, so that quitting, Ctrl-C,
a crash or a killed process loses nothing, and a rerun of the same command resumes where it stopped:

* ``--output``: the labels, and only them, ready to train on. Score mode: ``{"prompt", "completion", "score"}`` per
  generation. Rank mode: ``{"prompt", "ranking": [best, ..., worst]}`` per prompt, a rank list that
  ``recipes/reward_model.py`` reads as it is.
* ``<output>.session``: the session's own record: the generations shown for each prompt (a resumed session asks
  about the same texts, not new samples) and the prompts and generations skipped.

At each question ``s`` skips and ``q`` quits; anything else that is not a valid answer is explained and asked
again (the session goes on after a typo). Ctrl-C ends the session as ``q`` does, in one line saying how many answers
were written and the command that goes on. One session at a time labels an ``--output``: it is locked
(``<output>.lock``, :class:`~plm_recipes.locks.ProcessLock`) while the session runs, and a lock left by a killed
session is taken over.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ..errors import DataFormatError, PlmRecipesError
from ..locks import ProcessLock

SKIP, QUIT = "s", "q"


class QuitLabeling(Exception):
    """The person typed ``q`` (or the input ended)."""


class LabelingInterrupted(PlmRecipesError):
    """Ctrl-C during a labeling session; the message says what was written and how to go on."""

    exit_code = 130


@dataclass
class PromptState:
    """What the files say about one prompt: the generations shown, which are answered (scored, or skipped)."""

    completions: list[str] | None = None
    answered: set[int] = field(default_factory=set)
    done: bool = False  # ranked, or skipped as a whole


class ModelGenerator:
    """``prompt -> n completions`` from a causal LM (:func:`~plm_recipes.rlhf.policy.generate`, sampled)."""

    def __init__(self, model: str, max_new_tokens: int = 32, temperature: float = 0.7, seed: int = 42,
                 device: str | None = None):
        import torch

        from .policy import load_policy

        self.model, self.tokenizer = load_policy(model)
        self.model.to(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.max_new_tokens, self.temperature, self.seed = max_new_tokens, temperature, seed

    def __call__(self, prompt: str, n: int) -> list[str]:
        from transformers import set_seed

        from .policy import generate

        set_seed(self.seed)
        return generate(self.model, self.tokenizer, [prompt], max_new_tokens=self.max_new_tokens,
                        num_return_sequences=n, temperature=self.temperature)[0]


class LabelingSession:
    """Asks a person, prompt after prompt, for a score per generation (``mode="score"``) or for the order of the
    generations (``mode="rank"``), and appends each answer to ``output`` at once.

    Args:
        output: the labels file (JSON lines; created, or appended to and resumed).
        mode: ``"score"`` or ``"rank"``.
        num_generations: generations shown per prompt (rank mode: at least 2).
        min_score, max_score: the accepted range of a score.
        ask: how to read an answer (``input`` by default; tests pass scripted answers).
        say: how to show text (``print`` by default).
        resume_command: the command that goes on after Ctrl-C, shown then (default: "the same command").

    :meth:`run` locks ``output`` for the session; ``with session:`` takes the lock earlier (before a model loads,
    say) and reads the files again under it.
    """

    def __init__(self, output: str | os.PathLike, mode: str = "score", num_generations: int = 4,
                 min_score: float = 0.0, max_score: float = 10.0, ask: Callable[[str], str] | None = None,
                 say: Callable[[str], None] | None = None, resume_command: str | None = None):
        if mode not in ("score", "rank"):
            raise PlmRecipesError(f"mode {mode!r}: expected 'score' or 'rank'")
        if mode == "rank" and num_generations < 2:
            raise PlmRecipesError("ranking needs at least 2 generations per prompt (--num_generations)")
        if not min_score < max_score:
            raise PlmRecipesError(f"--min_score {min_score} must be below --max_score {max_score}")
        self.output = os.fspath(output)
        self.session_path = self.output + ".session"
        self.mode, self.num_generations = mode, num_generations
        self.min_score, self.max_score = min_score, max_score
        self.ask = ask or (lambda question: input(question))  # looked up when asked (tests replace input)
        self.say = say or (lambda text: print(text, flush=True))
        self.resume_command = resume_command
        self.written = 0  # answers written to ``output`` by this session
        self.lock = ProcessLock(self.output + ".lock", lambda owner: (
            f"--output {self.output}: another labeling session (process {owner}) is writing it; finish that one "
            "first, or choose another --output"))
        self.states = self._read_states()

    def __enter__(self) -> LabelingSession:
        self.lock.acquire()
        self.states = self._read_states()  # what a session that ended before the lock was taken wrote
        return self

    def __exit__(self, *exc) -> None:
        self.lock.release()

    # --- the files ----------------------------------------------------------------------------------------

    def _read_states(self) -> dict[str, PromptState]:
        states: dict[str, PromptState] = {}
        for path in (self.session_path, self.output):
            for number, record in read_label_records(path):
                if not isinstance(record, dict) or not isinstance(record.get("prompt"), str):
                    raise DataFormatError(path, number, "expected a JSON object with a 'prompt' (a labeling "
                                                        "session's file); was it written by another program?")
                state = states.setdefault(record["prompt"], PromptState())
                if "completions" in record:
                    state.completions = list(record["completions"])
                if "ranking" in record or record.get("skipped_prompt"):
                    state.done = True
                if "index" in record:
                    state.answered.add(int(record["index"]))
        return states

    def _append(self, path: str, record: dict) -> None:
        with open(path, "ab") as f:
            cut = f.tell() > 0 and _last_byte(path) != b"\n"  # a line a crash cut off: start a new one
            f.write((("\n" if cut else "") + json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8"))
            f.flush()
            os.fsync(f.fileno())
        if path == self.output:
            self.written += 1

    # --- the session --------------------------------------------------------------------------------------

    def pending(self, prompts: Sequence[str]) -> list[str]:
        """The prompts not yet done, in order."""
        return [p for p in prompts if not self._finished(p)]

    def _finished(self, prompt: str) -> bool:
        state = self.states.get(prompt)
        if state is None:
            return False
        if state.done:
            return True
        return state.completions is not None and self.mode == "score" and \
            len(state.answered) >= len(state.completions)

    def run(self, prompts: Sequence[str], generate: Callable[[str, int], list[str]]) -> int:
        """Label every pending prompt, under the lock of ``output``; returns how many answers were written. Stops
        at ``q`` or the end of input; Ctrl-C raises :class:`LabelingInterrupted`, whose message says the same."""
        if not self.lock.held:
            with self:
                return self.run(prompts, generate)
        todo = self.pending(prompts)
        done = len(prompts) - len(todo)
        self.say(f"{len(prompts)} prompts, {done} done already; {len(todo)} to go. Answers go to {self.output} "
                 f"as you type them. s: skip, q: quit.")
        self.written = 0
        go_on = f"to go on: {self.resume_command}" if self.resume_command else "run the same command to go on"
        try:
            for i, prompt in enumerate(todo, start=done + 1):
                state = self.states.setdefault(prompt, PromptState())
                if state.completions is None:
                    state.completions = list(generate(prompt, self.num_generations))
                    self._append(self.session_path, {"prompt": prompt, "completions": state.completions})
                self.say(f"\n[{i}/{len(prompts)}] {prompt}")
                if self.mode == "score":
                    self._score(prompt, state)
                else:
                    self._rank(prompt, state)
        except QuitLabeling:
            self.say(f"Stopped. {self.written} answers written to {self.output}; {go_on}.")
            return self.written
        except KeyboardInterrupt:
            raise LabelingInterrupted(f"labeling interrupted: {self.written} answers written to {self.output} "
                                      f"(every answer typed before Ctrl-C); {go_on}") from None
        self.say(f"All {len(prompts)} prompts done. {self.written} answers written to {self.output}.")
        return self.written

    def _read(self, question: str) -> str:
        try:
            answer = self.ask(question).strip()
        except EOFError:
            raise QuitLabeling from None
        if answer.lower() == QUIT:
            raise QuitLabeling
        return answer

    def _score(self, prompt: str, state: PromptState) -> None:
        for index, completion in enumerate(state.completions):
            if index in state.answered:
                continue
            self.say(f"  ({index + 1}) {one_line(prompt + completion)}")
            while True:
                answer = self._read(f"  score {self.min_score:g}-{self.max_score:g} (s: skip, q: quit): ")
                if answer.lower() == SKIP:
                    self._append(self.session_path, {"prompt": prompt, "index": index, "skipped": True})
                    break
                score = parse_score(answer, self.min_score, self.max_score)
                if isinstance(score, str):
                    self.say(f"  {score}")
                    continue
                self._append(self.output, {"prompt": prompt, "completion": completion, "score": score,
                                           "index": index})
                break
            state.answered.add(index)

    def _rank(self, prompt: str, state: PromptState) -> None:
        completions = state.completions
        for index, completion in enumerate(completions):
            self.say(f"  ({index + 1}) {one_line(prompt + completion)}")
        n = len(completions)
        while True:
            answer = self._read(f"  order, best first (e.g. {' '.join(str(k) for k in range(n, 0, -1))}; s: skip, "
                                "q: quit): ")
            if answer.lower() == SKIP:
                self._append(self.session_path, {"prompt": prompt, "skipped_prompt": True})
                state.done = True
                return
            order = parse_ranking(answer, n)
            if isinstance(order, str):
                self.say(f"  {order}")
                continue
            ranking = [prompt + completions[k] for k in order]
            if len(set(ranking)) < len(ranking):
                self.say("  two generations are the same text; their order says nothing: skipping the prompt")
                self._append(self.session_path, {"prompt": prompt, "skipped_prompt": True, "reason": "duplicates"})
                state.done = True
                return
            self._append(self.output, {"prompt": prompt, "ranking": ranking})
            state.done = True
            return


def one_line(text: str) -> str:
    """A generation as one line on the screen (its line breaks shown as \\n); the files keep the text as it is."""
    return text.replace("\n", "\\n")


def parse_score(text: str, low: float, high: float) -> float | str:
    """The score typed, or a one-line explanation of why it is not one.

    >>> parse_score("7.5", 0, 10), parse_score("seven", 0, 10), parse_score("11", 0, 10)
    (7.5, "'seven' is not a number; type a score from 0 to 10, s to skip or q to quit", '11 is outside 0 to 10')
    """
    try:
        value = float(text)
    except ValueError:
        return f"{text!r} is not a number; type a score from {low:g} to {high:g}, s to skip or q to quit"
    if not low <= value <= high:  # also refuses nan
        return f"{text} is outside {low:g} to {high:g}"
    return value


def parse_ranking(text: str, n: int) -> list[int] | str:
    """The 0-based order typed as 1-based numbers separated by spaces or commas (``"2 1 3"``; ``"213"`` for up to
    9 generations), or a one-line explanation.

    >>> parse_ranking("2 1 3", 3), parse_ranking("213", 3), parse_ranking("1 1 2", 3)
    ([1, 0, 2], [1, 0, 2], 'each of 1 to 3 exactly once, best first; got 1 1 2')
    """
    parts = text.replace(",", " ").split()
    if len(parts) == 1 and n <= 9 and len(parts[0]) == n:
        parts = list(parts[0])
    if not all(p.isdigit() for p in parts) or sorted(int(p) for p in parts) != list(range(1, n + 1)):
        return f"each of 1 to {n} exactly once, best first; got {text}"
    return [int(p) - 1 for p in parts]


def _last_byte(path: str) -> bytes:
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1)


def read_label_records(path: str) -> list[tuple[int, object]]:
    if not os.path.isfile(path):
        return []
    records = []
    with open(path, encoding="utf-8") as f:
        lines = f.readlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            records.append((number, json.loads(line)))
        except json.JSONDecodeError:
            if not line.endswith("\n") or (number < len(lines) and lines[number].strip().startswith("{")):
                continue  # a line a crash cut off mid-write: the answer it held was not complete
            raise DataFormatError(path, number, "invalid JSON; expected one record per line") from None
    return records
