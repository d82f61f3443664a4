"""The package as it is deployed (nixpacks runs `pip install .`): the wheel carries every file
the code reads at run time, not only the Python modules. The tests otherwise run on an editable
install, which reads the source tree and cannot notice a file left out of the wheel."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "threadr"


def test_the_wheel_carries_every_data_file(tmp_path: Path) -> None:
    # Built from a copy of the sources alone: a build/ or *.egg-info left in the working tree
    # by an earlier build would otherwise lend the wheel files its configuration leaves out.
    project = tmp_path / "project"
    shutil.copytree(
        ROOT / "src", project / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, project / name)
    pip = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps"]
    subprocess.run(  # noqa: S603 - pip on our own project
        [*pip, "-w", str(tmp_path), str(project)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("threadr-*.whl")
    shipped = set(zipfile.ZipFile(wheel).namelist())
    data = {
        f"threadr/{path.relative_to(PACKAGE).as_posix()}"
        for path in PACKAGE.rglob("*")
        if path.is_file() and path.suffix not in {".py", ".pyc"}
    }
    assert data >= {"threadr/storage/lua/ratelimit.lua", "threadr/storage/lua/quota.lua"}
    assert data <= shipped, f"left out of the wheel: {sorted(data - shipped)}"
