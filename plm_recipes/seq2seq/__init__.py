"""Generation with seq2seq models (T5, mT5, BART): question answering (``recipes/t5_qa.py``, which trains causal
LMs too) and mask filling for data augmentation (``recipes/t5_filling.py``).

* :mod:`.arguments`: the data arguments of each recipe and :class:`Seq2SeqRecipeConfig`.
* :mod:`.data`: QA records, :class:`SourceTemplate` (only the context is cut), decoding generated ids, corpora.
* :mod:`.masking`: span corruption with sentinel tokens (``<extra_id_0>`` or ``extra0``), and reading spans back.
* :mod:`.metrics`: character-level BLEU-1..4, ROUGE-L, exact match and F1 (:class:`GenerationMetrics`).
* :mod:`.model_files`: ``seq2seq_config.json``, target ids, special tokens of a T5 built from scratch.
* :mod:`.causal`: QA with a causal LM: the prompt (in the chat template when there is one), the answer-only loss,
  generation from prompts.
* :mod:`.trainer`: :class:`RecipeSeq2SeqTrainer` and its causal variant, loading the model and tokenizer.
* :mod:`.predictor`: :class:`QuestionAnswerer` and :class:`MaskFiller`; :mod:`.cli`: ``plm-recipes predict qa``,
  ``predict fill`` and ``augment fill``.
"""

from ..families import Family
from .arguments import FillingDataArguments, QADataArguments, Seq2SeqRecipeConfig
from .data import SourceTemplate, decode, read_corpus, read_qa
from .masking import mask_spans, sentinel_tokens, split_on_sentinels
from .metrics import GenerationMetrics

__all__ = [
    "FillingDataArguments",
    "GenerationMetrics",
    "QADataArguments",
    "Seq2SeqRecipeConfig",
    "SourceTemplate",
    "decode",
    "mask_spans",
    "read_corpus",
    "read_qa",
    "sentinel_tokens",
    "split_on_sentinels",
]

# What the family declares to the core (the plm_recipes.families entry point in setup.cfg).
FAMILY = Family("seq2seq", commands="plm_recipes.seq2seq.cli:add_commands")
