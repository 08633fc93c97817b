"""ipvsadm's grammar (core/ipvsadm.py): rules files as ipvsadm-save writes them, the CLI's
commands, LVS's refusals, and saved rules read back giving the same table."""
import pytest
from hypothesis import given, settings, strategies as st

from core.ipvsadm import (DEFAULT_SCHEDULER, IpvsadmError, RealServerEntry, ServiceKey, ServiceTable,
                          parse_command, parse_rules)

# As `ipvsadm -S -n` prints a table (and Debian's /etc/ipvsadm.rules holds it).
SAVED = """\
-A -t 10.0.0.100:80 -s mh
-a -t 10.0.0.100:80 -r 10.0.1.11:80 -m -w 1
-a -t 10.0.0.100:80 -r 10.0.1.12:8080 -m -w 3
-A -t 10.0.0.101:8080 -s mh -p 600 -M 255.255.255.0
-a -t 10.0.0.101:8080 -r 10.0.1.11:8080 -g -w 0
-A -u 10.0.0.100:53 -s mh
-a -u 10.0.0.100:53 -r 10.0.1.12:53 -i -w 65535
"""


def table_of(text):
    table = ServiceTable()
    for command in parse_rules(text, "rules"):
        table.apply(command)
    return table


def test_a_saved_table_reads_back_as_it_was_saved():
    table = table_of(SAVED)
    assert table.save() == SAVED
    web = table.services[ServiceKey("tcp", "10.0.0.100", 80)]
    assert web.scheduler == "mh" and web.real_servers == (
        RealServerEntry("10.0.1.11", 80, "nat", 1), RealServerEntry("10.0.1.12", 8080, "nat", 3))
    sticky = table.services[ServiceKey("tcp", "10.0.0.101", 8080)]
    assert (sticky.persistence, sticky.netmask) == (600, "255.255.255.0")


def test_long_options_comments_and_the_program_name_are_read_as_ipvsadm_reads_them():
    text = """
    # the web service
    ipvsadm --add-service --tcp-service 10.0.0.100:80 --scheduler mh
    ipvsadm --add-server --tcp-service=10.0.0.100:80 --real-server 10.0.1.11 --masquerading --weight 2
    """
    table = table_of(text)
    (server,) = table.services[ServiceKey("tcp", "10.0.0.100", 80)].real_servers
    assert server == RealServerEntry("10.0.1.11", 80, "nat", 2)      # the service's port by default


def test_defaults_are_ipvsadms():
    table = table_of("-A -t 10.0.0.100:80\n-a -t 10.0.0.100:80 -r 10.0.1.11\n-A -u 10.0.0.100:53 -s mh -p")
    web = table.services[ServiceKey("tcp", "10.0.0.100", 80)]
    assert web.scheduler == DEFAULT_SCHEDULER == "wlc"
    assert web.real_servers == (RealServerEntry("10.0.1.11", 80, "dr", 1),)
    assert table.services[ServiceKey("udp", "10.0.0.100", 53)].persistence == 300


def test_edits_set_every_option_as_ipvsadm_does():
    """-E and -e take what they are given, and defaults for the rest, not the values before."""
    table = table_of(SAVED)
    table.apply(parse_command("-e -t 10.0.0.100:80 -r 10.0.1.11:80 -m -w 0"))
    table.apply(parse_command("-E -t 10.0.0.101:8080 -s mh"))
    assert table.services[ServiceKey("tcp", "10.0.0.100", 80)].real_servers[0].weight == 0
    assert table.services[ServiceKey("tcp", "10.0.0.101", 8080)].persistence is None
    table.apply(parse_command("-e -t 10.0.0.100:80 -r 10.0.1.11:80"))
    assert table.services[ServiceKey("tcp", "10.0.0.100", 80)].real_servers[0].method == "dr"


def test_deletes_and_clear():
    table = table_of(SAVED)
    table.apply(parse_command("-d -t 10.0.0.100:80 -r 10.0.1.12:8080"))
    table.apply(parse_command("-D -u 10.0.0.100:53"))
    assert table.save() == SAVED.replace("-a -t 10.0.0.100:80 -r 10.0.1.12:8080 -m -w 3\n", "").split("-A -u")[0]
    table.apply(parse_command("-C"))
    assert table.save() == ""


def test_list_and_save_commands_take_flags_bundled_or_not():
    assert parse_command("-Ln --stats").op == "-L"
    assert parse_command("-Ln --stats").flags == ("-n", "--stats")
    assert parse_command("-L -n --rate").flags == ("-n", "--rate")
    assert parse_command("-S -n").op == "-S"


@pytest.mark.parametrize("line, words", [
    ("-A -t 10.0.0.100:80 -s xyz", "-s xyz: no such scheduler; LVS has rr, wrr"),
    ("-A -t 10.0.0.100:0 -s mh", "the service's port must be from 1 to 65535, got '0'"),
    ("-A -t 10.0.0.100:65536 -s mh", "got '65536'"),
    ("-A -t 10.0.0.300:80", "the VIP must be an IPv4 address, got '10.0.0.300'"),
    ("-A -t 10.0.0.100", "-t needs VIP:PORT, got '10.0.0.100'"),
    ("-A -s mh", "-A needs one virtual service: -t VIP:PORT (TCP) or -u VIP:PORT (UDP)"),
    ("-A -t 10.0.0.100:80 -u 10.0.0.100:53", "-A needs one virtual service"),
    ("-t 10.0.0.100:80 -s mh", "one command is needed"),
    ("-A -D -t 10.0.0.100:80", "one command is needed (-A, -E, -D, -C, -a, -e, -d, -S, -L), got -A, -D"),
    ("-A -t 10.0.0.100:80 -w 2", "-A does not take -w"),
    ("-a -t 10.0.0.100:80", "-a needs a real server: -r ADDRESS[:PORT]"),
    ("-a -t 10.0.0.100:80 -r 10.0.1.11 -m -g", "one forwarding method per real server"),
    ("-a -t 10.0.0.100:80 -r 10.0.1.11 -w 65536", "-w must be a weight from 0 to 65535, got '65536'"),
    ("-a -t 10.0.0.100:80 -r 10.0.1.11 -w -1", "-w must be a weight from 0 to 65535, got '-1'"),
    ("-a -t 10.0.0.100:80 -r host1", "-r's real server must be an IPv4 address, got 'host1'"),
    ("-A -t 10.0.0.100:80 -s mh -M 255.0.255.0 -p", "-M must be a netmask such as 255.255.255.0"),
    ("-A -t 10.0.0.100:80 -s mh -p 0", "-p must be a timeout from 1 to"),
    ("-A -f 1 -s mh", "-f: firewall-mark services are not supported here"),
    ("-a -t 10.0.0.100:80 -r 10.0.1.11 -x 10", "-x: connection thresholds are not supported here"),
    ("-A -t 10.0.0.100:80 -s mh extra", "unknown option or stray word 'extra'"),
    ("-A -t 10.0.0.100:80 -s mh -s mh", "-s is given twice"),
    ("-A -t 10.0.0.100:80 -s", "-s needs a value"),
    ("-A -t '10.0.0.100:80", "cannot split the line into words"),
    ("-C -t 10.0.0.100:80", "-C takes no virtual service"),
])
def test_a_line_ipvsadm_would_refuse_is_refused_naming_what_is_wrong(line, words):
    with pytest.raises(IpvsadmError) as refused:
        ServiceTable().apply(parse_command(line))
    assert words in str(refused.value)


@pytest.mark.parametrize("line, words", [
    ("-A -t 10.0.0.100:80 -s mh", "the virtual service -t 10.0.0.100:80 exists already (-E changes it)"),
    ("-E -t 10.0.0.102:80 -s mh", "no virtual service -t 10.0.0.102:80; services: -t 10.0.0.100:80,"),
    ("-D -u 10.0.0.100:54", "no virtual service -u 10.0.0.100:54"),
    ("-a -t 10.0.0.100:80 -r 10.0.1.11:80 -m", "10.0.1.11:80 is a real server of -t 10.0.0.100:80 already"),
    ("-d -t 10.0.0.100:80 -r 10.0.1.13", "10.0.1.13:80 is not a real server of -t 10.0.0.100:80"),
    ("-e -t 10.0.0.100:80 -r 10.0.1.13", "10.0.1.13:80 is not a real server"),
    ("-a -t 10.0.0.100:80 -r 10.0.1.13:8080 -g", "only NAT (-m) may give a real server another port"),
    ("-A -t 10.0.0.102:80 -s mh -M 255.255.255.0", "-M needs -p"),
])
def test_a_change_lvs_would_refuse_changes_nothing(line, words):
    table = table_of(SAVED)
    with pytest.raises(IpvsadmError) as refused:
        table.apply(parse_command(line))
    assert words in str(refused.value)
    assert table.save() == SAVED


def test_a_bad_line_in_a_rules_file_is_named_by_file_and_line():
    with pytest.raises(IpvsadmError) as refused:
        parse_rules("# rules\n-A -t 10.0.0.100:80 -s mh\n-a -t 10.0.0.100:80 -r 10.0.1.11 -w lots\n",
                    "/etc/ipvsadm.rules")
    assert str(refused.value) == "/etc/ipvsadm.rules line 3: -w must be a weight from 0 to 65535, got 'lots'"


ADDRESSES = st.sampled_from(["10.0.0.100", "10.0.0.101", "10.0.1.11", "10.0.1.12", "10.0.3.11"])
PORTS = st.sampled_from([53, 80, 443, 8080])
SERVICES = st.tuples(st.sampled_from(["-t", "-u"]), ADDRESSES, PORTS)
LINES = st.one_of(
    st.builds(lambda s, p: "-A %s %s:%d -s mh%s" % (s[0], s[1], s[2], p), SERVICES,
              st.sampled_from(["", " -p", " -p 60", " -p 60 -M 255.255.255.0"])),
    st.builds(lambda s, r, port, m, w: "-a %s %s:%d -r %s%s %s -w %d" % (s + (r, port, m, w)),
              SERVICES, ADDRESSES, st.sampled_from(["", ":80", ":8080"]), st.sampled_from(["-m", "-g", "-i"]),
              st.integers(0, 65535)),
    st.builds(lambda s, r: "-d %s %s:%d -r %s" % (s + (r,)), SERVICES, ADDRESSES),
    st.builds(lambda s: "-D %s %s:%d" % s, SERVICES))


@settings(max_examples=200, deadline=None)
@given(st.lists(LINES, max_size=30))
def test_whatever_was_done_the_saved_rules_give_the_same_table(lines):
    table = ServiceTable()
    for line in lines:
        before = table.save()
        try:
            table.apply(parse_command(line))
        except IpvsadmError:
            assert table.save() == before          # refused: nothing changed
    saved = table.save()
    again = table_of(saved)
    assert again.services == table.services and again.save() == saved
