"""The house rules: layers, private names, one error tree, a light ``import seedlock``.

Layers run core -> extract -> readers -> {diff, pin} -> {replay, catalog, comfyui,
providers} -> cli. A module may import its own package and any lower layer, never a
higher one or a sibling of its own layer, lazy imports (inside functions) included.
"""

from __future__ import annotations

import ast
import inspect
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import seedlock.errors as errors_module
from seedlock.errors import SeedlockError

SRC = Path(__file__).resolve().parent.parent / "src"

#: package (or root module group) -> layer
LAYERS: dict[str, int] = {
    "core": 0,
    "extract": 1,
    "readers": 2,
    "diff": 3,
    "pin": 3,
    "replay": 4,
    "catalog": 4,
    "comfyui": 4,
    "providers": 4,
    "cli": 5,
    "top": 6,
}
#: root modules and the group they belong to
ROOT_MODULES: dict[str, str] = {
    "errors": "core",
    "record": "core",
    "samplers": "core",
    "paths": "core",
    "files": "core",
    "claims": "core",
    "_fast_init": "core",
    "_version": "core",
    # the inverse of the readers: it writes the formats they read
    "writer": "readers",
    "_compiled": "cli",
    "__init__": "top",
    "__main__": "top",
}


def group_of(module: str) -> str:
    parts = module.split(".")
    assert parts[0] == "seedlock", module
    if len(parts) == 1:
        return "top"
    if parts[1] in ROOT_MODULES:
        return ROOT_MODULES[parts[1]]
    return parts[1]


def _module_name(path: Path, root: Path) -> str:
    rel = path.relative_to(root).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def _imports(tree: ast.AST, module: str, is_package: bool) -> list[tuple[str, list[str], int]]:
    """(imported module, names, line) for every import, relative ones resolved, lazy ones included."""
    out: list[tuple[str, list[str], int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                out.append((a.name, [], node.lineno))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base if is_package else base[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [a.name for a in node.names]
            if target == "seedlock" and all(n in ROOT_MODULES for n in names):
                # ``from seedlock import claims``: a root module, not the package's public names
                out.extend((f"seedlock.{n}", [], node.lineno) for n in names)
            else:
                out.append((target, names, node.lineno))
    return out


def violations(root: Path) -> list[str]:
    """Every import under ``root/seedlock`` that breaks the layering or reaches for a private name."""
    found: list[str] = []
    for path in sorted((root / "seedlock").rglob("*.py")):
        module = _module_name(path, root)
        group = group_of(module)
        if group not in LAYERS:
            found.append(f"{path}: package {group!r} has no layer (add it to the table and to docs/architecture.md)")
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for target, names, line in _imports(tree, module, path.name == "__init__.py"):
            if target != "seedlock" and not target.startswith("seedlock."):
                continue
            tgroup = group_of(target)
            where = f"{path.relative_to(root)}:{line}"
            if tgroup == group:
                continue
            if LAYERS[tgroup] > LAYERS[group]:
                found.append(f"{where}: {module} ({group}) imports upward: {target} ({tgroup})")
            elif LAYERS[tgroup] == LAYERS[group]:
                found.append(f"{where}: {module} ({group}) imports sideways: {target} ({tgroup})")
            private = [p for p in target.split(".")[1:] + names if p.startswith("_") and not p.startswith("__")]
            if private and tgroup != "core":
                found.append(f"{where}: {module} imports a private name of another package: {target} {private}")
    return found


def test_the_tree_keeps_its_layers() -> None:
    assert violations(SRC) == []


def test_a_planted_upward_import_is_caught(tmp_path: Path) -> None:
    shutil.copytree(SRC / "seedlock", tmp_path / "seedlock")
    png = tmp_path / "seedlock" / "extract" / "png.py"
    png.write_text(png.read_text() + "\n\ndef _late() -> None:\n    from seedlock.diff.pixels import decode  # noqa\n")
    found = violations(tmp_path)
    assert len(found) == 1 and "imports upward" in found[0] and "seedlock.diff.pixels" in found[0]


def test_a_planted_sideways_and_private_import_is_caught(tmp_path: Path) -> None:
    shutil.copytree(SRC / "seedlock", tmp_path / "seedlock")
    index = tmp_path / "seedlock" / "pin" / "index.py"
    index.write_text(index.read_text() + "\nfrom seedlock.diff.fields import FieldDiff  # noqa\n")
    fields = tmp_path / "seedlock" / "diff" / "fields.py"
    fields.write_text(fields.read_text() + "\nfrom seedlock.readers._base import fail  # noqa\n")
    found = violations(tmp_path)
    assert any("imports sideways" in f and "seedlock.diff.fields" in f for f in found)
    assert any("private name" in f and "seedlock.readers._base" in f for f in found)


def test_the_root_holds_at_most_twelve_modules() -> None:
    root = sorted(p.name for p in (SRC / "seedlock").glob("*.py"))
    assert len(root) <= 12, root
    assert {p.removesuffix(".py") for p in root} <= set(ROOT_MODULES)


def _modules_after(statement: str) -> set[str]:
    code = f"import sys, json; {statement}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, env={"PYTHONPATH": str(SRC)}
    )
    return set(json.loads(out.stdout))


@pytest.mark.parametrize("statement", ["import seedlock", "import seedlock.errors", "from seedlock import __version__"])
def test_import_seedlock_loads_no_reader_and_no_torch(statement: str) -> None:
    loaded = _modules_after(statement)
    assert not {m for m in loaded if m.startswith("seedlock.readers")}
    assert not {m for m in loaded if m.startswith("seedlock.extract")}
    assert "torch" not in loaded and "diffusers" not in loaded and "numpy" not in loaded


def test_public_names_load_on_first_use() -> None:
    loaded = _modules_after("import seedlock; seedlock.read; seedlock.GenerationRecord; seedlock.write")
    assert "seedlock.readers" in loaded and "torch" not in loaded


def test_every_exception_class_lives_in_errors() -> None:
    for path in sorted((SRC / "seedlock").rglob("*.py")):
        if path.name == "errors.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                bases = {ast.unparse(b) for b in node.bases}
                assert not any(b.endswith(("Error", "Exception", "Refused")) for b in bases), (
                    f"{path}: exception class {node.name} belongs in seedlock/errors.py"
                )
    for _name, obj in inspect.getmembers(errors_module, inspect.isclass):
        if issubclass(obj, Exception) and obj.__module__ == "seedlock.errors":
            assert issubclass(obj, SeedlockError)


def test_cli_modules_import_no_private_names_of_each_other() -> None:
    for path in sorted((SRC / "seedlock" / "cli").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for target, names, line in _imports(tree, _module_name(path, SRC), path.name == "__init__.py"):
            if target.startswith("seedlock.cli.") and target not in ("seedlock.cli._errors", "seedlock.cli._output"):
                assert not [n for n in names if n.startswith("_")], f"{path}:{line} imports {target}: {names}"
