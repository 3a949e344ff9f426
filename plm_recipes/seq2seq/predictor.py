"""Using a trained seq2seq model: answer questions (:class:`QuestionAnswerer`), fill masks and write variants of
texts (:class:`MaskFiller`)."""

from __future__ import annotations

import random
from collections.abc import Sequence

import torch

from ..errors import PlmRecipesError
from ..loading import load_or_explain, load_tokenizer_from
from .data import SourceTemplate, decode, encode_text
from .masking import decode_spans, mask_spans, sentinel_separator, sentinel_tokens
from .model_files import load_seq2seq_config

MASK = "[MASK]"


class _Seq2SeqPredictor:
    task = ""

    def __init__(self, model_dir: str, *, device: str | None = None, batch_size: int = 16):
        from transformers import AutoModelForSeq2SeqLM

        self.config = load_seq2seq_config(model_dir, self.task)
        self.tokenizer = load_tokenizer_from(model_dir)
        self.model = load_or_explain(lambda: AutoModelForSeq2SeqLM.from_pretrained(model_dir), model_dir)
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model.to(self.device).eval()
        self.batch_size = batch_size

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


class QuestionAnswerer(_Seq2SeqPredictor):
    """Answers questions about a context with a model trained by ``recipes/t5_qa.py``: the same source template
    and lengths as in training (``seq2seq_config.json``).

    >>> qa = QuestionAnswerer("outputs/t5_qa")
    >>> answers = qa.answer(["故宫又称什么"], ["北京故宫又称紫禁城，是明清两代的皇家宫殿。"])
    >>> len(answers), type(answers[0])
    (1, <class 'str'>)
    """

    task = "qa"

    def __init__(self, model_dir: str, *, device: str | None = None, batch_size: int = 16):
        super().__init__(model_dir, device=device, batch_size=batch_size)
        self.template = SourceTemplate(self.config["source_template"])

    def answer(self, questions: Sequence[str], contexts: Sequence[str], *, num_beams: int | None = None,
               max_new_tokens: int | None = None) -> list[str]:
        if len(questions) != len(contexts):
            raise ValueError(f"one context per question: {len(questions)} questions, {len(contexts)} contexts")
        inputs = [self.template.encode(self.tokenizer, {"question": q, "context": c}, self.config["max_source_length"])
                  for q, c in zip(questions, contexts)]
        generated = self._generate(inputs, num_beams=num_beams or self.config.get("num_beams", 1),
                                   max_new_tokens=max_new_tokens or self.config["max_target_length"],
                                   do_sample=False)
        return decode(self.tokenizer, generated)


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

    def fill(self, text: str, *, num_return_sequences: int = 1, do_sample: bool | None = None,
             num_beams: int | None = None, top_p: float = 0.95, temperature: float = 1.0,
             max_new_tokens: int | None = None) -> list[str]:
        """Up to ``num_return_sequences`` distinct fillings of ``text``'s ``[MASK]``s, best first (beam search
        by default; ``do_sample=True`` samples). Fillings that leave a mask empty are dropped."""
        source, masks = self._with_sentinels(text)
        if masks == 0:
            raise PlmRecipesError(f"no {MASK} in {text!r}: mark the part to fill with {MASK}")
        do_sample = num_return_sequences > 1 and not num_beams if do_sample is None else do_sample
        kwargs = {"num_return_sequences": num_return_sequences,
                  "max_new_tokens": max_new_tokens or self.config["max_target_length"], "do_sample": do_sample}
        if do_sample:
            kwargs.update(top_p=top_p, temperature=temperature)
        else:
            kwargs["num_beams"] = max(num_beams or 1, num_return_sequences)
        generated = self._generate([encode_text(self.tokenizer, source, self.config["max_source_length"])], **kwargs)
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

    def augment(self, text: str, n: int = 4, *, seed: int = 0, attempts: int = 4, noise_density: float = 0.15,
                mean_span_length: float = 3.0) -> list[str]:
        """Up to ``n`` variants of ``text``, each distinct from the others and from ``text``: random spans are
        masked (as in training) and filled by sampling, up to ``attempts`` rounds. A text that already holds
        ``[MASK]`` says where to fill: those masks are filled, and nothing else is masked (masking spans of our own
        could cut a ``[MASK]`` in half)."""
        rng = random.Random(seed)
        marked = MASK in text
        variants: list[str] = []
        for _ in range(attempts):
            if len(variants) >= n or (len(text) < 2 and not marked):
                break
            masked = text if marked else mask_spans(text, [MASK] * 50, rng, noise_density, mean_span_length).source
            for candidate in self.fill(masked, num_return_sequences=n, do_sample=True):
                if candidate != text and candidate not in variants:
                    variants.append(candidate)
        return variants[:n]
