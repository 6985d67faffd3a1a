"""schemathesis against the live API (gunicorn, PostgreSQL, production settings): no 5xx.

Every operation of ``/api/schema/`` gets the schema's examples, boundary values and random
valid and invalid requests, sent as a coordinator with a token (the role that may call
the most). The only check is ``not_a_server_error``: a bad request must get a 4xx, never a
500. The example budget per operation is small (``GAZECROWD_SCHEMATHESIS_EXAMPLES``,
default 8) so that the whole run fits CI; raise it for a longer hunt.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .harness import ROOT

pytestmark = pytest.mark.faults

EXAMPLES = int(os.environ.get("GAZECROWD_SCHEMATHESIS_EXAMPLES", "8"))
PHASES = os.environ.get("GAZECROWD_SCHEMATHESIS_PHASES", "examples,fuzzing")


def server_errors(junit: str) -> list[str]:
    """Failing cases of a schemathesis JUnit report."""
    import xml.etree.ElementTree as ET

    found = []
    for testcase in ET.fromstring(junit).iter("testcase"):
        for failure in testcase.iter("failure"):
            cases = re.split(r"\n(?=\d+\. Test Case ID)", "\n" + (failure.text or ""))
            found += [f"{testcase.get('name')}: {c.strip()[:3000]}" for c in cases if c.strip()]
    return found


def test_schemathesis_finds_no_server_error(stack, tmp_path):
    st = Path(sys.executable).parent / "st"
    if not st.exists():
        pytest.skip('schemathesis is not installed (pip install -e ".[test]")')
    study = stack.services.make_study(name="schema", observers=2)
    web = stack.web()
    report = tmp_path / "report"
    argv = [
        str(st), "run", f"http://127.0.0.1:{stack.port}/api/schema/",
        "--checks", "not_a_server_error",
        "--header", f"Authorization: Token {study['coordinator']['token']}",
        "--header", "Host: 127.0.0.1",
        "--phases", PHASES,
        "--max-examples", str(EXAMPLES),
        "--seed", "20171010",
        # One worker: with two, a DELETE of the study racing a PATCH of one of its members
        # gives a 500 (IntegrityError at commit; reported) that a fixed budget finds only
        # sometimes. One worker keeps the run reproducible.
        "--workers", "1",
        "--request-timeout", "30",
        "--generation-database", "none",
        "--no-color",
        "--report", "junit",
        "--report-junit-path", str(report / "junit.xml"),
    ]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=500,
                          env={**os.environ, "SCHEMATHESIS_TELEMETRY": "false"})
    output = done.stdout + done.stderr
    summary = "\n".join(output.splitlines()[-40:])
    (tmp_path / "schemathesis.txt").write_text(output)
    assert (report / "junit.xml").exists(), output[-12000:]
    junit = (report / "junit.xml").read_text()
    errors = server_errors(junit)
    assert not errors, "\n\n".join(errors)[:12000]
    assert done.returncode == 0, output[-12000:]
    assert web.alive()
    # The run really exercised the API: operations and generated cases are counted.
    tests = int(re.search(r'<testsuite[^>]* tests="(\d+)"', junit).group(1))
    assert tests >= 20, f"only {tests} operations tested:\n{summary}"
    cases = re.search(r"(\d+) generated", output)
    print(f"\nschemathesis: {tests} operations, {cases.group(0) if cases else '?'}, "
          "0 server errors; "
          f"{json.dumps(summary.splitlines()[-6:])}")
