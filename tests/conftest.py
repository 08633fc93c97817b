"""Emulation tests need root (Mininet); without it they are skipped with a reason."""
import os

import pytest


def pytest_collection_modifyitems(config, items):
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="emulation tests need root (Mininet): run scripts/test.sh with sudo")
    for item in items:
        if "emulation" in item.keywords:
            item.add_marker(skip)
