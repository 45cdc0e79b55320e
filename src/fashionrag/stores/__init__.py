"""Vector stores behind one interface.

>>> from fashionrag import stores
>>> store = stores.create("faiss", dim=512, encoder="lite")
"""

from .base import StoreHit, VectorStore, create, open_store

__all__ = ["StoreHit", "VectorStore", "create", "open_store"]
