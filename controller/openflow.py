"""FlowSpec -> OpenFlow 1.3 messages. The only place that knows how a spec becomes a FlowMod."""
from controller.flows import Output


def _action(parser, action):
    if isinstance(action, Output):
        return parser.OFPActionOutput(action.port)
    raise TypeError("no OpenFlow translation for action %r" % (action,))


def flow_mod(datapath, spec):
    parser, ofp = datapath.ofproto_parser, datapath.ofproto
    actions = [_action(parser, a) for a in spec.actions]
    instructions = [parser.OFPInstructionActions(ofp.OFPIT_APPLY_ACTIONS, actions)] if actions else []
    return parser.OFPFlowMod(datapath=datapath, table_id=spec.table_id, priority=spec.priority,
                             cookie=spec.cookie, match=parser.OFPMatch(**spec.match_dict),
                             instructions=instructions)


def delete_all_flows(datapath):
    parser, ofp = datapath.ofproto_parser, datapath.ofproto
    return parser.OFPFlowMod(datapath=datapath, table_id=ofp.OFPTT_ALL, command=ofp.OFPFC_DELETE,
                             out_port=ofp.OFPP_ANY, out_group=ofp.OFPG_ANY, match=parser.OFPMatch())


def port_is_up(ofp, port):
    return not (port.state & ofp.OFPPS_LINK_DOWN) and not (port.config & ofp.OFPPC_PORT_DOWN)
