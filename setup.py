"""Build the optional C accelerator of shop_env.html; everything else is in pyproject.toml.

The extension reads lxml's trees through lxml's public C API, so it compiles against the
headers lxml ships. It is optional: without a C compiler the package installs and runs on
its pure-Python reference implementation (set SHOP_R1_PURE_PYTHON=1 to force that path).
"""
from setuptools import Extension, setup


def _extensions() -> list[Extension]:
    try:
        import lxml
    except ImportError:  # no lxml in the build environment: pure-Python install
        return []
    return [Extension("shop_env.html._speedups", ["shop_env/html/_speedups.c"],
                      include_dirs=lxml.get_include(), optional=True,
                      extra_compile_args=["-O2"])]


setup(ext_modules=_extensions())
