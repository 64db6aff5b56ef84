"""Installed from a wheel, outside the repository, leafgen finds the default project it ships and builds from it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from conftest import LEAFLET, ROOT

SOURCE = ["pyproject.toml", "README.md", "src", "leaflets", "templates", "translations", "clinic.yaml"]


def run(*argv: str | Path, cwd: Path | None = None, env: dict | None = None) -> str:
    result = subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"{argv}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.mark.wheel
def test_wheel_installed_in_a_fresh_venv_builds_the_shipped_leaflet(tmp_path: Path):
    """Issue 9, defect 5: the shipped content was looked for at a path computed from the source tree."""
    # A clean copy of the sources, so the build leaves nothing in the repository (build/, egg-info).
    src = tmp_path / "src-copy"
    src.mkdir()
    skip = shutil.ignore_patterns("__pycache__", "*.mo")
    for name in SOURCE:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, symlinks=True, ignore=skip)
        else:
            shutil.copy(ROOT / name, src / name)
    wheels = tmp_path / "wheels"
    # --no-build-isolation: setuptools comes from the test environment, so no index is needed (offline CI).
    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", wheels, src)
    [wheel] = wheels.glob("leafgen-*.whl")

    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    site = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip())
    # The dependencies (ReportLab, Jinja, Babel...) come from this environment, offline: a .pth line adds its
    # site-packages after the venv's own, without processing its .pth files (so not the editable leafgen).
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run(sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", "--no-index", wheel)

    elsewhere = tmp_path / "clinic-folder"  # no leaflets/ here: the shipped project must be found in the package
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    where = run(python, "-c", "import leafgen; print(leafgen.__file__)", cwd=elsewhere, env=env)
    assert where.startswith(str(site)), where
    out = run(venv / "bin" / "leafgen", "build", "--lang", "en", "--kind", "handout", cwd=elsewhere, env=env)
    assert "1 built" in out
    pdf = elsewhere / "out" / LEAFLET / "en" / f"{LEAFLET}-handout-a4.pdf"
    assert pdf.read_bytes().startswith(b"%PDF-")
    assert LEAFLET in run(venv / "bin" / "leafgen", "list", cwd=elsewhere, env=env)
