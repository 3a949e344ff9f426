"""Generation metrics at the character level, for Chinese (no spaces to split words on): BLEU-1..4, ROUGE-L, exact
match and character F1, computed locally.

``rouge_score``'s default tokenizer keeps only ``[a-z0-9]`` and scores Chinese text 0 (evaluate #256), and
``evaluate.load`` downloads the metric code: this module needs neither. Texts are compared as sequences of
characters, whitespace removed, Latin letters lower-cased.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import datasets
import evaluate


def characters(text: str) -> list[str]:
    """The characters a text is scored on: whitespace dropped, Latin letters lower-cased."""
    return [c for c in text.lower() if not c.isspace()]


def _ngrams(tokens: Sequence[str], n: int) -> Counter:
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def corpus_bleu(predictions: Sequence[str], references: Sequence[str], max_order: int = 4) -> dict[str, float]:
    """Corpus BLEU-1..``max_order`` over characters (Papineni et al., 2002): clipped n-gram precisions summed over
    the corpus, their geometric mean up to each order, times the brevity penalty. ``bleu_n`` uses orders 1..n with
    equal weights, as sacrebleu and nltk's ``corpus_bleu`` do; an order with no match makes it 0 (no smoothing).

    >>> round(corpus_bleu(["我爱北京"], ["我爱北京天安门"])["bleu_1"], 4)  # all 4 match; brevity penalty e^(1-7/4)
    0.4724
    """
    matches, totals = [0] * max_order, [0] * max_order
    prediction_length = reference_length = 0
    for prediction, reference in zip(predictions, references, strict=True):
        hyp, ref = characters(prediction), characters(reference)
        prediction_length += len(hyp)
        reference_length += len(ref)
        for n in range(1, max_order + 1):
            hyp_ngrams, ref_ngrams = _ngrams(hyp, n), _ngrams(ref, n)
            matches[n - 1] += sum(min(count, ref_ngrams[gram]) for gram, count in hyp_ngrams.items())
            totals[n - 1] += max(len(hyp) - n + 1, 0)
    if prediction_length == 0:
        brevity = 0.0
    elif prediction_length >= reference_length:
        brevity = 1.0
    else:
        brevity = math.exp(1 - reference_length / prediction_length)
    scores = {}
    log_sum = 0.0
    for n in range(1, max_order + 1):
        precision = matches[n - 1] / totals[n - 1] if totals[n - 1] else 0.0
        log_sum = log_sum + math.log(precision) if precision > 0 and log_sum != -math.inf else -math.inf
        scores[f"bleu_{n}"] = brevity * math.exp(log_sum / n) if log_sum != -math.inf else 0.0
    return scores


def _lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    if len(a) < len(b):
        a, b = b, a
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b):
            current.append(previous[j] + 1 if x == y else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F1 over characters: from the longest common subsequence (Lin, 2004; beta = 1, as ``rouge_score``).

    >>> round(rouge_l("我爱北京", "我爱北京天安门"), 4)  # LCS 4: precision 4/4, recall 4/7
    0.7273
    """
    hyp, ref = characters(prediction), characters(reference)
    if not hyp or not ref:
        return float(hyp == ref)
    lcs = _lcs_length(hyp, ref)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(hyp), lcs / len(ref)
    return 2 * precision * recall / (precision + recall)


def char_f1(prediction: str, reference: str) -> float:
    """F1 of the characters two texts share (a bag of characters, as SQuAD's token F1 and CMRC's character F1)."""
    hyp, ref = characters(prediction), characters(reference)
    if not hyp or not ref:
        return float(hyp == ref)
    common = sum((Counter(hyp) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(hyp), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def exact_match(prediction: str, reference: str) -> float:
    return float(characters(prediction) == characters(reference))


_DESCRIPTION = """\
Character-level generation metrics for Chinese: corpus BLEU-1..4, mean ROUGE-L F1, exact match and character F1.
"""

_KWARGS_DESCRIPTION = """\
Args:
    predictions (`list` of `str`): generated texts.
    references (`list` of `str`): one reference text per prediction.
Returns:
    bleu_1 .. bleu_4, rouge_l, exact_match, f1 (all between 0 and 1).
Example:
    >>> GenerationMetrics().compute(predictions=["3-7日"], references=["3-7日"])["exact_match"]
    1.0
"""


class GenerationMetrics(evaluate.Metric):
    """BLEU-1..4, ROUGE-L, exact match and F1 at the character level; instantiate directly (no download)."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION, citation="", inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": datasets.Value("string"),
                                        "references": datasets.Value("string")}),
        )

    def _compute(self, predictions, references):
        scores = corpus_bleu(predictions, references)
        n = max(len(predictions), 1)
        scores["rouge_l"] = sum(rouge_l(p, r) for p, r in zip(predictions, references)) / n
        scores["exact_match"] = sum(exact_match(p, r) for p, r in zip(predictions, references)) / n
        scores["f1"] = sum(char_f1(p, r) for p, r in zip(predictions, references)) / n
        return scores
