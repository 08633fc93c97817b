"""The Ryu application: the adapter between OpenFlow events and the pure logic (FAUCET's shape).

It reads the cluster description (JSON from controller/launcher.py), passes switch, port and
packet events to the modules that decide, and sends what they return. One green thread, the flow
writer, brings each switch to `switch_flows` through its sync engine (controller/sync.py): two
writers interleaving would leave a switch holding neither state. The REST API (controller/rest.py)
calls controller/operations.py.
"""
import functools
import json
import os
import subprocess
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from ryu import cfg
from ryu.app.wsgi import WSGIApplication
from ryu.base import app_manager
from ryu.controller import ofp_event
from ryu.controller.handler import CONFIG_DISPATCHER, DEAD_DISPATCHER, MAIN_DISPATCHER, set_ev_cls
from ryu.lib import hub
from ryu.ofproto import ofproto_v1_3

from controller import events, openflow, trace
from controller.access import ApiGate
from controller.channels import Channels
from controller.connlog import PacketIns
from controller.counters import FLOWS, Counters, polls
from controller.flows import switch_flows, switch_groups, switch_meters
from controller.healthcheck import HealthChecker
from controller.launcher import (ALERTS_ENV, API_TOKEN_ENV, CLUSTER_ENV, CONNECTIONS_ENV, EVENTS_ENV, SETTINGS_ENV,
                                 STATE_ENV)
from controller.loops import FAULT_ENV, Loops
from controller.operations import Operations
from controller.proxy import vip_announcements
from controller.rest import APP_KEY, DashboardPage, LbRestApi, NotFoundApi
from controller.state import ClusterState
from controller.statefile import StateKeeper
from controller.sync import SwitchSync
from core.apitoken import read_token_file
from core.description import ClusterDescription
from core.eventlog import EventLog
from core.settings import ControllerSettings

# How long the first proxy election waits for both proxies to be alive.
PROXY_SETTLE_SECONDS = 1.0
STATS_INTERVAL = 1.0
FLOW_RETRY_SECONDS = 1.0
WRITE_WATCH_INTERVAL = 1.0   # how often unconfirmed writes are looked at (controller/sync.py)
BLOCK_CHECK_INTERVAL = 0.5
TRACE_TIMEOUT = 5.0          # s for one switch's ofproto/trace
TRACE_SETTLE_SECONDS = 3.0   # a trace right after a change waits this long for the switches to hold it


def ovs_trace(bridge: str, flow: str) -> str:
    """Open vSwitch's ofproto/trace of one bridge (eventlet makes the wait green)."""
    try:
        done = subprocess.run(["ovs-appctl", "ofproto/trace", bridge, flow], capture_output=True, text=True,
                              timeout=TRACE_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise trace.TraceUnavailable("ovs-appctl ofproto/trace %s failed: %s (the trace needs the switches on "
                                     "the controller's machine)" % (bridge, e)) from None
    if done.returncode != 0:
        raise trace.TraceUnavailable("ovs-appctl ofproto/trace %s answered: %s" % (bridge, done.stderr.strip()))
    return done.stdout


def cluster_switch(handler: Callable[[Any, str, Any], None]) -> Callable[[Any, Any], None]:
    """A switch event's handler, called with the switch's name for the cluster's switches only."""
    @functools.wraps(handler)
    def called(self: "LvsController", ev: Any) -> None:
        name = self._switch_name(ev.msg.datapath if hasattr(ev, "msg") else ev.datapath)
        if name:
            handler(self, name, ev)
    return called


class LvsController(app_manager.RyuApp):
    OFP_VERSIONS = [ofproto_v1_3.OFP_VERSION]
    _CONTEXTS = {"wsgi": WSGIApplication}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        d = self.description = ClusterDescription.from_dict(json.loads(os.environ[CLUSTER_ENV]))
        settings = ControllerSettings.from_json(os.environ.get(SETTINGS_ENV, "{}"))
        self.state = ClusterState(d, settings.health, settings.proxy_policy, settings.network)
        self.event_log = EventLog(os.environ.get(EVENTS_ENV))
        self.gate = ApiGate(read_token_file(os.environ[API_TOKEN_ENV]), cfg.CONF.wsapi_port, time.monotonic)
        self.health = HealthChecker(d, self.state, settings.health, self.event_log, hub.spawn_after, self.reconcile)
        self.packet_ins = PacketIns(d, self.state, EventLog(os.getenv(CONNECTIONS_ENV)), self.health.passive_signal)
        self.counters = Counters(self.state, self.reconcile)
        self.state_keeper = StateKeeper(os.environ.get(STATE_ENV), self.state, self.event_log)
        self.state_keeper.restore()
        self.channels = Channels({s.name: SwitchSync(s.name, switch_meters(d, s.name)) for s in d.switches},
                                 lambda _name: self.reconcile())
        self.ops = Operations(d, self.state, self.event_log, self.reconcile, self.channels, os.environ.get(ALERTS_ENV))
        self._dirty = hub.Event()     # set: the flow writer has work
        self._to_announce: List[str] = []     # proxies that just took the VIP over
        self._writing = False
        self._poll_round = 0
        self.loops = Loops(time.monotonic, hub.sleep, self._round_failed,
                           fault_once=[n for n in os.environ.get(FAULT_ENV, "").split(",") if n])
        hub.spawn(self._flow_writer)
        hub.spawn(self.loops.run, "proxy-prober", settings.proxy_policy.probe_interval, self._probe_proxies)
        hub.spawn(self.loops.run, "counter-poller", STATS_INTERVAL, self._poll_counters)
        hub.spawn(self.loops.run, "block-expiry", BLOCK_CHECK_INTERVAL, self.ops.lift_expired_blocks)
        hub.spawn(self.loops.run, "write-watch", WRITE_WATCH_INTERVAL, self._watch_writes)
        for web in d.real_servers:
            hub.spawn(self.loops.run, "health-check " + web.name, settings.health.interval,
                      lambda web=web: self.health.active_check(web))
        for api in (LbRestApi, DashboardPage, NotFoundApi):
            kwargs["wsgi"].register(api, {APP_KEY: self})

    def _switch_name(self, datapath: Any) -> Optional[str]:
        if datapath.id is None:      # the channel closed before the switch said who it is
            return None
        switch = self.description.switch_by_dpid(datapath.id)
        if switch is None:
            self.logger.warning("ignoring unknown switch dpid=%#x: not in the cluster description", datapath.id)
            return None
        return switch.name

    # --- proxies ------------------------------------------------------------------------------
    def _elect(self, record: Optional[Dict[str, Any]] = None) -> None:
        """Re-run the proxy election (or act on one just run) and, when the VIP moved, log it,
        re-point the flows and announce the VIP from its new proxy."""
        record = record or self.state.elect()
        self._follow_bfd_hold()
        if record is None:
            return
        self.logger.info("VIP %s -> %s: %s", record["from"], record["to"], record["cause"])
        self.event_log.log([events.election(record)])
        self._to_announce += [p for p in record["to"] if p not in record["from"]]
        self.reconcile()

    def _follow_bfd_hold(self) -> None:
        """A switch stall began or ended holding BFD's verdicts: log it and re-pin the edges'
        failover groups."""
        proxies = self.state.proxies
        held = proxies.hold_change()
        if held is not None:
            self.event_log.log([events.bfd_hold(held, proxies.stalled_proxies(), proxies.stall_window)])
            self.reconcile()

    def _announce(self, proxy: str) -> None:
        for port, ip, mac in vip_announcements(self.description, proxy, self.state.view()):
            self.channels.packet_out(proxy, port, openflow.gratuitous_arp(ip, mac))

    def _round_failed(self, loop: str, error: Exception) -> None:
        """A background loop's round raised: its traceback to the log, an event; the loop goes on."""
        self.logger.exception("%s: a round failed; the loop goes on", loop)
        self.event_log.emit("loop-round-failed", "%s: a round failed (%s: %s); the loop goes on"
                            % (loop, type(error).__name__, error), labels_loop=loop)

    def _probe_proxies(self) -> None:
        """Liveness probes (one round): a frame sent from s_pub and from s_lan into each proxy,
        which sends it straight back, and one the side sends straight back itself (the reference:
        how far the channel and the controller have got); then re-run the election."""
        frame = openflow.probe_frame(self.state.clock())
        for side in self.description.proxy_edges:
            for proxy in self.description.proxies:
                self.channels.packet_out(side, self.description.proxy_port(side, proxy), frame)
            self.channels.packet_out(side, ofproto_v1_3.OFPP_CONTROLLER, frame)
        self._elect()

    def _settle_election(self) -> None:
        self._elect(self.state.settle_election())

    # --- flows --------------------------------------------------------------------------------
    def reconcile(self) -> None:
        """Ask the flow writer to bring every switch in line with the current state."""
        self._dirty.set()

    def _flow_writer(self) -> None:
        while True:
            self._dirty.wait()
            self._dirty.clear()
            self._writing = True
            try:
                self._write_flows()
            except Exception:  # noqa: BLE001 - the writer must outlive one bad round
                self.logger.exception("writing flows failed; retrying in %.0f s", FLOW_RETRY_SECONDS)
                hub.spawn_after(FLOW_RETRY_SECONDS, self.reconcile)
            finally:
                self._writing = False

    def trace(self, source: str, destination: str, **options: Optional[str]) -> dict:
        """What a packet from `source` to `destination` meets (controller/trace.py), traced by
        ovs-appctl on this machine's switches; InvalidRequest for a bad request, TraceUnavailable
        where ovs-appctl cannot answer."""
        request = trace.trace_request(self.description, self.state.view(), source, destination, **options)
        settled = self._flows_settle(TRACE_SETTLE_SECONDS)
        answer = trace.trace(self.description, self.state.view(), request, ovs_trace)
        if not settled:
            answer["lines"].append(trace.NOT_SETTLED)
        return dict(answer, flows_in_sync=settled)

    def _flows_settle(self, seconds: float) -> bool:
        """Whether every switch holds the current state's flows within `seconds`: a trace just
        after a change (a block, a weight) would otherwise show the rules before it."""
        deadline = time.monotonic() + seconds
        while not self.flows_in_sync():
            if time.monotonic() >= deadline:
                return False
            hub.sleep(0.05)
        return True

    def flows_in_sync(self) -> bool:
        """True when every switch has confirmed (barrier) the flows of the current state."""
        return not (self._dirty.is_set() or self._writing) and self.channels.in_sync()

    def _write_flows(self) -> None:
        self.state_keeper.save()       # before the flows that follow from it
        # A real server that left loses its connections on every proxy: they no longer match its
        # ct_mark, so their next packets hash again to a live server (as LVS's expire_nodest_conn).
        self.event_log.log(events.table_changes(self.description, *self.state.table_changes()))
        view = self.state.view()
        self.channels.write(lambda name: (switch_flows(self.description, name, view),
                                          switch_groups(self.description, name, view)), time.monotonic())
        while self._to_announce:
            self._announce(self._to_announce.pop(0))

    def _watch_writes(self) -> None:
        """A write whose barrier has gone unanswered: the switch is read back (controller/sync.py)."""
        for name in self.channels.overdue(time.monotonic()):
            self.event_log.emit("write-unconfirmed", "%s did not confirm a write in time: reading it back" % name,
                                observer_name=name)
            self.reconcile()

    @set_ev_cls(ofp_event.EventOFPSwitchFeatures, CONFIG_DISPATCHER)
    @cluster_switch
    def on_switch_features(self, name: str, ev: Any) -> None:
        self.channels.connected(name, ev.msg.datapath)
        self.reconcile()

    @set_ev_cls(ofp_event.EventOFPStateChange, [MAIN_DISPATCHER, DEAD_DISPATCHER])
    @cluster_switch
    def on_state_change(self, name: str, ev: Any) -> None:
        if ev.state == MAIN_DISPATCHER:
            if self.state.switch_connected(name):
                hub.spawn_after(PROXY_SETTLE_SECONDS, self._settle_election)
            self.event_log.emit("switch-connected", "%s connected" % name, observer_name=name)
        elif name in self.state.connected:
            self.state.switch_disconnected(name)
            self.channels.disconnected(name)
            self.event_log.emit("switch-disconnected", "%s lost its OpenFlow channel" % name,
                                observer_name=name)
        self._elect()
        self.reconcile()

    @set_ev_cls(ofp_event.EventOFPBarrierReply, MAIN_DISPATCHER)
    @cluster_switch
    def on_barrier(self, name: str, ev: Any) -> None:
        if self.channels.syncs[name].barrier_reply(ev.msg.xid):
            self.state.flows_installed(name)

    @set_ev_cls(ofp_event.EventOFPPortDescStatsReply, MAIN_DISPATCHER)
    @cluster_switch
    def on_port_desc(self, name: str, ev: Any) -> None:
        ofp = ev.msg.datapath.ofproto
        for port in ev.msg.body:
            self.channels.port_macs[(name, port.port_no)] = port.hw_addr
            if port.port_no <= ofp.OFPP_MAX:
                self.state.port_status(name, port.port_no, openflow.port_is_up(ofp, port),
                                       openflow.port_is_live(ofp, port))
        self.reconcile()

    @set_ev_cls(ofp_event.EventOFPPortStatus, MAIN_DISPATCHER)
    @cluster_switch
    def on_port_status(self, name: str, ev: Any) -> None:
        """A port's link or liveness changed. On a proxy's cable, liveness is BFD's verdict, which
        the edge's fast-failover group has already acted on: the election follows and says why."""
        ofp, port = ev.msg.datapath.ofproto, ev.msg.desc
        self.channels.port_macs[(name, port.port_no)] = port.hw_addr
        gone = ev.msg.reason == ofp.OFPPR_DELETE
        change = self.state.port_changed(name, port.port_no, not gone and openflow.port_is_up(ofp, port),
                                         not gone and openflow.port_is_live(ofp, port))
        if not change:
            return
        self.event_log.log(events.port_change(change))
        if change.server:
            self.health.health_changed(change.server)
        if change.bfd_lost:         # BFD's verdict counts once a stall window has passed (controller/proxies.py)
            hub.spawn_after(self.state.proxies.stall_window, self._elect)
        self._elect()
        self.reconcile()

    @set_ev_cls(ofp_event.EventOFPErrorMsg, [CONFIG_DISPATCHER, MAIN_DISPATCHER])
    @cluster_switch
    def on_error(self, name: str, ev: Any) -> None:
        """A switch refused a message: a bug in a flow spec; say which. The sync engine does not
        send a refused entry again until it changes."""
        msg = ev.msg
        what = self.channels.syncs[name].error(msg.xid)
        self.logger.error("%s refused %s: error type %d code %d: %s", name, what or "a message", msg.type,
                          msg.code, msg.data[:64].hex())
        self.event_log.emit("openflow-error", "switch refused %s (type %d code %d)"
                            % (what or "a message", msg.type, msg.code), observer_name=name)
        self.reconcile()

    @set_ev_cls(ofp_event.EventOFPPacketIn, MAIN_DISPATCHER)
    @cluster_switch
    def on_packet_in(self, name: str, ev: Any) -> None:
        msg = ev.msg
        self.packet_ins.received(name, msg.match["in_port"], msg.cookie, msg.data,
                                 msg.match["in_port"] == msg.datapath.ofproto.OFPP_CONTROLLER)

    # --- counters -----------------------------------------------------------------------------
    def _poll_counters(self) -> None:
        """One round of counter polls (controller/counters.py): per proxy, the FORWARD and SELECTED
        tables' counters (per real server, not per connection); per edge switch, its meters."""
        self._poll_round += 1
        destinations = len(self.state.book.destinations())
        for name, datapath in list(self.channels.datapaths.items()):
            for poll in polls(self.description, name, destinations, self._poll_round, self.state.book.persistent):
                encode = openflow.flow_stats_request if poll[0] == FLOWS else openflow.meter_stats_request
                self.channels.request(name, encode(datapath, poll[1]), functools.partial(self._polled, name, poll))

    def _polled(self, switch: str, poll: Tuple[str, int], stats: list) -> None:
        self.event_log.log(self.counters.polled(switch, poll, stats))

    @set_ev_cls([ofp_event.EventOFPFlowStatsReply, ofp_event.EventOFPMeterStatsReply,
                 ofp_event.EventOFPGroupDescStatsReply, ofp_event.EventOFPMeterConfigStatsReply], MAIN_DISPATCHER)
    @cluster_switch
    def on_stats_reply(self, name: str, ev: Any) -> None:
        self.channels.reply(name, ev.msg)
