"""The one setting pyproject.toml cannot hold: which packages to install.

`[tool.setuptools.packages.find]` names each package after its folder, so it cannot
find `examples/` as `woollama_examples`. setuptools finds every package under `src/`
here (a new sub-package needs no edit), and the examples are added by the name they
install under; pyproject.toml maps that name to its folder.
"""

from setuptools import find_namespace_packages, setup

# Namespace discovery also finds config/defaults (data only, no __init__.py), so its
# files ship as package data without setuptools warning about an unlisted package.
PACKAGES = find_namespace_packages("src", include=["woollama", "woollama.*"])
setup(packages=[*PACKAGES, "woollama_examples"])
