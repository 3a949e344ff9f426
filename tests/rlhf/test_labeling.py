"""The terminal labeler: scripted answers (a typo, a skip, a quit), every score on disk before the next question,
a killed session that loses nothing, a rerun that resumes on the same generations, and the ranking mode whose file
the reward model recipe reads; one session at a time on a file, and Ctrl-C in one line."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from helpers import ROOT

from plm_recipes import cli
from plm_recipes.errors import PlmRecipesError
from plm_recipes.rlhf import read_rank_lists
from plm_recipes.rlhf.labeling import LabelingSession

PROMPTS = ["这部电影很", "刚收到货，感觉", "物流"]


class Scripted:
    """Answers from a list, checking before each that every earlier answer is already in the files."""

    def __init__(self, answers, output: Path):
        self.answers, self.output, self.asked = list(answers), output, 0
        self.shown: list[str] = []

    def ask(self, question: str) -> str:
        self.asked += 1
        if not self.answers:
            raise EOFError
        return self.answers.pop(0)

    def say(self, text: str) -> None:
        self.shown.append(text)


def fake_generate(prompt: str, n: int) -> list[str]:
    fake_generate.calls += 1
    return [f"第{k}个续写{fake_generate.calls}" for k in range(n)]


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_scores_with_a_typo_a_skip_and_a_quit_then_resume(tmp_path):
    fake_generate.calls = 0
    out = tmp_path / "scores.jsonl"
    script = Scripted(["8", "eight", "12", "7.5", "s", "q"], out)
    session = LabelingSession(out, num_generations=3, ask=script.ask, say=script.say)
    assert session.run(PROMPTS, fake_generate) == 2
    assert any("'eight' is not a number" in s for s in script.shown) and any("12 is outside" in s for s in script.shown)
    scores = lines(out)
    assert [(r["prompt"], r["completion"], r["score"]) for r in scores] == [
        ("这部电影很", "第0个续写1", 8.0), ("这部电影很", "第1个续写1", 7.5)]
    session_lines = lines(Path(str(out) + ".session"))
    assert session_lines[1] == {"prompt": "这部电影很", "index": 2, "skipped": True}
    assert session_lines[2]["prompt"] == "刚收到货，感觉"  # generated and shown when q was typed

    # a rerun resumes: the first prompt is done (2 scores, 1 skip); the second is generated and asked
    script = Scripted(["1", "2", "3", "10", "0", "5"], out)
    session = LabelingSession(out, num_generations=3, ask=script.ask, say=script.say)
    assert session.pending(PROMPTS) == PROMPTS[1:]
    assert session.run(PROMPTS, fake_generate) == 6
    assert [r["score"] for r in lines(out)] == [8.0, 7.5, 1.0, 2.0, 3.0, 10.0, 0.0, 5.0]
    # the second prompt's generations are those shown before the quit, not new samples
    assert [r["completion"] for r in lines(out)[2:5]] == ["第0个续写2", "第1个续写2", "第2个续写2"]
    assert "All 3 prompts done" in script.shown[-1]
    assert LabelingSession(out, num_generations=3).pending(PROMPTS) == []


def test_ranking_mode_writes_rank_lists_the_reward_model_reads(tmp_path):
    fake_generate.calls = 0
    out = tmp_path / "ranks.jsonl"
    script = Scripted(["2 1", "1 2 3", "s", "2,3,1"], out)
    session = LabelingSession(out, mode="rank", num_generations=3, ask=script.ask, say=script.say)
    assert session.run(PROMPTS, fake_generate) == 2
    assert any("each of 1 to 3 exactly once" in s for s in script.shown)  # "2 1" was refused
    lists = read_rank_lists(out)
    assert [r.texts for r in lists] == [
        ("这部电影很第0个续写1", "这部电影很第1个续写1", "这部电影很第2个续写1"),
        ("物流第1个续写3", "物流第2个续写3", "物流第0个续写3")]


QUESTION = "(s: skip, q: quit): "


def read_until(stream, marker: str, count: int, timeout: float = 120) -> str:
    """Read the subprocess's stdout until ``marker`` has been printed ``count`` times (``input()`` prints its
    question without a line break when stdin is a pipe): the readiness signal, no sleeps."""
    import selectors

    seen, selector = "", selectors.DefaultSelector()
    selector.register(stream, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    while seen.count(marker) < count:
        if not selector.select(max(0.0, deadline - time.monotonic())):
            raise AssertionError(f"no {count}th {marker!r} in {timeout}s; the output so far: {seen[-2000:]}")
        chunk = os.read(stream.fileno(), 4096).decode("utf-8", errors="replace")
        if not chunk:
            raise AssertionError(f"the session ended early; its output: {seen[-2000:]}")
        seen += chunk
    return seen


def test_a_killed_session_keeps_every_score_and_resumes_on_the_same_generations(causal_lm, tmp_path, monkeypatch,
                                                                                capsys):
    prompts = tmp_path / "prompts.tsv"
    prompts.write_text("\n".join(PROMPTS) + "\n", encoding="utf-8")
    out = tmp_path / "scores.jsonl"
    command = [sys.executable, "-m", "plm_recipes.cli", "label", "reward", "--model", str(causal_lm),
               "--prompts", str(prompts), "--output", str(out), "--num_generations", "2", "--max_new_tokens", "4",
               "--device", "cpu"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            cwd=ROOT, env=env)
    try:
        proc.stdin.write("9\nnine\n4\n6\n".encode())  # prompt 1: 9, a typo, 4; prompt 2: 6 ... then killed
        proc.stdin.flush()
        # 5 questions (9, the typo, asked again: 4, then 6): the 6th question means the 4 answers were handled
        read_until(proc.stdout, QUESTION, 5)
        assert (Path(str(out) + ".lock")).read_text() == str(proc.pid)  # the session holds its --output
    finally:
        proc.send_signal(signal.SIGKILL)  # no clean-up of any kind: the lock stays behind, from a dead process
        proc.wait()
    scores = lines(out)
    assert [r["score"] for r in scores] == [9.0, 4.0, 6.0]
    shown = lines(Path(str(out) + ".session"))
    assert [r["prompt"] for r in shown] == PROMPTS[:2]

    # restart (in this process): the stale lock is taken over; the second prompt's second generation is asked
    # about, the text shown before
    monkeypatch.setattr("sys.stdin", io.StringIO("3\nq\n"))
    cli.main(command[3:])
    printed = capsys.readouterr().out
    assert "3 prompts, 1 done already" in printed and "Stopped. 1 answers written" in printed
    scores = lines(out)
    assert [r["score"] for r in scores] == [9.0, 4.0, 6.0, 3.0]
    assert scores[-1]["completion"] == shown[1]["completions"][1]
    assert not Path(str(out) + ".lock").exists()  # released at the end


def test_two_sessions_never_label_one_file(causal_lm, tmp_path, capsys, monkeypatch):
    """A live session holds --output: a second one is refused before its model loads, in one line; the first one's
    file is untouched. A lock left by a process that is gone is taken over (LabelingSession directly)."""
    out = tmp_path / "scores.jsonl"
    prompts = tmp_path / "prompts.tsv"
    prompts.write_text("\n".join(PROMPTS) + "\n", encoding="utf-8")
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    loaded = []
    monkeypatch.setattr("plm_recipes.rlhf.labeling.ModelGenerator.__init__", lambda self, *a, **k: loaded.append(1))
    try:
        Path(str(out) + ".lock").write_text(str(holder.pid))
        for mode in ("score", "rank"):
            with pytest.raises(SystemExit) as e:
                cli.main(["label", "reward", "--model", str(causal_lm), "--prompts", str(prompts), "--output",
                          str(out), "--mode", mode, "--num_generations", "2"])
            err = capsys.readouterr().err
            assert e.value.code == 2 and err.count("\n") == 1, err
            assert f"another labeling session (process {holder.pid}) is writing it" in err
        with pytest.raises(PlmRecipesError, match="another labeling session"):
            LabelingSession(out, ask=lambda q: "q", say=lambda t: None).run(PROMPTS, fake_generate)
        assert not loaded and not out.exists()
    finally:
        holder.kill()
        holder.wait()
    fake_generate.calls = 0
    script = Scripted(["5", "q"], out)
    assert LabelingSession(out, num_generations=2, ask=script.ask, say=script.say).run(PROMPTS, fake_generate) == 1
    assert not Path(str(out) + ".lock").exists()


def test_ctrl_c_is_one_line_with_what_was_written_and_the_command_to_go_on(causal_lm, tmp_path, capsys,
                                                                           monkeypatch):
    out = tmp_path / "scores.jsonl"
    prompts = tmp_path / "prompts.tsv"
    prompts.write_text("\n".join(PROMPTS) + "\n", encoding="utf-8")
    answers = iter(["7", "8", "2"])

    def typed(question: str) -> str:
        answer = next(answers, None)
        if answer is None:
            raise KeyboardInterrupt
        return answer

    monkeypatch.setattr("builtins.input", typed)
    argv = ["label", "reward", "--model", str(causal_lm), "--prompts", str(prompts), "--output", str(out),
            "--num_generations", "2", "--max_new_tokens", "4", "--device", "cpu"]
    with pytest.raises(SystemExit) as e:
        cli.main(argv)
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]  # a loading bar may come first
    assert e.value.code == 130 and len(errors) == 1 and err.rstrip().endswith(errors[0]), err
    assert "Traceback" not in err
    assert f"labeling interrupted: 3 answers written to {out}" in err
    assert f"to go on: plm-recipes label reward --model {causal_lm} --prompts {prompts} --output {out}" in err
    assert len(lines(out)) == 3 and not Path(str(out) + ".lock").exists()


def test_the_count_said_on_quit_is_the_count_written(tmp_path):
    """``q`` in the middle of a prompt's generations: the scores of that prompt count too (score and rank modes)."""
    for mode, answers, expected in (("score", ["1", "s", "2", "3", "q"], 3), ("rank", ["2 1", "q"], 1)):
        fake_generate.calls = 0
        out = tmp_path / f"{mode}.jsonl"
        script = Scripted(answers, out)
        session = LabelingSession(out, mode=mode, num_generations=2, ask=script.ask, say=script.say)
        assert session.run(PROMPTS, fake_generate) == expected == len(lines(out))
        assert f"Stopped. {expected} answers written to {out}" in script.shown[-1]


def test_rloo_learns_from_scores_typed_at_the_terminal(causal_lm, tmp_path, monkeypatch, capsys):
    from helpers import load_recipe
    from rlhf_helpers import RLHF
    from transformers import AutoModelForCausalLM

    answers = iter(["nine", "9", "s"] + ["1", "8", "3", "10", "0", "6", "2", "7"] * 4)
    asked = []

    def scripted(question: str) -> str:
        asked.append(question)
        return next(answers)

    monkeypatch.setattr("builtins.input", scripted)
    out = tmp_path / "human"
    load_recipe("rlhf_sentiment").main([
        "--algorithm", "rloo", "--reward_model", "human", "--policy_name_or_path", str(causal_lm),
        "--prompts_file", str(RLHF / "prompts.tsv"), "--output_dir", str(out), "--max_steps", "2",
        "--per_device_train_batch_size", "4", "--num_generations", "2", "--max_new_tokens", "4",
        "--learning_rate", "1e-2", "--use_cpu", "--disable_tqdm", "true", "--log_level", "error"])
    assert "'nine' is not a number" in capsys.readouterr().out
    scores = lines(out / "human_scores.jsonl")
    assert [s["score"] for s in scores[:2]] == [9.0, 1.0]  # the typo was asked again; the skip wrote nothing
    assert len(asked) == len(scores) + 2 and len(scores) >= 5
    before = dict(AutoModelForCausalLM.from_pretrained(causal_lm).named_parameters())
    after = dict(AutoModelForCausalLM.from_pretrained(out).named_parameters())
    assert not torch.equal(before["lm_head.weight"], after["lm_head.weight"])  # the policy learned from them
