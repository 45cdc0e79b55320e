"""Reading a catalog file's text: UTF-8 (with or without a byte-order mark), UTF-16 with a BOM, else Windows-1252.

Why a fallback and not an error: catalogs exported from spreadsheets on Windows are often cp1252, and refusing them
sends the user to iconv for no gain. The fallback is never silent: the warning names the file, the first byte that
is not UTF-8 (offset and line) and the encoding used, so a wrongly decoded file is noticed and converted.
"""

from __future__ import annotations

import codecs
import logging
from pathlib import Path

from ..core.errors import CatalogError

log = logging.getLogger(__name__)

_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
#: Tried in order when a file is not UTF-8; latin-1 decodes any byte, so the last one always succeeds.
FALLBACK_ENCODINGS = ("cp1252", "latin-1")


def read_catalog_text(path: str | Path) -> tuple[str, list[str]]:
    """The text of ``path`` and the warnings raised while decoding it (empty for clean UTF-8)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except IsADirectoryError:
        raise CatalogError(f"{path}: is a directory, not a catalog file") from None
    except OSError as exc:
        raise CatalogError(f"{path}: cannot open catalog file ({exc.strerror or exc})") from None
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding), []
            except UnicodeDecodeError as exc:
                raise CatalogError(f"{path}: starts with a {encoding} byte-order mark but is not valid {encoding} "
                                   f"(byte offset {exc.start}); re-save it as UTF-8") from None
    try:
        return data.decode("utf-8"), []
    except UnicodeDecodeError as exc:
        bad, offset = data[exc.start], exc.start
        line = data.count(b"\n", 0, offset) + 1
    for encoding in FALLBACK_ENCODINGS:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        warning = (f"{path}: not UTF-8 (byte 0x{bad:02x} at offset {offset}, line {line}); read it as {encoding}. "
                   f"Check accented titles, or convert the file: iconv -f {encoding} -t utf-8")
        log.warning("%s", warning)
        return text, [warning]
    raise AssertionError("latin-1 decodes every byte")  # pragma: no cover
