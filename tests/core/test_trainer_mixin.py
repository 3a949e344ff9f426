"""RecipeTrainerMixin composed with other trainers: Seq2SeqTrainer, TRL's RewardTrainer, SFTTrainer and PPOTrainer,
on tiny models built here. Each run must print the progress lines, save run_config.yaml and a pickle-free folder,
write the recipe's model card, and train every parameter it should (and not the frozen word embeddings)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
from datasets import Dataset
from helpers import character_vocab
from transformers import (
    BertTokenizerFast,
    DataCollatorForSeq2Seq,
    LlamaConfig,
    LlamaForCausalLM,
    LlamaForSequenceClassification,
    Seq2SeqTrainer,
    Seq2SeqTrainingArguments,
    T5Config,
    T5ForConditionalGeneration,
)
from trl import RewardConfig, RewardTrainer, RLOOConfig, RLOOTrainer, SFTConfig, SFTTrainer
from trl.experimental.ppo import PPOConfig, PPOTrainer

from plm_recipes.args import RecipeSettings
from plm_recipes.modelcard import ModelCardInfo
from plm_recipes.run_config import RunConfig
from plm_recipes.trainer import RecipeTrainerMixin

TEXTS = ["这部电影很好看", "刚收到货，感觉不错", "质量太差了", "物流很快，包装完好", "屏幕很清晰", "酒店房间很干净",
         "味道一般", "客服态度很好"]


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    path = tmp_path_factory.mktemp("vocab") / "vocab.txt"
    source = path.parent / "texts.txt"
    source.write_text("\n".join(TEXTS), encoding="utf-8")
    path.write_text("\n".join(character_vocab([source])) + "\n", encoding="utf-8")
    tok = BertTokenizerFast(vocab=str(path))
    tok.eos_token = "[SEP]"  # causal LMs and TRL want one; a BERT vocabulary has [SEP]
    return tok


def tiny_llama(tokenizer, cls=LlamaForCausalLM, **kwargs):
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64,
                         pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                         bos_token_id=tokenizer.cls_token_id, tie_word_embeddings=False, **kwargs)
    return cls(config)


def card(recipe: str) -> ModelCardInfo:
    return ModelCardInfo(recipe=recipe, pipeline_tag="text-generation", base_model="tiny-local-model",
                         data_files={"train": "train.jsonl"}, num_examples={"train": len(TEXTS)})


def check_run_folder(out, recipe, capsys):
    printed = capsys.readouterr().out
    assert "global step " in printed and " step/s" in printed, printed[-2000:]
    assert (out / "run_config.yaml").is_file() and (out / "training_args.json").is_file()
    assert not (out / "training_args.bin").exists()
    readme = (out / "README.md").read_text(encoding="utf-8")
    assert f"recipes/{recipe}.py" in readme and "## Run settings" in readme
    assert (out / "logs" / "training_curves.png").is_file()


def changed_parameters(before: dict, model) -> dict[str, bool]:
    return {name: not torch.equal(before[name], p.detach()) for name, p in model.named_parameters()}


# --- Seq2SeqTrainer -------------------------------------------------------------------------------------------


# The pairs a family would define (at module level: Trainer pickles the arguments into checkpoints).


@dataclass
class Seq2SeqConfig(RecipeSettings, Seq2SeqTrainingArguments):
    pass


class RecipeSeq2SeqTrainer(RecipeTrainerMixin, Seq2SeqTrainer):
    pass


@dataclass
class RewardModelConfig(RecipeSettings, RewardConfig):
    pass


class RecipeRewardTrainer(RecipeTrainerMixin, RewardTrainer):
    pass


@dataclass
class SFTRecipeConfig(RecipeSettings, SFTConfig):
    pass


class RecipeSFTTrainer(RecipeTrainerMixin, SFTTrainer):
    pass


@dataclass
class RLOORecipeConfig(RecipeSettings, RLOOConfig):
    pass


class RecipeRLOOTrainer(RecipeTrainerMixin, RLOOTrainer):
    pass


@dataclass
class PPORecipeConfig(RecipeSettings, PPOConfig):
    pass


class RecipePPOTrainer(RecipeTrainerMixin, PPOTrainer):
    pass


def test_mixin_with_seq2seq_trainer(tokenizer, tmp_path, capsys):
    torch.manual_seed(0)
    model = T5ForConditionalGeneration(T5Config(
        vocab_size=len(tokenizer), d_model=32, d_ff=37, d_kv=16, num_layers=2, num_heads=2,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.sep_token_id,
        decoder_start_token_id=tokenizer.pad_token_id))
    data = Dataset.from_dict({"text": TEXTS}).map(
        lambda b: {**tokenizer(b["text"]), "labels": tokenizer(b["text"])["input_ids"]}, batched=True,
        remove_columns=["text"])
    args = Seq2SeqConfig(str(tmp_path), max_steps=4, per_device_train_batch_size=4, learning_rate=1e-2,
                         logging_steps=1, use_cpu=True, report_to="none", predict_with_generate=True,
                         generation_max_length=12, save_strategy="no", disable_tqdm=True,
                         freeze_word_embeddings=True)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    trainer = RecipeSeq2SeqTrainer(
        model=model, args=args, train_dataset=data, eval_dataset=data, processing_class=tokenizer,
        data_collator=DataCollatorForSeq2Seq(tokenizer, model=model), model_card=card("t5_copy"),
        run_config=RunConfig.from_arguments("t5_copy", args))
    metrics = trainer.train_and_report(len(data))
    assert metrics["train_samples"] == len(TEXTS) and trainer.state.global_step == 4
    output = trainer.predict(data, max_new_tokens=8)  # Seq2SeqTrainer's generation still works
    assert output.predictions.ndim == 2
    trainer.finish(tags=["seq2seq"])
    check_run_folder(tmp_path, "t5_copy", capsys)
    changed = changed_parameters(before, model)
    assert not changed["shared.weight"]  # T5's word embeddings (shared by encoder and decoder) were frozen
    assert all(v for n, v in changed.items() if n != "shared.weight" and not n.endswith("embed_tokens.weight"))


# --- TRL: RewardTrainer ----------------------------------------------------------------------------------------


def test_mixin_with_trl_reward_trainer(tokenizer, tmp_path, capsys):
    model = tiny_llama(tokenizer, LlamaForSequenceClassification, num_labels=1)
    pairs = Dataset.from_dict({"chosen": TEXTS[::2], "rejected": TEXTS[1::2]})
    args = RewardModelConfig(str(tmp_path), max_steps=3, per_device_train_batch_size=2, learning_rate=1e-2,
                             logging_steps=1, use_cpu=True, report_to="none", save_strategy="no",
                             disable_tqdm=True, max_length=32, freeze_word_embeddings=None)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    trainer = RecipeRewardTrainer(model=model, args=args, train_dataset=pairs, processing_class=tokenizer,
                                  model_card=card("reward_model"),
                                  run_config=RunConfig.from_arguments("reward_model", args))
    trainer.train_and_report(len(pairs))
    trainer.finish(tags=["reward-model"])
    check_run_folder(tmp_path, "reward_model", capsys)
    changed = changed_parameters(before, model)
    # freeze_word_embeddings null: a pretrained (here: given) model's untied embeddings are frozen, the rest trains
    assert not changed["model.embed_tokens.weight"]
    assert all(v for n, v in changed.items() if n != "model.embed_tokens.weight")


# --- TRL: SFTTrainer -------------------------------------------------------------------------------------------


def test_mixin_with_trl_sft_trainer(tokenizer, tmp_path, capsys):
    model = tiny_llama(tokenizer)
    args = SFTRecipeConfig(str(tmp_path), max_steps=3, per_device_train_batch_size=4, learning_rate=1e-2,
                           logging_steps=1, use_cpu=True, report_to="none", save_strategy="no", disable_tqdm=True,
                           max_length=32, freeze_word_embeddings=False)
    trainer = RecipeSFTTrainer(model=model, args=args, train_dataset=Dataset.from_dict({"text": TEXTS}),
                               processing_class=tokenizer, model_card=card("llm_sft"),
                               run_config=RunConfig.from_arguments("llm_sft", args))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    trainer.train_and_report(len(TEXTS))
    trainer.finish(tags=["sft"])
    check_run_folder(tmp_path, "llm_sft", capsys)
    assert all(changed_parameters(before, model).values())  # freeze_word_embeddings false: everything trains


# --- TRL: PPOTrainer (experimental; train() takes no resume_from_checkpoint) -----------------------------------


def test_mixin_with_trl_ppo_trainer(tokenizer, tmp_path, capsys):
    policy, ref = tiny_llama(tokenizer), tiny_llama(tokenizer)
    reward = tiny_llama(tokenizer, LlamaForSequenceClassification, num_labels=1)
    value = tiny_llama(tokenizer, LlamaForSequenceClassification, num_labels=1)
    prompts = Dataset.from_dict({"input_ids": [tokenizer(t[:3], add_special_tokens=False)["input_ids"] for t in TEXTS]})
    args = PPORecipeConfig(str(tmp_path), total_episodes=8, per_device_train_batch_size=4, num_mini_batches=1,
                           response_length=6, num_ppo_epochs=1, learning_rate=1e-3, logging_steps=1, use_cpu=True,
                           report_to="none", save_strategy="no", disable_tqdm=True, num_sample_generations=0,
                           local_rollout_forward_batch_size=4, missing_eos_penalty=1.0,
                           freeze_word_embeddings=True)  # as recipes/rlhf_sentiment.py sets it
    trainer = RecipePPOTrainer(args=args, processing_class=tokenizer, model=policy, ref_model=ref,
                               reward_model=reward, value_model=value, train_dataset=prompts,
                               model_card=card("rlhf_sentiment"),
                               run_config=RunConfig.from_arguments("rlhf_sentiment", args))
    before = {n: p.detach().clone() for n, p in policy.named_parameters()}
    trainer.train_and_report(len(prompts))
    trainer.finish(tags=["ppo"])
    check_run_folder(tmp_path, "rlhf_sentiment", capsys)
    assert (tmp_path / "model.safetensors").is_file()  # the policy alone
    changed = changed_parameters(before, policy)
    assert not changed["model.embed_tokens.weight"] and changed["lm_head.weight"]


# --- TRL: RLOOTrainer (rewards from a function: any classifier fits) -------------------------------------------


def test_mixin_with_trl_rloo_trainer(tokenizer, tmp_path, capsys):
    tiny_llama(tokenizer).save_pretrained(tmp_path / "policy")  # RLOO loads its reference model from the path
    tokenizer.save_pretrained(tmp_path / "policy")
    model = LlamaForCausalLM.from_pretrained(tmp_path / "policy")

    def reward_length(completions, **kwargs):  # a stand-in for a sentiment classifier's score
        return [float(len(c)) for c in completions]

    args = RLOORecipeConfig(str(tmp_path / "out"), max_steps=2, per_device_train_batch_size=4, num_generations=2,
                            max_completion_length=6, learning_rate=1e-3, logging_steps=1, use_cpu=True,
                            report_to="none", save_strategy="no", disable_tqdm=True,
                            freeze_word_embeddings=True)  # as recipes/rlhf_sentiment.py sets it
    trainer = RecipeRLOOTrainer(model=model, reward_funcs=reward_length, args=args, processing_class=tokenizer,
                                train_dataset=Dataset.from_dict({"prompt": [t[:3] for t in TEXTS]}),
                                model_card=card("rlhf_sentiment"),
                                run_config=RunConfig.from_arguments("rlhf_sentiment", args))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    trainer.train_and_report(len(TEXTS))
    trainer.finish(tags=["rloo"])
    check_run_folder(tmp_path / "out", "rlhf_sentiment", capsys)
    changed = changed_parameters(before, model)
    assert not changed["model.embed_tokens.weight"] and changed["lm_head.weight"]
