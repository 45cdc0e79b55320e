"""Vector stores behind one interface.

>>> from .. import stores
>>> store = stores.create("faiss", dim=512, encoder="lite")
"""

from .base import STORES, StoreHit, VectorStore, create, open_store

__all__ = ["STORES", "StoreHit", "VectorStore", "create", "open_store"]
