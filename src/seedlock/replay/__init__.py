"""Deterministic generation, replay and verification (the ``generate`` extra).

The only package in seedlock that imports torch, diffusers or transformers; nothing
outside it imports it at module level.
"""
