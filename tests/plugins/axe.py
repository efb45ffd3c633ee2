"""axe-core in the browser tests: ``assert_accessible(page)`` fails on serious or critical violations.

axe-core comes from the npm registry, pinned (``AXE_VERSION``), into a cache
directory outside git (``.cache/axe-core``, or ``$AXE_CORE_DIR``): .ci/run
installs it before the tests, and the first test that needs it installs it
here if npm is on the PATH. A fresh clone therefore needs nothing committed
(the minified file is 650 KB) and runs offline once the cache is filled.
Without npm and without the file, the tests skip locally and fail on CI
(``CI`` set), so a CI that lost the checker cannot pass silently.

Rules run: WCAG 2.0 A and AA, WCAG 2.1 AA and axe's best practices. Serious
and critical violations fail the test with the rule, its help text, the
target selectors and an HTML snippet of each node; moderate and minor ones
are printed, for a person to read, and do not fail.
"""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

AXE_VERSION = "4.14.1"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
FAILING_IMPACTS = {"serious", "critical"}
ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("AXE_CORE_DIR", ROOT / ".cache" / "axe-core"))
SCRIPT = CACHE / "node_modules" / "axe-core" / "axe.min.js"


def install_axe():
    """Install the pinned axe-core into ``CACHE`` with npm; return the path of axe.min.js or None."""
    if SCRIPT.exists() and f"axe v{AXE_VERSION}" in SCRIPT.read_text(encoding="utf-8")[:200]:
        return SCRIPT
    npm = shutil.which("npm")
    if not npm:
        return None
    CACHE.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [npm, "install", "--no-save", "--no-package-lock", "--no-audit", "--no-fund", "--prefix", str(CACHE),
         f"axe-core@{AXE_VERSION}"],
        check=False, capture_output=True, timeout=180,
    )
    return SCRIPT if SCRIPT.exists() else None


@pytest.fixture(scope="session")
def axe_source():
    path = install_axe()
    if path is None:
        message = (
            f"axe-core {AXE_VERSION} not found at {SCRIPT} and npm could not install it; "
            f"run: npm install --prefix {CACHE} axe-core@{AXE_VERSION}"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path.read_text(encoding="utf-8")


# Runs in the page: axe over the document, then each violating node marked as
# inside ``scope`` (a CSS selector: the app's own additions to a page it does
# not own, such as Django's admin) or outside it.
RUN = """async ([tags, scope]) => {
  const results = await axe.run(document, {runOnly: {type: "tag", values: tags}, resultTypes: ["violations"]});
  return results.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
    nodes: v.nodes.map(n => {
      let inScope = true;
      if (scope) {
        const el = document.querySelector(n.target[n.target.length - 1]);
        inScope = Boolean(el && el.closest(scope));
      }
      return {target: n.target, html: n.html, impact: n.impact, summary: n.failureSummary, inScope: inScope};
    })
  }));
}"""


def format_violation(violation, nodes):
    lines = [f"[{violation['impact']}] {violation['id']}: {violation['help']} ({violation['helpUrl']})"]
    for node in nodes[:5]:
        lines.append(f"    at {' '.join(json.dumps(t) if not isinstance(t, str) else t for t in node['target'])}")
        lines.append(f"       {node['html'][:200]}")
        summary = (node.get("summary") or "").replace("\n", " ")
        if summary:
            lines.append(f"       {summary[:300]}")
    if len(nodes) > 5:
        lines.append(f"    and {len(nodes) - 5} more node(s)")
    return "\n".join(lines)


@pytest.fixture
def assert_accessible(axe_source):
    """``assert_accessible(page, context="course overview", scope=None)``.

    ``scope``: a CSS selector; only violations on nodes inside it fail (the
    others are printed). Returns the list of violations for further checks.
    """

    def check(page, context="", scope=None):
        if not page.evaluate("() => typeof window.axe !== 'undefined'"):
            # evaluate, not a <script> tag: a Content-Security-Policy cannot block it.
            page.evaluate(axe_source + "\n;undefined")
        violations = page.evaluate(RUN, [TAGS, scope])
        failing, printed = [], []
        for violation in violations:
            bad = [n for n in violation["nodes"] if n["inScope"] and (n["impact"] or violation["impact"]) in FAILING_IMPACTS]
            rest = [n for n in violation["nodes"] if n not in bad]
            if bad:
                failing.append(format_violation(violation, bad))
            if rest:
                printed.append(format_violation(violation, rest))
        where = f"{context} ({page.url})" if context else page.url
        if printed:
            print(f"\naxe, not failing, on {where}:\n" + "\n".join(printed))
        assert not failing, f"axe-core {AXE_VERSION}: serious or critical violations on {where}:\n" + "\n".join(failing)
        return violations

    return check
