"""Importing what the test suite imports leaves Python's own threading modules real. eventlet's
import-time patching (eventlet.wsgi puts a green copy of http.server into the `http` package)
once made a page server in test_api_origin, run in the same process after the unit tests, wait
on a green lock in a real thread until the suite's timeout."""
import pathlib
import subprocess
import sys

from core.paths import ROOT

CHECK = """
import importlib, sys, threading
for name in sys.argv[1:]:
    importlib.import_module(name)
import http.server, socketserver
leaks = [what for what, real in (("http.server", http.server is sys.modules["http.server"]),
                                 ("socketserver", http.server.socketserver is socketserver),
                                 ("threading", socketserver.threading is threading),
                                 ("thread locks", threading._allocate_lock is __import__("_thread").allocate_lock))
         if not real]
print(" ".join(leaks) or "none")
"""


def suite_modules():
    """Every test module, as pytest's collection imports them, each file once."""
    return sorted(".".join(path.relative_to(ROOT).with_suffix("").parts)
                  for path in pathlib.Path(ROOT, "tests").rglob("test_*.py"))


def test_importing_every_test_module_leaves_threading_real():
    result = subprocess.run([sys.executable, "-c", CHECK, *suite_modules()], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "none", "green copies left behind: " + result.stdout
