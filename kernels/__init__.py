"""Triton kernels of qgac_fast, installed as ``qgac_fast.kernels``.

Each kernel has a pure-PyTorch twin in ``qgac_fast.functional`` that defines its result.
"""
