"""The Ryu application: a thin adapter between OpenFlow events and the pure logic.

It reads the cluster description (a JSON file the harness writes; see controller/launcher.py), feeds switch
and port events to ClusterState, installs each switch's FlowSpecs when it connects, and serves
the REST API.
"""
import os

from ryu.app.wsgi import WSGIApplication
from ryu.base import app_manager
from ryu.controller import ofp_event
from ryu.controller.handler import CONFIG_DISPATCHER, DEAD_DISPATCHER, MAIN_DISPATCHER, set_ev_cls
from ryu.lib import hub
from ryu.ofproto import ofproto_v1_3

from controller import openflow
from controller.eventlog import EventLog
from controller.flows import switch_flows
from controller.launcher import CLUSTER_ENV, EVENTS_ENV
from controller.rest import APP_KEY, LbRestApi, NotFoundApi
from controller.state import ClusterState
from topologies.description import ClusterDescription

# How long the first proxy election waits for the other proxy to connect.
PROXY_SETTLE_SECONDS = 1.0


class LvsController(app_manager.RyuApp):
    OFP_VERSIONS = [ofproto_v1_3.OFP_VERSION]
    _CONTEXTS = {"wsgi": WSGIApplication}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.description = ClusterDescription.load(os.environ[CLUSTER_ENV])
        self.state = ClusterState(self.description)
        self.event_log = EventLog(os.environ.get(EVENTS_ENV))
        for api in (LbRestApi, NotFoundApi):
            kwargs["wsgi"].register(api, {APP_KEY: self})

    def _switch_name(self, datapath):
        switch = self.description.switch_by_dpid(datapath.id)
        if switch is None:
            self.logger.warning("ignoring unknown switch dpid=%#x: not in the cluster description",
                                datapath.id)
        return switch and switch.name

    def _set_proxy_after(self, previous):
        if self.state.active_proxy != previous:
            self.event_log.emit("proxy-active", "active proxy %s -> %s"
                             % (previous, self.state.active_proxy),
                             observer_name=self.state.active_proxy)

    def _settle_election(self):
        previous = self.state.active_proxy
        self.state.settle_election()
        self._set_proxy_after(previous)

    @set_ev_cls(ofp_event.EventOFPSwitchFeatures, CONFIG_DISPATCHER)
    def on_switch_features(self, ev):
        datapath = ev.msg.datapath
        name = self._switch_name(datapath)
        if not name:
            return
        datapath.send_msg(openflow.delete_all_flows(datapath))
        for spec in switch_flows(self.description, name):
            datapath.send_msg(openflow.flow_mod(datapath, spec))
        datapath.send_msg(datapath.ofproto_parser.OFPPortDescStatsRequest(datapath, 0))
        datapath.send_barrier()

    @set_ev_cls(ofp_event.EventOFPStateChange, [MAIN_DISPATCHER, DEAD_DISPATCHER])
    def on_state_change(self, ev):
        name = self._switch_name(ev.datapath)
        if not name:
            return
        previous = self.state.active_proxy
        if ev.state == MAIN_DISPATCHER:
            if name in self.description.proxies and not self.state.election_settled:
                hub.spawn_after(PROXY_SETTLE_SECONDS, self._settle_election)
            self.state.switch_connected(name)
            self.event_log.emit("switch-connected", "%s connected" % name, observer_name=name)
        elif name in self.state.connected:
            self.state.switch_disconnected(name)
            self.event_log.emit("switch-disconnected", "%s lost its OpenFlow channel" % name,
                             observer_name=name)
        self._set_proxy_after(previous)

    @set_ev_cls(ofp_event.EventOFPBarrierReply, MAIN_DISPATCHER)
    def on_barrier(self, ev):
        name = self._switch_name(ev.msg.datapath)
        if name:
            self.state.flows_installed(name)

    @set_ev_cls(ofp_event.EventOFPPortDescStatsReply, MAIN_DISPATCHER)
    def on_port_desc(self, ev):
        name = self._switch_name(ev.msg.datapath)
        ofp = ev.msg.datapath.ofproto
        for port in ev.msg.body:
            if port.port_no <= ofp.OFPP_MAX:
                self.state.port_status(name, port.port_no, openflow.port_is_up(ofp, port))

    @set_ev_cls(ofp_event.EventOFPPortStatus, MAIN_DISPATCHER)
    def on_port_status(self, ev):
        name = self._switch_name(ev.msg.datapath)
        ofp = ev.msg.datapath.ofproto
        port = ev.msg.desc
        up = ev.msg.reason != ofp.OFPPR_DELETE and openflow.port_is_up(ofp, port)
        if name and self.state.link_up.get((name, port.port_no)) != up:
            self.state.port_status(name, port.port_no, up)
            self.event_log.emit("port-up" if up else "port-down", "%s port %d %s"
                             % (name, port.port_no, "up" if up else "down"), observer_name=name)

    @set_ev_cls(ofp_event.EventOFPPacketIn, MAIN_DISPATCHER)
    def on_packet_in(self, ev):
        # Nothing is forwarded through the controller; counting makes any leak visible.
        self.state.packet_in()
