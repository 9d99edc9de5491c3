"""Only what pyproject.toml cannot say: the packages are found, not listed by hand (a new subpackage
can never be left out of the wheel), and the built-in plugins in plugins/ are installed as
`cpoms_kit_plugins` (package-dir in pyproject.toml), never as a bare `plugins`."""

from setuptools import find_packages, setup

setup(packages=[*find_packages(include=["cpoms_kit", "cpoms_kit.*"]), "cpoms_kit_plugins"])
