"""Where every copy an edge switch sends to the controller goes (the connection log's, the
refused attempts', the forged packets', the passive checks' signals).

Each kind of copy passes through a meter of its own (controller/pipeline.py), and the meter counts
what enters it and what it drops, in one reply. So of the copies a switch made, each was dropped
by the meter, received by the controller, or lost on the way (Open vSwitch's queue to the
controller overflowed, or the connection broke): lost = made - dropped - received.

A meter's counts come in a poll while copies are under way, so at one poll the difference is
what was lost plus what was still on its way; a copy is under way for milliseconds, never for a
whole STATS_INTERVAL, so what is still missing at the next poll as well is lost. The account
takes the smaller of the two polls' differences. Counters that went back belong to a new meter
(replaced, or its switch restarted), counted from 0.
"""
from typing import Dict, Optional, Tuple


class CopyAccount:
    """One meter's copies on one switch, counted from the first poll on."""

    def __init__(self) -> None:
        self.received = 0             # copies the controller received through this meter, in all
        self.made = self.dropped = self.lost = 0
        self._last: Optional[Tuple[int, int]] = None             # the meter's (made, dropped) at the last poll
        self._received_before = 0     # received before the first poll
        self._missing = 0             # made - dropped - received at the last poll

    def copy_received(self) -> None:
        self.received += 1

    def polled(self, made: int, dropped: int) -> int:
        """A poll of the meter: what entered it and what it dropped, in all. Returns how many
        copies this poll found lost that no poll found before."""
        if self._last is None:
            self._last, self._received_before = (made, dropped), self.received
            return 0
        new_meter = made < self._last[0] or dropped < self._last[1]     # it counts from 0
        last_made, last_dropped = (0, 0) if new_meter else self._last
        self.made += made - last_made
        self.dropped += dropped - last_dropped
        self._last = (made, dropped)
        missing = self.made - self.dropped - (self.received - self._received_before)
        lost = max(self.lost, min(missing, self._missing))
        self._missing = missing
        found, self.lost = lost - self.lost, lost
        return found

    def figures(self) -> Dict[str, int]:
        """{"made", "dropped", "received", "lost"} since the first poll."""
        return {"made": self.made, "dropped": self.dropped, "received": self.received - self._received_before,
                "lost": self.lost}
