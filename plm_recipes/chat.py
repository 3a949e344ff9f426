"""Chat templates as every family renders them (the LLM backends, causal QA): a conversation to the prompt text,
thinking turned off, and the text that ends an assistant's answer."""

from __future__ import annotations

from collections.abc import Sequence

from .errors import ArgumentError

Conversation = Sequence[dict[str, str]]


# Keyword arguments every chat template render gets: thinking templates (Qwen3) answer directly, and templates
# that do not know the variable ignore it (jinja leaves unknown variables undefined).
TEMPLATE_KWARGS = {"enable_thinking": False}


def render_chat(tokenizer, messages: Conversation, *, add_generation_prompt: bool = True) -> str:
    """``messages`` through ``tokenizer``'s chat template, as text, ending with the assistant's turn opening."""
    if not getattr(tokenizer, "chat_template", None):
        raise ArgumentError("the model's tokenizer has no chat template (tokenizer_config.json 'chat_template', or "
                            "chat_template.jinja); use an instruction-tuned (chat) model")
    return tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=add_generation_prompt,
                                         **TEMPLATE_KWARGS)


def turn_end_text(tokenizer) -> str:
    """What the chat template writes right after an assistant answer (``<|im_end|>`` for ChatML templates, the
    ``eos_token`` for others); option scoring scores it after the option, so that an option which is the
    beginning of another (``电脑`` / ``电脑配件``) is not preferred for ending early."""
    marker = "\u2063OPTION\u2063"
    probe = [{"role": "user", "content": "?"}, {"role": "assistant", "content": marker}]
    try:
        rendered = tokenizer.apply_chat_template(probe, tokenize=False, **TEMPLATE_KWARGS)
    except Exception:  # a template that refuses the probe: fall back to the end-of-sequence token
        rendered = ""
    if marker in rendered:
        after = rendered.split(marker, 1)[1].strip()
        if after:
            ids = tokenizer(after, add_special_tokens=False)["input_ids"]
            if ids:
                return tokenizer.decode(ids[:1])
    if tokenizer.eos_token is None:
        raise ArgumentError("cannot tell where the model's answers end: the chat template writes nothing after an "
                            "answer and the tokenizer has no eos_token")
    return tokenizer.eos_token

