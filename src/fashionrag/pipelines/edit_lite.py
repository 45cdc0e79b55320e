"""The ``lite`` editor: the retrieved catalog garment's own pixels transferred onto the person, offline, on a CPU.

Not generation: a garment from the catalog is cut out of its photo and carried onto the person. Read
:meth:`LiteEditPipeline.__call__` top to bottom:

1. the person: keypoints (the user's, or MediaPipe pose mapped to OpenPose-18), the silhouette (selfie
   segmentation) and the worn garment of the category (:func:`fashionrag.editors.regions.worn_garment`);
2. the request: its colour / article type / gender / pattern words parsed against the index's own values and
   applied as filters inside the search (a filter is relaxed only when nothing matches, and the result says so);
   the gender is the person's (a vote of the photo's nearest catalog neighbours) unless the text names one;
3. retrieval of k candidates through the shared Retriever (or ``garments=`` images given directly);
4. each candidate's garment cut out of its photo (on-model: pose + segmentation + colour; product shot:
   foreground) and warped onto the person from the two photos' keypoints; the best pose fit wins (scores reported);
5. ``restyle`` when the shapes agree (the warped garment covers the worn one), else ``replace``
   (:mod:`fashionrag.editors.transfer`); every pixel outside the edit region is the input's.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter, OrderedDict
from typing import Any, Callable, Mapping, Optional, Sequence

import numpy as np
from PIL import Image

from ..core.errors import CatalogError, InvalidInputError
from ..core.images import ImageInput, load_image
from ..core.schemas import EditGarment, EditResult
from ..core.vocabulary import LONG_TOPS, SUBCATEGORY_TO_EDIT_CATEGORY
from ..retrieval.query import RELAX_ORDER, ParsedQuery, QueryParser
from ..editors.regions import GarmentRegion, product_garment, worn_garment
from ..editors.transfer import Alignment, align, replace, restyle, upscale_edit
from ..vision import keypoints as kpts
from ..vision.segmentation import studio_silhouette
from .edit_common import MAX_K, check_category, retrieve_garments
from .edit_inputs import check_mask, pose_preview

log = logging.getLogger(__name__)

MODES = ("auto", "restyle", "replace")
#: ``auto`` restyles when the warped garment covers at least this share (IoU) of the worn one.
RESTYLE_IOU = 0.6
#: Photos larger than this (long side, px) are analysed and edited on a downscaled copy; the edit is carried back
#: to full resolution with the photo's own luminance detail (catalog garments are small photos anyway).
WORK_MAX = 512


class LiteEditPipeline:
    """Offline garment transfer (see the module docstring). Components are injected: ``retriever`` (may be None
    with ``garments=`` or k = 0), ``pose_estimator(rgb) -> (33, 5) landmarks | None`` and
    ``person_segmenter(rgb) -> (H, W) probabilities`` (MediaPipe via LiteRT by default)."""

    kind = "lite"

    def __init__(self, retriever=None, *, pose_estimator: Callable[[np.ndarray], Optional[np.ndarray]] | None = None,
                 person_segmenter: Callable[[np.ndarray], np.ndarray] | None = None,
                 parser: QueryParser | None = None, default_k: int = 3, cache_size: int = 256):
        self.retriever = retriever
        self.pose_estimator, self.person_segmenter = pose_estimator, person_segmenter
        self._parser = parser
        self._type_category: dict[str, str] = {}
        self.default_k = default_k
        self._cache: "OrderedDict[str, Optional[GarmentRegion]]" = OrderedDict()
        self._cache_size = cache_size

    # -- components --------------------------------------------------------------------------------------------
    def _models(self):
        if self.pose_estimator is None:
            from ..vision.person import default_pose_estimator

            self.pose_estimator = default_pose_estimator()
        if self.person_segmenter is None:
            from ..vision.person import default_person_segmenter

            self.person_segmenter = default_person_segmenter()
        return self.pose_estimator, self.person_segmenter

    @property
    def parser(self) -> QueryParser:
        if self._parser is None:
            if self.retriever is None:
                self._parser = QueryParser()
            else:
                rows = [self.retriever.store.get(i) or {} for i in self.retriever.store.ids()]
                self._parser = QueryParser.from_metadata(rows)
                votes: dict[str, Counter] = {}
                for m in rows:
                    if m.get("article_type") and m.get("subcategory"):
                        votes.setdefault(m["article_type"], Counter())[str(m["subcategory"]).lower()] += 1
                self._type_category = {t: SUBCATEGORY_TO_EDIT_CATEGORY[c.most_common(1)[0][0]] for t, c in votes.items()
                                       if c.most_common(1)[0][0] in SUBCATEGORY_TO_EDIT_CATEGORY}
        return self._parser

    # -- analysis ----------------------------------------------------------------------------------------------
    def analyse(self, rgb: np.ndarray, category: str, keypoints: np.ndarray | None = None, *,
                covers_thighs: bool = False
                ) -> tuple[Optional[np.ndarray], Optional[np.ndarray], Optional[GarmentRegion]]:
        """(keypoints, landmarks, worn garment) of one photo; a product shot gives its foreground instead.
        ``covers_thighs``: the garment is known to be a long top (see :func:`worn_garment`)."""
        estimate, segment = self._models()
        h, w = rgb.shape[:2]
        landmarks = None
        if keypoints is None:
            landmarks = estimate(rgb)
            if landmarks is None:
                return None, None, product_garment(rgb)
            keypoints = kpts.from_mediapipe(landmarks, bounds=(w, h))
        person = studio_silhouette(rgb, segment(rgb))
        return keypoints, landmarks, worn_garment(rgb, keypoints, person, category, landmarks=landmarks,
                                                  covers_thighs=covers_thighs)

    def garment_region(self, img: Image.Image, category: str, key: Optional[str] = None, *,
                       article_type: Optional[str] = None) -> Optional[GarmentRegion]:
        """The garment of a catalog photo (cached by ``key``); its ``article_type``, when the catalog gives one, says
        whether it is a long top to be followed below the hips."""
        if key is not None and key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        _, _, region = self.analyse(np.asarray(img), category,
                                    covers_thighs=category == "upper_body" and article_type in LONG_TOPS)
        if key is not None:
            self._cache[key] = region
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return region

    def person_gender(self, image: Image.Image, category: str) -> Optional[str]:
        """The majority gender of the photo's 10 nearest catalog garments of the category (share >= 0.6)."""
        if self.retriever is None:
            return None
        try:
            vec = self.retriever.embed_images([image])
            hits = self.retriever.nearest(vec, k=10, filters=self.retriever.category_filter(category))[0]
        except Exception as exc:  # noqa: BLE001 - a gender guess must never fail the edit
            log.debug("gender vote failed: %s", exc)
            return None
        votes = Counter((h.metadata or {}).get("gender") for h in hits if (h.metadata or {}).get("gender"))
        if not votes:
            return None
        g, n = votes.most_common(1)[0]
        return g if n >= 0.6 * sum(votes.values()) else None

    # -- retrieval with named attributes --------------------------------------------------------------------------
    def _retrieve(self, query: str, category: str, k: int, exclude_ids: Sequence[str], flt: dict[str, list[str]],
                  notes: list[str]):
        flt = dict(flt)
        while True:
            try:
                return retrieve_garments(self.retriever, query, category, k, exclude_ids=exclude_ids, filters=flt), flt
            except CatalogError:
                drop = next((f for f in RELAX_ORDER if f in flt), None)
                if drop is None:
                    raise CatalogError(
                        f"nothing in the index matches {query!r} as a {category.replace('_', ' ')} garment, even "
                        "without the colour, type and gender filters; index a catalog with such garments or change "
                        "the text or --category"
                    ) from None
                notes.append(f"no {category} garment matches {drop}={'/'.join(flt[drop])}: relaxed that filter")
                del flt[drop]

    # -- the edit ----------------------------------------------------------------------------------------------
    def __call__(
        self,
        image: ImageInput,
        text: str = "",
        *,
        category: str | None = None,
        k: int | None = None,
        garments: Sequence[ImageInput] | None = None,
        exclude_ids: Sequence[str] = (),
        mask: ImageInput | np.ndarray | None = None,
        keypoints: np.ndarray | None = None,
        mode: str = "auto",
        filters: Mapping[str, Sequence[str]] | None = None,
        parse_query: bool = True,
        gender: str | None = "auto",
        seed: int | None = None,
        paste_back: bool = True,
    ) -> EditResult:
        """Transfer a retrieved (or given) garment onto the person in ``image`` after ``text``."""
        t0 = time.perf_counter()
        times: dict[str, float] = {}
        notes: list[str] = []

        def lap(name: str, since: float) -> float:
            now = time.perf_counter()
            times[name] = round(now - since, 4)
            return now

        if mode not in MODES:
            raise InvalidInputError(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
        if not paste_back:
            notes.append("the lite profile always keeps the pixels outside the edit region (paste-back has no raw image)")
        photo = load_image(image)
        full = np.asarray(photo)
        H0, W0 = full.shape[:2]
        scale = min(1.0, WORK_MAX / max(H0, W0))
        work_photo = photo if scale == 1.0 else photo.resize((max(1, round(W0 * scale)), max(1, round(H0 * scale))),
                                                               Image.BICUBIC)
        rgb = np.asarray(work_photo)
        h, w = rgb.shape[:2]
        parsed = self.parser.parse(text) if (parse_query and text) else ParsedQuery(text=text)
        if category is None:
            category = self._type_category.get(parsed.article_type or "", "upper_body")
        check_category(category)
        k = self.default_k if k is None else int(k)
        if garments is None and not 0 <= k <= MAX_K:
            raise InvalidInputError(f"k must be between 0 and {MAX_K}, got {k}")
        if garments is None and k == 0:
            raise InvalidInputError("the lite profile transfers a garment: use k >= 1 or --garment PATH (k = 0, "
                                    "text only, needs a diffusion profile)")
        t = time.perf_counter()

        # 1. the person and the worn garment
        if keypoints is not None:
            keypoints = kpts.validate(keypoints)
            keypoints = keypoints * [w / W0, h / H0, 1.0]
        kp, _, worn = self.analyse(rgb, category, keypoints)
        if kp is None:
            raise InvalidInputError("no person found in the photo; use a photo of one person (front view, torso visible)")
        pose_source = "user" if keypoints is not None else "auto"
        mask_source = "auto-garment"
        if mask is not None:
            if not isinstance(mask, np.ndarray):
                mask = load_image(mask, name=str(mask) if isinstance(mask, (str, os.PathLike)) else "mask", min_side=1)
            m = check_mask(mask, (W0, H0))
            if scale != 1.0:
                m = np.asarray(Image.fromarray(m * 255).resize((w, h), Image.BILINEAR)) > 127
            m = m.astype(bool)
            worn = GarmentRegion(mask=m, keypoints=kp, source="user", skin=worn.skin if worn else None,
                                 person=worn.person if worn else None)
            mask_source = "user"
        if worn is None or worn.mask.sum() < 0.002 * h * w:
            raise InvalidInputError(f"the {category.replace('_', ' ')} garment is not visible in the photo; use a "
                                    "photo that shows it (front view) or pass --mask PATH")
        t = lap("person", t)

        # 2-3. the request's attributes as filters, then retrieval
        flt: dict[str, list[str]] = {f: list(v) for f, v in (filters or {}).items()}
        used_filters: dict[str, list[str]] = {}
        if garments is not None:
            cands = []
            for i, g in enumerate(garments):
                img = load_image(g)
                cands.append((EditGarment(id=f"given-{i}", image_path=str(g) if isinstance(g, (str, os.PathLike)) else None), img))
        else:
            for f, v in parsed.filters().items():
                flt.setdefault(f, v)
            if "gender" not in flt and gender == "auto":
                g = self.person_gender(work_photo, category)
                if g:
                    flt["gender"] = [g, "Unisex"]
                    notes.append(f"retrieving {g} garments (the person's gender, voted from the photo's catalog neighbours)")
            elif gender not in (None, "auto") and "gender" not in flt:
                flt["gender"] = [gender]
            cands, used_filters = self._retrieve(text, category, k, exclude_ids, flt, notes)
            if self.retriever is not None:
                used_filters = {**self.retriever.category_filter(category), **used_filters}
        t = lap("retrieve", t)

        # 4. cut each candidate's garment out and align it to the body
        scored: list[tuple[EditGarment, Image.Image, GarmentRegion, Alignment]] = []
        for meta, img in cands:
            key = None if meta.id.startswith("given-") else f"{meta.id}|{meta.image_path}|{category}"
            region = self.garment_region(img, category, key, article_type=meta.article_type)
            if region is None or region.mask.sum() < 30:
                if meta.id.startswith("given-"):
                    raise InvalidInputError(f"{meta.image_path or meta.id}: no {category.replace('_', ' ')} garment "
                                            "found in that image (use a catalog photo of the garment)")
                notes.append(f"skipped {meta.id}: no {category} garment found in its photo")
                continue
            al = align(worn, region, np.asarray(img), category)
            scored.append((meta, img, region, al))
        if not scored:
            raise CatalogError(f"none of the retrieved garments has a visible {category} garment in its photo; "
                               "raise --k or index cleaner catalog photos")
        t = lap("extract_align", t)
        scores = {m.id: a.score for m, _, _, a in scored}
        best = max(scored, key=lambda s: s[3].score)
        meta, gimg, region, al = best

        # 5. restyle or replace
        chosen = mode if mode != "auto" else ("restyle" if al.shape_fit >= RESTYLE_IOU else "replace")
        if mode == "auto":
            notes.append(f"mode {chosen}: the warped garment covers the worn one with IoU {al.shape_fit:.2f} "
                         f"({'>=' if chosen == 'restyle' else '<'} {RESTYLE_IOU})")
        out, region_mask = restyle(rgb, worn, al) if chosen == "restyle" else replace(rgb, worn, al, category)
        if scale != 1.0:
            out, region_mask = upscale_edit(full, rgb, out, region_mask, detail=chosen == "restyle")
        t = lap("transfer", t)
        times["total"] = round(time.perf_counter() - t0, 4)

        retrieved = [m for m, _, _, _ in scored]
        retrieved.sort(key=lambda m: m.id != meta.id)  # the garment used first
        return EditResult(
            text=text, category=category, k=len(retrieved), retrieved=retrieved,
            prompt=_describe(parsed), mask_source=mask_source, pose_source=pose_source, profile="lite", mode=chosen,
            paste_back=True, encoder=self.retriever.encoder.name if (self.retriever is not None and garments is None) else None,
            filters=used_filters, notes=notes, scores=scores, timings=times, seed=seed, device="cpu",
            seconds=times["total"], input_image=photo, image=Image.fromarray(out),
            mask_image=Image.fromarray(region_mask.astype(np.uint8) * 255),
            pose_image=pose_preview(kp * [W0 / w, H0 / h, 1.0], W0, H0),
            garment_images=[gimg] + [im for m, im, _, _ in scored if m.id != meta.id], keypoints=kp * [W0 / w, H0 / h, 1.0],
        )


def _describe(p: ParsedQuery) -> str:
    parts = [f"colour={p.colour}" if p.colour else "", f"article_type={p.article_type}" if p.article_type else "",
             f"gender={p.gender}" if p.gender else "", f"pattern={'/'.join(p.patterns)}" if p.patterns else ""]
    return " ".join(x for x in parts if x)


def create_lite_editor(*, device=None, dtype=None, local_files_only=None, **kwargs: Any) -> LiteEditPipeline:
    """The ``lite`` edit profile (registered in ``edit_profiles.EDIT_PROFILES``); device/dtype do not apply."""
    return LiteEditPipeline(**kwargs)
