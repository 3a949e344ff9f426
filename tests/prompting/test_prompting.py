"""Prompt learning: templates and truncation, verbalizers and multi-token scoring against hand computations,
the blank's position with learned vectors, masked and causal LMs, R-Drop, the recipes end to end with reload and
prediction, and the errors a person can make."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from helpers import DATA, character_vocab, load_recipe
from transformers import BertConfig, BertForMaskedLM, BertTokenizerFast, GPT2Config, GPT2LMHeadModel

from plm_recipes.args import ModelArguments
from plm_recipes.cli import main as cli_main
from plm_recipes.data import LabelMap, Record
from plm_recipes.errors import ArgumentError, DataFormatError
from plm_recipes.parsing import parse_args
from plm_recipes.prompting import (
    PromptCollator,
    PromptLMConfig,
    PromptLMModel,
    Template,
    Verbalizer,
    VerbalizerLoss,
    encode_prompts,
    label_scores,
    read_prompt_examples,
)
from plm_recipes.prompting.arguments import PromptDataArguments
from plm_recipes.prompting.predictor import PromptClassifier

PROMPTING = DATA / "prompting"


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory) -> BertTokenizerFast:
    vocab = character_vocab(sorted(PROMPTING.glob("*.txt"))) + ["笔记本"]  # one label word of two tokens ... and one
    path = tmp_path_factory.mktemp("vocab") / "vocab.txt"
    path.write_text("\n".join(vocab) + "\n", encoding="utf-8")
    return BertTokenizerFast(vocab=str(path))


def lm_folder(tmp_path: Path, tokenizer, kind: str, seed: int = 0) -> Path:
    """A tiny masked (BERT) or causal (GPT-2) LM with the character tokenizer, saved to ``tmp_path``."""
    torch.manual_seed(seed)
    if kind == "masked":
        model = BertForMaskedLM(BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2,
                                           num_attention_heads=2, intermediate_size=37, max_position_embeddings=128))
    else:
        model = GPT2LMHeadModel(GPT2Config(vocab_size=len(tokenizer), n_embd=32, n_layer=2, n_head=2, n_positions=128,
                                           bos_token_id=tokenizer.cls_token_id, eos_token_id=tokenizer.sep_token_id,
                                           pad_token_id=tokenizer.pad_token_id))
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    return tmp_path


def ids(tokenizer, text: str) -> list[int]:
    return tokenizer.convert_tokens_to_ids(list(text))


# --- templates -----------------------------------------------------------------------------------------------


def test_template_puts_the_blank_and_the_text_where_the_template_says(tokenizer):
    encoded = Template("这是一条{MASK}评论：{textA}。").encode(tokenizer, "苹果很甜", blank_length=2, max_length=64,
                                                           placeholder_id=0)
    assert encoded.prefix == [tokenizer.cls_token_id] + ids(tokenizer, "这是一条")
    assert encoded.suffix == ids(tokenizer, "评论：苹果很甜。") + [tokenizer.sep_token_id]
    assert not encoded.truncated and not any(encoded.prefix_soft + encoded.suffix_soft)


def test_a_template_without_vectors_stores_no_soft_mask_and_batches_the_same(tokenizer):
    records = [Record("x", 1, {"label": "水果", "text": "苹果很甜", "text_b": None}),
               Record("x", 2, {"label": "电脑", "text": "这台笔记本开机很快" * 9, "text_b": None})]
    template = Template("这是一条{MASK}评论：{textA}。")
    columns = encode_prompts(records, template, tokenizer, lm_type="masked", blank_length=2, max_length=32,
                             label_map=LabelMap(["水果", "电脑"]))
    assert set(columns) == {"input_ids", "blank_positions", "labels"}  # an all-0 soft_mask is not stored
    rows = [dict(zip(columns, values)) for values in zip(*columns.values())]
    # the rows are those the template writes one example at a time (the batched path keeps no example's lists)
    for row, record in zip(rows, records):
        one = template.encode(tokenizer, record["text"], blank_length=2, max_length=32, placeholder_id=0)
        assert row["input_ids"] == one.prefix + [tokenizer.mask_token_id] * 2 + one.suffix
    collate = PromptCollator(tokenizer.pad_token_id, "masked")
    with_mask = collate([{**row, "soft_mask": [0] * len(row["input_ids"])} for row in rows])
    assert {k: v.tolist() for k, v in collate(rows).items()} == {k: v.tolist() for k, v in with_mask.items()}
    assert "soft_mask" in encode_prompts(records, Template("{soft:2}{textA}是{MASK}"), tokenizer, lm_type="masked",
                                         blank_length=2, max_length=32)


def test_truncation_cuts_the_text_never_the_template(tokenizer):
    template = Template("这是一条{MASK}评论：{textA}。")
    # [CLS] 这是一条 (4) [MASK][MASK] 评论： (3) 。 [SEP]: 12 fixed tokens, so max_length 15 leaves 3 for the text
    encoded = template.encode(tokenizer, "苹果很甜很脆", blank_length=2, max_length=15, placeholder_id=0)
    assert encoded.suffix == ids(tokenizer, "评论：苹果很。") + [tokenizer.sep_token_id]
    assert encoded.truncated
    assert len(encoded.prefix) + 2 + len(encoded.suffix) == 15
    with pytest.raises(ArgumentError, match="takes 12 of --max_seq_length 12 tokens"):
        template.encode(tokenizer, "苹果", blank_length=2, max_length=12, placeholder_id=0)


def test_two_texts_are_cut_longest_first(tokenizer):
    template = Template("{textA}{MASK}{textB}")
    encoded = template.encode(tokenizer, "苹果很甜很脆", "房间", blank_length=1, max_length=3 + 6, placeholder_id=0)
    # 9 - [CLS] [SEP] blank = 6 tokens for the texts: textA (6) loses 2, textB (2) keeps its 2
    assert encoded.prefix == [tokenizer.cls_token_id] + ids(tokenizer, "苹果很甜")
    assert encoded.suffix == ids(tokenizer, "房间") + [tokenizer.sep_token_id]


def test_sentencepiece_word_start_marker_is_dropped_from_pieces():
    """XLM-R's tokenizer (multilingual-e5) starts a piece written on its own with a bare "▁": every label word
    would begin with the same token, and mean scoring would be diluted by it."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    from plm_recipes.prompting import piece_ids

    vocab = [("<unk>", 0.0), ("▁", -2.0), ("电脑", -1.0), ("很", -1.5), ("快", -1.5), ("▁hello", -1.0)]
    backend = Tokenizer(models.Unigram(vocab, unk_id=0))
    backend.pre_tokenizer, backend.decoder = pre_tokenizers.Metaspace(), decoders.Metaspace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>")
    assert tokenizer.convert_ids_to_tokens(tokenizer("电脑很快", add_special_tokens=False)["input_ids"])[0] == "▁"
    assert tokenizer.convert_ids_to_tokens(piece_ids(tokenizer, "电脑很快")) == ["电脑", "很", "快"]
    assert tokenizer.convert_ids_to_tokens(piece_ids(tokenizer, "hello")) == ["▁hello"]  # a real word start stays


@pytest.mark.parametrize("template, message", [
    ("{textA}很好", "has no {MASK}"),
    ("{MASK}很好", "has no {textA}"),
    ("{MASK}{MASK}{textA}", "has 2 {MASK}"),
    ("{MASK}{textA}{label}", "unknown placeholder {label}"),
    ("{soft:0}{MASK}{textA}", "whole number of vectors"),
    ("{MASK}{textA}}", "unmatched brace"),
])
def test_bad_templates_are_refused_with_the_reason(template, message):
    with pytest.raises(ArgumentError, match=message.replace("{", r"\{").replace("}", r"\}")):
        Template(template)


def test_a_template_on_the_command_line_replaces_the_config_files_template_file(tmp_path):
    config = tmp_path / "pet.yaml"
    config.write_text(f"template_file: {PROMPTING / 'prompt.txt'}\n", encoding="utf-8")

    def parse(*argv: str) -> PromptDataArguments:
        return parse_args((ModelArguments, PromptDataArguments), ["--config", str(config), *argv])[1]

    assert parse().read_template() == (PROMPTING / "prompt.txt").read_text(encoding="utf-8").splitlines()[0]
    data = parse("--template", "{textA}。这是一条{MASK}评论")
    assert (data.template, data.template_file) == ("{textA}。这是一条{MASK}评论", None)
    assert parse("--template={MASK}{textA}").read_template() == "{MASK}{textA}"
    with pytest.raises(ArgumentError, match="pass --template or --template_file, not both"):  # both as flags
        parse("--template", "{MASK}{textA}", "--template_file", str(PROMPTING / "prompt.txt"))


# --- verbalizers and scoring ---------------------------------------------------------------------------------


def test_verbalizer_file_and_its_errors(tmp_path, tokenizer):
    verbalizer = Verbalizer.from_file(PROMPTING / "verbalizer.txt")
    assert verbalizer.labels == ["电脑", "水果", "酒店", "书籍"]
    assert verbalizer.label_words["电脑"] == ["电脑", "笔记本"]
    assert verbalizer.word_ids(tokenizer)[1] == ids(tokenizer, "笔记本")
    for text, message in [("", "the verbalizer file is empty"), ("水果\n", "line 1: expected label<TAB>word"),
                          ("水果\t水果\n水果\t果子\n", "line 2: label '水果' is listed twice"),
                          ("水果\t水果,\n", "line 1: label '水果': expected comma-separated label words")]:
        path = tmp_path / "verbalizer.txt"
        path.write_text(text, encoding="utf-8")
        with pytest.raises(DataFormatError, match=message):
            Verbalizer.from_file(path)
    with pytest.raises(ArgumentError, match="the verbalizer is empty"):
        Verbalizer({})
    with pytest.raises(ArgumentError, match="'苹果' stands for both"):
        Verbalizer({"水果": ["苹果"], "手机": ["苹果"]})
    with pytest.raises(ArgumentError, match=r"label word '菠萝' \(label '水果'\) tokenizes to .*unknown token"):
        Verbalizer({"水果": ["菠萝"]}).word_ids(tokenizer)


@pytest.mark.parametrize("token_reduction", ["mean", "sum", "first"])
@pytest.mark.parametrize("word_reduction", ["mean", "max", "logsumexp"])
def test_label_scores_match_a_hand_computation(token_reduction, word_reduction):
    # 2 examples, 3 words: label 0 has words 0 (2 tokens) and 1 (1 token), label 1 has word 2 (2 tokens)
    p = torch.tensor([[[0.5, 0.2], [0.1, 0.9], [0.4, 0.3]], [[0.3, 0.3], [0.6, 0.9], [0.2, 0.5]]])
    lengths, labels = torch.tensor([2, 1, 2]), torch.tensor([0, 0, 1])
    scores = label_scores(p.log(), lengths, labels, 2, token_reduction, word_reduction)

    def word(b, w):
        tokens = [math.log(p[b, w, k].item()) for k in range(int(lengths[w]))]
        return {"mean": sum(tokens) / len(tokens), "sum": sum(tokens), "first": tokens[0]}[token_reduction]

    def label(b, words):
        values = [word(b, w) for w in words]
        return {"mean": sum(values) / len(values), "max": max(values),
                "logsumexp": math.log(sum(math.exp(v) for v in values))}[word_reduction]

    expected = torch.tensor([[label(b, [0, 1]), label(b, [2])] for b in range(2)])
    torch.testing.assert_close(scores, expected)


def test_rdrop_adds_the_symmetric_kl():
    s1, s2, y = torch.tensor([[2.0, 0.0]]), torch.tensor([[0.0, 1.0]]), torch.tensor([0])
    p, q = s1.softmax(-1), s2.softmax(-1)
    kl = ((p * (p / q).log()).sum() + (q * (q / p).log()).sum()) / 2
    ce = (torch.nn.functional.cross_entropy(s1, y) + torch.nn.functional.cross_entropy(s2, y)) / 2
    torch.testing.assert_close(VerbalizerLoss(0.5)(s1, y, s2), ce + 0.5 * kl)


# --- the model -----------------------------------------------------------------------------------------------


def build(tmp_path, tokenizer, kind, template, prompt_encoder="lstm"):
    verbalizer = Verbalizer.from_file(PROMPTING / "verbalizer.txt")
    config = PromptLMConfig(lm_type=kind, template=template, label_words=verbalizer.label_words,
                            word_token_ids=verbalizer.word_ids(tokenizer), prompt_encoder=prompt_encoder)
    model, new = PromptLMModel.from_backbone(str(lm_folder(tmp_path, tokenizer, kind)), config)
    records = [Record("x", 1, {"label": "水果", "text": "苹果很甜很脆", "text_b": None}),
               Record("x", 2, {"label": "电脑", "text": "这台笔记本开机很快", "text_b": None})]
    columns = encode_prompts(records, Template(template), tokenizer, lm_type=kind, blank_length=config.blank_length,
                             max_length=64, label_map=LabelMap(verbalizer.labels))
    features = [dict(zip(columns, values)) for values in zip(*columns.values())]
    return model.eval(), new, features


def direct_masked_scores(model, features, tokenizer, soft_vectors=None):
    """Label scores from the full MLM logits (the whole vocabulary at every position), by hand."""
    config = model.config
    rows = []
    for f in features:
        input_ids = torch.tensor([f["input_ids"]])
        embeds = model.backbone.get_input_embeddings()(input_ids)
        if soft_vectors is not None:
            embeds[0, torch.tensor(f["soft_mask"]).bool()] = soft_vectors
        logp = model.backbone(inputs_embeds=embeds).logits.log_softmax(-1)[0]
        assert all(f["input_ids"][i] == tokenizer.mask_token_id for i in f["blank_positions"])
        words = [sum(logp[f["blank_positions"][k], t].item() for k, t in enumerate(w)) / len(w)
                 for w in config.word_token_ids]
        scores, start = [], 0
        for label in config.labels:
            count = len(config.label_words[label])
            scores.append(sum(words[start : start + count]) / count)
            start += count
        rows.append(scores)
    return torch.tensor(rows)


def test_masked_lm_scores_multi_token_words_at_the_blank(tmp_path, tokenizer):
    model, new, features = build(tmp_path, tokenizer, "masked", "这是一条{MASK}评论：{textA}。")
    assert model.config.blank_length == 3  # 笔记本
    with torch.no_grad():
        scores = model(**PromptCollator(tokenizer.pad_token_id, "masked")(features)).logits
        torch.testing.assert_close(scores, direct_masked_scores(model, features, tokenizer), atol=1e-5, rtol=1e-5)


def test_the_blank_is_found_with_learned_vectors_before_and_after_it(tmp_path, tokenizer):
    model, new, features = build(tmp_path, tokenizer, "masked", "{soft:2}{textA}是{MASK}{soft:3}")
    assert {n.split(".")[0] for n in new} == {"prompt_encoder"}
    for f in features:
        soft = [i for i, s in enumerate(f["soft_mask"]) if s]
        assert soft[:2] == [1, 2] and soft[2:] == [f["blank_positions"][-1] + k for k in (1, 2, 3)]
    batch = PromptCollator(tokenizer.pad_token_id, "masked")(features)
    with torch.no_grad():
        vectors = model.prompt_encoder()
        torch.testing.assert_close(model(**batch).logits, direct_masked_scores(model, features, tokenizer, vectors),
                                   atol=1e-5, rtol=1e-5)


def test_causal_lm_scores_each_word_and_what_follows_the_blank(tmp_path, tokenizer):
    model, _, features = build(tmp_path, tokenizer, "causal", "{textA}。这是{MASK}评论")
    batch = PromptCollator(tokenizer.pad_token_id, "causal")(features)
    assert batch["input_ids"][:, -1].tolist() == [ids(tokenizer, "是")[0]] * 2  # left-padded: the blank is next
    with torch.no_grad():
        scores = model(**batch).logits
        for b, f in enumerate(features):
            words = []
            for w in model.config.word_token_ids:  # the whole sequence at once, by hand
                seq = f["input_ids"] + w + f["suffix_ids"]
                logp = model.backbone(torch.tensor([seq])).logits.log_softmax(-1)[0]
                start = len(f["input_ids"])
                word = sum(logp[start - 1 + k, t].item() for k, t in enumerate(w)) / len(w)
                rest = sum(logp[start + len(w) - 1 + k, t].item() for k, t in enumerate(f["suffix_ids"]))
                words.append(word + rest)
            expected = [sum(words[0:2]) / 2, words[2], sum(words[3:5]) / 2, sum(words[5:7]) / 2]
            torch.testing.assert_close(scores[b], torch.tensor(expected), atol=1e-4, rtol=1e-4)


def test_a_causal_template_cannot_have_vectors_after_the_blank(tokenizer):
    with pytest.raises(ArgumentError, match="put the \\{soft\\} vectors before \\{MASK\\}"):
        PromptLMConfig(lm_type="causal", template="{textA}{MASK}{soft}", label_words={"a": ["电"]},
                       word_token_ids=[[5]]).validate()


def test_data_labels_must_be_in_the_verbalizer(tmp_path):
    path = tmp_path / "train.txt"
    path.write_text("水果\t苹果很甜\n电器\t冰箱很好\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"train.txt, line 2: label '电器' is not in the verbalizer"):
        read_prompt_examples(path, ["水果", "电脑"])


# --- the recipes end to end ----------------------------------------------------------------------------------


def common_argv(model: Path, out: Path) -> list[str]:
    return ["--model_name_or_path", str(model), "--train_file", str(PROMPTING / "train.txt"),
            "--validation_file", str(PROMPTING / "dev.txt"), "--test_file", str(PROMPTING / "test.txt"),
            "--verbalizer_file", str(PROMPTING / "verbalizer.txt"), "--do_train", "--do_eval", "--do_predict",
            "--output_dir", str(out), "--max_steps", "3", "--per_device_train_batch_size", "4",
            "--learning_rate", "1e-3", "--eval_strategy", "no", "--save_strategy", "no",
            "--load_best_model_at_end", "false", "--use_cpu", "--disable_tqdm", "true", "--report_to", "none"]


def predicted_labels(out: Path) -> list[tuple[str, str]]:
    rows = (out / "predict_results.tsv").read_text(encoding="utf-8").splitlines()[1:]
    return [(r.split("\t")[2], r.split("\t")[3]) for r in rows]


def test_pet_recipe_with_a_masked_lm_trains_saves_reloads_and_predicts_the_same(tmp_path, tokenizer, capsys):
    model = lm_folder(tmp_path / "lm", tokenizer, "masked")
    before = {n: p.clone() for n, p in BertForMaskedLM.from_pretrained(model).named_parameters()}
    out = tmp_path / "out"
    results = load_recipe("pet").main(common_argv(model, out) + ["--template_file", str(PROMPTING / "prompt.txt"),
                                                                 "--rdrop_alpha", "1.0"])
    assert set(results) == {"train", "eval", "test"} and 0 <= results["eval"]["eval_f1"] <= 1
    assert (out / "run_config.yaml").is_file() and "rdrop_alpha: 1.0" in (out / "run_config.yaml").read_text()
    reloaded = PromptClassifier(str(out))
    assert reloaded.labels == ["电脑", "水果", "酒店", "书籍"]
    texts = [line.split("\t")[1] for line in (PROMPTING / "test.txt").read_text(encoding="utf-8").splitlines()]
    assert [(p["label"], f"{p['score']:.4f}") for p in reloaded.predict(texts)] == predicted_labels(out)
    after = dict(reloaded.model.backbone.named_parameters())
    assert all(not torch.equal(before[n], after[n]) for n in before if "word_embeddings" not in n)
    capsys.readouterr()
    cli_main(["predict", "pet", "--model", str(out), "--text", texts[0]])
    assert capsys.readouterr().out.strip() == f"{texts[0]}\t{predicted_labels(out)[0][0]} {predicted_labels(out)[0][1]}"


def test_p_tuning_recipe_with_a_frozen_causal_lm_trains_only_the_prompt(tmp_path, tokenizer):
    model = lm_folder(tmp_path / "lm", tokenizer, "causal")
    out = tmp_path / "out"
    results = load_recipe("p_tuning").main(common_argv(model, out) + [
        "--template", "{soft:4}{textA}。是{MASK}评论", "--freeze_backbone", "--prompt_encoder", "mlp"])
    assert "eval" in results
    reloaded = PromptClassifier(str(out))
    assert reloaded.model.config.lm_type == "causal"  # detected: GPT-2 has no masked-LM class
    original = GPT2LMHeadModel.from_pretrained(model)
    for name, param in original.named_parameters():  # the language model is untouched
        assert torch.equal(param, dict(reloaded.model.backbone.named_parameters())[name]), name
    fresh = PromptLMModel.from_backbone(str(model), PromptLMConfig(**{
        k: getattr(reloaded.model.config, k) for k in ("lm_type", "template", "label_words", "word_token_ids",
                                                       "prompt_encoder")}))[0]
    changed = [n for n, p in fresh.prompt_encoder.named_parameters()
               if not torch.equal(p, dict(reloaded.model.prompt_encoder.named_parameters())[n])]
    assert sorted(changed) == sorted(n for n, _ in fresh.prompt_encoder.named_parameters())
    texts = [line.split("\t")[1] for line in (PROMPTING / "test.txt").read_text(encoding="utf-8").splitlines()]
    assert [(p["label"], f"{p['score']:.4f}") for p in reloaded.predict(texts)] == predicted_labels(out)


def test_recipe_errors_name_the_problem(tmp_path, tokenizer):
    model = lm_folder(tmp_path / "lm", tokenizer, "masked")
    argv = common_argv(model, tmp_path / "out")
    with pytest.raises(ArgumentError, match="has no \\{MASK\\}"):
        load_recipe("pet").main(argv + ["--template", "{textA}很好"])
    with pytest.raises(ArgumentError, match="--verbalizer_file is needed"):
        load_recipe("pet").main([a for a in argv if "verbalizer" not in a])
    with pytest.raises(ArgumentError, match="--freeze_backbone .* has none"):
        load_recipe("pet").main(argv + ["--freeze_backbone"])
