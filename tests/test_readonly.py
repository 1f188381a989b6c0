"""A bundle the user cannot write (a shared folder, a CI artefact; issue 26).

Root ignores permission bits, so as root the CLI runs in a mount namespace of its own where
the bundle is bind-mounted read-only (as a CI artefact or a read-only share is); as anyone
else the bundle folder is made read-only. Either way the CLI is the real one in a
subprocess, on a real bundle.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from neurodeploy.bundle import export_bundle

# the errno text each way gives
REASON = "Read-only file system" if os.geteuid() == 0 else "Permission denied"
_RO_MOUNT = 'mount --bind "$0" "$0" && mount -o remount,ro,bind "$0" "$0" && exec "$@"'


def _can_mount() -> bool:
    try:
        return subprocess.run(["unshare", "--mount", "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


if os.geteuid() == 0 and not _can_mount():
    pytest.skip("as root, a read-only bundle needs a mount namespace (unshare --mount), which this machine "
                "refuses", allow_module_level=True)


@pytest.fixture(scope="module")
def shared(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("readonly")


@pytest.fixture(scope="module")
def bundle(shared, tmp_path_factory) -> Path:
    """A toy bundle (as exported: no validation.json yet)."""
    from tests.conftest import TOY_CONFIG, make_toy
    from neurodeploy.checkpoint import save_checkpoint

    ckpt = save_checkpoint(tmp_path_factory.mktemp("ckpt") / "toy.pt", make_toy(), "toy-residual", TOY_CONFIG,
                           {"preset": "test"})
    out = shared / "bundle"
    export_bundle(ckpt, out, size=(12, 10))
    if os.geteuid() != 0:
        out.chmod(0o555)
    yield out
    out.chmod(0o755)


def _run_as_reader(bundle: Path, *args) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "neurodeploy", *map(str, args)]
    if os.geteuid() == 0:
        cmd = ["unshare", "--mount", "--propagation", "private", "sh", "-c", _RO_MOUNT, str(bundle), *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=bundle.parent, timeout=300)


def _listing(folder: Path) -> dict[str, float]:
    return {p.name: p.stat().st_mtime for p in folder.iterdir()}


def test_validate_prints_its_verdict_and_names_the_file_it_could_not_keep(bundle):
    before = _listing(bundle)
    r = _run_as_reader(bundle, "validate", bundle, "--executor", "split", "--json")
    assert r.returncode == 0, r.stderr  # the validation passed: a file it could not keep does not fail it
    verdict = json.loads(r.stdout)  # stdout stays parseable
    assert verdict["passed"] and verdict["executor"] == "split"
    warnings = [line for line in r.stderr.splitlines() if line.startswith("warning:")]
    assert warnings == [f"warning: could not write {bundle / 'validation.json'} ({REASON}); the result "
                        "is printed but not kept in the bundle"], r.stderr
    assert "Traceback" not in r.stderr
    assert _listing(bundle) == before  # nothing half-written, no temporary file left


def test_validate_failing_on_a_read_only_bundle_still_exits_1(bundle):
    # the exit code is the validation's: 1 means "did not agree", never "could not write"
    r = _run_as_reader(bundle, "validate", bundle, "--executor", "split", "--min-psnr", "1e9")
    assert r.returncode == 1, r.stderr
    assert "FAILED" in r.stdout
    assert "validation.json" in r.stderr and "Traceback" not in r.stderr


def test_report_into_a_read_only_bundle_is_refused_before_running(bundle):
    before = _listing(bundle)
    r = _run_as_reader(bundle, "report", bundle, "--executor", "split")
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        f"error: cannot write the report into {bundle} ({REASON}); copy the bundle to a folder you can "
        f"write, e.g. `cp -r {bundle} /tmp/bundle && neurodeploy report /tmp/bundle`"]
    assert "executor:" not in r.stderr  # refused before it chose an executor, let alone ran one
    assert _listing(bundle) == before


def test_why_unwritable_is_none_for_a_writable_folder_and_leaves_nothing(tmp_path):
    from neurodeploy.writable import why_unwritable

    assert why_unwritable(tmp_path) is None
    assert list(tmp_path.iterdir()) == []
