"""Provenance: Content Credentials (C2PA) reading and signing, invisible watermarks, the
metadata analyzer, perceptual fingerprints and a tamper-evident registry (a Merkle log).

Modules import their heavy dependencies (c2pa, cryptography, PyAV) when first used.
"""
