"""The import contracts of pyproject.toml name every package, so a new one (accounts, billing …)
cannot slip past them: it must be given its layer and its place in each forbidden contract."""

from __future__ import annotations

import pkgutil
import tomllib
from pathlib import Path
from typing import Any

import threadr

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
MODULES = {f"threadr.{m.name}" for m in pkgutil.iter_modules(threadr.__path__)}


def contracts() -> dict[str, dict[str, Any]]:
    config = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["tool"]["importlinter"]
    return {c["name"]: c for c in config["contracts"]}


def test_every_package_has_a_layer() -> None:
    (layers,) = [c for c in contracts().values() if c["type"] == "layers"]
    named = {m.strip() for layer in layers["layers"] for m in layer.split("|")}
    assert named == MODULES


def test_only_web_and_its_server_import_starlette() -> None:
    starlette = next(c for name, c in contracts().items() if "Starlette" in name)
    assert set(starlette["source_modules"]) == MODULES - {"threadr.web", "threadr.cli"}


def test_only_storage_talks_to_redis() -> None:
    redis = next(c for name, c in contracts().items() if "redis-py" in name)
    assert set(redis["source_modules"]) == MODULES - {"threadr.storage", "threadr.checks"}


def test_only_observability_imports_prometheus() -> None:
    prometheus = next(c for name, c in contracts().items() if "prometheus" in name)
    assert set(prometheus["source_modules"]) == MODULES - {"threadr.observability"}


def test_the_pure_packages_know_nothing_of_metrics() -> None:
    pure = next(c for name, c in contracts().items() if "pure" in name)
    assert "threadr.observability" in pure["forbidden_modules"]
