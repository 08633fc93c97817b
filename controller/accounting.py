"""Where every copy an edge switch sends to the controller goes (the connection log's, the
refused attempts', the forged packets', the passive checks' signals).

Each kind of copy passes through a meter of its own (controller/flows.py), and the meter counts
what enters it and what it drops, in one reply. So of the copies a switch made, each was dropped
by the meter, received by the controller, or lost on the way (Open vSwitch's queue to the
controller overflowed, or the connection broke): lost = made - dropped - received.

A meter's counts come in a poll while copies are under way, so at one poll the difference is
what was lost plus what was still on its way; a copy is under way for milliseconds, never for a
whole STATS_INTERVAL, so what is still missing at the next poll as well is lost. The account
takes the smaller of the two polls' differences. Counters that went back belong to a new meter
(replaced, or its switch restarted), counted from 0.
"""


class CopyAccount:
    """One meter's copies on one switch, counted from the first poll on."""

    def __init__(self):
        self.received = 0             # copies the controller received through this meter
        self.lost = 0
        self._last = None             # (made, dropped) at the last poll
        self._base = None             # (made, dropped, received) at the first poll
        self._counted = (0, 0, 0)     # (made, dropped, received) counted before counters went back
        self._missing = 0             # made - dropped - received at the last poll
        self._polled_received = 0     # received at the last poll

    def copy_received(self):
        self.received += 1

    def polled(self, made, dropped):
        """A poll of the meter: what entered it and what it dropped, in all. Returns how many
        copies this poll found lost that no poll found before."""
        if self._base is None:
            self._last, self._polled_received = (made, dropped), self.received
            self._base = (made, dropped, self.received)
            return 0
        if made < self._last[0] or dropped < self._last[1]:     # a new meter: it counts from 0
            self._counted = self._figures(self._polled_received)
            self._base = (0, 0, self._polled_received)
        self._last, self._polled_received = (made, dropped), self.received
        made, dropped, received = self._figures()
        missing, before = made - dropped - received, self._missing
        self._missing = missing
        lost = max(self.lost, min(missing, before))
        found, self.lost = lost - self.lost, lost
        return found

    def _figures(self, received_now=None):
        made, dropped, received = self._counted
        if self._base is not None:
            made += self._last[0] - self._base[0]
            dropped += self._last[1] - self._base[1]
            received += (self.received if received_now is None else received_now) - self._base[2]
        return made, dropped, received

    def figures(self):
        """{"made", "dropped", "received", "lost"} since the first poll."""
        return dict(zip(("made", "dropped", "received"), self._figures()), lost=self.lost)
