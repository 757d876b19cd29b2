"""Builds the one compiled module, `connectors.pubmed._fast` (Cython over lxml's C API); the
rest of the package is described in pyproject.toml.

The module reads libxml2's tree through lxml's public Cython API, so it compiles against the
headers of the lxml it runs with: pyproject's [build-system] pins the lxml of
requirements.lock (and Cython). `pip install -e .` (what `make install` runs) builds it in
place, next to connectors/pubmed/_fast.pyx; it needs a C compiler (gcc). Where the module is
not built, `connectors.pubmed.parse` uses its pure-Python parser (same records, slower), and
under CI the test suite fails.
"""

from __future__ import annotations

import lxml
from Cython.Build import cythonize
from setuptools import Extension, setup

extensions = [
    Extension(
        "connectors.pubmed._fast",
        ["connectors/pubmed/_fast.pyx"],
        include_dirs=lxml.get_include(),
    ),
    Extension("schemas._arrow_fast", ["schemas/_arrow_fast.pyx"]),
]

setup(ext_modules=cythonize(extensions, compiler_directives={"language_level": "3"}, quiet=True))
