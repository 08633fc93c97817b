"""Run directories of emulation tests go to a temporary directory. Each is removed once no test
needs it any more, unless a test failed while it existed: then it is kept and its path is shown
with the failure and at the end of the session."""
import os
import shutil
import tempfile

import pytest

from topologies.runstate import RUNS_DIR_ENV, RunRecord

KEPT = set()
RUNS = []      # the session's temporary runs directory, once configured


def pytest_configure(config):
    RUNS.append(tempfile.mkdtemp(prefix="lvsdn-test-runs-"))
    os.environ[RUNS_DIR_ENV] = RUNS[0]


def run_dirs():
    return {os.path.join(RUNS[0], name) for name in os.listdir(RUNS[0])}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    report = (yield).get_result()
    if report.failed:
        kept = run_dirs()
        KEPT.update(kept)
        if kept:
            report.sections.append(("run directories kept", "\n".join(sorted(kept))))


def pytest_runtest_logfinish(nodeid, location):
    """After a test's teardown: remove the run directories no cluster uses any more."""
    for path in run_dirs() - KEPT - {RunRecord.recorded_run_dir()}:
        shutil.rmtree(path, ignore_errors=True)


def pytest_terminal_summary(terminalreporter):
    if KEPT:
        terminalreporter.write_line("run directories of failed tests kept: " + " ".join(sorted(KEPT)))
    elif RUNS and not os.listdir(RUNS[0]):
        os.rmdir(RUNS[0])


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium for a module's tests (skipped where Playwright or Chromium is missing)."""
    from tests.emulation.browser import headless_chromium
    with headless_chromium() as chromium:
        yield chromium
