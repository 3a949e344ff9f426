"""A reward a person types at the terminal while the policy trains (``recipes/rlhf_sentiment.py --reward_model
human``): the RLOO reward function over the labeler's session (:mod:`plm_recipes.rlhf.labeling`), so that every
score is on disk before the next question."""

from __future__ import annotations

import os
from collections.abc import Callable

from .labeling import SKIP, LabelingSession, QuitLabeling, one_line, parse_score, read_label_records


class HumanReward:
    """An RLOO reward function that asks a person: each completion of the batch is shown and scored at the
    terminal, so the policy is updated from typed scores through the same trainer as a model's reward
    (``recipes/rlhf_sentiment.py --reward_model human``).

    Each score is appended to ``output`` (``{"prompt", "completion", "score"}``, flushed and ``fsync``-ed) before the
    next question; a text scored before, in this run or an earlier one, is not asked again. ``s`` skips (the
    completion gets no reward: RLOO leaves it out of its baseline), ``q`` stops training (as Ctrl-C does).

    Args:
        output: the scores file (appended to, and read back to resume).
        min_score, max_score: the accepted range.
        ask, say: how to read an answer and show text (``input`` / ``print``; tests pass scripted ones).
    """

    def __init__(self, output: str | os.PathLike, min_score: float = 0.0, max_score: float = 10.0,
                 ask: Callable[[str], str] | None = None, say: Callable[[str], None] | None = None):
        self.session = LabelingSession(output, mode="score", min_score=min_score, max_score=max_score, ask=ask,
                                       say=say)
        self.known: dict[tuple[str, str], float] = {}
        for _, record in read_label_records(self.session.output):
            if isinstance(record, dict) and "score" in record:
                self.known[(record["prompt"], record["completion"])] = float(record["score"])
        self.__name__ = "human_reward"

    def __call__(self, prompts: list[str], completions: list[str], **kwargs) -> list[float | None]:
        session = self.session
        scores: list[float | None] = []
        for prompt, completion in zip(prompts, completions):
            if (prompt, completion) in self.known:
                scores.append(self.known[(prompt, completion)])
                continue
            session.say(f"\n  {one_line(prompt + completion)}")
            try:
                while True:
                    answer = session._read(f"  score {session.min_score:g}-{session.max_score:g} (s: skip, q: quit): ")
                    if answer.lower() == SKIP:
                        scores.append(None)
                        break
                    score = parse_score(answer, session.min_score, session.max_score)
                    if isinstance(score, str):
                        session.say(f"  {score}")
                        continue
                    session._append(session.output, {"prompt": prompt, "completion": completion, "score": score})
                    self.known[(prompt, completion)] = score
                    scores.append(score)
                    break
            except QuitLabeling:
                raise KeyboardInterrupt from None  # train_and_report: one line naming the checkpoint
        return scores
