"""Core: schemas, errors, image I/O, configuration. Imports nothing from the layers above."""
