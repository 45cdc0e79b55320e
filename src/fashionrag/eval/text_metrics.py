"""Caption text metrics, implemented here in pure Python (no nltk / pycocoevalcap needed at run time).

All functions take ``hypotheses`` (one string per image) and ``references`` (per image, one string or a list of
strings) and tokenise both with :func:`tokenize` (lower case, runs of ASCII letters and digits).

What is implemented, and how it relates to the usual reference implementations:

- :func:`corpus_bleu` — BLEU-4 as in Papineni et al. 2002 and ``nltk.translate.bleu_score.corpus_bleu``: clipped
  n-gram counts summed over the corpus, uniform weights, brevity penalty against the *closest* reference length
  (ties: the shorter). Smoothing: ``None`` (any zero precision gives 0), ``"epsilon"`` (nltk method1: a zero count
  becomes ``epsilon``), ``"add1"`` (nltk method2: +1 to numerator and denominator for n >= 2).
- :func:`meteor` — METEOR after Banerjee & Lavie 2005 with nltk's parameters (alpha 0.9, beta 3, gamma 0.5):
  stage 1 exact matches, stage 2 matches of stems from a light suffix stemmer (:func:`stem`; not Porter), no
  WordNet synonym stage; greedy left-to-right alignment. Best over references; corpus score = mean of sentences.
  Expect values close to, not identical with, nltk's ``meteor_score``.
- :func:`rouge_l` — ROUGE-L F-measure from the longest common subsequence, beta 1.2, with the best precision and
  best recall over references taken separately (as in the COCO caption toolkit). Corpus score = mean.
- :func:`cider_d` — CIDEr-D (Vedantam et al. 2015, COCO toolkit variant): TF-IDF n-gram vectors for n = 1..4 with
  document frequencies from the references of the evaluated corpus, hypothesis counts clipped by the reference's,
  Gaussian length penalty (sigma 6, lengths in tokens), mean over n and references, times 10. With one image the
  IDF is 0 and so is CIDEr: evaluate a corpus.
- :func:`distinct_n` — distinct-1/2 (Li et al. 2016): unique n-grams / all n-grams over all hypotheses.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Optional, Sequence, Union

References = Sequence[Union[str, Sequence[str]]]

_TOKEN = re.compile(r"[a-z0-9]+")


def tokenize(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def _refs(references: References, n_hyp: int) -> list[list[list[str]]]:
    if len(references) != n_hyp:
        raise ValueError(f"{n_hyp} hypotheses but {len(references)} reference sets")
    out = []
    for r in references:
        group = [r] if isinstance(r, str) else list(r)
        if not group:
            raise ValueError("every hypothesis needs at least one reference")
        out.append([tokenize(x) for x in group])
    return out


def ngrams(tokens: Sequence[str], n: int) -> Counter:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


# --- BLEU ----------------------------------------------------------------------------------------------------------
def corpus_bleu(
    hypotheses: Sequence[str],
    references: References,
    *,
    max_n: int = 4,
    smoothing: Optional[str] = None,
    epsilon: float = 0.1,
) -> float:
    """Corpus BLEU-``max_n`` in [0, 1] (see module docstring for the smoothing options)."""
    if smoothing not in (None, "epsilon", "add1"):
        raise ValueError("smoothing must be None, 'epsilon' or 'add1'")
    refs = _refs(references, len(hypotheses))
    numer = [0] * (max_n + 1)
    denom = [0] * (max_n + 1)
    hyp_len = ref_len = 0
    for hyp_text, ref_group in zip(hypotheses, refs):
        hyp = tokenize(hyp_text)
        hyp_len += len(hyp)
        ref_len += min((len(r) for r in ref_group), key=lambda rl: (abs(rl - len(hyp)), rl))
        for n in range(1, max_n + 1):
            counts = ngrams(hyp, n)
            max_ref: Counter = Counter()
            for r in ref_group:
                for g, c in ngrams(r, n).items():
                    max_ref[g] = max(max_ref[g], c)
            numer[n] += sum(min(c, max_ref[g]) for g, c in counts.items())
            denom[n] += max(1, sum(counts.values())) if counts else 1
    if hyp_len == 0 or numer[1] == 0:
        return 0.0
    log_p = 0.0
    for n in range(1, max_n + 1):
        num, den = float(numer[n]), float(denom[n])
        if smoothing == "add1" and n >= 2:
            num, den = num + 1, den + 1
        elif num == 0:
            if smoothing is None:
                return 0.0
            num = epsilon
        log_p += math.log(num / den) / max_n
    bp = 1.0 if hyp_len > ref_len else math.exp(1 - ref_len / hyp_len)
    return bp * math.exp(log_p)


# --- METEOR --------------------------------------------------------------------------------------------------------
def stem(word: str) -> str:
    """A light English suffix stripper (plural -s/-es/-ies, -ing, -ed, -ly): enough to match shirt/shirts,
    styled/styling; not the Porter stemmer."""
    w = word.lower()
    if len(w) > 4 and w.endswith("ies"):
        return w[:-3] + "y"
    if len(w) > 4 and re.search(r"(sses|xes|zes|ches|shes)$", w):
        return w[:-2]
    if len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us", "is")):
        return w[:-1]
    for suffix in ("ing", "ed", "ly"):
        if len(w) > len(suffix) + 3 and w.endswith(suffix):
            base = w[: -len(suffix)]
            return base[:-1] if len(base) > 2 and base[-1] == base[-2] else base
    return w


def _align(hyp: list[str], ref: list[str]) -> list[tuple[int, int]]:
    matches: list[tuple[int, int]] = []
    used_h: set[int] = set()
    used_r: set[int] = set()
    for key in (lambda w: w, stem):
        ref_keys = [key(w) for w in ref]
        for i, w in enumerate(hyp):
            if i in used_h:
                continue
            k = key(w)
            for j, rk in enumerate(ref_keys):
                if j not in used_r and rk == k:
                    matches.append((i, j))
                    used_h.add(i)
                    used_r.add(j)
                    break
    return sorted(matches)


def meteor_sentence(hyp: list[str], ref: list[str], *, alpha: float = 0.9, beta: float = 3.0,
                    gamma: float = 0.5) -> float:
    if not hyp or not ref:
        return 0.0
    matches = _align(hyp, ref)
    m = len(matches)
    if m == 0:
        return 0.0
    precision, recall = m / len(hyp), m / len(ref)
    fmean = precision * recall / (alpha * precision + (1 - alpha) * recall)
    chunks = 1
    for (h0, r0), (h1, r1) in zip(matches, matches[1:]):
        if not (h1 == h0 + 1 and r1 == r0 + 1):
            chunks += 1
    penalty = gamma * (chunks / m) ** beta
    return fmean * (1 - penalty)


def meteor(hypotheses: Sequence[str], references: References) -> float:
    """Mean sentence METEOR (exact + stem stages), best over references."""
    refs = _refs(references, len(hypotheses))
    if not hypotheses:
        return 0.0
    scores = [max(meteor_sentence(tokenize(h), r) for r in group) for h, group in zip(hypotheses, refs)]
    return sum(scores) / len(scores)


# --- ROUGE-L -------------------------------------------------------------------------------------------------------
def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    if not a or not b:
        return 0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def rouge_l(hypotheses: Sequence[str], references: References, *, beta: float = 1.2) -> float:
    """Mean ROUGE-L F-measure (COCO style: best precision and best recall over references)."""
    refs = _refs(references, len(hypotheses))
    if not hypotheses:
        return 0.0
    total = 0.0
    for h_text, group in zip(hypotheses, refs):
        hyp = tokenize(h_text)
        precs, recs = [], []
        for r in group:
            lcs = lcs_length(hyp, r)
            precs.append(lcs / len(hyp) if hyp else 0.0)
            recs.append(lcs / len(r) if r else 0.0)
        p, rc = max(precs), max(recs)
        total += ((1 + beta**2) * p * rc) / (rc + beta**2 * p) if p > 0 and rc > 0 else 0.0
    return total / len(hypotheses)


# --- CIDEr-D -------------------------------------------------------------------------------------------------------
def cider_d(hypotheses: Sequence[str], references: References, *, max_n: int = 4, sigma: float = 6.0) -> float:
    """Corpus CIDEr-D (mean over images, x10)."""
    refs = _refs(references, len(hypotheses))
    if not hypotheses:
        return 0.0
    ref_counts = [[[ngrams(r, n) for n in range(1, max_n + 1)] for r in group] for group in refs]
    df: Counter = Counter()
    for group in ref_counts:
        df.update({g for rc in group for per_n in rc for g in per_n})
    log_n_images = math.log(float(len(hypotheses)))

    def vec(counts: list[Counter]) -> tuple[list[dict], list[float]]:
        vectors, norms = [], []
        for per_n in counts:
            v = {g: tf * (log_n_images - math.log(max(1.0, df[g]))) for g, tf in per_n.items()}
            vectors.append(v)
            norms.append(math.sqrt(sum(x * x for x in v.values())))
        return vectors, norms

    total = 0.0
    for h_text, group, group_counts in zip(hypotheses, refs, ref_counts):
        hyp = tokenize(h_text)
        vh, nh = vec([ngrams(hyp, n) for n in range(1, max_n + 1)])
        score = 0.0
        for r, rc in zip(group, group_counts):
            vr, nr = vec(rc)
            delta = len(hyp) - len(r)
            per_n = 0.0
            for n in range(max_n):
                val = sum(min(x, vr[n].get(g, 0.0)) * vr[n].get(g, 0.0) for g, x in vh[n].items())
                if nh[n] and nr[n]:
                    val /= nh[n] * nr[n]
                per_n += val * math.exp(-(delta**2) / (2 * sigma**2))
            score += per_n / max_n
        total += 10.0 * score / len(group)
    return total / len(hypotheses)


# --- diversity -----------------------------------------------------------------------------------------------------
def distinct_n(hypotheses: Sequence[str], n: int) -> float:
    """Unique n-grams / all n-grams over the whole set of hypotheses (0 when there are none)."""
    counts: Counter = Counter()
    for h in hypotheses:
        counts.update(ngrams(tokenize(h), n))
    total = sum(counts.values())
    return len(counts) / total if total else 0.0


def caption_metrics(hypotheses: Sequence[str], references: References) -> dict[str, float]:
    """All metrics at once, with the key names ``fashionrag eval caption`` reports."""
    return {
        "bleu4": corpus_bleu(hypotheses, references, smoothing="epsilon"),
        "meteor": meteor(hypotheses, references),
        "rouge_l": rouge_l(hypotheses, references),
        "cider": cider_d(hypotheses, references),
        "distinct_1": distinct_n(hypotheses, 1),
        "distinct_2": distinct_n(hypotheses, 2),
    }
