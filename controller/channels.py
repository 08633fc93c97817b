"""The controller's OpenFlow channels, one per connected switch: what is sent on each and what
comes back. Writes go through the switch's sync engine (controller/sync.py), a request's reply is
gathered (multipart) and handed to whoever asked, and port-mods name the port's MAC. Messages
are encoded by controller/openflow.py; the Ryu app hands this module its events."""
import functools
import logging
from typing import Any, Callable, Dict, Iterable, List, Tuple

from controller import openflow
from controller.state import InvalidRequest
from controller.sync import Message, Read, SwitchSync

LOG = logging.getLogger("lvsdn.channels")


class Channels:
    def __init__(self, syncs: Dict[str, SwitchSync], on_read: Callable[[str], None]):
        self.syncs = syncs
        self.on_read = on_read           # a switch has been read back: bring it in line
        self.datapaths: Dict[str, Any] = {}          # switch name -> Ryu's Datapath
        self.port_macs: Dict[Tuple[str, int], str] = {}   # (switch, port) -> its MAC, which a port-mod names
        self._pending: Dict[Tuple[str, int], tuple] = {}  # (switch, xid) -> (on_reply, parts so far)

    def connected(self, name: str, datapath: Any) -> None:
        self.datapaths[name] = datapath
        self.syncs[name].connect()
        datapath.send_msg(datapath.ofproto_parser.OFPPortDescStatsRequest(datapath, 0))

    def disconnected(self, name: str) -> None:
        self.datapaths.pop(name, None)
        self.syncs[name].disconnect()
        self._pending = {k: v for k, v in self._pending.items() if k[0] != name}

    def in_sync(self) -> bool:
        return all(self.syncs[n].in_sync for n in self.datapaths)

    def write(self, desired: Callable[[str], tuple], now: float) -> None:
        """Bring every connected switch to `desired(name)`: (its flows, its groups)."""
        for name, datapath in list(self.datapaths.items()):
            self._send(name, datapath, self.syncs[name].sync(functools.partial(desired, name), now))

    def overdue(self, now: float) -> List[str]:
        """The switches with a write unconfirmed for too long (they are being read back)."""
        return [name for name in list(self.datapaths) if self.syncs[name].overdue(now)]

    def _send(self, name: str, datapath: Any, messages: Iterable[Message]) -> None:
        """Send the sync engine's messages; a read's reply goes back to the engine."""
        for message in messages:
            for ofmsg in openflow.encode(datapath, message):
                if isinstance(message, Read):
                    self._pending[(name, message.xid)] = (
                        lambda stats, read=message: self._read_back(name, datapath, read, stats), [])
                datapath.send_msg(ofmsg)

    def _read_back(self, name: str, datapath: Any, read: Read, stats: list) -> None:
        if self.datapaths.get(name) is not datapath:
            return                     # it left, or connected again since
        sync = self.syncs[name]
        self._send(name, datapath, sync.read_reply(read.xid, openflow.read_back(read.part, stats)))
        if not sync.reading:
            LOG.info("%s read back holding %d of the controller's flows and %d others", name, len(sync.flows),
                     sync.foreign)
            self.on_read(name)

    def request(self, name: str, request: Any, on_reply: Callable[[list], None]) -> None:
        """Send a multipart request (to the datapath it was made for: the switch may have left
        while an earlier send yielded) and call `on_reply` with its parts."""
        request.set_xid(self.syncs[name].next_xid())
        self._pending[(name, request.xid)] = (on_reply, [])
        request.datapath.send_msg(request)

    def reply(self, name: str, msg: Any) -> None:
        """A part of a multipart reply; the last one hands them all to the request's `on_reply`."""
        key = (name, msg.xid)
        if key not in self._pending:
            return
        on_reply, parts = self._pending[key]
        parts.extend(msg.body if isinstance(msg.body, list) else [msg.body])
        if not msg.flags & msg.datapath.ofproto.OFPMPF_REPLY_MORE:
            del self._pending[key]
            on_reply(parts)

    def packet_out(self, name: str, port: int, frame: bytes) -> None:
        datapath = self.datapaths.get(name)
        if datapath is not None:
            datapath.send_msg(openflow.packet_out(datapath, port, frame))

    # port-mods for nodes failed through the API (controller/operations.py's PortMods)
    def require(self, ports: Iterable[Tuple[str, int]]) -> None:
        missing = sorted({s for s, p in ports if s not in self.datapaths or (s, p) not in self.port_macs})
        if missing:
            raise InvalidRequest("%s not connected to the controller: nothing was changed" % ", ".join(missing))

    def set_down(self, ports: Iterable[Tuple[str, int]], down: bool) -> None:
        for switch, port in ports:
            datapath = self.datapaths[switch]
            datapath.send_msg(openflow.port_mod(datapath, port, self.port_macs[(switch, port)], down))
