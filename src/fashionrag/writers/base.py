"""The writer interface, its registry, and the one place where grounding is enforced.

A writer only has to *draft* (caption + hashtags) from an :class:`EvidencePack`. :meth:`Writer.write` wraps every
draft in the same policy, so no writer can skip it:

1. a photo without garments gets an empty result (never an invented caption);
2. a writer that fails (endpoint down, HTTP error, non-JSON reply) is replaced by the ``template`` writer and the
   result says why (``fallback_reason``);
3. the grounding guard checks caption and hashtags: no contradiction of the evidence, the caption names the main
   garment, every hashtag comes from the evidence or the style vocabulary (so an obeyed prompt injection in a
   neighbour's title fails). On a violation the writer gets one retry with feedback, then the ``template`` writer
   takes over; ``guard_report`` records what was found and done.
"""

from __future__ import annotations

import abc
import logging
import re
from dataclasses import dataclass, field
from typing import Optional

from ..core.errors import FashionRAGError, InvalidInputError, ModelUnavailableError
from ..core.registry import Registry
from ..core.evidence import STYLES, CaptionResult, EvidencePack, GuardReport, GuardViolation
from . import hashtags as hashtag_lib
from . import guard

log = logging.getLogger(__name__)

MAX_SENTENCES = 3
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'])")


@dataclass
class Draft:
    """What a writer produced, before the guard."""

    caption: str
    hashtags: list[str] = field(default_factory=list)


class Writer(abc.ABC):
    """A caption writer. Subclasses implement :meth:`draft`; callers use :meth:`write`."""

    #: Registry name.
    name: str = "writer"
    #: Model name reported in results (LLM writers).
    model: Optional[str] = None
    #: Whether hashtags from the evidence are merged into the writer's own (LLM writers: yes).
    merge_evidence_hashtags: bool = True
    #: Whether :meth:`draft` needs the photo (``image=``): image-to-text baselines such as ``captioner``.
    needs_image: bool = False
    #: False for a baseline that must be scored as it is: the guard still checks and reports, but the text is kept
    #: (no retry, no template fallback).
    guard_fallback: bool = True

    @abc.abstractmethod
    def draft(
        self, evidence: EvidencePack, *, style: str, seed: int, n_hashtags: int, feedback: Optional[str] = None
    ) -> Draft:
        """Write one caption + hashtags. Raise :class:`FashionRAGError` or ``ValueError`` when it cannot."""

    # -- the policy ------------------------------------------------------------------------------------------------
    def write(
        self,
        evidence: EvidencePack,
        *,
        style: str = "instagram",
        seed: int = 0,
        platform: str = "default",
        n_hashtags: Optional[int] = None,
        check: bool = True,
        include_evidence: bool = True,
        image: object = None,
    ) -> CaptionResult:
        """Caption one evidence pack, grounded (see module docstring)."""
        if style not in STYLES:
            raise InvalidInputError(f"unknown caption style {style!r}; use one of: {', '.join(STYLES)}")
        n = hashtag_lib.platform_count(platform, n_hashtags)
        base = dict(style=style, writer=self.name, model=self.model, image=evidence.image,
                    evidence=evidence if include_evidence else None)
        if not evidence.garments:
            report = GuardReport(checked=check, passed=True, attempts=0, actions=["no_garments"])
            return CaptionResult(caption="", hashtags=[], used_writer=self.name, guard_report=report, **base)

        violations: list[GuardViolation] = []
        actions: list[str] = []
        attempts = 0
        fallback_reason: Optional[str] = None
        feedback: Optional[str] = None
        final: Optional[Draft] = None
        for attempt in range(2 if check else 1):
            attempts += 1
            try:
                extra = {"image": image} if self.needs_image else {}
                d = self._finish(self.draft(evidence, style=style, seed=seed + attempt, n_hashtags=n,
                                            feedback=feedback, **extra), evidence, n, seed)
            except (FashionRAGError, ValueError) as exc:
                fallback_reason = f"{self.name} writer failed: {exc}"
                log.warning("%s; using the template writer", fallback_reason)
                break
            found = guard.check(evidence, d.caption, d.hashtags) if check else []
            if not self.guard_fallback:
                final = d  # kept as written; the report below lists what the guard found
                break
            violations.extend(found)
            if not found:
                final = d
                break
            if attempt == 0:
                actions.append("retry_with_feedback")
                feedback = guard.feedback(found)
        used = self.name
        if final is None:
            if fallback_reason is None:
                words = ", ".join(sorted({f"{v.kind}:{v.word}" for v in violations}))
                fallback_reason = f"grounding guard: {self.name} writer contradicted the evidence ({words})"
            actions.append("template_fallback")
            final = WRITERS.create("template").draft(evidence, style=style, seed=seed, n_hashtags=n)
            used = "template"
        remaining = guard.check(evidence, final.caption, final.hashtags) if check else []
        report = GuardReport(checked=check, passed=not remaining, attempts=attempts,
                             violations=violations + remaining, actions=actions)
        return CaptionResult(caption=final.caption, hashtags=final.hashtags, used_writer=used,
                             fallback_reason=fallback_reason, guard_report=report, **base)

    def _finish(self, d: Draft, evidence: EvidencePack, n: int, seed: int) -> Draft:
        """Normalise the writer's hashtags and top them up from the evidence; keep at most three sentences."""
        own = hashtag_lib.dedupe(t for t in (hashtag_lib.normalize(x) for x in d.hashtags) if t)
        if self.merge_evidence_hashtags:
            own = hashtag_lib.merge(own, hashtag_lib.make_hashtags(evidence, count=n, seed=seed), n)
        sentences = _SENTENCE_END.split(" ".join(d.caption.split()))
        return Draft(caption=" ".join(sentences[:MAX_SENTENCES]), hashtags=own[:n])

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, model={self.model!r})"


# --- registry --------------------------------------------------------------------------------------------------------
#: Writer names -> factory(**options).
WRITERS: Registry[Writer] = Registry(
    "writer",
    builtins=("fashionrag.writers.template", "fashionrag.writers.openai_compat", "fashionrag.writers.hf_causal",
              "fashionrag.writers.captioner"),
    error=ModelUnavailableError,
)
register = WRITERS.register


def available() -> list[str]:
    return WRITERS.names()


def create(name: str = "template", **kwargs) -> Writer:
    """Create a writer by name: ``template`` (default, offline), ``openai`` (any OpenAI-compatible endpoint),
    ``transformers`` (a local Hugging Face causal LM; ``model=`` a directory or hub id already in the cache)."""
    return WRITERS.create(name, **kwargs)
