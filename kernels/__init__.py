"""Triton kernels of qgac_fast, installed as ``qgac_fast.kernels`` (from the top-level ``kernels/``).

Each kernel function is the twin of the pure-PyTorch reference of the same name in the
``qgac_fast.functional`` module of the same name (``kernels.transform.dct`` of
``functional.transform.dct``), which defines its result; :data:`qgac_fast.dispatch.OPS` lists the
pairs and :mod:`qgac_fast.ops` runs one or the other.
"""
