"""Flags shared by every `fashionrag eval` task."""

from __future__ import annotations

import argparse


def add_allow_overlap_flag(p: argparse.ArgumentParser) -> None:
    """The leak guard's escape hatch (:mod:`fashionrag.eval.leaks`), spelled the same on every evaluation."""
    p.add_argument("--allow-overlap", action="store_true",
                   help="measure even when evaluated products are in the reference (same id); byte-identical "
                   "images under other ids are then kept too. The result is not a held-out evaluation")
