"""Pipelines: the systems composed from components (caption.py, edit.py)."""
