"""A PET model as files that plain transformers reads: the language model alone, and its prompt as JSON.

A :class:`~plm_recipes.prompting.modeling.PromptLMModel` folder loads with this package only. Beside it, in
``lm/``, :func:`save_plain_lm` writes the fine-tuned language model as an ordinary masked (or causal) LM folder,
which ``pipeline("fill-mask", model="out/lm")`` or ``AutoModelForMaskedLM.from_pretrained(out, subfolder="lm")``
loads, with its tokenizer and ``prompt.json``: the template, the verbalizer and how the words are scored, so that
a few lines of transformers classify as the package does (:data:`PLAIN_USAGE`, the snippet the PET card shows).

Templates with learned prompt vectors (p-tuning) are not exported: the vectors come out of the model's prompt
encoder, which no transformers class holds.
"""

from __future__ import annotations

import json
import os

from .modeling import PromptLMModel
from .template import Template

PLAIN_LM_FOLDER = "lm"
PROMPT_FILE = "prompt.json"

# The card's snippet for a masked LM: the package's scores with the mean reductions (the defaults).
PLAIN_USAGE = """\
Without plm-recipes: the language model is also saved as a plain masked LM in `lm/` (`pipeline("fill-mask")` loads
it), with the template and the verbalizer in `lm/prompt.json`. These lines give the labels of `PromptClassifier`
(for texts that fit in `max_seq_length` tokens; this run scores a word by the mean log-probability of its tokens and
a label by the mean of its words'):

```python
import json

import torch
from transformers import AutoModelForMaskedLM, AutoTokenizer
from transformers.utils import cached_file

prompt = json.load(open(cached_file("{model}", "prompt.json", subfolder="lm"), encoding="utf-8"))
tokenizer = AutoTokenizer.from_pretrained("{model}", subfolder="lm")
model = AutoModelForMaskedLM.from_pretrained("{model}", subfolder="lm").eval()


def label_scores(text):  # a softmax over them gives PromptClassifier's scores
    blank = tokenizer.mask_token * prompt["blank_length"]
    inputs = tokenizer(prompt["template"].replace("{MASK}", blank).replace("{textA}", text), return_tensors="pt")
    with torch.no_grad():  # log-probabilities of the vocabulary at each blank position
        logprobs = model(**inputs).logits[inputs.input_ids == tokenizer.mask_token_id].log_softmax(-1)
    return {label: float(sum(logprobs[range(len(ids)), ids].mean() for ids in tokenizer(words, add_special_tokens=False)
                             .input_ids) / len(words)) for label, words in prompt["label_words"].items()}


def classify(text):
    scores = label_scores(text)
    return max(scores, key=scores.get)


classify("房间干净，早餐也不错")
```
"""


def save_plain_lm(model: PromptLMModel, tokenizer, output_dir: str | os.PathLike) -> str | None:
    """Write ``output_dir/lm``: ``model``'s language model (``save_pretrained``: config, safetensors), the tokenizer
    and ``prompt.json``; returns the folder, or ``None`` for a template with learned vectors (nothing is written).
    """
    config = model.config
    if Template(config.template).num_soft_tokens:
        return None
    folder = os.path.join(output_dir, PLAIN_LM_FOLDER)
    model.backbone.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    prompt = {
        "lm_type": config.lm_type,
        "template": config.template,
        "blank_length": config.blank_length,
        "labels": config.labels,
        "label_words": {label: config.label_words[label] for label in config.labels},
        "token_reduction": config.token_reduction,
        "word_reduction": config.word_reduction,
        "max_seq_length": config.max_seq_length,
    }
    with open(os.path.join(folder, PROMPT_FILE), "w", encoding="utf-8") as f:
        json.dump(prompt, f, ensure_ascii=False, indent=2)
        f.write("\n")
    return folder
