"""Which weights train, and at which learning rate.

Frozen: the input word embeddings (``--freeze_word_embeddings``), or the embeddings plus the first N transformer
layers (``--freeze_layers``); weights the checkpoint lacks (a new head) and word embeddings tied to an output layer
always train. Rates: ``--learning_rate_mapping`` (name patterns to rates) and ``--new_parameters_learning_rate``
(weights the checkpoint lacks) put parameters in optimizer groups of their own (:func:`learning_rate_groups`). The
trainer mixin applies all of it when it builds the optimizer."""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Mapping

from torch import nn
from transformers import PreTrainedModel

from .errors import ArgumentError

logger = logging.getLogger(__name__)


# --- word embeddings --------------------------------------------------------------------------------------


def input_embeddings(model: nn.Module) -> tuple[nn.Module, PreTrainedModel | None] | None:
    """The input word embedding module of ``model`` (a transformers model, or a module holding one, such as a
    sentence-transformers model) and the transformers model it belongs to."""
    owner = model if isinstance(model, PreTrainedModel) else next(
        (m for m in model.modules() if isinstance(m, PreTrainedModel)), None)
    if owner is None:
        return None
    try:
        return owner.get_input_embeddings(), owner
    except (NotImplementedError, AttributeError):
        return None


def apply_freeze_word_embeddings(model: nn.Module, setting: bool | None, new_parameters: Collection[str] = ()) -> bool:
    """Freeze the input word embeddings of ``model`` according to ``setting``; returns whether they are frozen.

    ``True`` freezes, ``False`` leaves them alone, ``None`` decides: freeze when the checkpoint provided them
    (they are not in ``new_parameters``) and no output layer shares their weights (a language-model head tied to
    them must keep training).
    """
    found = input_embeddings(model)
    if setting is False or found is None:
        return False
    embeddings, owner = found
    weight = getattr(embeddings, "weight", None)
    if setting is None:
        names = {id(p): n for n, p in model.named_parameters()}
        if weight is None or names.get(id(weight)) in set(new_parameters):
            return False
        output = owner.get_output_embeddings() if hasattr(owner, "get_output_embeddings") else None
        if output is not None and getattr(output, "weight", None) is weight:
            return False
    embeddings.requires_grad_(False)
    frozen = sum(p.numel() for p in embeddings.parameters())
    logger.info("Froze the word embeddings (%.1fM parameters; --freeze_word_embeddings false trains them).",
                frozen / 1e6)
    return True


# --- layers -----------------------------------------------------------------------------------------------

# config attributes that count a model's transformer layers (an encoder-decoder counts each stack)
_LAYER_COUNTS = ("num_hidden_layers", "num_layers", "num_decoder_layers", "encoder_layers", "decoder_layers")


def transformer_layers(model: nn.Module) -> list[tuple[PreTrainedModel, str, nn.ModuleList]]:
    """The stacks of transformer layers in ``model`` (a transformers model, or any module holding some: a
    sentence-transformers model, a recipe's wrapper, TRL's policy-and-value wrapper), as ``(owner, name, stack)``:
    in each transformers model inside it whose config counts its layers, every ``nn.ModuleList`` with as many blocks
    as one of those counts (an encoder-decoder's two stacks), named within that model. Outermost models first; a
    model inside one whose stacks were found is part of it."""
    found, claimed = [], set()
    for owner in model.modules():
        if not isinstance(owner, PreTrainedModel) or id(owner) in claimed:
            continue
        config = owner.config.get_text_config() if hasattr(owner.config, "get_text_config") else owner.config
        counts = {value for key in _LAYER_COUNTS if isinstance(value := getattr(config, key, None), int) and value}
        stacks: list[tuple[str, nn.ModuleList]] = []
        for name, module in owner.named_modules():
            if isinstance(module, nn.ModuleList) and len(module) in counts and not any(
                    name.startswith(outer + ".") for outer, _ in stacks):  # not a list inside a layer
                stacks.append((name, module))
        if stacks:
            found += [(owner, name, stack) for name, stack in stacks]
            claimed |= {id(m) for m in owner.modules()}
    return found


def _below(owner: nn.Module, name: str, stacks: Collection[int]) -> list[nn.Module]:
    """The modules that come before the stack ``name`` of ``owner``: on the way from ``owner`` down to the stack,
    the children each module registers before the one that leads to the stack (transformers registers them in the
    order of the forward pass: BERT's ``embeddings`` before its ``encoder``, Llama's ``embed_tokens`` before its
    ``layers``), except those that hold a stack of their own (an encoder-decoder's encoder, for its decoder)."""
    below, module = [], owner
    for part in name.split("."):
        for child_name, child in module.named_children():
            if child_name == part:
                break
            if not any(id(m) in stacks for m in child.modules()):
                below.append(child)
        module = getattr(module, part)
    return below


def apply_freeze_layers(model: nn.Module, count: int, new_parameters: Collection[str] = ()) -> int:
    """Freeze the first ``count`` layers of every stack of :func:`transformer_layers` and what comes before them
    (the embeddings: BERT's word, position and token-type embeddings with their LayerNorm, T5's shared
    embeddings, ...); returns how many parameters that froze. Never frozen: ``new_parameters`` (weights the
    checkpoint did not have, such as a soft prompt or a new head) and word embeddings tied to an output layer (a
    language-model head must keep training). A stack with fewer than ``count`` layers, or a model with none, is an
    :class:`ArgumentError`."""
    if not count:
        return 0
    found = transformer_layers(model)
    if not found:
        raise ArgumentError(f"--freeze_layers {count}: found no stack of transformer layers in "
                            f"{type(model).__name__} (a list of as many blocks as its config's layer count)")
    stacks = {id(stack) for _, _, stack in found}
    modules: list[nn.Module] = []
    kept: set[int] = set()  # tied to an output layer
    for owner, name, stack in found:
        if count > len(stack):
            raise ArgumentError(f"--freeze_layers {count}: {type(owner).__name__}.{name} has {len(stack)} layers")
        modules += [*stack[:count], *_below(owner, name, stacks)]
        output = owner.get_output_embeddings() if hasattr(owner, "get_output_embeddings") else None
        if output is not None and getattr(output, "weight", None) is not None:
            kept.add(id(output.weight))
    new = set(new_parameters)
    names = {id(p): n for n, p in model.named_parameters()}
    below = {id(p): p for module in modules for p in module.parameters()}
    frozen = [p for key, p in below.items() if key not in kept and names.get(key) not in new]
    for parameter in frozen:
        parameter.requires_grad_(False)
    total = sum(p.numel() for p in frozen)
    if not total:
        logger.warning("--freeze_layers %d froze nothing: every weight there is new (not in the checkpoint) or "
                       "tied to the output layer.", count)
        return 0
    logger.info("Froze the first %d layers of %s and the embeddings below them (%.1fM parameters; "
                "--freeze_layers)%s.", count, ", ".join(f"{name} ({len(stack)})" for _, name, stack in found),
                total / 1e6, "; the word embeddings tied to the output layer train" if kept & below.keys() else "")
    return total


# --- learning rates ---------------------------------------------------------------------------------------


def learning_rate_groups(model: nn.Module, decay: Collection[str], weight_decay: float, mapping: Mapping[str, float],
                         new_parameters: Collection[str] = (), new_rate: float | None = None) -> list[dict]:
    """The optimizer's parameter groups for ``model``'s trainable parameters: those whose name matches a pattern of
    ``mapping`` (a regular expression searched in the name; the first that matches wins) get its rate,
    ``new_parameters`` get ``new_rate`` when it is set, the rest the optimizer's default rate; parameters named in
    ``decay`` get ``weight_decay``, the others none. A pattern that matches nothing is an error (a typo would
    otherwise train at the default rate unnoticed)."""
    trainable = [(name, param) for name, param in model.named_parameters() if param.requires_grad]
    groups: dict[tuple[float | None, bool], list] = {}
    matched = dict.fromkeys(mapping, 0)
    for name, param in trainable:
        pattern = next((p for p in mapping if re.search(p, name)), None)
        if pattern is not None:
            matched[pattern] += 1
            lr = float(mapping[pattern])
        else:
            lr = new_rate if name in new_parameters else None
        groups.setdefault((lr, name in decay), []).append(param)
    unmatched = [p for p, count in matched.items() if not count]
    if unmatched:
        raise ArgumentError(f"--learning_rate_mapping: {', '.join(map(repr, unmatched))} matches no trainable "
                            f"parameter (their names look like {trainable[0][0] if trainable else None!r})")
    for pattern, count in matched.items():
        logger.info("Learning rate %g for the %d parameters matching %r", float(mapping[pattern]), count, pattern)
    return [{"params": params, "weight_decay": weight_decay if decayed else 0.0,
             **({"lr": lr} if lr is not None else {})}
            for (lr, decayed), params in groups.items()]
