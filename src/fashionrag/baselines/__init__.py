"""Baseline systems the paper compares against, runnable with the same evaluation."""
