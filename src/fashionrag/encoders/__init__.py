"""Image-text encoders behind one interface, created by name through a small registry.

>>> from .. import encoders
>>> enc = encoders.create("lite")          # default, offline
>>> enc = encoders.create("tiny")          # tiny random CLIP, tests only
>>> enc = encoders.create("hf:patrickjohncyh/fashion-clip")
"""

from .base import ENCODERS, Encoder, available, create, register

__all__ = ["ENCODERS", "Encoder", "available", "create", "register"]
