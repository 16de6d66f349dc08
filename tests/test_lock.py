"""The lock files: every dependency pyproject.toml declares is pinned there, inside its range, with
hashes (make, CI and the Docker image install from them)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]


def _pins(path: Path) -> dict[str, str]:
    text = path.read_text()
    pins = {canonicalize_name(m.group(1)): m.group(2) for m in re.finditer(r"^([A-Za-z0-9_.\-]+)==(\S+)", text, re.M)}
    blocks = re.split(r"\n(?=[A-Za-z0-9_.\-]+==)", text)
    for block in blocks:
        head = re.match(r"([A-Za-z0-9_.\-]+)==", block)
        if head:
            assert "--hash=sha256:" in block, f"{head.group(1)} has no hash in {path.name}"
    assert "file://" not in text and "--find-links" not in text, f"{path.name} names this machine's package folders"
    return pins


def _declared(extras: tuple[str, ...]) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = list(project["dependencies"])
    for extra in extras:
        names += project["optional-dependencies"][extra]
    return [Requirement(n) for n in names]


def test_the_service_lock_holds_every_runtime_dependency_in_range() -> None:
    pins = _pins(ROOT / "requirements.lock")
    for req in _declared(()):
        version = pins.get(canonicalize_name(req.name))
        assert version is not None, f"{req.name} is not in requirements.lock: run make lock"
        assert req.specifier.contains(version, prereleases=True), f"{req.name}=={version} is outside {req.specifier}"


def test_the_dev_lock_holds_the_test_and_bench_extras_too() -> None:
    pins = _pins(ROOT / "requirements-dev.lock")
    for req in _declared(("test", "bench")):
        version = pins.get(canonicalize_name(req.name))
        assert version is not None, f"{req.name} is not in requirements-dev.lock: run make lock"
        assert req.specifier.contains(version, prereleases=True), f"{req.name}=={version} is outside {req.specifier}"
    runtime = _pins(ROOT / "requirements.lock")
    for name, version in runtime.items():
        assert pins.get(name) == version, f"the two locks disagree on {name}"
