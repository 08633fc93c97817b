"""The run record (topologies/runstate.py) is the active run's: a run that does not hold the
lock (one refused because another is active) never writes it, whatever its teardown does."""
import os

from topologies import runstate
from topologies.runstate import RunRecord


def test_a_run_without_the_lock_leaves_the_record_alone(tmp_path, monkeypatch):
    record_path = tmp_path / "run.json"
    record_path.write_text('{"pid": 1, "run_dir": "/the/active/run", "pids": {"web1:web": 7}}')
    monkeypatch.setattr(runstate, "RECORD_PATH", str(record_path))
    refused = RunRecord()
    refused.add_pid("logreview", 42)
    refused.remove_pid("web1:web")
    refused.release()
    assert record_path.read_text() == '{"pid": 1, "run_dir": "/the/active/run", "pids": {"web1:web": 7}}'
    assert not os.path.exists(str(record_path) + ".tmp")
