"""`pip install .` and a wheel built from the repository (issue 26): they declare what neurodeploy
needs, and the one thing they cannot declare, Lava, is one line with the command that installs it."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
TEST_ONLY = {"pytest", "import-linter"}  # in requirements.txt for `make test`, not for users
# lava-nc / lava-dl declare Python < 3.11: never a dependency (errors.LAVA_INSTALL installs them)
NOT_DECLARABLE = {"lava-nc", "lava-dl"}


def _name(req: Requirement) -> str:
    return re.sub(r"[-_.]+", "-", req.name).lower()


def _requirements_txt() -> dict[str, Requirement]:
    lines = [line.split("#")[0].strip() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    reqs = [Requirement(line) for line in lines if line]
    return {_name(r): r for r in reqs if _name(r) not in TEST_ONLY}


@pytest.fixture(scope="module")
def wheel_metadata(tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(out),
                    str(ROOT)], check=True, capture_output=True, timeout=300)
    (wheel,) = out.glob("neurodeploy-*.whl")
    with zipfile.ZipFile(wheel) as z:
        (name,) = [n for n in z.namelist() if n.endswith(".dist-info/METADATA")]
        return z.read(name).decode()


def test_the_wheel_declares_every_runtime_dependency_of_requirements_txt(wheel_metadata):
    declared = {_name(r): r for r in (Requirement(line.split(":", 1)[1].strip())
                                     for line in wheel_metadata.splitlines() if line.startswith("Requires-Dist:"))}
    pinned = _requirements_txt()
    assert set(declared) == set(pinned), ("wheel and requirements.txt differ: "
                                          f"{sorted(set(declared) ^ set(pinned))}")
    for name, req in pinned.items():
        # the version `make install` pins must be one the wheel accepts
        versions = [s.version for s in req.specifier if s.operator == "=="]
        for version in versions:
            assert declared[name].specifier.contains(version, prereleases=True), (name, str(declared[name]), version)
    assert not NOT_DECLARABLE & set(declared)
    assert "Requires-Python: >=3.10" in wheel_metadata


def test_missing_lava_is_one_line_with_the_install_command_and_exit_3(tmp_path):
    """As after `pip install .` without Lava: the lava package cannot be imported (hidden here
    with ``sys.modules['lava'] = None``, Python's own way to block an import)."""
    from tests.conftest import TOY_CONFIG, make_toy
    from neurodeploy.bundle import export_bundle
    from neurodeploy.checkpoint import save_checkpoint
    from neurodeploy.errors import LAVA_INSTALL

    ckpt = save_checkpoint(tmp_path / "toy.pt", make_toy(), "toy-residual", TOY_CONFIG, {"preset": "test"})
    export_bundle(ckpt, tmp_path / "bundle", size=(12, 10))
    without_lava = ("import sys; sys.modules['lava'] = None; sys.argv = ['neurodeploy', *sys.argv[1:]]; "
                    "from neurodeploy.cli import entry; entry()")
    r = subprocess.run([sys.executable, "-c", without_lava, "validate", str(tmp_path / "bundle"), "--executor",
                        "lava-float"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 3, r.stderr
    assert r.stderr.strip().splitlines() == [
        "error: this needs the Lava simulator, which is not installed (lava-nc 0.10 and lava-dl 0.6 declare Python "
        f"< 3.11, so pip does not install them with neurodeploy); install them with: {sys.executable} {LAVA_INSTALL} "
        "(or choose an executor without Lava: --executor split)"]
    assert not (tmp_path / "bundle" / "validation.json").exists()
