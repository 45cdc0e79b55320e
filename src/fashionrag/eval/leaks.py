"""Leak guards: an evaluated photo must never be its own neighbour in the reference.

Every evaluation (``eval retrieval``, ``eval caption``, ``eval edit``) calls :func:`guard_reference` on the rows it
evaluates and the rows it retrieves from, whatever paths they came from (the same folder split in two, two folders,
or a prebuilt index). Two kinds of overlap are looked for:

- **by product id**: a reference row with the id of an evaluated row. This is a wrong reference (an index built over
  the whole developer set, say) and is an error unless the caller asks for it (``--allow-overlap``);
- **by image content** (sha256 of the file's bytes): a reference row under *another* id whose image is
  byte-identical to an evaluated one (the KAGL developer set lists 16 val photos that are also train photos under
  other ids). These rows are dropped from the reference and the drop is reported in the result's notes; with
  ``allow_overlap`` they are kept (and reported).
"""

from __future__ import annotations

from typing import Iterable, Optional, Sequence

from pydantic import BaseModel, Field

from ..core.errors import InvalidInputError
from ..core.images import file_sha256
from ..core.schemas import Product


class ReferenceOverlapError(InvalidInputError):
    """Evaluated rows are also in the reference (same product id): the scores would flatter the system."""


class LeakCheck(BaseModel):
    """What the leak guard found and did (part of every evaluation's ``--json`` output)."""

    evaluated: int = Field(description="Evaluated rows checked.")
    reference: int = Field(description="Reference rows checked (before any drop).")
    same_id: int = Field(0, description="Reference rows sharing an evaluated row's product id.")
    same_image: int = Field(0, description="Reference rows with another id whose image bytes equal an evaluated image.")
    dropped: list[str] = Field(default_factory=list, description="Reference ids removed from the reference.")
    unhashed_reference: int = Field(0, description="Reference rows whose image could not be read to hash it.")
    allowed: bool = Field(False, description="True when --allow-overlap kept overlapping rows.")

    def notes(self) -> list[str]:
        out = [f"leak guard: {self.evaluated} evaluated rows checked against {self.reference} reference rows by "
               "product id and by image sha256"]
        if self.dropped:
            n = len(self.dropped)
            out.append(f"dropped {n} reference {'row whose image is' if n == 1 else 'rows whose images are'} "
                       f"byte-identical to evaluated images under other ids "
                       f"({', '.join(self.dropped[:5])}{', ...' if n > 5 else ''})")
        if self.allowed and (self.same_id or self.same_image):
            out.append(f"--allow-overlap: the reference still holds {self.same_id} evaluated ids and "
                       f"{self.same_image} byte-identical images; these numbers are not a held-out evaluation")
        if self.unhashed_reference:
            out.append(f"{self.unhashed_reference} reference rows have no readable image file and were checked by id only")
        return out


def _sha(path: Optional[str]) -> Optional[str]:
    if not path:
        return None
    try:
        return file_sha256(path)
    except OSError:
        return None


def find_overlap(evaluated: Sequence[Product], reference: Iterable[Product]) -> tuple[list[str], list[str], int, int]:
    """(reference ids sharing an evaluated id, reference ids of another id with an evaluated image's bytes,
    reference rows checked, reference rows that could not be hashed)."""
    eval_ids = {p.id for p in evaluated}
    eval_hashes = {h for h in (_sha(p.image_path) for p in evaluated) if h}
    same_id: list[str] = []
    same_image: list[str] = []
    n = unhashed = 0
    for r in reference:
        n += 1
        if r.id in eval_ids:
            same_id.append(r.id)
            continue
        h = _sha(r.image_path)
        if h is None:
            unhashed += 1
        elif h in eval_hashes:
            same_image.append(r.id)
    return same_id, same_image, n, unhashed


def guard_reference(
    evaluated: Sequence[Product],
    reference: Iterable[Product],
    *,
    allow_overlap: bool = False,
    reference_name: str = "the reference",
) -> LeakCheck:
    """Check ``reference`` against ``evaluated``; raise on shared ids, list byte-identical images to drop.

    The caller removes :attr:`LeakCheck.dropped` from its reference (a catalog subset, or ``store.delete`` on an
    index loaded in memory) and adds :meth:`LeakCheck.notes` to its result.
    """
    same_id, same_image, n_ref, unhashed = find_overlap(evaluated, reference)
    if same_id and not allow_overlap:
        raise ReferenceOverlapError(
            f"{len(same_id)} of the {len(evaluated)} evaluated products are also in {reference_name} (same product "
            f"id, e.g. {', '.join(same_id[:3])}): every one would be its own nearest neighbour. Use a reference "
            "without them (pass the same folder as --catalog and --index-catalog with --split, or build the index "
            "from the other split only: `fashionrag index build --split train`), or pass --allow-overlap if you mean "
            "to measure with them"
        )
    return LeakCheck(
        evaluated=len(evaluated),
        reference=n_ref,
        same_id=len(same_id),
        same_image=len(same_image),
        dropped=[] if allow_overlap else same_image,
        unhashed_reference=unhashed,
        allowed=allow_overlap,
    )


def guard_catalog(evaluated: Sequence[Product], reference, *, allow_overlap: bool = False,
                  reference_name: str = "the reference"):
    """:func:`guard_reference` on a reference :class:`~fashionrag.retrieval.catalog.Catalog`; returns the catalog
    without the dropped rows, and the check."""
    leak = guard_reference(evaluated, reference.products, allow_overlap=allow_overlap, reference_name=reference_name)
    if leak.dropped:
        dropped = set(leak.dropped)
        reference = reference.subset(ids=[p.id for p in reference.products if p.id not in dropped])
    return reference, leak


def guard_store(evaluated: Sequence[Product], store, *, allow_overlap: bool = False,
                reference_name: str = "the reference index") -> LeakCheck:
    """:func:`guard_reference` on a loaded store's rows; dropped rows are deleted from the store in memory only (the
    index on disk is untouched)."""
    rows = [Product.model_validate(store.get(i)) for i in store.ids()]
    leak = guard_reference(evaluated, rows, allow_overlap=allow_overlap, reference_name=reference_name)
    if leak.dropped:
        store.delete(leak.dropped)
    return leak
