"""Controller events as JSON lines with ECS-style field names (one object per line)."""
import json
import os
import time
from datetime import datetime, timezone
from typing import Any, Dict, Iterable, List, NamedTuple, Optional


class Event(NamedTuple):
    """One event to write: ECS event.action, the message, and extra fields (see EventLog.emit)."""
    action: str
    message: str
    fields: Dict[str, object] = {}


def ecs_timestamp(epoch: Optional[float] = None) -> str:
    moment = datetime.fromtimestamp(time.time() if epoch is None else epoch, tz=timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class EventLog:
    def __init__(self, path: Optional[str]) -> None:
        self.path = path
        self._file = open(path, "a", buffering=1) if path else None

    def write(self, record: Dict[str, Any]) -> None:
        """Write a ready record (a dict with ECS field names)."""
        if self._file is not None:
            self._file.write(json.dumps(record) + "\n")

    def log(self, events: Iterable[Event]) -> None:
        for event in events:
            self.emit(event.action, event.message, **event.fields)

    def emit(self, action: str, message: str, **fields: Any) -> None:
        """Write one event: `action` is ECS event.action; extra fields use dotted ECS names
        given with underscores for dots (observer_name -> observer.name)."""
        if self._file is None:
            return
        record = {"@timestamp": ecs_timestamp(), "event.action": action, "message": message}
        record.update({k.replace("_", "."): v for k, v in fields.items()})
        self.write(record)


def latest_records(path: Optional[str], count: int, tail_bytes: int = 64 * 1024) -> List[Any]:
    """The last `count` whole JSON records of a JSON-lines file, newest first (none if it cannot
    be read): only its tail is read, and a line cut or still being written is skipped."""
    if path is None:
        return []
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - tail_bytes))
            lines = f.read().splitlines()
    except OSError:
        return []
    records = []
    for line in reversed(lines):
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
        if len(records) == count:
            break
    return records
