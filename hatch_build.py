"""Build hook: compile the read path with mypyc in regular installs.

``seedlock read`` spends its time in pure-Python parsing (infotext grammar, ComfyUI
graph walks, chunk walks). mypyc compiles those typed modules to C extensions, about
1.4x faster per file. Editable installs stay pure Python, so an edited module is
what runs; ``SEEDLOCK_PURE_PYTHON=1`` does the same for any build; and a build
machine without a C compiler falls back to pure Python with a warning, never a
failed install. The modules are plain Python either way.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


def _read_path(src: Path) -> list[str]:
    """The module list, from the package itself (seedlock/_compiled.py), as source paths."""
    namespace: dict[str, Any] = {}
    exec((src / "seedlock" / "_compiled.py").read_text(), namespace)
    return [name.replace(".", "/") + ".py" for name in namespace["READ_PATH"]]


def _compile(src: Path, out: Path) -> list[Path]:
    """Build the extensions into ``out``; return the built files."""
    from mypyc.build import mypycify
    from setuptools import Distribution
    from setuptools.command.build_ext import build_ext

    cwd = os.getcwd()
    os.chdir(src)  # mypyc names modules from paths relative to the working directory
    try:
        extensions = mypycify(
            [
                "--ignore-missing-imports",
                "--follow-imports=silent",
                f"--cache-dir={out / 'mypy-cache'}",
                *_read_path(src),
            ],
            opt_level="3",
            group_name="seedlock_read",
            target_dir=str(out / "c"),
        )
        dist = Distribution({"ext_modules": extensions})
        cmd = build_ext(dist)
        cmd.build_lib = str(out / "lib")
        cmd.build_temp = str(out / "temp")
        cmd.ensure_finalized()
        cmd.run()
    finally:
        os.chdir(cwd)
    lib = out / "lib"
    return [p for p in lib.rglob("*") if p.suffix in (".so", ".pyd")]


class MypycBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel" or version == "editable" or os.environ.get("SEEDLOCK_PURE_PYTHON"):
            return
        self._tmp = Path(tempfile.mkdtemp(prefix="seedlock-mypyc-"))
        try:
            built = _compile(Path(self.root) / "src", self._tmp)
        except BaseException as exc:  # no compiler, no headers: ship pure Python
            if isinstance(exc, KeyboardInterrupt):
                raise
            print(f"seedlock: compiling the read path failed ({exc}); installing pure Python", file=sys.stderr)
            return
        if not built:
            return
        build_data["pure_python"] = False
        build_data["infer_tag"] = True
        for path in built:
            build_data["force_include"][str(path)] = str(path.relative_to(self._tmp / "lib"))

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        tmp = getattr(self, "_tmp", None)
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
