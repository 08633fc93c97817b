"""Every flow and group of every switch, in every mode, encoded by the OpenFlow translator and
decoded by Open vSwitch's own decoder (`ovs-ofctl ofp-parse`, which checks each action against
its flow's match as a switch does), with no switch running: a spec that a switch would refuse
fails here."""
import re
import shutil
import subprocess

import pytest
from ryu.ofproto import ofproto_protocol, ofproto_v1_3

from controller import openflow
from controller.flows import switch_flows, switch_groups
from controller.specs import Conntrack, FlowSpec
from controller.state import ClusterState
from controller.sync import AddFlow, AddGroup, AddMeter, Barrier, DeleteFlow, DeleteGroup, Read
from core.builder import describe

DATAPATH = ofproto_protocol.ProtocolDesc(ofproto_v1_3.OFP_VERSION)


def decoded_by_ovs(messages, tmp_path):
    """{xid: what ovs-ofctl decoded} for messages given xids 1, 2, ... (unless they have one)"""
    if not shutil.which("ovs-ofctl"):
        pytest.fail("ovs-ofctl is not installed: run scripts/install.sh")
    raw = b""
    for xid, message in enumerate(messages, 1):
        if message.xid is None:
            message.set_xid(xid)
        message.serialize()
        raw += bytes(message.buf)
    path = tmp_path / "messages.bin"
    path.write_bytes(raw)
    out = subprocess.run(["ovs-ofctl", "ofp-parse", str(path)], capture_output=True, text=True, check=True).stdout
    found = re.findall(r"^OFPT_\w+ \(OF1\.3\) \(xid=(0x[0-9a-f]+)\):(.*)$", out, re.M)
    return {int(xid, 16): text for xid, text in found}


def every_message(description):
    for active in (("lb1",), ("lb1", "lb2"), ()):
        state = ClusterState(description)
        state.proxies.active = active
        state.block("10.0.0.13", 60)
        view = state.view()
        for switch in description.switches:
            yield from (openflow.group_mod(DATAPATH, g) for g in switch_groups(description, switch.name, view))
            yield from (openflow.flow_mod(DATAPATH, f) for f in switch_flows(description, switch.name, view))


@pytest.mark.parametrize("mode", ["nat", "dr", "tun"])
def test_every_flow_and_group_is_one_open_vswitch_accepts(mode, tmp_path):
    d = describe(mode=mode, clients=4, webs=3, remote_webs=1 if mode == "tun" else 0)
    messages = list(every_message(d))
    decoded = decoded_by_ovs(messages, tmp_path)
    assert len(decoded) == len(messages) > 300
    refused = {xid: text for xid, text in decoded.items() if "error" in text}
    assert not refused, refused


def test_source_hashing_and_persistence_are_what_open_vswitch_decodes(tmp_path):
    d = describe(mode="nat", clients=2, webs=2)
    state = ClusterState(d)
    state.proxies.active = ("lb1",)
    state.book.ipvsadm("-E -t 10.0.0.100:80 -s sh -p 600 -M 255.255.255.0")
    messages = [openflow.flow_mod(DATAPATH, f) for f in switch_flows(d, "lb1", state.view())]
    decoded = decoded_by_ovs(messages, tmp_path)
    assert not [text for text in decoded.values() if "error" in text]
    text = "\n".join(decoded.values())
    assert "multipath(nw_src,0,modulo_n,256,0,NXM_NX_REG3[])" in text
    assert ("learn(table=2,idle_timeout=600,priority=100,cookie=0xb,eth_type=0x800,reg2=0x1,"
            "NXM_OF_IP_SRC[8..31],load:NXM_NX_REG1[]->NXM_NX_REG1[])") in text


def test_a_flow_open_vswitch_would_refuse_is_caught(tmp_path):
    tracked_without_ip = FlowSpec.make(5, [Conntrack(1, commit=True)], in_port=1)
    (text,) = decoded_by_ovs([openflow.flow_mod(DATAPATH, tracked_without_ip)], tmp_path).values()
    assert "OFPBAC_MATCH_INCONSISTENT" in text


def test_a_probe_carries_its_send_time_and_nothing_else_passes_for_one():
    frame = openflow.probe_frame(1234.5678)
    assert openflow.probe_sent_at(frame) == 1234.5678 and len(frame) >= 60
    assert openflow.probe_sent_at(frame[:40]) is None
    assert openflow.probe_sent_at(openflow.gratuitous_arp("10.0.0.100", "02:00:00:00:00:01")) is None


def test_each_sync_message_is_sent_as_its_openflow_message_with_the_engines_xid(tmp_path):
    d = describe(mode="nat")
    view = ClusterState(d).view()
    flow = switch_flows(d, "s_pub", view)[0]
    (group,) = switch_groups(d, "lb1", view)
    expected = [(Read("flows", 101), "OFPST_FLOW request"), (Read("groups", 102), "OFPST_GROUP_DESC request"),
                (Read("meters", 103), "OFPST_METER_CONFIG request"), (AddFlow(flow, 104), "OFPT_FLOW_MOD ADD"),
                (DeleteFlow(flow.key, 105), "OFPT_FLOW_MOD DEL_STRICT"),
                (AddGroup(group, False, 106), "OFPT_GROUP_MOD ADD"), (AddGroup(group, True, 107), "OFPT_GROUP_MOD MOD"),
                (DeleteGroup(1, 108), "OFPT_GROUP_MOD DEL"),
                (AddMeter(1, 500, 100, 109), "OFPT_METER_MOD ADD"), (Barrier(110), "OFPT_BARRIER_REQUEST")]
    decoded_by_ovs([m for message, _ in expected for m in openflow.encode(DATAPATH, message)], tmp_path)
    out = subprocess.run(["ovs-ofctl", "ofp-parse", str(tmp_path / "messages.bin")], capture_output=True,
                         text=True, check=True).stdout
    found = {int(xid, 16): ("%s %s" % (kind, command)).strip() for kind, xid, command in
             re.findall(r"^(OFP\w+(?: request)?) \(OF1\.3\) \(xid=(0x[0-9a-f]+)\):(?:\n? ([A-Z_]+)\b)?", out, re.M)}
    assert {xid: found.get(xid) for xid in range(101, 111)} == {m.xid: kind.strip() for m, kind in expected}
