"""Imports flow one way, as docs/ARCHITECTURE.md draws them: each part of the library may import
only the parts below it (``ALLOWED``), at module level or inside a function; the library never
imports streamlit except in resnet_viz/ui/, and never the pages."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "resnet_viz"

# Each part of the library (a top-level module or a subpackage of resnet_viz) and the parts it
# may import: the arrows of docs/ARCHITECTURE.md's diagram. Imports within a part are free.
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "archs": set(),
    "keys": set(),
    "devices": set(),
    "locks": set(),
    "paths": {"errors"},
    "images": {"errors"},
    "controls": {"errors"},
    "config": {"archs", "controls", "errors", "keys"},
    "models": {"archs", "errors"},
    "data": {"config", "devices", "errors", "images", "paths"},
    "checkpoints": {"config", "errors", "models"},
    "store": {"config", "errors", "keys"},
    "experiments": {"archs", "config", "controls", "keys", "landscape", "models", "store"},
    "explain": {"errors", "locks"},
    "activations": {"errors", "locks", "models"},
    "landscape": {"checkpoints", "config", "data", "errors", "keys", "models", "store"},
    "zoo": {"checkpoints", "config", "data", "errors", "locks", "models", "store"},
    "train": {
        "archs",
        "checkpoints",
        "config",
        "controls",
        "data",
        "devices",
        "errors",
        "experiments",
        "keys",
        "models",
        "store",
    },
    "figures": {"activations", "controls", "experiments", "explain", "keys", "store"},
    "classroom": {"keys", "store"},
    "watcher": {"checkpoints", "config", "errors", "keys", "models", "store", "train"},
    "export": {"errors", "keys", "store"},
    "ui": {
        "activations",
        "archs",
        "classroom",
        "config",
        "controls",
        "devices",
        "errors",
        "experiments",
        "explain",
        "export",
        "figures",
        "images",
        "keys",
        "landscape",
        "models",
        "store",
        "train",
        "zoo",
    },
}


def _library_files() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "ui" not in p.relative_to(PACKAGE).parts)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _streamlit_imports(tree: ast.AST) -> list[int]:
    """Line numbers of ``import streamlit…``, ``from streamlit… import``, and
    ``importlib.import_module("streamlit…")`` / ``__import__("streamlit…")``."""

    def is_streamlit(name: str | None) -> bool:
        return bool(name) and (name == "streamlit" or name.startswith("streamlit."))

    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            if any(is_streamlit(a.name) for a in node.names):
                lines.append(node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and is_streamlit(node.module):
                lines.append(node.lineno)
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            arg = node.args[0]
            if (
                name in ("import_module", "__import__")
                and isinstance(arg, ast.Constant)
                and isinstance(arg.value, str)
                and is_streamlit(arg.value)
            ):
                lines.append(node.lineno)
    return lines


def test_the_checker_finds_streamlit_imports():
    source = textwrap.dedent(
        """
        import os, streamlit as st
        from streamlit.testing.v1 import AppTest
        import importlib
        importlib.import_module("streamlit.components")
        import streamlit_extras  # another package
        from . import streamlit  # a sibling module of that name
        """
    )
    assert _streamlit_imports(ast.parse(source)) == [2, 3, 5]


def test_no_library_module_imports_streamlit():
    files = _library_files()
    assert len(files) > 10 and PACKAGE / "models" / "blocks.py" in files
    offenders = {
        str(path.relative_to(ROOT)): lines
        for path in files
        if (lines := _streamlit_imports(ast.parse(path.read_text(), str(path))))
    }
    assert offenders == {}


def test_library_imports_without_streamlit():
    modules = [
        _module_name(p) for p in _library_files() if _module_name(p) != "resnet_viz.train.__main__"
    ]
    script = textwrap.dedent(
        f"""
        import importlib, json, sys
        sys.modules["streamlit"] = None  # any `import streamlit` now raises ImportError
        failures = {{}}
        for name in {modules!r}:
            try:
                importlib.import_module(name)
            except Exception as err:
                failures[name] = f"{{type(err).__name__}}: {{err}}"
        try:
            import streamlit  # noqa: F401
            blocked = False
        except ImportError:
            blocked = True
        print(json.dumps({{"failures": failures, "blocked": blocked,
                           "streamlit_loaded": sys.modules.get("streamlit") is not None}}))
        """
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["blocked"] is True
    assert result["failures"] == {}
    assert result["streamlit_loaded"] is False
    assert "resnet_viz.models" in modules and "resnet_viz.store.runstore" in modules


# ---- one-way imports between the library's parts ---------------------------------------------
def _part(module: str) -> str | None:
    """``resnet_viz.train.trainer`` → ``train``; ``resnet_viz`` itself → ``None``."""
    parts = module.split(".")
    return parts[1] if parts[0] == "resnet_viz" and len(parts) > 1 else None


def _imported(path: Path, tree: ast.AST) -> list[tuple[int, str]]:
    """``(line, absolute module)`` of every resnet_viz import in ``tree``, wherever it stands."""
    package = (
        _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    )
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.startswith("resnet_viz")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module.startswith("resnet_viz"):
                if module == "resnet_viz" or node.module is None:  # from . import keys, ui
                    out += [(node.lineno, f"{module}.{a.name}") for a in node.names]
                else:
                    out.append((node.lineno, module))
    return out


def _violations(files: list[Path]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in files:
        tree = ast.parse(path.read_text(), str(path))
        here = _part(_module_name(path))
        for line, module in _imported(path, tree):
            there = _part(module)
            if here is None or there is None or there == here:
                continue
            if there not in ALLOWED.get(here, set()):
                found.setdefault(str(path.relative_to(ROOT)), []).append(f"{line}: {module}")
    return found


def test_the_allowed_map_covers_every_part_and_is_acyclic():
    parts = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()}
    parts = {p for p in parts if not p.startswith("__")}
    assert set(ALLOWED) == parts
    assert all(deps <= set(ALLOWED) for deps in ALLOWED.values())
    order: list[str] = []  # a topological order exists only if the map has no cycle
    while len(order) < len(ALLOWED):
        ready = [p for p in ALLOWED if p not in order and ALLOWED[p] <= set(order)]
        assert ready, f"cycle among {sorted(set(ALLOWED) - set(order))}"
        order += sorted(ready)


def test_the_checker_resolves_relative_and_function_level_imports(tmp_path, monkeypatch):
    fake = PACKAGE / "config.py"
    source = textwrap.dedent(
        """
        from .errors import ConfigError
        def f():
            from .train.controls import parse
            from . import zoo
        """
    )
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: source)
    assert _violations([fake]) == {
        "resnet_viz/config.py": ["4: resnet_viz.train.controls", "5: resnet_viz.zoo"]
    }


def test_imports_follow_the_allowed_map():
    files = sorted(PACKAGE.rglob("*.py"))
    assert _violations(files) == {}


def test_nothing_imports_only_for_type_checking():
    """A TYPE_CHECKING import is the usual way to hide a cycle; the layers have none to hide."""
    offenders = [
        str(p.relative_to(ROOT)) for p in PACKAGE.rglob("*.py") if "TYPE_CHECKING" in p.read_text()
    ]
    assert offenders == []


def test_the_library_never_imports_the_pages():
    offenders = [
        str(p.relative_to(ROOT))
        for p in PACKAGE.rglob("*.py")
        if any(m.startswith(("pages", "app")) for _, m in _all_imports(ast.parse(p.read_text())))
    ]
    assert offenders == []


def _all_imports(tree: ast.AST) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.lineno, node.module))
    return out


def test_validating_a_config_loads_neither_torch_nor_the_trainer():
    """config sits at the bottom: checking a setup (every page does, every second) must not
    pull in the trainer, the store or torch."""
    script = textwrap.dedent(
        """
        import json, sys
        from resnet_viz.config import TrainConfig
        TrainConfig().with_overrides({"cohort": "plain8", "controls": "50% lr 0.1"}).validate()
        loaded = [m for m in sys.modules if m.startswith(("torch", "resnet_viz."))]
        print(json.dumps(sorted(loaded)))
        """
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    assert loaded == [
        "resnet_viz.archs",
        "resnet_viz.config",
        "resnet_viz.controls",
        "resnet_viz.errors",
        "resnet_viz.keys",
    ]
