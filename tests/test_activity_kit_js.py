"""The browser kit's own tests (tests/js/, node's test runner), run by the suite.

The kit's time accounting and queue are tested in isolation there, with a fake
clock, page, network and storage; this test runs them so ``pytest`` covers them.
Skipped, with the reason, where node (>= 18, for ``node --test``) is absent.
"""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NODE = shutil.which("node")


def _node_major():
    out = subprocess.run([NODE, "--version"], capture_output=True, text=True, check=True).stdout
    return int(out.strip().lstrip("v").split(".")[0])


@pytest.mark.skipif(NODE is None, reason="node is not installed: the kit's JS tests (tests/js/) need node >= 18")
def test_the_kit_js_tests_pass():
    if _node_major() < 18:
        pytest.skip("node >= 18 is needed for `node --test`")
    files = sorted(str(path.relative_to(ROOT)) for path in (ROOT / "tests" / "js").glob("*.test.mjs"))
    assert files
    # The files by name: node 20 takes a directory, node 22 reads its arguments as globs.
    done = subprocess.run([NODE, "--test", *files], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "# fail 0" in done.stdout
