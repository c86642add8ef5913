"""Build script: the `qgac_fast` package, its Triton kernels and the libjpeg-turbo extension.

The extension links the system libjpeg-turbo (Debian: libjpeg62-turbo-dev). To build against
another copy, for example Debian packages unpacked with ``dpkg -x`` into a folder, set
``QGAC_FAST_LIBJPEG_PREFIX`` to that folder: its ``usr/include`` and ``usr/lib/<triplet>`` are
searched first and the library directory is recorded as the runtime search path.
"""

import os
import re
import sysconfig
from pathlib import Path

from pybind11.setup_helpers import Pybind11Extension, build_ext
from setuptools import find_packages, setup

ROOT = Path(__file__).parent


def _version() -> str:
    text = (ROOT / "qgac_fast" / "_version.py").read_text()
    return re.search(r'^__version__ = "([^"]+)"', text, re.M).group(1)


def _libjpeg_dirs() -> dict:
    prefix = os.environ.get("QGAC_FAST_LIBJPEG_PREFIX")
    if not prefix:
        return {}
    prefix = Path(prefix).resolve()
    triplet = sysconfig.get_config_var("MULTIARCH") or "x86_64-linux-gnu"
    lib = [str(prefix / "usr" / "lib" / triplet)]
    return {
        "include_dirs": [str(prefix / "usr" / "include"), str(prefix / "usr" / "include" / triplet)],
        "library_dirs": lib,
        "runtime_library_dirs": lib,
    }


# Every package under qgac_fast/ is found, not listed (a list went stale once: a subpackage missing
# from the wheel imports fine from a checkout). The top-level kernels/ folder is qgac_fast.kernels.
PACKAGES = find_packages(include=["qgac_fast", "qgac_fast.*"]) + [
    "qgac_fast.kernels", *(f"qgac_fast.kernels.{name}" for name in find_packages("kernels"))]

extension = Pybind11Extension(
    "qgac_fast._jpeg",
    sources=sorted(str(p.relative_to(ROOT)) for p in (ROOT / "csrc").glob("*.cpp")),
    depends=sorted(str(p.relative_to(ROOT)) for p in (ROOT / "csrc").glob("*.h")),
    libraries=["jpeg"],
    cxx_std=17,
    # no trapping maths: lets the float decode's clamp-and-convert loops vectorise (no FP traps are
    # enabled); no contraction into FMA: the float decode's AVX2 and baseline copies give the same bits
    # -Wno-psabi: the float decode's 32-byte vectors of floats never cross a function boundary (all
    # inlined), so the baseline copy's note about their calling convention does not apply
    extra_compile_args=["-O3", "-fno-trapping-math", "-ffp-contract=off", "-Wno-psabi"],
    **_libjpeg_dirs(),
)

setup(
    name="qgac_fast",
    version=_version(),
    description="Fast Quantization Guided JPEG Artifact Correction (QGAC) with Triton kernels",
    long_description=(ROOT / "README.md").read_text(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=PACKAGES,
    package_dir={"qgac_fast.kernels": "kernels"},
    package_data={"qgac_fast": ["weights/*.safetensors", "weights/*.json"], "qgac_fast.samples": ["*.png", "NOTICE"]},
    ext_modules=[extension],
    cmdclass={"build_ext": build_ext},
    install_requires=["torch>=2.13,<2.15", "numpy>=1.24", "pillow>=10", "PyTurboJPEG>=1.8,<2", "safetensors", "tqdm"],
    # qgac_fast.ray and `qgac-fast correct --ray`; the base install never imports ray. Below 2.64,
    # which drops the actors' retry settings that qgac_fast.ray.pipeline passes to map_batches.
    extras_require={"ray": ["ray[data]>=2.60,<2.64"]},
    entry_points={"console_scripts": ["qgac-fast = qgac_fast.cli:main"]},
    zip_safe=False,
)
