"""Evaluation: pure metric functions (:mod:`.metrics`) and the commands built on them."""
