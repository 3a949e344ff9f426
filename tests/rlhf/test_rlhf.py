"""RLHF: rank lists and pairs (reading, errors, expansion, the split by text), the pairwise rank loss and metrics
against hand computations, the reward model recipe end to end with reload and `predict reward`, PPO and RLOO each
a few steps on tiny models (every trainable policy parameter changes), and `generate`."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from datasets import Dataset
from helpers import load_recipe
from huggingface_hub import ModelCard
from rlhf_helpers import RLHF, char_tokenizer, save_tiny_llama
from transformers import (
    AutoModelForCausalLM,
    AutoModelForSequenceClassification,
    BertForSequenceClassification,
    LlamaForSequenceClassification,
)

from plm_recipes import cli
from plm_recipes.errors import ArgumentError, DataFormatError, ModelLoadError
from plm_recipes.rlhf import (
    PairwiseRankLoss,
    RankList,
    RankListCollator,
    RewardScorer,
    count_pairs,
    encode_rank_lists,
    ordered_pairs,
    pair_indices,
    pairwise_metrics,
    read_rank_lists,
    split_by_text,
)
from plm_recipes.rlhf.policy import generate, load_policy, prepare_tokenizer

QUICK = ["--use_cpu", "--disable_tqdm", "true", "--log_level", "error"]


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# --- data -------------------------------------------------------------------------------------------------


def test_rank_lists_and_pairs_are_read_from_tsv_and_json_lines(tmp_path):
    lists = read_rank_lists(RLHF / "ranklist_train.tsv")
    assert len(lists) == 18 and {len(r.texts) for r in lists} == {3, 4} and lists[0].line == 1
    pairs = read_rank_lists(RLHF / "pairs.json")
    assert all(len(r.texts) == 2 for r in pairs) and not pairs[0].texts[0].startswith("下面是")
    with_prompt = read_rank_lists(RLHF / "pairs.json", with_prompt=True)
    assert with_prompt[0].texts == tuple("下面是一条正面的评论：" + t for t in pairs[0].texts)
    mixed = write(tmp_path / "mixed.jsonl", '{"ranking": ["好", "中", "差"]}\n{"selected": "好", "rejected": "差"}\n')
    assert [r.texts for r in read_rank_lists(mixed)] == [("好", "中", "差"), ("好", "差")]


@pytest.mark.parametrize("name, text, message", [
    ("one.tsv", "好评\t中评\n只有一条\t\n", "one.tsv, line 2: text 2 of the rank list is empty"),
    ("single.tsv", "好评\t差评\n只有一条\n", "single.tsv, line 2: a rank list needs at least 2 texts (best first), found 1"),
    ("dup.tsv", "好\t中\t好\n", "dup.tsv, line 1: text 3 repeats text 1 ('好')"),
    ("dup.jsonl", '{"chosen": "好", "rejected": "好"}\n', "dup.jsonl, line 1: text 2 repeats text 1"),
    ("keys.jsonl", '{"good": "好", "rejected": "差"}\n', "keys.jsonl, line 1: expected 'ranking'"),
    ("short.jsonl", '{"ranking": ["好"]}\n', "short.jsonl, line 1: a rank list needs at least 2 texts"),
    ("prompt.jsonl", '{"chosen": "好", "rejected": "差"}\n', "prompt.jsonl, line 1: --with_prompt: expected"),
    ("empty.tsv", "\n\n", "empty.tsv: the file is empty"),
])
def test_bad_rank_lists_name_the_file_and_line(tmp_path, name, text, message):
    with pytest.raises(DataFormatError) as e:
        read_rank_lists(write(tmp_path / name, text), with_prompt=name == "prompt.jsonl")
    assert str(e.value).startswith(str(tmp_path / message.split(":")[0])) and message.split(": ", 1)[1] in str(e.value)


def test_a_rank_list_of_k_gives_its_k_k_minus_1_over_2_ordered_pairs():
    texts = ("a", "b", "c", "d")
    assert ordered_pairs(texts) == [("a", "b"), ("a", "c"), ("a", "d"), ("b", "c"), ("b", "d"), ("c", "d")]
    assert RankList(texts).pairs() == ordered_pairs(texts)
    assert count_pairs([RankList(texts), RankList(("x", "y"))]) == 6 + 1
    better, worse = pair_indices([4, 2])
    assert list(zip(better.tolist(), worse.tolist())) == [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3), (4, 5)]


def test_split_by_text_never_shows_a_held_out_text_in_training():
    # texts recur across lines, as in a ranking task where each comment is ranked many times
    lists = [RankList(tuple(f"t{(i * 3 + j) % 40}" for j in range(4))) for i in range(60)]
    train, held = split_by_text(lists, 0.2, seed=1)
    train_texts = {t for r in train for t in r.texts}
    held_texts = {t for r in held for t in r.texts}
    assert train and held and not train_texts & held_texts
    for part in train + held:  # each part keeps its line's order
        source = next(r.texts for r in lists if set(part.texts) <= set(r.texts))
        assert list(part.texts) == [t for t in source if t in part.texts]
    assert split_by_text(lists, 0.2, seed=1) == (train, held)  # seeded


# --- loss and metrics ------------------------------------------------------------------------------------


def test_pairwise_rank_loss_against_a_hand_computation():
    rewards = torch.tensor([2.0, 0.5, -1.0, 0.3, 0.9], requires_grad=True)  # a list of 3, then a pair (worse first)
    loss = PairwiseRankLoss()(rewards, torch.tensor([3, 2]))
    diffs = [2.0 - 0.5, 2.0 - -1.0, 0.5 - -1.0, 0.3 - 0.9]
    expected = sum(math.log1p(math.exp(-d)) for d in diffs) / len(diffs)  # -log sigmoid(d) = log(1 + e^-d)
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    loss.backward()
    assert rewards.grad[0] < 0 < rewards.grad[2]  # descending the loss raises the best text, lowers the worst
    with pytest.raises(ValueError):
        PairwiseRankLoss()(rewards, torch.tensor([3, 3]))


def test_pairwise_accuracy_and_margin_by_hand():
    rewards = np.array([[3.0, 1.0, 2.0, -100.0], [0.5, 0.5, -100.0, -100.0]])  # a tie counts as wrong
    metrics = pairwise_metrics(rewards, np.array([3, 2]))
    assert metrics == {"accuracy": 0.5, "margin": pytest.approx((2 + 1 - 1 + 0) / 4), "pairs": 4}


def test_collator_flattens_lists_of_different_lengths(tiny_bert):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    lists = [RankList(("很好", "一般", "很差")), RankList(("好评", "差评"))]
    columns = encode_rank_lists(lists, tokenizer, 16)
    features = [dict(zip(columns, row)) for row in zip(*columns.values())]
    batch = RankListCollator(tokenizer)(features)
    assert batch["input_ids"].shape[0] == 5 and batch["list_lengths"].tolist() == [3, 2]
    assert tokenizer.decode(batch["input_ids"][3], skip_special_tokens=True).replace(" ", "") == "好评"
    # only the token ids are stored: the padding writes the attention mask, the model defaults BERT's 0 types
    assert set(columns) == {"input_ids"}
    texts = [t for r in lists for t in r.texts]
    assert batch["attention_mask"].tolist() == tokenizer(texts, padding=True)["attention_mask"]


# --- the reward model recipe ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained_reward_model(tiny_bert, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("reward") / "out"
    results = load_recipe("reward_model").main([
        "--model_name_or_path", str(tiny_bert), "--train_file", str(RLHF / "ranklist_train.tsv"),
        "--validation_file", str(RLHF / "ranklist_dev.tsv"), "--do_train", "--do_eval", "--output_dir", str(out),
        "--num_train_epochs", "16", "--learning_rate", "5e-3", "--per_device_train_batch_size", "18",
        "--warmup_steps", "0", "--eval_strategy", "steps", "--eval_steps", "4", "--save_strategy", "steps",
        "--save_steps", "4", "--logging_steps", "1", "--seed", "0", *QUICK])
    return out, results


def test_reward_model_end_to_end(trained_reward_model, tmp_path, capsys):
    reward_model, results = trained_reward_model
    history = json.loads((reward_model / "trainer_state.json").read_text(encoding="utf-8"))["log_history"]
    losses = [h["loss"] for h in history if "loss" in h]
    assert losses[-1] < losses[0]  # a learnable toy set: positive > neutral > negative comments
    assert results["eval"]["eval_pairs"] == 12 and 0 <= results["eval"]["eval_accuracy"] <= 1
    assert (reward_model / "logs" / "training_curves.png").is_file()
    card = (reward_model / "README.md").read_text(encoding="utf-8")
    assert "recipes/reward_model.py" in card and "accuracy" in card

    # reload with plain transformers: a one-output classifier whose scores are the scorer's
    texts = ["非常满意，强烈推荐给大家", "太差劲了，浪费钱"]
    plain = AutoModelForSequenceClassification.from_pretrained(reward_model)
    assert plain.config.num_labels == 1
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(reward_model)
    with torch.no_grad():
        expected = plain(**tokenizer(texts, padding=True, return_tensors="pt")).logits[:, 0].tolist()
    scores = RewardScorer(str(reward_model), device="cpu")(texts)
    assert scores == pytest.approx(expected, abs=1e-5)

    cli.main(["predict", "reward", "--model", str(reward_model), "--text", texts[0], "--text", texts[1],
              "--device", "cpu"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split("\t")[1] for line in lines] == texts
    assert [float(line.split("\t")[0]) for line in lines] == pytest.approx(expected, abs=1e-3)


def test_reward_model_learns_to_rank_held_out_texts(trained_reward_model):
    # trained on 18 lists, evaluated on 4 lists of texts it never saw: better than chance (0.5), and the best
    # checkpoint by accuracy is the one kept
    reward_model, results = trained_reward_model
    assert results["eval"]["eval_accuracy"] > 0.5 and results["eval"]["eval_margin"] > 0
    state = json.loads((reward_model / "trainer_state.json").read_text(encoding="utf-8"))
    assert results["eval"]["eval_accuracy"] == pytest.approx(state["best_metric"])


def test_reward_model_from_a_single_file_holds_out_texts(tiny_bert, tmp_path):
    results = load_recipe("reward_model").main([
        "--model_name_or_path", str(tiny_bert), "--train_file", str(RLHF / "ranklist_train.tsv"),
        "--validation_split_texts", "0.3", "--do_train", "--output_dir", str(tmp_path / "out"), "--max_steps", "2",
        *QUICK])
    assert results["eval"]["eval_pairs"] > 0
    assert "held-out texts" in (tmp_path / "out" / "README.md").read_text(encoding="utf-8")


def test_a_causal_lm_backbone_trains_as_a_reward_model(causal_lm, tmp_path):
    out = tmp_path / "rm"
    load_recipe("reward_model").main([
        "--model_name_or_path", str(causal_lm), "--train_file", str(RLHF / "pairs.json"), "--validation_file",
        str(RLHF / "ranklist_dev.tsv"), "--do_train", "--output_dir", str(out), "--max_steps", "2", *QUICK])
    model = AutoModelForSequenceClassification.from_pretrained(out)
    assert isinstance(model, LlamaForSequenceClassification) and model.config.num_labels == 1


def test_a_classifier_with_several_labels_needs_a_label(tiny_bert, tmp_path):
    folder = tmp_path / "cls"
    model = BertForSequenceClassification.from_pretrained(tiny_bert, num_labels=2, id2label={0: "负面", 1: "正面"})
    model.save_pretrained(folder)
    from transformers import AutoTokenizer

    AutoTokenizer.from_pretrained(tiny_bert).save_pretrained(folder)
    with pytest.raises(ModelLoadError, match="classifier with 2 labels .*--reward_label"):
        RewardScorer(str(folder))
    positive = RewardScorer(str(folder), label="正面", device="cpu")(["好评", "差评"])
    negative = RewardScorer(str(folder), label=0, device="cpu")(["好评", "差评"])
    assert [p + n for p, n in zip(positive, negative)] == pytest.approx([1.0, 1.0])  # probabilities
    with pytest.raises(Exception, match="not one of"):
        RewardScorer(str(folder), label="中性")
    with pytest.raises(ModelLoadError, match="without a sequence-classification head"):
        RewardScorer(str(tiny_bert))


# --- the policy: tiny causal LMs on a character tokenizer -------------------------------------------------


@pytest.fixture(scope="module")
def ppo_reward_model(tmp_path_factory, chars) -> Path:
    """A one-output classifier on the policy's tokenizer (PPO's reward must be), with a head scaled up so that
    the rewards of different texts differ clearly."""
    path = tmp_path_factory.mktemp("ppo-rm") / "rm"
    save_tiny_llama(path, char_tokenizer(chars), cls=LlamaForSequenceClassification, seed=1, num_labels=1)
    model = LlamaForSequenceClassification.from_pretrained(path)
    with torch.no_grad():
        model.score.weight.mul_(50)
    model.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def rloo_reward_model(tiny_bert, tmp_path_factory) -> Path:
    """A one-output BERT classifier with its own (BERT) tokenizer, head scaled up as above."""
    from transformers import AutoTokenizer

    path = tmp_path_factory.mktemp("rloo-rm") / "rm"
    torch.manual_seed(2)
    model = BertForSequenceClassification.from_pretrained(tiny_bert, num_labels=1)
    with torch.no_grad():
        model.classifier.weight.normal_(0, 5.0)
    model.save_pretrained(path)
    AutoTokenizer.from_pretrained(tiny_bert).save_pretrained(path)
    return path


def trainable_parameters(path: Path) -> dict[str, torch.Tensor]:
    model = AutoModelForCausalLM.from_pretrained(path)
    return {n: p.detach().clone() for n, p in model.named_parameters()}


@pytest.mark.parametrize(("recipe", "algorithm"), [("rlhf_ppo", "ppo"), ("rlhf_sentiment", "rloo")])
def test_rl_recipe_trains_every_trainable_policy_parameter(recipe, algorithm, causal_lm, ppo_reward_model,
                                                           rloo_reward_model, tmp_path, capsys):
    """Each algorithm's recipe, PPO run as itself and RLOO through rlhf_sentiment.py's --algorithm."""
    out = tmp_path / algorithm
    reward = ppo_reward_model if algorithm == "ppo" else rloo_reward_model
    steps = ["--total_episodes", "12"] if algorithm == "ppo" else ["--max_steps", "3", "--num_generations", "2"]
    results = load_recipe(recipe).main([
        *(["--algorithm", algorithm] if recipe == "rlhf_sentiment" else []),
        "--policy_name_or_path", str(causal_lm), "--reward_model", str(reward),
        "--prompts_file", str(RLHF / "prompts.tsv"), "--output_dir", str(out), "--max_new_tokens", "6",
        "--per_device_train_batch_size", "4", "--learning_rate", "1e-2", "--sample_every", "2",
        "--num_eval_prompts", "3", *steps, *QUICK])
    printed = capsys.readouterr().out
    assert "Sample generations at step 0: mean reward" in printed and "Sample generations at step 2" in printed
    assert "global step 3" in printed

    before, after = trainable_parameters(causal_lm), trainable_parameters(out)
    frozen = {"model.embed_tokens.weight"}  # freeze_word_embeddings: the recipe's default
    assert torch.equal(before["model.embed_tokens.weight"], after["model.embed_tokens.weight"])
    unchanged = [n for n in before if n not in frozen and torch.equal(before[n], after[n])]
    assert not unchanged, unchanged

    samples = [json.loads(line) for line in (out / "logs" / "samples.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [s["step"] for s in samples] == [0, 2, 3] and len(samples[0]["samples"]) == 3
    assert results["samples"]["reward_before"] == pytest.approx(samples[0]["mean_reward"])
    assert (out / "logs" / "rl_curves.png").is_file() and (out / "run_config.yaml").is_file()
    history = json.loads((out / "logs" / "log_history.json").read_text(encoding="utf-8"))
    kl = "objective/kl" if algorithm == "ppo" else "kl"
    assert any(kl in h for h in history) and any("sample_reward" in h for h in history)

    # the card: what the Hub reads, the samples' mean reward as the run's results, the recipe that reruns it
    card = ModelCard.load(out / "README.md")
    assert (card.data.pipeline_tag, card.data.base_model) == ("text-generation", causal_lm.name)
    values = {r.metric_type: r.metric_value for r in card.data.eval_results}
    assert values["reward_after"] == pytest.approx(results["samples"]["reward_after"])
    assert f"python recipes/{recipe}.py --config" in (out / "run_config.yaml").read_text(encoding="utf-8")

    # the saved policy generates from Python and from the command line
    model, tokenizer = load_policy(str(out))
    assert tokenizer.padding_side == "left" and tokenizer.pad_token_id != tokenizer.eos_token_id
    completions = generate(model, tokenizer, ["这部电影很", "物流"], max_new_tokens=5, num_return_sequences=2)
    assert len(completions) == 2 and all(len(c) == 2 for c in completions)
    cli.main(["generate", "--model", str(out), "--prompt", "这部电影很", "--max_new_tokens", "4", "--seed", "1",
              "--num_return_sequences", "2", "--device", "cpu"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith("这部电影很") for line in lines)


def test_ppo_refuses_a_reward_model_on_another_tokenizer(causal_lm, rloo_reward_model, tmp_path):
    with pytest.raises(ModelLoadError, match="tokenizer differs from the policy's.*--algorithm rloo"):
        load_recipe("rlhf_sentiment").main([
            "--algorithm", "ppo", "--policy_name_or_path", str(causal_lm), "--reward_model", str(rloo_reward_model),
            "--prompts_file", str(RLHF / "prompts.tsv"), "--output_dir", str(tmp_path / "o"), *QUICK])


def test_a_pad_token_equal_to_eos_is_replaced():
    tokenizer = char_tokenizer("好差")
    tokenizer.pad_token = tokenizer.eos_token
    prepare_tokenizer(tokenizer)
    assert tokenizer.pad_token == "<pad>" and tokenizer.pad_token_id != tokenizer.eos_token_id
    assert tokenizer.padding_side == "left"


# --- the shipped configs -----------------------------------------------------------------------------------


@pytest.mark.parametrize("config, model_flag", [
    ("reward_model.yaml", "--model_name_or_path"),
    ("rlhf_sentiment.yaml", "--policy_name_or_path"),
    ("rlhf_sentiment_ppo.yaml", "--policy_name_or_path"),
])
def test_shipped_configs_run_and_their_record_reruns_them(config, model_flag, tiny_bert, causal_lm,
                                                          ppo_reward_model, rloo_reward_model, tmp_path,
                                                          monkeypatch):
    import yaml
    from helpers import ROOT

    monkeypatch.chdir(ROOT)  # the configs name data/ paths relative to the repository
    recipe = "reward_model" if config.startswith("reward") else "rlhf_sentiment"
    model = tiny_bert if recipe == "reward_model" else causal_lm
    extra = {"reward_model.yaml": ["--max_steps", "2"],
             "rlhf_sentiment.yaml": ["--reward_model", str(rloo_reward_model), "--max_steps", "2",
                                     "--max_new_tokens", "4", "--num_eval_prompts", "2"],
             "rlhf_sentiment_ppo.yaml": ["--reward_model", str(ppo_reward_model), "--total_episodes", "16",
                                         "--max_new_tokens", "4", "--num_eval_prompts", "2"]}[config]
    first, second = tmp_path / "first", tmp_path / "second"
    results = load_recipe(recipe).main(["--config", f"recipes/configs/{config}", model_flag, str(model),
                                        "--output_dir", str(first), *extra, *QUICK])
    assert "train" in results and (first / "model.safetensors").is_file()
    record = yaml.safe_load((first / "run_config.yaml").read_text(encoding="utf-8"))
    assert record[model_flag.removeprefix("--")] == str(model)
    if config == "rlhf_sentiment_ppo.yaml":
        return  # PPOConfig derives nothing in __post_init__ that a rerun could trip on; RLOOConfig does (tested)
    load_recipe(recipe).main(["--config", str(first / "run_config.yaml"), "--output_dir", str(second)])
    again = yaml.safe_load((second / "run_config.yaml").read_text(encoding="utf-8"))
    where = {"output_dir", "logging_dir", "run_name"}
    assert {k: v for k, v in again.items() if k not in where} == {k: v for k, v in record.items() if k not in where}


def test_rloo_reads_its_prompts_from_a_dataset_folder(causal_lm, rloo_reward_model, tmp_path):
    """--dataset_name: the prompts of a dataset repository folder's --prompt_column (TRL's 'prompt' by default)."""
    folder = tmp_path / "prompts_hub"
    (folder / "data").mkdir(parents=True)
    prompts = (RLHF / "prompts.tsv").read_text(encoding="utf-8").split()
    Dataset.from_dict({"query": prompts, "id": list(range(len(prompts)))}).to_parquet(
        folder / "data" / "train-00000-of-00001.parquet")
    args = ["--policy_name_or_path", str(causal_lm), "--reward_model", str(rloo_reward_model),
            "--dataset_name", str(folder), "--output_dir", str(tmp_path / "out"), "--max_new_tokens", "4",
            "--per_device_train_batch_size", "4", "--max_steps", "1", "--num_generations", "2", "--sample_every", "0",
            *QUICK]
    with pytest.raises(ArgumentError, match=r"has no column 'prompt' \(its columns: query, id\)"):
        load_recipe("rlhf_rloo").main(args)
    results = load_recipe("rlhf_rloo").main([*args, "--prompt_column", "query"])
    assert results["train"]["train_samples"] == len(prompts)
    record = yaml.safe_load((tmp_path / "out" / "run_config.yaml").read_text(encoding="utf-8"))
    assert (record["dataset_name"], record["prompt_column"]) == (str(folder), "query")
