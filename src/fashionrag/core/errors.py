"""One small error hierarchy. Every message says what to do next.

The CLI maps each class to an exit code and prints one line (no traceback unless --debug).
"""

from __future__ import annotations


class FashionRAGError(Exception):
    """Base class of every error this package raises on purpose."""

    exit_code = 1


class InvalidImageError(FashionRAGError):
    """An image that cannot be read, is too large, or is not an image at all."""

    exit_code = 3


class CatalogError(FashionRAGError):
    """A catalog that cannot be loaded: missing column, unreadable file, empty, duplicate ids."""

    exit_code = 4


class IndexMismatchError(FashionRAGError):
    """An index used with an encoder (or dimension) other than the one that built it."""

    exit_code = 5


class IndexCorruptError(FashionRAGError):
    """An index directory whose files are missing, partial or inconsistent with its manifest."""

    exit_code = 6


class ModelUnavailableError(FashionRAGError):
    """Model weights that are not available offline (or an unknown model name)."""

    exit_code = 7


class EndpointError(FashionRAGError):
    """An LLM endpoint that cannot be reached or returns garbage."""

    exit_code = 8


class InvalidInputError(FashionRAGError):
    """Any other bad argument: an unknown filter key, a mask of the wrong size, k out of range, ..."""

    exit_code = 2


class IndexBusyError(FashionRAGError):
    """An index directory that another process is writing (building or saving) right now."""

    exit_code = 9
