"""Using a trained generative model: answer questions (:class:`QuestionAnswerer`, seq2seq or causal, zero-shot
with a chat model), fill masks and write variants of texts (:class:`MaskFiller`)."""

from __future__ import annotations

import os
import random
from collections.abc import Sequence

import torch

from ..causal_lm import describe_non_generator
from ..errors import ModelLoadError, PlmRecipesError
from ..files import read_json_object
from ..loading import capped_max_seq_length, load_or_explain, load_tokenizer_from
from .causal import CAUSAL_SOURCE_TEMPLATE, CausalQAPrompt, generate_answers
from .data import SourceTemplate, decode, encode_text
from .masking import decode_spans, mask_spans, sentinel_separator, sentinel_tokens
from .model_files import SEQ2SEQ_CONFIG, load_seq2seq_config
from .trainer import is_encoder_decoder

MASK = "[MASK]"


class _Seq2SeqPredictor:
    task = ""

    def __init__(self, model_dir: str, *, device: str | None = None, batch_size: int = 16):
        self.tokenizer = load_tokenizer_from(model_dir)
        self.config = self._folder_config(model_dir)
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        # on a CPU in float32 (bfloat16 matrix products are several times slower there); on a GPU as saved
        self.model = load_generator(model_dir, dtype=torch.float32 if self.device.type == "cpu" else "auto")
        self.model.to(self.device).eval()
        # Every call passes max_new_tokens (the folder's max_target_length, or the caller's), so the generation
        # config's max_length means nothing here. A folder saved after a Seq2SeqTrainer evaluation holds transformers'
        # default max_length (20) all the same: its prediction_step writes the defaults into model.generation_config,
        # and save_pretrained keeps them; generate() then warns on every call that both are set. Cleared.
        self.model.generation_config.max_length = None
        # an encoder reads its whole input at once: padded on the right; a causal model generates after the last
        # token: padded on the left
        self.tokenizer.padding_side = "right" if is_encoder_decoder(self.model.config) else "left"
        self.batch_size = batch_size

    def _folder_config(self, model_dir: str) -> dict:
        return load_seq2seq_config(model_dir, self.task)

    @torch.no_grad()
    def _generate(self, inputs: Sequence[list[int]], **generate_kwargs) -> list[list[int]]:
        outputs = []
        for start in range(0, len(inputs), self.batch_size):
            batch = self.tokenizer.pad([{"input_ids": ids} for ids in inputs[start:start + self.batch_size]],
                                       return_tensors="pt").to(self.device)
            generated = self.model.generate(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                                            **generate_kwargs)
            outputs += generated.tolist()
        return outputs


def load_generator(model_dir: str, dtype: torch.dtype | str = "auto"):
    """The model of a folder: an encoder-decoder (``is_encoder_decoder``) as ``AutoModelForSeq2SeqLM``, another as
    ``AutoModelForCausalLM``; a LoRA adapter folder (``adapter_config.json``) over its base model, merged."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM

    adapter = read_json_object(os.path.join(model_dir, "adapter_config.json"))
    base = adapter.get("base_model_name_or_path") if adapter is not None else model_dir
    if not base:
        raise ModelLoadError(f"{model_dir}/adapter_config.json names no base_model_name_or_path")
    config = load_or_explain(lambda: AutoConfig.from_pretrained(base), base, "config")
    auto = AutoModelForSeq2SeqLM if is_encoder_decoder(config) else AutoModelForCausalLM
    model = load_or_explain(lambda: auto.from_pretrained(base, dtype=dtype), base)
    if adapter is not None:
        from peft import PeftModel

        model = load_or_explain(lambda: PeftModel.from_pretrained(model, model_dir), model_dir,
                                "LoRA adapter").merge_and_unload()
    return model


class QuestionAnswerer(_Seq2SeqPredictor):
    """Answers questions about a context with a model trained by ``recipes/t5_qa.py`` (a seq2seq or causal model,
    a LoRA adapter folder included): the same source template, prompt and lengths as in training
    (``seq2seq_config.json``). A chat model that was never trained for it answers zero-shot: its chat template
    wraps the instruction :data:`~plm_recipes.seq2seq.causal.CAUSAL_SOURCE_TEMPLATE` (or ``source_template``).

    >>> qa = QuestionAnswerer("outputs/t5_qa")
    >>> answers = qa.answer(["故宫又称什么"], ["北京故宫又称紫禁城，是明清两代的皇家宫殿。"])
    >>> len(answers), type(answers[0])
    (1, <class 'str'>)
    """

    task = "qa"

    def __init__(self, model_dir: str, *, device: str | None = None, batch_size: int = 16,
                 source_template: str | None = None):
        super().__init__(model_dir, device=device, batch_size=batch_size)
        self.config.setdefault("max_source_length", capped_max_seq_length(1024, self.tokenizer, self.model.config))
        self.template = SourceTemplate(source_template or self.config["source_template"])
        self.prompt = None
        if not is_encoder_decoder(self.model.config):
            if self.tokenizer.pad_token is None:
                self.tokenizer.pad_token = self.tokenizer.eos_token
            self.prompt = CausalQAPrompt(self.tokenizer, self.template, chat=self.config.get("chat_template"))

    def _folder_config(self, model_dir: str) -> dict:
        """The folder's ``seq2seq_config.json``; for a chat model without one, the zero-shot settings (its
        ``max_source_length`` set once the model is loaded)."""
        config = read_json_object(os.path.join(model_dir, "config.json")) or {}
        if os.path.isfile(os.path.join(model_dir, SEQ2SEQ_CONFIG)) or config.get("is_encoder_decoder"):
            return load_seq2seq_config(model_dir, self.task)
        what = describe_non_generator(model_dir)
        if what is not None:
            raise ModelLoadError(f"{model_dir} is {what}; `plm-recipes predict qa` needs a model trained by "
                                 "recipes/t5_qa.py or a chat model")
        if not getattr(self.tokenizer, "chat_template", None):
            raise ModelLoadError(f"{model_dir} was not trained by recipes/t5_qa.py (no {SEQ2SEQ_CONFIG}) and its "
                                 "tokenizer has no chat template: zero-shot answers need an instruction-tuned (chat) "
                                 "model; train this one with recipes/t5_qa.py first")
        return {"task": "qa", "source_template": CAUSAL_SOURCE_TEMPLATE, "model_kind": "causal",
                "chat_template": True, "max_target_length": 64, "num_beams": 1}

    def answer(self, questions: Sequence[str], contexts: Sequence[str], *, num_beams: int | None = None,
               max_new_tokens: int | None = None) -> list[str]:
        if len(questions) != len(contexts):
            raise ValueError(f"one context per question: {len(questions)} questions, {len(contexts)} contexts")
        settings = {"num_beams": num_beams or self.config.get("num_beams", 1),
                    "max_new_tokens": max_new_tokens or self.config.get("max_new_tokens")
                    or self.config["max_target_length"]}
        records = [{"question": q, "context": c} for q, c in zip(questions, contexts)]
        length = self.config["max_source_length"]
        if self.prompt is None:
            inputs = [self.template.encode(self.tokenizer, r, length) for r in records]
            return decode(self.tokenizer, self._generate(inputs, do_sample=False, **settings))
        prompts = [self.prompt.prompt_ids(r, length) for r in records]
        answers = []
        for start in range(0, len(prompts), self.batch_size):  # as the trainer evaluates: batch by batch
            generated = generate_answers(self.model, prompts[start:start + self.batch_size],
                                         pad_id=self.tokenizer.pad_token_id, stop_ids=self.prompt.stop_ids,
                                         **settings)
            answers += decode(self.tokenizer, generated)
        return answers


class MaskFiller(_Seq2SeqPredictor):
    """Fills ``[MASK]`` in texts with a model trained by ``recipes/t5_filling.py``, and writes variants of texts
    for data augmentation. Each ``[MASK]`` becomes a sentinel token; the generated spans replace them; sentinel
    tokens never reach the output.

    >>> filler = MaskFiller("outputs/t5_filling")
    >>> filled = filler.fill("这家餐厅的[MASK]很好", num_return_sequences=2)
    >>> len(filled) <= 2 and all("[MASK]" not in text and "extra" not in text for text in filled)
    True
    """

    task = "fill"

    def __init__(self, model_dir: str, *, device: str | None = None, batch_size: int = 16):
        super().__init__(model_dir, device=device, batch_size=batch_size)
        self.sentinels = sentinel_tokens(self.tokenizer)
        self.separator = sentinel_separator(self.sentinels)

    def _with_sentinels(self, text: str) -> tuple[str, int]:
        pieces = text.split(MASK)
        if len(pieces) - 1 > len(self.sentinels) - 1:
            raise PlmRecipesError(f"{len(pieces) - 1} [MASK]s in one text; the tokenizer has sentinels for "
                                  f"{len(self.sentinels) - 1}")
        out = pieces[0]
        for i, piece in enumerate(pieces[1:]):
            out += f"{self.separator}{self.sentinels[i]}{self.separator}{piece}"
        return out, len(pieces) - 1

    def fill(self, text: str, **settings) -> list[str]:
        """Up to ``num_return_sequences`` distinct fillings of ``text``'s ``[MASK]``s, best first (beam search
        by default; ``do_sample=True`` samples). Fillings that leave a mask empty are dropped. The settings are
        :meth:`fill_many`'s."""
        return self.fill_many([text], **settings)[0]

    def fill_many(self, texts: Sequence[str], *, num_return_sequences: int = 1, do_sample: bool | None = None,
                  num_beams: int | None = None, top_p: float = 0.95, temperature: float = 1.0,
                  max_new_tokens: int | None = None) -> list[list[str]]:
        """:meth:`fill` for each of ``texts``, generated ``batch_size`` texts at a time (greedy or beam search gives
        what one text at a time gives)."""
        sources = [self._with_sentinels(text) for text in texts]
        for text, (_, masks) in zip(texts, sources):
            if masks == 0:
                raise PlmRecipesError(f"no {MASK} in {text!r}: mark the part to fill with {MASK}")
        do_sample = num_return_sequences > 1 and not num_beams if do_sample is None else do_sample
        kwargs = {"num_return_sequences": num_return_sequences,
                  "max_new_tokens": max_new_tokens or self.config["max_target_length"], "do_sample": do_sample}
        if do_sample:
            kwargs.update(top_p=top_p, temperature=temperature)
        else:
            kwargs["num_beams"] = max(num_beams or 1, num_return_sequences)
        length = self.config["max_source_length"]
        generated = self._generate([encode_text(self.tokenizer, source, length) for source, _ in sources], **kwargs)
        per_text = num_return_sequences  # generate returns each input's sequences together, in input order
        return [self._assemble(text, masks, generated[i * per_text:(i + 1) * per_text])
                for i, (text, (_, masks)) in enumerate(zip(texts, sources))]

    def _assemble(self, text: str, masks: int, generated: Sequence[list[int]]) -> list[str]:
        """``text`` with its masks replaced by the spans of each generated sequence, distinct, in order; a sequence
        that leaves a mask empty is dropped."""
        results: list[str] = []
        pieces = text.split(MASK)
        for ids in generated:
            spans = decode_spans(self.tokenizer, ids, self.sentinels)
            if len(spans) < masks or not all(spans[:masks]):
                continue
            filled = pieces[0] + "".join(span + piece for span, piece in zip(spans[:masks], pieces[1:]))
            if filled not in results:
                results.append(filled)
        return results

    def augment(self, text: str, n: int = 4, *, seed: int = 0, **settings) -> list[str]:
        """Up to ``n`` variants of ``text``, each distinct from the others and from ``text``: random spans are
        masked (as in training) and filled by sampling, up to ``attempts`` rounds. A text that already holds
        ``[MASK]`` says where to fill: those masks are filled, and nothing else is masked (masking spans of our own
        could cut a ``[MASK]`` in half). The settings are :meth:`augment_many`'s."""
        return self.augment_many([text], n, seeds=[seed], **settings)[0]

    def augment_many(self, texts: Sequence[str], n: int = 4, *, seeds: Sequence[int] | None = None,
                     attempts: int = 4, noise_density: float = 0.15, mean_span_length: float = 3.0,
                     do_sample: bool = True) -> list[list[str]]:
        """:meth:`augment` for each of ``texts``, the texts that still want variants filled together in each round
        (``batch_size`` at a time). ``seeds`` (default 0, 1, ...) seed each text's masking; the first also seeds
        the sampling, so the same texts, seeds and batch size give the same variants. ``do_sample=False`` fills
        by beam search (``n`` beams), which gives what one text at a time gives."""
        seeds = list(range(len(texts))) if seeds is None else list(seeds)
        if len(seeds) != len(texts):
            raise ValueError(f"one seed per text: {len(texts)} texts, {len(seeds)} seeds")
        rngs = [random.Random(seed) for seed in seeds]
        marked = [MASK in text for text in texts]
        variants: list[list[str]] = [[] for _ in texts]
        on_gpu = self.device.type != "cpu"
        with torch.random.fork_rng(devices=[self.device.index or 0] if on_gpu else [],
                                   device_type=self.device.type if on_gpu else "cuda"):
            torch.manual_seed(seeds[0] if seeds else 0)
            for _ in range(attempts):
                wanting = [i for i, text in enumerate(texts)
                           if len(variants[i]) < n and (len(text) >= 2 or marked[i])]
                if not wanting:
                    break
                masked = [texts[i] if marked[i] else
                          mask_spans(texts[i], [MASK] * 50, rngs[i], noise_density, mean_span_length).source
                          for i in wanting]
                filled = self.fill_many(masked, num_return_sequences=n, do_sample=do_sample)
                for i, candidates in zip(wanting, filled):
                    for candidate in candidates:
                        if candidate != texts[i] and candidate not in variants[i]:
                            variants[i].append(candidate)
        return [found[:n] for found in variants]
