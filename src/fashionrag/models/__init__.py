"""Editing model families (Fashion-RAG), one file each: the inversion adapter, pseudo-token injection into
the text encoder, the 27-channel editing UNet, and the tiny tokenizer of the ``tiny`` profile."""
