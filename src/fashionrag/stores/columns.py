"""Per-field filter columns: how a store turns ``{field: [values]}`` into a row bitmap quickly.

Each filterable field is one ``int32`` code per row plus a small vocabulary (value string -> code), so a
filter over a million rows is a table lookup (``lut[codes]``), not a Python loop, and the columns persist
as one dense array. Rows are append-only (a replaced or deleted row is a tombstone kept by the store), so
a row's codes never change after it is written.

Free-text fields whose values are unique per row (id, title, ...) would make one vocabulary entry per
row; they are not encoded up front, but still filterable: the first filter on one builds its column
from the stored metadata (:meth:`FilterColumns.materialise`), after which it is kept up to date.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np

from ..core.errors import InvalidInputError

#: Keys not encoded eagerly (unique or long per row); still filterable, on demand.
LAZY_KEYS = frozenset({"id", "title", "description", "image_path"})

_MISSING = -1


def flatten(meta: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """Filterable (key, scalar value or None) pairs of one metadata dict; nested dicts give ``key.sub``."""
    for key, value in meta.items():
        key = str(key)  # as JSON will store it
        if isinstance(value, Mapping):
            for sub, sub_value in value.items():
                if _is_scalar(sub_value):
                    yield f"{key}.{sub}", sub_value
        elif _is_scalar(value):
            yield key, value


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def as_filter_string(value: Any) -> str:
    """How a stored value and a filter value are compared: as strings (``str(3) == "3"``)."""
    return value if isinstance(value, str) else str(value)


class _Column:
    __slots__ = ("vocab", "values", "codes")

    def __init__(self, capacity: int) -> None:
        self.vocab: dict[str, int] = {}
        self.values: list[str] = []
        self.codes = np.full(capacity, _MISSING, dtype=np.int32)

    def code(self, value: Any) -> int:
        if value is None:
            return _MISSING
        text = as_filter_string(value)
        code = self.vocab.get(text)
        if code is None:
            code = self.vocab[text] = len(self.values)
            self.values.append(text)
        return code


class FilterColumns:
    """Codes for every filterable key of every row, append-only."""

    def __init__(self) -> None:
        self._n = 0
        self._capacity = 0
        self._cols: dict[str, _Column] = {}
        #: Every key seen, encoded or not (to validate filter keys and to materialise lazily).
        self._known: set[str] = set()

    def __len__(self) -> int:
        return self._n

    @property
    def known_fields(self) -> set[str]:
        return set(self._known)

    def _grow(self, needed: int) -> None:
        if needed <= self._capacity:
            return
        capacity = max(needed, 2 * self._capacity, 1024)
        for col in self._cols.values():
            grown = np.full(capacity, _MISSING, dtype=np.int32)
            grown[: self._n] = col.codes[: self._n]
            col.codes = grown
        self._capacity = capacity

    def _column(self, field: str) -> _Column:
        col = self._cols.get(field)
        if col is None:
            col = self._cols[field] = _Column(self._capacity)
        return col

    def append(self, metas: Sequence[Mapping[str, Any]]) -> None:
        """Encode rows ``len(self) .. len(self)+len(metas)-1``."""
        start = self._n
        self._grow(start + len(metas))
        for offset, meta in enumerate(metas):
            row = start + offset
            for key, value in flatten(meta):
                self._known.add(key)
                if key in LAZY_KEYS and key not in self._cols:
                    continue
                if value is not None:
                    col = self._column(key)
                    col.codes[row] = col.code(value)
        self._n = start + len(metas)

    def materialise(self, field: str, metas: Iterable[Mapping[str, Any] | None]) -> None:
        """Build the column of a lazily-kept key from all rows' metadata (one pass, then kept current)."""
        col = self._column(field)
        for row, meta in enumerate(metas):
            if meta is None:
                continue
            value = dict(flatten(meta)).get(field)
            if value is not None:
                col.codes[row] = col.code(value)

    def resolve(self, field: str) -> str | None:
        """The stored key a filter key means (``foo`` falls back to ``attributes.foo``, as Product does)."""
        if field in self._known or field in self._cols:
            return field
        nested = f"attributes.{field}"
        if nested in self._known:
            return nested
        return None

    def mask(
        self,
        filters: Mapping[str, Any],
        always_valid: Iterable[str] = (),
        load_metas: Callable[[], Iterable[Mapping[str, Any] | None]] | None = None,
    ) -> np.ndarray:
        """Boolean row mask: fields AND-ed, the values of one field OR-ed, compared as strings.

        ``always_valid`` are keys that are not an error even when no row has them (they match nothing).
        """
        if not isinstance(filters, Mapping):
            raise InvalidInputError("filters must be a mapping {field: [allowed values]}, e.g. {'gender': ['Men']}")
        mask = np.ones(self._n, dtype=bool)
        for field, allowed in filters.items():
            key = self.resolve(str(field))
            if key is None:
                if field in always_valid:
                    return np.zeros(self._n, dtype=bool)
                valid = sorted(self._known | set(always_valid))
                raise InvalidInputError(f"unknown filter field {field!r}; valid fields: {', '.join(valid)}")
            if key not in self._cols:
                if load_metas is None:
                    return np.zeros(self._n, dtype=bool)
                self.materialise(key, load_metas())
            col = self._cols[key]
            if isinstance(allowed, (str, bytes)) or not isinstance(allowed, Iterable):
                allowed = [allowed]
            codes = [col.vocab[text] for text in (as_filter_string(v) for v in allowed) if text in col.vocab]
            # Lookup table over codes; the extra last slot is what code -1 (missing) indexes: never a match.
            lut = np.zeros(len(col.values) + 1, dtype=bool)
            lut[codes] = True
            mask &= lut[col.codes[: self._n]]
        return mask

    def values(
        self,
        field: str,
        live: np.ndarray | None = None,
        load_metas: Callable[[], Iterable[Mapping[str, Any] | None]] | None = None,
    ) -> list[str]:
        """Sorted distinct values of ``field`` over the rows where ``live`` is True (all rows without it): what a
        filter on that field can match, for hints and case-insensitive matching."""
        key = self.resolve(str(field))
        if key is None:
            return []
        if key not in self._cols:
            if load_metas is None:
                return []
            self.materialise(key, load_metas())
        col = self._cols[key]
        codes = col.codes[: self._n]
        if live is not None:
            codes = codes[np.asarray(live[: self._n], dtype=bool)]
        return sorted(col.values[c] for c in np.unique(codes[codes >= 0]).tolist())

    def take(self, rows: np.ndarray) -> "FilterColumns":
        """A copy holding only ``rows`` (in that order): used when the store compacts."""
        out = FilterColumns()
        out._n = out._capacity = len(rows)
        out._known = set(self._known)
        for field, col in self._cols.items():
            new = _Column(0)
            new.vocab, new.values = dict(col.vocab), list(col.values)
            new.codes = col.codes[rows].copy()
            out._cols[field] = new
        return out

    # -- persistence: one (fields x rows) int32 array plus a JSON-able description ------------------

    def to_state(self) -> tuple[dict[str, Any], np.ndarray]:
        fields = sorted(self._cols)
        codes = np.empty((len(fields), self._n), dtype=np.int32)
        for i, field in enumerate(fields):
            codes[i] = self._cols[field].codes[: self._n]
        state = {
            "rows": self._n,
            "fields": fields,
            "values": [self._cols[f].values for f in fields],
            "known": sorted(self._known),
        }
        return state, codes

    @classmethod
    def from_state(cls, state: Mapping[str, Any], codes: np.ndarray) -> "FilterColumns":
        out = cls()
        n = int(state["rows"])
        fields = list(state["fields"])
        if codes.shape != (len(fields), n):
            raise ValueError(f"columns array has shape {codes.shape}, expected {(len(fields), n)}")
        out._n = out._capacity = n
        out._known = set(state["known"])
        for i, field in enumerate(fields):
            col = _Column(0)
            col.values = list(state["values"][i])
            col.vocab = {v: j for j, v in enumerate(col.values)}
            col.codes = np.ascontiguousarray(codes[i], dtype=np.int32)
            if n and int(col.codes.max(initial=_MISSING)) >= len(col.values):
                raise ValueError(f"column {field!r} has codes outside its vocabulary")
            out._cols[field] = col
        return out
