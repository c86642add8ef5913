"""qgac_fast: fast Quantization Guided JPEG Artifact Correction.

The package reads and writes JPEG DCT coefficients through a libjpeg-turbo extension, holds the
pure-PyTorch reference path for every JPEG operation (the ground truth for the Triton kernels in
``qgac_fast.kernels``) and the image-quality metrics used in the JPEG artifact correction
literature.
"""

__version__ = "0.1.0"
