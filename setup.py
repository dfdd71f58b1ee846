"""Build hook that ships the course (notebooks/, exercises/, solutions/) inside the wheel.

All metadata lives in pyproject.toml; this file only adds one setuptools command class.

The three course folders sit at the repository root, outside the ``cssl_edu`` package, so
``package-data`` cannot name them, and symlinks are not reliable in wheels or on Windows.
Instead ``build_py`` copies them into the build tree as ``cssl_edu/_course/<folder>/``, so
every wheel (and every wheel built from an sdist) carries them as package data.
``get_source_files`` lists them too, which is how setuptools' ``sdist`` learns to include them
(no MANIFEST.in needed). Editable installs copy nothing: :mod:`cssl_edu.course` reads the
folders from the repository root there, so edits show up at once.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
COURSE_DIRS = ("notebooks", "exercises", "solutions")
SKIP_PARTS = {".ipynb_checkpoints", "__pycache__", "checkpoints", "runs", "data"}


def course_files() -> list[Path]:
    """The files of the course folders that ship (no checkpoints, caches or run outputs)."""
    files = []
    for name in COURSE_DIRS:
        base = ROOT / name
        if base.is_dir():
            files += [
                p
                for p in sorted(base.rglob("*"))
                if p.is_file()
                and not SKIP_PARTS.intersection(p.relative_to(ROOT).parts)
                and p.suffix not in {".pyc", ".pt"}
            ]
    return files


class BuildPyWithCourse(build_py):
    """``build_py`` that also copies the course folders to ``<build_lib>/cssl_edu/_course/``."""

    def _course_dest(self) -> Path:
        return Path(self.build_lib) / "cssl_edu" / "_course"

    def run(self) -> None:
        super().run()
        if self.editable_mode:  # the package reads the repository's folders directly
            return
        dest = self._course_dest()
        shutil.rmtree(dest, ignore_errors=True)  # no stale files from an earlier build
        for src in course_files():
            target = dest / src.relative_to(ROOT)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs = super().get_outputs(include_bytecode)
        if self.editable_mode:
            return outputs
        return outputs + [str(self._course_dest() / p.relative_to(ROOT)) for p in course_files()]

    def get_source_files(self) -> list[str]:
        return super().get_source_files() + [str(p.relative_to(ROOT)) for p in course_files()]


setup(cmdclass={"build_py": BuildPyWithCourse})
