"""Caption writers: evidence pack in, grounded caption + hashtags out.

>>> from .. import writers
>>> w = writers.create("template")                       # default, offline
>>> w = writers.create("openai", base_url="http://127.0.0.1:11434/v1", model="llama3.2")
>>> w = writers.create("transformers", model="/path/to/causal-lm")
>>> result = w.write(evidence_pack, style="instagram", seed=0)   # a CaptionResult, checked by the guard
"""

from .base import WRITERS, Draft, Writer, available, create, register

__all__ = ["WRITERS", "Draft", "Writer", "available", "create", "register"]
