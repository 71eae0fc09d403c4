"""The library never imports streamlit; only resnet_viz/ui/ may (design: data flows one way)."""

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
