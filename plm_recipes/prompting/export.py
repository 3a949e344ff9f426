"""A PET model as files that plain transformers reads: the language model alone, and its prompt as JSON.

A :class:`~plm_recipes.prompting.modeling.PromptLMModel` folder loads with this package only. Beside it, in
``lm/``, :func:`save_plain_lm` writes the fine-tuned language model as an ordinary masked (or causal) LM folder,
which ``pipeline("fill-mask", model="out/lm")`` or ``AutoModelForMaskedLM.from_pretrained(out, subfolder="lm")``
loads, with its tokenizer and ``prompt.json``: the template, the verbalizer and how the words are scored, so that
a few lines of transformers classify as the package does (:data:`PLAIN_USAGE`, the snippet the PET card shows).

With learned prompt vectors (p-tuning), the vectors, computed once by the model's prompt encoder, are saved as a PEFT
p-tuning adapter in ``prompt_adapter/`` (PEFT's ``PromptEncoderConfig``, in inference mode: PEFT saves the same
vectors) when PEFT puts them where the template does: a causal LM, one ``{soft:N}`` that opens the template, and a
tokenizer that puts no special token first (PEFT writes its virtual tokens before everything).

p-tuning on a masked LM has no PEFT form (PEFT's prompt learning puts the vectors first and scores no blank): the
folder itself loads as a custom model instead, as on the Hub. :func:`save_remote_code` copies the standalone
:mod:`~plm_recipes.prompting.modeling_prompt_lm` (and the ``template_pieces.py`` it imports) beside the weights
and writes an ``auto_map`` into ``config.json``, so that ``AutoModel.from_pretrained(folder, trust_remote_code=True)``
loads it where this package is not installed (:data:`REMOTE_CODE_USAGE`). Nothing in this package passes
``trust_remote_code``: the user who loads the folder opts in. Other p-tuning models (a causal LM whose vectors are
not first) are not exported.
"""

from __future__ import annotations

import json
import os
import shutil

import torch
from peft import PromptEncoderConfig
from safetensors.torch import save_file

from . import modeling_prompt_lm, template_pieces
from .modeling import PromptLMModel
from .template import Template
from .template_pieces import special_tokens

PLAIN_LM_FOLDER = "lm"
PROMPT_FILE = "prompt.json"
ADAPTER_FOLDER = "prompt_adapter"
REMOTE_CODE_FILES = [module.__file__ for module in (modeling_prompt_lm, template_pieces)]  # the second: the first's
# what ``register_for_auto_class`` would write for the standalone classes
AUTO_MAP = {"AutoConfig": "modeling_prompt_lm.PromptLMConfig", "AutoModel": "modeling_prompt_lm.MaskedPromptLMModel"}

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

# The card's snippet for p-tuning on a causal LM: the language model with the PEFT adapter of the learned vectors.
P_TUNING_USAGE = """\
Without plm-recipes: the language model is also saved as a plain causal LM in `lm/`, the learned prompt vectors as a
PEFT p-tuning adapter in `prompt_adapter/` (PEFT puts them before the text, where the template has them), and the
template and the verbalizer in `lm/prompt.json`. These lines give the labels of `PromptClassifier` (a word scores the
mean log-probability of its tokens plus that of the template's rest after it; a label the mean of its words'):

```python
import json

import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer
from transformers.utils import cached_file

prompt = json.load(open(cached_file("{model}", "prompt.json", subfolder="lm"), encoding="utf-8"))
tokenizer = AutoTokenizer.from_pretrained("{model}", subfolder="lm")
lm = AutoModelForCausalLM.from_pretrained("{model}", subfolder="lm")
model = PeftModel.from_pretrained(lm, "{model}", subfolder="prompt_adapter").eval()


def label_scores(text):  # a softmax over them gives PromptClassifier's scores
    def ids(piece):
        return tokenizer(piece, add_special_tokens=False).input_ids

    before, after = prompt["text_template"].replace("{textA}", text).split("{MASK}")
    scores = {}
    for label, words in prompt["label_words"].items():
        total = 0.0
        for word in words:
            target = ids(word) + ids(after) + prompt["end_ids"]  # scored after the text up to the blank
            with torch.no_grad():
                logits = model(input_ids=torch.tensor([ids(before) + target])).logits[0, -len(target) - 1:-1]
            logprobs = logits.log_softmax(-1)[range(len(target)), target]
            total += float(logprobs[:len(ids(word))].mean() + logprobs[len(ids(word)):].sum())
        scores[label] = total / len(words)
    return scores


def classify(text):
    scores = label_scores(text)
    return max(scores, key=scores.get)


classify("房间干净，早餐也不错")
```
"""


# The card's snippet for p-tuning on a masked LM: the folder with its own code.
REMOTE_CODE_USAGE = """\
Without plm-recipes, transformers runs the model code saved in the folder (`modeling_prompt_lm.py`,
`template_pieces.py`: read them first, as for any model with custom code; PEFT has no form for learned vectors around
a masked LM's blank). These lines give the label scores and labels of `PromptClassifier`:

```python
import torch
from transformers import AutoModel, AutoTokenizer

# trust_remote_code runs the modeling_prompt_lm.py saved in this folder: read it first. With plm-recipes installed,
# importing the package registers the model and this flag is not needed. (The tokenizer reads the same config.)
tokenizer = AutoTokenizer.from_pretrained("{model}", trust_remote_code=True)
model = AutoModel.from_pretrained("{model}", trust_remote_code=True).eval()


def label_scores(text):  # a softmax over them gives PromptClassifier's scores
    with torch.no_grad():  # the template written around the text, learned vectors and blank included
        logits = model(**model.prompt_inputs(tokenizer, [text])).logits[0]
    return dict(zip(model.config.labels, logits.tolist()))


def classify(text):
    scores = label_scores(text)
    return max(scores, key=scores.get)


classify("房间干净，早餐也不错")
```
"""


def export_for_transformers(model: PromptLMModel, tokenizer, output_dir: str | os.PathLike) -> str:
    """Write what lets plain transformers use ``model`` (saved in ``output_dir``) and return the card's snippet for
    it: a plain LM (:func:`save_plain_lm`), or for p-tuning on a masked LM the folder's own code
    (:func:`save_remote_code`); ``""`` when there is nothing to show."""
    config = model.config
    soft = Template(config.template).num_soft_tokens
    if soft and config.lm_type == "masked":
        save_remote_code(model, output_dir)
        return REMOTE_CODE_USAGE
    if not save_plain_lm(model, tokenizer, output_dir) or (config.token_reduction, config.word_reduction) != (
            "mean", "mean"):
        return ""  # the plain snippets score with the mean reductions
    return PLAIN_USAGE if config.lm_type == "masked" else P_TUNING_USAGE if soft else ""


def save_remote_code(model: PromptLMModel, output_dir: str | os.PathLike) -> None:
    """Make the saved folder ``output_dir`` of a masked-LM ``model`` load with ``AutoModel.from_pretrained(folder,
    trust_remote_code=True)``: the standalone code beside its weights, and ``auto_map`` in its ``config.json``."""
    for path in REMOTE_CODE_FILES:
        shutil.copyfile(path, os.path.join(output_dir, os.path.basename(path)))
    model.config.auto_map = dict(AUTO_MAP)
    model.config.save_pretrained(output_dir)


def save_plain_lm(model: PromptLMModel, tokenizer, output_dir: str | os.PathLike) -> str | None:
    """Write ``output_dir/lm``: ``model``'s language model (``save_pretrained``: config, safetensors), the tokenizer
    and ``prompt.json``, and with learned vectors the PEFT adapter ``output_dir/prompt_adapter``; returns the
    folder, or ``None`` for learned vectors PEFT cannot place (nothing is written).
    """
    config = model.config
    template = Template(config.template)
    soft = [part for part in template.parts if part.kind == "soft"]
    extra = {}
    if soft:
        first, last = special_tokens(tokenizer)
        if config.lm_type != "causal" or len(soft) > 1 or template.parts[0] is not soft[0] or first:
            return None
        extra = {"num_virtual_tokens": soft[0].length, "text_template": template.template[
            template.template.index("}") + 1:], "end_ids": last}
        _save_p_tuning_adapter(model, os.path.join(output_dir, ADAPTER_FOLDER))
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
        **extra,
    }
    with open(os.path.join(folder, PROMPT_FILE), "w", encoding="utf-8") as f:
        json.dump(prompt, f, ensure_ascii=False, indent=2)
        f.write("\n")
    return folder


def _save_p_tuning_adapter(model: PromptLMModel, folder: str) -> None:
    """The learned vectors as a PEFT p-tuning adapter for a causal LM: in inference mode a ``PromptEncoder`` is its
    embedding, which PEFT saves as ``prompt_embeddings``, so the vectors the prompt encoder gives are saved as is."""
    with torch.no_grad():
        vectors = model.prompt_encoder().detach().float().cpu().contiguous()
    PromptEncoderConfig(
        task_type="CAUSAL_LM", num_virtual_tokens=vectors.shape[0], token_dim=vectors.shape[1],
        encoder_hidden_size=vectors.shape[1], num_transformer_submodules=1, inference_mode=True,
    ).save_pretrained(folder)
    save_file({"prompt_embeddings": vectors}, os.path.join(folder, "adapter_model.safetensors"))
