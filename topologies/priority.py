"""The emulated network's CPU priority over the emulated hosts.

On real hardware the switches, the controller and each host have CPUs of their own; here they
share two cores. With the kernel's autogroup scheduling (`sched_autogroup_enabled`, on in
Debian) CPU time is shared between sessions first and by nice only inside one, and every process
the harness starts in a host is a session of its own (Mininet's mnexec calls setsid). So
ovs-vswitchd's own nice -10 counts for nothing against 96 busy host sessions: its forwarding
thread, which also receives BFD, falls behind, and BFD and the liveness probes fail together.
An autogroup's nice sets its weight against the others: at -20 (weight 88761 against 1024 per
host session) the switches keep about half of the CPU with 96 host sessions busy, at -15 (29154)
about a quarter. docs/BENCHMARKS.md has the measurements.
"""

AUTOGROUP_ENABLED = "/proc/sys/kernel/sched_autogroup_enabled"
OVS_PIDFILE = "/var/run/openvswitch/ovs-vswitchd.pid"
SWITCHES_NICE = -20        # ovs-vswitchd's session: forwarding and BFD come first
CONTROLLER_NICE = -10      # the controller's: its probes and health checks time the hosts


def autogroups_on():
    try:
        with open(AUTOGROUP_ENABLED) as f:
            return f.read().strip() == "1"
    except OSError:
        return False


def autogroup_nice(pid):
    """The nice of a process's autogroup (from "/autogroup-N nice K"), or None."""
    try:
        with open("/proc/%d/autogroup" % pid) as f:
            return int(f.read().split()[-1])
    except (OSError, ValueError, IndexError):
        return None


def set_autogroup_nice(pid, nice):
    """Set the nice of a process's autogroup; its previous nice, or None when there is nothing
    to set (autogroups off, or the process gone)."""
    previous = autogroup_nice(pid) if autogroups_on() else None
    if previous is not None and previous != nice:
        try:
            with open("/proc/%d/autogroup" % pid, "w") as f:
                f.write(str(nice))
        except OSError:
            return None
    return previous


def rank(pid, nice):
    """Set a long-lived process's autogroup nice for a run; the nice to give back when the run
    stops, or None. Found at `nice` already, it was left by a run killed before its stop: a
    session starts at 0, and giving back what was found would keep it ranked for good."""
    previous = set_autogroup_nice(pid, nice)
    return 0 if previous == nice else previous


def ovs_vswitchd_pid():
    try:
        with open(OVS_PIDFILE) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None
