"""The policy side of RLHF: loading a causal LM with left padding and a pad token distinct from eos, generating
completions, the sample generations printed during training, and the reward / KL / entropy curves."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence

import torch
from transformers import AutoModelForCausalLM, TrainerCallback

from ..callbacks import figure_row, save_figure
from ..errors import ModelLoadError
from ..loading import describe_model_folder, from_pretrained, load_tokenizer_from

logger = logging.getLogger(__name__)

PAD_TOKEN = "<pad>"


def prepare_tokenizer(tokenizer) -> bool:
    """Left padding (generation continues each prompt from its last token) and a pad token distinct from eos.

    TRL's online trainers cut a completion at its first eos and read the reward at the last non-pad token: with
    pad == eos a completion's own eos would be taken for padding. A tokenizer without such a pad token gets
    :data:`PAD_TOKEN` added; returns whether a token was added (the models' embeddings must then be resized with
    :func:`resize_for_tokenizer`).
    """
    tokenizer.padding_side = "left"
    if tokenizer.eos_token is None:
        tokenizer.eos_token = tokenizer.sep_token or PAD_TOKEN  # BERT vocabularies (tiny test models) end with [SEP]
    if tokenizer.pad_token is not None and tokenizer.pad_token_id != tokenizer.eos_token_id:
        return False
    added = tokenizer.add_special_tokens({"pad_token": PAD_TOKEN}) > 0
    logger.info("The tokenizer's pad token was %s; using %r (id %d) for padding.",
                "its eos token" if tokenizer.pad_token else "unset", PAD_TOKEN, tokenizer.pad_token_id)
    return added


def resize_for_tokenizer(model, tokenizer) -> None:
    """Grow ``model``'s embeddings to the tokenizer's size (after :func:`prepare_tokenizer` added a pad token) and
    set its pad / eos ids."""
    if model.get_input_embeddings().num_embeddings < len(tokenizer):
        model.resize_token_embeddings(len(tokenizer))
    model.config.pad_token_id = tokenizer.pad_token_id
    generation_config = getattr(model, "generation_config", None)
    if generation_config is not None:
        generation_config.pad_token_id = tokenizer.pad_token_id


def load_policy(path: str, **kwargs):
    """A causal LM and its tokenizer (left padding, pad distinct from eos), refusing a folder that holds no causal
    LM in one sentence."""
    tokenizer = load_tokenizer_from(path, **kwargs)
    prepare_tokenizer(tokenizer)
    try:
        model = from_pretrained(AutoModelForCausalLM, path, "policy", **kwargs)
    except ValueError as e:  # a config with no causal-LM class (an encoder, a classifier)
        what = describe_model_folder(path) if os.path.isdir(path) else "not a causal language model"
        raise ModelLoadError(f"{path} is {what}; generation needs a causal language model "
                             f"({' '.join(str(e).split())[:120]})") from e
    resize_for_tokenizer(model, tokenizer)
    return model, tokenizer


@torch.no_grad()
def generate(model, tokenizer, prompts: Sequence[str], *, max_new_tokens: int = 32, num_return_sequences: int = 1,
             do_sample: bool = True, temperature: float = 0.7, top_p: float = 1.0, top_k: int = 0,
             batch_size: int = 16) -> list[list[str]]:
    """``num_return_sequences`` completions of each prompt (without the prompt, cut at the first eos).

    Returns:
        One list of completions per prompt.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    sampling = {"do_sample": True, "temperature": temperature, "top_p": top_p, "top_k": top_k} if do_sample else \
        {"do_sample": False}
    results: list[list[str]] = []
    for start in range(0, len(prompts), batch_size):
        batch = tokenizer(list(prompts[start:start + batch_size]), return_tensors="pt", padding=True,
                          add_special_tokens=_adds_bos(tokenizer)).to(device)
        out = model.generate(**batch, max_new_tokens=max_new_tokens, num_return_sequences=num_return_sequences,
                             pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id, **sampling)
        texts = tokenizer.batch_decode(out[:, batch["input_ids"].shape[1]:], skip_special_tokens=True)
        results += [texts[i:i + num_return_sequences] for i in range(0, len(texts), num_return_sequences)]
    model.train(was_training)
    return results


def _adds_bos(tokenizer) -> bool:
    """Whether to let the tokenizer add its special tokens to a prompt: a causal LM's tokenizer adds a bos (Gemma
    needs it); a BERT vocabulary (tiny test models) would add [CLS] ... [SEP], and the [SEP] (eos) would end the
    prompt."""
    ids = tokenizer("a", add_special_tokens=True)["input_ids"]
    return not (ids and ids[-1] == tokenizer.eos_token_id)


def encode_prompts(tokenizer, prompts: Sequence[str], max_length: int) -> dict[str, list]:
    """Pre-tokenized prompts (``input_ids``, no padding: the collator pads on the left), truncated on the left to
    ``max_length`` tokens so that each keeps its end, where generation continues."""
    add = _adds_bos(tokenizer)
    ids = [tokenizer(p, add_special_tokens=add)["input_ids"][-max_length:] for p in prompts]
    return {"input_ids": ids}


class SampleGenerationCallback(TrainerCallback):
    """Every ``every`` steps (and before the first and after the last), sample one completion per evaluation
    prompt, score them with ``reward``, print them with their mean reward, and append them to
    ``<output_dir>/logs/samples.jsonl``; the mean goes into the log history as ``sample_reward`` (the curve).

    Works the same for PPO and RLOO: it holds the policy itself, not whatever model the trainer wraps it in.

    Args:
        policy, tokenizer: the model being trained and its tokenizer.
        prompts: the evaluation prompts.
        reward: texts -> scores (prompt + completion are scored).
        every: steps between samples; 0 samples only before and after training.
        max_new_tokens, temperature: generation settings of the samples.
    """

    def __init__(self, policy, tokenizer, prompts: Sequence[str], reward: Callable[[list[str]], list[float]],
                 every: int, max_new_tokens: int, temperature: float = 0.7, seed: int = 0):
        self.policy, self.tokenizer, self.prompts = policy, tokenizer, list(prompts)
        self.reward, self.every = reward, every
        self.max_new_tokens, self.temperature, self.seed = max_new_tokens, temperature, seed
        self.history: list[dict] = []

    def sample(self, step: int, output_dir: str | None = None) -> dict:
        """Sample, score, print and record; returns ``{"step", "mean_reward", "samples"}``."""
        state = torch.random.get_rng_state()
        torch.manual_seed(self.seed)  # the same draws at every step: the change is the policy's
        completions = [c[0] for c in generate(self.policy, self.tokenizer, self.prompts,
                                              max_new_tokens=self.max_new_tokens, temperature=self.temperature)]
        torch.random.set_rng_state(state)
        texts = [p + c for p, c in zip(self.prompts, completions)]
        scores = self.reward(texts)
        mean = sum(scores) / len(scores)
        record = {"step": step, "mean_reward": mean,
                  "samples": [{"prompt": p, "completion": c, "reward": s}
                              for p, c, s in zip(self.prompts, completions, scores)]}
        self.history.append(record)
        lines = [f"Sample generations at step {step}: mean reward {mean:.4f}"]
        lines += [f"  {s:+.3f}  {p}|{c}".replace("\n", "\\n") for p, c, s in zip(self.prompts, completions, scores)]
        print("\n".join(lines), flush=True)
        if output_dir:
            os.makedirs(os.path.join(output_dir, "logs"), exist_ok=True)
            with open(os.path.join(output_dir, "logs", "samples.jsonl"), "a", encoding="utf-8") as f:
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
        return record

    def _record(self, args, state) -> None:
        if not state.is_world_process_zero:
            return
        record = self.sample(state.global_step, args.output_dir)
        state.log_history.append({"step": state.global_step, "sample_reward": record["mean_reward"]})

    def on_train_begin(self, args, state, control, **kwargs):
        path = os.path.join(args.output_dir, "logs", "samples.jsonl")
        if state.global_step == 0 and state.is_world_process_zero and os.path.exists(path):
            os.remove(path)  # a new run (not a resumed one) into a folder that held another
        self._record(args, state)

    def on_step_end(self, args, state, control, **kwargs):
        if self.every and state.global_step % self.every == 0:
            self._record(args, state)

    def on_train_end(self, args, state, control, **kwargs):
        if not self.history or self.history[-1]["step"] != state.global_step:
            self._record(args, state)


# What PPO and RLOO call the curves (TRL's metric names), by the name on the plot.
CURVES = {
    "reward": ("objective/scores", "reward"),
    "KL": ("objective/kl", "kl"),
    "entropy": ("objective/entropy", "entropy"),
}


def plot_rl_curves(log_history: list[dict], path: str) -> str | None:
    """Reward (of the training batches, and of the sample generations), KL to the reference model and entropy of
    the policy against the step, as a PNG; returns the path, or ``None`` with nothing to plot."""
    series: dict[str, list[tuple[int, float]]] = {}
    for h in log_history:
        if "step" not in h:
            continue
        for title, names in CURVES.items():
            for name in names:
                if name in h:
                    series.setdefault(title, []).append((h["step"], h[name]))
        if "sample_reward" in h:
            series.setdefault("sample reward", []).append((h["step"], h["sample_reward"]))
    if not series:
        return None
    panels = [("reward", ["reward", "sample reward"]), ("KL", ["KL"]), ("entropy", ["entropy"])]
    panels = [(t, [n for n in names if n in series]) for t, names in panels]
    panels = [(t, names) for t, names in panels if names]
    fig, axes = figure_row(len(panels))
    for ax, (title, names) in zip(axes[0], panels):
        for name in names:
            ax.plot(*zip(*series[name]), marker="o" if name == "sample reward" else None, label=name)
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        if len(names) > 1:
            ax.legend(fontsize=8)
    return save_figure(fig, path)


class RLCurveCallback(TrainerCallback):
    """Writes ``<output_dir>/logs/rl_curves.png`` (:func:`plot_rl_curves`) at the end of training."""

    def on_train_end(self, args, state, control, **kwargs):
        if state.is_world_process_zero and args.output_dir:
            plot_rl_curves(state.log_history, os.path.join(args.output_dir, "logs", "rl_curves.png"))
