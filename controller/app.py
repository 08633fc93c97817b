"""The Ryu application: a thin adapter between OpenFlow events and the pure logic.

It reads the cluster description (a JSON file the harness writes; see controller/launcher.py),
feeds switch and port events to ClusterState, and after every change brings each switch's flows
to what `switch_flows` says they should be (a diff: only changed entries are sent). One green
thread, the flow writer, sends every flow change: sending yields when a switch's queue is full,
and two writers interleaving their changes would leave a switch holding neither state. It also
probes the proxies, checks the real servers' health, polls counters and serves the REST API.
"""
import json
import os
import time

from eventlet import tpool
from ryu import cfg
from ryu.app.wsgi import WSGIApplication
from ryu.base import app_manager
from ryu.controller import ofp_event
from ryu.controller.handler import CONFIG_DISPATCHER, DEAD_DISPATCHER, MAIN_DISPATCHER, set_ev_cls
from ryu.lib import hub
from ryu.ofproto import ofproto_v1_3

from controller import openflow
from controller.connlog import connection_record, passive_signal, spoofing_record
from controller.flows import switch_flows, switch_groups, switch_meters
from controller.pipeline import (COOKIE_DENY, COOKIE_LOG, COOKIE_PASSIVE, COOKIE_PROBE, COOKIE_SPOOF, COPY_METERS,
                                 DENY_METER, KIND_MASK, LOG_METER, PASSIVE_METER, SPOOF_METER, T_FORWARD, T_SELECTED)
from controller.health import CONFIRM, DOWN
from controller.access import ApiGate
from controller.launcher import (ALERTS_ENV, API_TOKEN_ENV, CLUSTER_ENV, CONNECTIONS_ENV, EVENTS_ENV, SETTINGS_ENV,
                                 STATE_ENV)
from controller.loops import FAULT_ENV, Loops
from controller.counters import forward_counters, meter_counts, opened_counters
from controller.probe import check_health
from controller.proxies import STALL_HOLD
from controller.rest import APP_KEY, DashboardPage, LbRestApi, NotFoundApi
from controller.statefile import write_json_in_place
from controller.state import ClusterState, InvalidRequest
from controller.sync import Read, SwitchSync
from core.apitoken import read_token_file
from core.description import ClusterDescription
from core.eventlog import EventLog, ecs_timestamp, latest_records
from core.settings import ControllerSettings


# How long the first proxy election waits for both proxies to be alive.
PROXY_SETTLE_SECONDS = 1.0
STATS_INTERVAL = 1.0
FLOW_RETRY_SECONDS = 1.0
WRITE_WATCH_INTERVAL = 1.0   # how often unconfirmed writes are looked at (controller/sync.py)
METER_DROPS = {LOG_METER: ("log-copies-dropped", "connection-log copies"),      # event, what a meter drops
               PASSIVE_METER: ("passive-copies-dropped", "copies of real servers' RSTs and ICMP errors"),
               DENY_METER: ("log-copies-dropped", "copies of attempts segmentation refused"),
               SPOOF_METER: ("spoof-copies-dropped", "copies of forged packets")}
BLOCK_CHECK_INTERVAL = 0.5
ALERTS_SHOWN = 20


class LvsController(app_manager.RyuApp):
    OFP_VERSIONS = [ofproto_v1_3.OFP_VERSION]
    _CONTEXTS = {"wsgi": WSGIApplication}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.description = ClusterDescription.from_dict(json.loads(os.environ[CLUSTER_ENV]))
        settings = ControllerSettings.from_json(os.environ.get(SETTINGS_ENV, "{}"))
        self.health_settings = settings.health
        # health checks leave through this interface only (controller/probe.py)
        self.management_interface = self.description.management_interface.name
        self.proxy_policy = settings.proxy_policy
        self.state = ClusterState(self.description, self.health_settings, self.proxy_policy, settings.network)
        self.event_log = EventLog(os.environ.get(EVENTS_ENV))
        self.connection_log = EventLog(os.environ.get(CONNECTIONS_ENV))
        self.real_servers_by_ip = {w.ip: w.name for w in self.description.real_servers}
        self.real_servers_by_mac = {w.service_interface.mac: w.name for w in self.description.real_servers}
        self.port_macs = {}            # (switch, port) -> its MAC, which a port-mod must name
        self.port_owners = {(i.switch, i.port): (h.name, i.ip) for h in self.description.hosts for i in h.interfaces}
        self.state_file = os.environ.get(STATE_ENV)
        self.alerts_file = os.environ.get(ALERTS_ENV)
        self.gate = ApiGate(read_token_file(os.environ[API_TOKEN_ENV]), cfg.CONF.wsapi_port, time.monotonic)
        self._saved_state = None
        self._saving = hub.BoundedSemaphore(1)   # one state write at a time, the newest last
        self._restore_state()
        self._meter_dropped = {}      # (edge switch, meter) -> copies the meter has dropped
        self.datapaths = {}           # switch name -> Datapath
        self.syncs = {s.name: SwitchSync(s.name, switch_meters(self.description, s.name))
                      for s in self.description.switches}
        self._pending = {}            # (switch name, xid) -> (on_reply, stats gathered so far)
        self._dirty = hub.Event()     # set: the flow writer has work
        self._to_announce = []        # proxies that just took the VIP over
        self._bfd_held = False        # as the flows were last asked for
        self._writing = False
        self.loops = Loops(time.monotonic, hub.sleep, self._round_failed,
                           fault_once=[n for n in os.environ.get(FAULT_ENV, "").split(",") if n])
        hub.spawn(self._flow_writer)
        hub.spawn(self.loops.run, "proxy-prober", self.proxy_policy.probe_interval, self._probe_proxies)
        hub.spawn(self.loops.run, "counter-poller", STATS_INTERVAL, self._poll_counters)
        hub.spawn(self.loops.run, "block-expiry", BLOCK_CHECK_INTERVAL, self._lift_expired_blocks)
        hub.spawn(self.loops.run, "write-watch", WRITE_WATCH_INTERVAL, self._watch_writes)
        for web in self.description.real_servers:
            hub.spawn(self.loops.run, "health-check " + web.name, self.health_settings.interval,
                      lambda web=web: self._check_health(web))
        for api in (LbRestApi, DashboardPage, NotFoundApi):
            kwargs["wsgi"].register(api, {APP_KEY: self})

    def _switch_name(self, datapath):
        if datapath.id is None:      # the channel closed before the switch said who it is
            return None
        switch = self.description.switch_by_dpid(datapath.id)
        if switch is None:
            self.logger.warning("ignoring unknown switch dpid=%#x: not in the cluster description",
                                datapath.id)
        return switch and switch.name

    # --- proxies ------------------------------------------------------------------------------
    def _elect(self, record=None):
        """Re-run the proxy election (or act on one just run) and, when the VIP moved, log it,
        re-point the flows and announce the VIP from its new proxy."""
        record = record or self.state.elect()
        self._follow_bfd_hold()
        if record is None:
            return
        self.logger.info("VIP %s -> %s: %s", record["from"], record["to"], record["cause"])
        action = "proxy-failover" if record["from"] else "proxy-elected"
        self.event_log.emit(action, "VIP carried by %s (was %s): %s" % (
            ", ".join(record["to"]) or "no proxy (VIP down)", ", ".join(record["from"]) or "none",
            record["cause"]), observer_name=",".join(record["to"]))
        self._to_announce += [p for p in record["to"] if p not in record["from"]]
        self.reconcile()

    def _follow_bfd_hold(self):
        """A switch stall began or ended holding BFD's verdicts: log it and re-pin the edges'
        failover groups."""
        held = self.state.proxies.bfd_held()
        if held == self._bfd_held:
            return
        self._bfd_held = held
        self.event_log.emit("bfd-held" if held else "bfd-trusted", (
            "BFD fell silent towards %s within %.0f ms: a switch stall, not a proxy's failure; BFD's verdicts "
            "are held and the VIP stays where it is until those sessions are back (%g s at most)"
            % (" and ".join(self.state.proxies.stalled_proxies()), self.state.proxies.stall_window * 1000,
               STALL_HOLD)) if held else
            "BFD's sessions are back after the stall (or its hold ran out): its verdicts count again")
        self.reconcile()

    def _announce(self, proxy):
        """Gratuitous ARP for the VIP (and in NAT the real servers' gateway) from a proxy that
        has just taken it over, as VRRP does."""
        datapath = self.datapaths.get(proxy)
        if datapath is None:
            return
        d = self.description
        announcements = [(d.proxy_uplink(proxy), d.vip, d.vip_mac)]
        if d.mode == "nat":
            announcements.append((d.proxy_downlink(proxy), d.nat_gateway, d.gateway_mac))
        for port, ip, mac in announcements:
            datapath.send_msg(openflow.packet_out(datapath, port, openflow.gratuitous_arp(ip, mac)))

    def _round_failed(self, loop, error):
        """A background loop's round raised: the traceback to the controller's log, an event to
        the event log; the loop goes on (controller/loops.py)."""
        self.logger.exception("%s: a round failed; the loop goes on", loop)
        self.event_log.emit("loop-round-failed", "%s: a round failed (%s: %s); the loop goes on"
                            % (loop, type(error).__name__, error), labels_loop=loop)

    def _probe_proxies(self):
        """Liveness probes (one round): a frame sent from s_pub and from s_lan into each proxy,
        which sends it straight back, and one the side sends straight back itself (the reference:
        how far the channel and the controller have got); then re-run the election."""
        frame = openflow.probe_frame(self.state.clock())
        for side in self.description.proxy_edges:
            datapath = self.datapaths.get(side)
            if datapath is not None:
                for proxy in self.description.proxies:
                    port = self.description.proxy_port(side, proxy)
                    datapath.send_msg(openflow.packet_out(datapath, port, frame))
                datapath.send_msg(openflow.packet_out(datapath, datapath.ofproto.OFPP_CONTROLLER, frame))
        self._elect()

    # --- flows --------------------------------------------------------------------------------
    def reconcile(self):
        """Ask the flow writer to bring every switch in line with the current state."""
        self._dirty.set()

    def _flow_writer(self):
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

    def flows_in_sync(self):
        """True when every switch has confirmed (barrier) the flows of the current state."""
        return not (self._dirty.is_set() or self._writing) and all(self.syncs[n].in_sync for n in self.datapaths)

    # --- what survives a restart ----------------------------------------------------------------
    def _restore_state(self):
        """Start from the state a previous run of the controller saved, if any."""
        if not self.state_file or not os.path.exists(self.state_file):
            return
        try:
            with open(self.state_file) as f:
                self.state.restore(json.load(f), wall_now=time.time())
        except (OSError, ValueError) as e:
            self.event_log.emit("state-not-restored", "starting afresh: %s cannot be used (%s)" % (self.state_file, e))
            return
        self.event_log.emit("state-restored", "restarted with the state saved in %s: VIP on %s, %d blocks"
                            % (self.state_file, ", ".join(self.state.proxies.active) or "no proxy",
                               len(self.state.blocks)))

    def _save_state(self):
        """Write the state a restart must not lose, when it changed, before the flows that follow
        from it are sent. In a worker thread (file writes do not yield), in place
        (controller/statefile.py: a rename over the old file waited on the disk's journal for up
        to 0.8 s, holding every flow change). One write at a time, its snapshot taken once the
        previous write is done: two in flight could finish in either order and leave the older
        state on disk."""
        if not self.state_file:
            return
        with self._saving:
            snapshot = self.state.snapshot(wall_now=time.time())
            if snapshot != self._saved_state:
                tpool.execute(write_json_in_place, self.state_file, json.dumps(snapshot))
                self._saved_state = snapshot

    def _write_flows(self):
        self._save_state()
        self._note_table_changes()
        view = self.state.view()
        now = time.monotonic()
        for name, datapath in list(self.datapaths.items()):
            self._send(name, datapath, self.syncs[name].sync(
                lambda name=name: (switch_flows(self.description, name, view),
                                   switch_groups(self.description, name, view)), now))
        while self._to_announce:
            self._announce(self._to_announce.pop(0))

    def _send(self, name, datapath, messages):
        """Send the sync engine's messages; a read's reply goes back to the engine."""
        for message in messages:
            for ofmsg in openflow.encode(datapath, message):
                if isinstance(message, Read):
                    self._pending[(name, message.xid)] = (
                        lambda stats, read=message: self._read_back(name, datapath, read, stats), [])
                datapath.send_msg(ofmsg)

    def _read_back(self, name, datapath, read, stats):
        if self.datapaths.get(name) is not datapath:
            return                     # it left, or connected again since
        sync = self.syncs[name]
        self._send(name, datapath, sync.read_reply(read.xid, openflow.read_back(read.part, stats)))
        if not sync.reading:
            self.logger.info("%s read back holding %d of the controller's flows and %d others", name,
                             len(sync.flows), sync.foreign)
            self.reconcile()

    def _watch_writes(self):
        """A write whose barrier has gone unanswered: the switch is read back (controller/sync.py)."""
        now = time.monotonic()
        for name in list(self.datapaths):
            if self.syncs[name].overdue(now):
                self.event_log.emit("write-unconfirmed", "%s did not confirm a write in time: reading it back"
                                    % name, observer_name=name)
                self.reconcile()

    def _note_table_changes(self):
        """Log real servers leaving and joining the table. A server that left loses its
        connections on every proxy: they no longer match its ct_mark, so their next packets hash
        again to a live server (as LVS's expire_nodest_conn)."""
        left, joined = self.state.table_changes()
        for server in left:
            self.event_log.emit("real-server-down", "%s left the virtual service's table" % server,
                                destination_ip=self.description.host(server).ip)
        for server in joined:
            self.event_log.emit("real-server-up", "%s is in the virtual service's table" % server,
                                destination_ip=self.description.host(server).ip)

    def apply(self, action, door, change, name, *args):
        """Run a state change of the virtual service (a request about real server `name`), log
        it as an event `action` with the door it came through, then bring the flows in line."""
        message = change(name, *args)
        self.event_log.emit(action, message, destination_ip=self.description.host(name).ip, labels_door=door)
        self.reconcile()

    def api_refused(self, method, path, door, refusal):
        if refusal.logged:
            message = "%s %s refused (%d %s): %s" % (method, path, refusal.status, refusal.reason, refusal.message)
            self.event_log.emit("api-refused", message,
                                labels_door=door, labels_reason=refusal.reason, labels_status=refusal.status,
                                http_request_method=method, url_path=path, labels_unlogged=self.gate.unlogged)

    def _settle_election(self):
        self._elect(self.state.settle_election())

    @set_ev_cls(ofp_event.EventOFPSwitchFeatures, CONFIG_DISPATCHER)
    def on_switch_features(self, ev):
        datapath = ev.msg.datapath
        name = self._switch_name(datapath)
        if not name:
            return
        self.datapaths[name] = datapath
        self.syncs[name].connect()
        datapath.send_msg(datapath.ofproto_parser.OFPPortDescStatsRequest(datapath, 0))
        self.reconcile()

    @set_ev_cls(ofp_event.EventOFPStateChange, [MAIN_DISPATCHER, DEAD_DISPATCHER])
    def on_state_change(self, ev):
        name = self._switch_name(ev.datapath)
        if not name:
            return
        if ev.state == MAIN_DISPATCHER:
            if name in self.description.proxies and not self.state.proxies.settled:
                hub.spawn_after(PROXY_SETTLE_SECONDS, self._settle_election)
            self.state.switch_connected(name)
            self.event_log.emit("switch-connected", "%s connected" % name, observer_name=name)
        elif name in self.state.connected:
            self.state.switch_disconnected(name)
            self.datapaths.pop(name, None)
            self.syncs[name].disconnect()
            self._pending = {k: v for k, v in self._pending.items() if k[0] != name}
            self.event_log.emit("switch-disconnected", "%s lost its OpenFlow channel" % name,
                                observer_name=name)
        self._elect()
        self.reconcile()

    @set_ev_cls(ofp_event.EventOFPBarrierReply, MAIN_DISPATCHER)
    def on_barrier(self, ev):
        name = self._switch_name(ev.msg.datapath)
        if name and self.syncs[name].barrier_reply(ev.msg.xid):
            self.state.flows_installed(name)

    @set_ev_cls(ofp_event.EventOFPPortDescStatsReply, MAIN_DISPATCHER)
    def on_port_desc(self, ev):
        name = self._switch_name(ev.msg.datapath)
        ofp = ev.msg.datapath.ofproto
        for port in ev.msg.body:
            self.port_macs[(name, port.port_no)] = port.hw_addr
            if port.port_no <= ofp.OFPP_MAX:
                self.state.port_status(name, port.port_no, openflow.port_is_up(ofp, port),
                                       openflow.port_is_live(ofp, port))
        self.reconcile()

    @set_ev_cls(ofp_event.EventOFPPortStatus, MAIN_DISPATCHER)
    def on_port_status(self, ev):
        """A port's link or liveness changed. On a proxy's cable, liveness is BFD's verdict, and
        the edge's fast-failover group has already acted on it: the election follows the
        datapath and records why."""
        name = self._switch_name(ev.msg.datapath)
        ofp = ev.msg.datapath.ofproto
        port = ev.msg.desc
        self.port_macs[(name, port.port_no)] = port.hw_addr
        deleted = ev.msg.reason == ofp.OFPPR_DELETE
        up = not deleted and openflow.port_is_up(ofp, port)
        live = not deleted and openflow.port_is_live(ofp, port)
        before = self.state.ports.get((name, port.port_no))
        if not name or before == (up, live):
            return
        server = self.state.port_status(name, port.port_no, up, live)
        if before is None or before.link != up:
            self.event_log.emit("port-up" if up else "port-down", "%s port %d %s"
                                % (name, port.port_no, "up" if up else "down"), observer_name=name)
        elif port.port_no in self.description.trunk_ports(name):
            peer = self.description.trunk_ports(name)[port.port_no]
            self.event_log.emit("bfd-up" if live else "bfd-down", "%s port %d (to %s): BFD %s"
                                % (name, port.port_no, peer, "up" if live else "down"), observer_name=name)
        if server:
            self._health_changed(server)
        if before is not None and before.live and not live and port.port_no in self.description.trunk_ports(name):
            # BFD's verdict counts once a stall window has passed (controller/proxies.py)
            hub.spawn_after(self.state.proxies.stall_window, self._elect)
        self._elect()
        self.reconcile()

    @set_ev_cls(ofp_event.EventOFPErrorMsg, [CONFIG_DISPATCHER, MAIN_DISPATCHER])
    def on_error(self, ev):
        """A switch refused a message: a bug in a flow spec; say which. The sync engine does not
        send a refused entry again until it changes."""
        msg = ev.msg
        name = self._switch_name(msg.datapath)
        what = self.syncs[name].error(msg.xid) if name else None
        self.logger.error("%s refused %s: error type %d code %d: %s", name, what or "a message", msg.type,
                          msg.code, msg.data[:64].hex())
        self.event_log.emit("openflow-error", "switch refused %s (type %d code %d)"
                            % (what or "a message", msg.type, msg.code), observer_name=name)
        self.reconcile()

    @set_ev_cls(ofp_event.EventOFPPacketIn, MAIN_DISPATCHER)
    def on_packet_in(self, ev):
        """Only liveness probes come back here; anything else is counted, as a leak made
        visible (nothing is forwarded through the controller)."""
        side = self._switch_name(ev.msg.datapath)
        in_port = ev.msg.match["in_port"]
        proxy = self.description.trunk_ports(side).get(in_port) if side else None
        kind = ev.msg.cookie & KIND_MASK
        sent_at = openflow.probe_sent_at(ev.msg.data) if side in self.description.proxy_edges else None
        if kind in COPY_METERS and side:
            self.state.copy_account(side, COPY_METERS[kind]).copy_received()
        if sent_at is not None and in_port == ev.msg.datapath.ofproto.OFPP_CONTROLLER:
            self.state.reference_reply(side, sent_at)
        elif kind == COOKIE_PROBE and proxy and sent_at is not None:
            self.state.probe_reply(proxy, side, sent_at)
        elif kind in (COOKIE_LOG, COOKIE_DENY) and side:
            self._log_connection(side, ev.msg, refused=kind == COOKIE_DENY)
        elif kind == COOKIE_SPOOF and side:
            self._log_spoofing(side, ev.msg)
        elif kind == COOKIE_PASSIVE and side:
            self._passive_signal(side, ev.msg)
        else:
            self.state.packet_in()

    def _log_connection(self, switch, msg, refused):
        record = connection_record(msg.data, switch, blocked=self.state.blocks, refused=refused)
        if record:
            self.state.log_copies += 1
            self.state.refused += refused
            self.connection_log.write(record)

    def _log_spoofing(self, switch, msg):
        """A forged packet dropped at a host's port: logged with the port and the host there."""
        port = msg.match["in_port"]
        owner, owner_ip = self.port_owners.get((switch, port), ("?", None))
        record = spoofing_record(msg.data, switch, port, owner, owner_ip)
        if record:
            self.state.spoofed += 1
            self.connection_log.write(record)

    # --- blocks -------------------------------------------------------------------------------
    def block(self, ip, seconds, reason, door):
        ip = self.state.block(ip, seconds, reason)
        self.event_log.emit("block-added", "%s blocked for %d s: %s" % (ip, seconds, reason),
                            source_ip=ip, observer_name=self.description.public_edge, labels_door=door)
        self.reconcile()
        return ip

    def unblock(self, ip, door):
        self.state.unblock(ip)
        self.event_log.emit("block-removed", "%s unblocked" % ip, source_ip=ip,
                            observer_name=self.description.public_edge, labels_door=door)
        self.reconcile()

    def _lift_expired_blocks(self):
        expired = self.state.expire_blocks()
        for ip in expired:
            self.event_log.emit("block-expired", "%s's ban ended" % ip, source_ip=ip,
                                observer_name=self.description.public_edge)
        if expired:
            self.reconcile()

    # --- nodes failed through the API ---------------------------------------------------------
    def fail_node(self, name, kind, door):
        """Fail a node as a cut would: every port of its cables taken down (port-mod)."""
        self._require_ports(self.state.node_failure(name, kind))
        self._set_ports_down(self.state.fail_node(name, kind), True)
        self.event_log.emit("node-failed", "%s failed through the API (%s): its cables' ports down" % (name, kind),
                            observer_name=name, labels_door=door)

    def recover_node(self, name, door):
        self._require_ports(self.state.node_recovery(name))
        self._set_ports_down(self.state.recover_node(name), False)
        self.event_log.emit("node-recovered", "%s recovered through the API: its cables' ports up" % name,
                            observer_name=name, labels_door=door)

    def latest_alerts(self):
        """The log reviewer's latest alerts, newest first (none without its file)."""
        return latest_records(self.alerts_file, ALERTS_SHOWN)

    def _require_ports(self, ports):
        """InvalidRequest unless every switch holding one of `ports` is connected and known."""
        missing = sorted({s for s, p in ports if s not in self.datapaths or (s, p) not in self.port_macs})
        if missing:
            raise InvalidRequest("%s not connected to the controller: nothing was changed" % ", ".join(missing))

    def _set_ports_down(self, ports, down):
        for switch, port in ports:
            datapath = self.datapaths[switch]
            datapath.send_msg(openflow.port_mod(datapath, port, self.port_macs[(switch, port)], down))

    # --- health checks ------------------------------------------------------------------------
    def _check_health(self, web):
        """One health check of a real server's /health (from the management interface on the
        LAN); act when its health changes."""
        if self.state.probe_result(web.name, self._probe(web)[0]):
            self._health_changed(web.name)
            self.reconcile()

    def _passive_signal(self, switch, msg):
        """A real server's RST or an ICMP error about it: check it at once (or at the end of the
        check interval, if one was made within it), and take it out if the checks fail (passive
        health checks)."""
        server, signal = passive_signal(msg.data, self.real_servers_by_ip, self.real_servers_by_mac)
        delay = None if server is None else self.state.passive_signal(server, signal)
        if delay is not None:
            hub.spawn_after(delay, self._extra_check, server, signal, switch, ecs_timestamp())

    def _extra_check(self, server, signal, switch, seen_at):
        """Extra checks after a passive signal, the next at once while they fail, until the
        state decides (controller/health.py: `fall` failed checks in a row take it out)."""
        web = self.description.host(server)
        verdict = CONFIRM
        while verdict == CONFIRM:
            started = time.monotonic()
            result, error = self._probe(web)
            self.event_log.emit("real-server-suspect", "%s: %s; an extra health check: %s%s"
                                % (server, signal, result, " (%s)" % error if error else ""),
                                destination_ip=web.ip, observer_name=switch, labels_result=result,
                                labels_signal_at=seen_at, labels_check_ms=round((time.monotonic() - started) * 1000, 1))
            verdict = self.state.passive_check_result(server, signal, result)
        if verdict == DOWN:
            self._health_changed(server)
            self.reconcile()

    def _probe(self, web):
        """One HTTP check of a real server's /health: (result, what went wrong or None)."""
        result, error, served = check_health(web.ip, self.description.http_port, self.management_interface,
                                             self.health_settings.timeout)
        self.state.requests_served(web.name, served)
        return result, error

    def _health_changed(self, server):
        health = self.state.health[server]
        self.logger.info("real server %s is %s (%s)", server, health.state, health.last_change_cause)
        self.event_log.emit("real-server-health", "%s is %s: %s" % (server, health.state, health.last_change_cause),
                            destination_ip=self.description.host(server).ip, labels_state=health.state)

    # --- counters -----------------------------------------------------------------------------
    def _poll_counters(self):
        """One round of counter polls, per proxy: the forward table's counters (traffic, and
        the clients' FINs per real server) and the SYN counters of the SELECTED table
        (connections given to each server); per edge switch, its log meter. The work is per
        server, not per connection."""
        for name, datapath in list(self.datapaths.items()):
            if name in self.description.proxies:
                self._request(name, openflow.flow_stats_request(datapath, T_FORWARD),
                              lambda stats, proxy=name: self._forward_counters(proxy, stats))
                self._request(name, openflow.flow_stats_request(datapath, T_SELECTED),
                              lambda stats, proxy=name: self._selected_counters(proxy, stats))
            else:
                for meter_id in switch_meters(self.description, name):
                    self._request(name, openflow.meter_stats_request(datapath, meter_id),
                                  lambda stats, switch=name, meter_id=meter_id: self._meter_counted(switch, meter_id,
                                                                                                    stats))

    def _meter_counted(self, switch, meter_id, stats):
        """Log how many copies a meter dropped since the last poll (a flood of connection
        attempts, or of RSTs and ICMP errors, is metered: the controller's work stays bounded),
        and any copies that passed it but never arrived (controller/accounting.py)."""
        made, dropped = meter_counts(stats)
        lost = self.state.copy_account(switch, meter_id).polled(made, dropped)
        action, what = METER_DROPS[meter_id]
        if lost:
            self.event_log.emit("copies-lost", "%d %s from %s passed its meter but never reached the controller"
                                % (lost, what, switch), observer_name=switch, labels_lost=lost)
        before = self._meter_dropped.get((switch, meter_id), 0)
        self._meter_dropped[(switch, meter_id)] = dropped
        if dropped <= before:
            return
        if meter_id in (LOG_METER, DENY_METER):
            self.state.log_copies_dropped += dropped - before
        self.event_log.emit(action, "the meter of %s dropped %d %s" % (switch, dropped - before, what),
                            observer_name=switch, labels_dropped=dropped - before)

    def _request(self, name, request, on_reply):
        """Send a multipart request (to the datapath it was made for: the switch may have left
        `self.datapaths` while an earlier send yielded) and call `on_reply` with its parts."""
        request.set_xid(self.syncs[name].next_xid())
        self._pending[(name, request.xid)] = (on_reply, [])
        request.datapath.send_msg(request)

    @set_ev_cls([ofp_event.EventOFPFlowStatsReply, ofp_event.EventOFPMeterStatsReply,
                 ofp_event.EventOFPGroupDescStatsReply, ofp_event.EventOFPMeterConfigStatsReply], MAIN_DISPATCHER)
    def on_stats_reply(self, ev):
        key = (self._switch_name(ev.msg.datapath), ev.msg.xid)
        if key not in self._pending:
            return
        on_reply, parts = self._pending[key]
        parts.extend(ev.msg.body if isinstance(ev.msg.body, list) else [ev.msg.body])
        if not ev.msg.flags & ev.msg.datapath.ofproto.OFPMPF_REPLY_MORE:
            del self._pending[key]
            on_reply(parts)

    def _forward_counters(self, proxy, stats):
        for server, counters in forward_counters(stats, self.state.server_ids).items():
            self.state.update_counters(proxy, server, **counters)

    def _selected_counters(self, proxy, stats):
        for server, opened in opened_counters(stats, self.state.server_ids).items():
            self.state.update_counters(proxy, server, opened=opened)
