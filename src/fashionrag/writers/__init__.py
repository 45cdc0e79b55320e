"""Caption writers: evidence pack in, grounded caption + hashtags out.

>>> from fashionrag import writers
>>> w = writers.create("template")                       # default, offline
>>> w = writers.create("openai", base_url="http://127.0.0.1:11434/v1", model="llama3.2")
>>> w = writers.create("transformers", model="/path/to/causal-lm")
>>> result = w.write(evidence_pack, style="instagram", seed=0)   # a CaptionResult, checked by the guard
"""

from .base import Draft, Writer, available, create, register

__all__ = ["Draft", "Writer", "available", "create", "register"]
