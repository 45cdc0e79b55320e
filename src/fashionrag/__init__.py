"""fashionrag: retrieval-augmented fashion generation on a shared retrieval core."""

__version__ = "0.1.0"
