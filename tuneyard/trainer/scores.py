"""Text-overlap scores of generated replies: BLEU-4 and ROUGE-1/2/L, for any script.

Words are cut the way the text's script needs: every Han character, kana and Hangul
syllable is a token of its own (Chinese and Japanese have no spaces; character-level
scores are what the vendors report for them, and Korean syllables get the same treatment
so that agglutinated endings do not make whole words miss), runs of other letters and
digits are words (lower-cased), and each other non-space character is a token. So "東京
に行く" and "I went to Tokyo." both score by content, where `rouge-score`'s ASCII-only
tokenizer would drop the Japanese text entirely.

All scores are fractions in [0, 1]. BLEU-4 is corpus-level (clipped n-gram precisions
summed over all pairs, geometric mean, brevity penalty) as in Papineni et al.; ROUGE-N and
ROUGE-L are the mean over pairs of the F1 of n-gram overlap and of the longest common
subsequence.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

__all__ = ["bleu4", "rouge", "tokens"]

_CJK = (
    "\u1100-\u11ff"  # Hangul Jamo
    "\u2e80-\u2fdf"  # CJK radicals
    "\u3040-\u30ff"  # Hiragana, Katakana
    "\u3100-\u312f"  # Bopomofo
    "\u3130-\u318f"  # Hangul compatibility Jamo
    "\u31f0-\u31ff"  # Katakana extensions
    "\u3400-\u4dbf"  # CJK extension A
    "\u4e00-\u9fff"  # CJK unified ideographs
    "\uac00-\ud7af"  # Hangul syllables
    "\uf900-\ufaff"  # CJK compatibility ideographs
    "\uff66-\uff9f"  # half-width Katakana
    "\U00020000-\U0002fa1f"  # CJK extensions B-F, compatibility supplement
)
_TOKEN = re.compile(rf"[{_CJK}]|[^\W{_CJK}]+|[^\w\s]", re.UNICODE)


def tokens(text: str) -> list[str]:
    """The scoring tokens of `text` (see the module docstring)."""
    return [t.lower() for t in _TOKEN.findall(text)]


def _ngrams(words: Sequence[str], n: int) -> Counter[tuple[str, ...]]:
    return Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))


def bleu4(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """Corpus BLEU-4 with uniform weights; 0.0 when any n-gram order has no match."""
    _same_length(hypotheses, references)
    matches = [0] * 4
    totals = [0] * 4
    hyp_len = ref_len = 0
    for hypothesis, reference in zip(hypotheses, references, strict=True):
        hyp, ref = tokens(hypothesis), tokens(reference)
        hyp_len += len(hyp)
        ref_len += len(ref)
        for n in range(1, 5):
            grams, ref_grams = _ngrams(hyp, n), _ngrams(ref, n)
            matches[n - 1] += sum(min(c, ref_grams[g]) for g, c in grams.items())
            totals[n - 1] += max(0, len(hyp) - n + 1)
    if hyp_len == 0 or min(matches) == 0:
        return 0.0
    log_precision = sum(math.log(m / t) for m, t in zip(matches, totals, strict=True)) / 4
    brevity = 1.0 if hyp_len > ref_len else math.exp(1 - ref_len / hyp_len)
    return brevity * math.exp(log_precision)


def rouge(hypotheses: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """Mean ROUGE-1, ROUGE-2 and ROUGE-L F1 over the pairs."""
    _same_length(hypotheses, references)
    totals = {"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0}
    for hypothesis, reference in zip(hypotheses, references, strict=True):
        hyp, ref = tokens(hypothesis), tokens(reference)
        for n, key in ((1, "rouge1"), (2, "rouge2")):
            grams, ref_grams = _ngrams(hyp, n), _ngrams(ref, n)
            overlap = sum((grams & ref_grams).values())
            totals[key] += _f1(overlap, sum(grams.values()), sum(ref_grams.values()))
        totals["rougeL"] += _f1(_lcs(hyp, ref), len(hyp), len(ref))
    count = max(1, len(hypotheses))
    return {key: value / count for key, value in totals.items()}


def _f1(overlap: int, hyp_total: int, ref_total: int) -> float:
    if overlap == 0 or hyp_total == 0 or ref_total == 0:
        return 0.0
    precision, recall = overlap / hyp_total, overlap / ref_total
    return 2 * precision * recall / (precision + recall)


def _lcs(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence (O(len(a)·len(b)) time, O(len(b)) space)."""
    if not a or not b:
        return 0
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b, start=1):
            current.append(previous[j - 1] + 1 if x == y else max(previous[j], current[j - 1]))
        previous = current
    return previous[-1]


def _same_length(hypotheses: Sequence[str], references: Sequence[str]) -> None:
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references")
