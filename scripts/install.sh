#!/usr/bin/env bash
# Installs what the project needs and is missing, then makes sure Open vSwitch runs.
# Idempotent: a second run with everything present takes about a second.
#   - Debian packages (OVS, Mininet, etcd, the host tools; scapy and Chromium for the tests)
#   - .venv: a virtualenv of Debian's /usr/bin/python3 that sees Debian's Mininet
#   - the pinned Python packages of requirements.txt, and this project (editable)
#   - ovsdb-server and ovs-vswitchd, started without systemd when not running
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
APT_PACKAGES=(
    openvswitch-switch mininet etcd-server etcd-client
    python3-venv python3-dev python-is-python3 gcc
    ethtool iproute2 iputils-ping iperf3 curl tcpdump nmap hping3 wrk apache2-utils arping
    net-tools procps psmisc
    haproxy keepalived nginx-light python3-scapy chromium dnsmasq-base bind9-dnsutils
)

say() { printf '[install] %s\n' "$*"; }
die() { printf '[install] error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "needs root (it installs Debian packages and starts Open vSwitch): re-run with sudo"
command -v dpkg-query >/dev/null || die "this installer is for Debian (12) and its derivatives: dpkg-query not found"

install_debian_packages() {
    local missing=() pkg
    for pkg in "${APT_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return
    say "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || die "apt-get update failed: check the package sources"
    # haproxy, keepalived and nginx are daemons the benchmark starts itself, inside the emulated hosts:
    # their packages must not start them on the machine (policy-rc.d 101 = do not start).
    local policy=/usr/sbin/policy-rc.d made_policy=""
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && made_policy=1
    fi
    local rc=0
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || rc=$?
    [ -n "$made_policy" ] && rm -f "$policy"
    [ $rc -eq 0 ] || die "apt-get install failed for: ${missing[*]}"
}

install_python_packages() {
    local stamp="$VENV/.installed" want
    want="$(cat "$ROOT/requirements.txt" "$ROOT/setup.py" | sha256sum | cut -d' ' -f1)"
    if [ ! -x "$VENV/bin/python" ]; then
        say "creating the virtualenv $VENV (Debian's python3, sees Debian's Mininet)"
        /usr/bin/python3 -m venv --system-site-packages "$VENV"
    fi
    [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && return
    say "installing pinned Python packages into $VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check 'pip==24.0' 'setuptools==67.8.0' 'wheel==0.43.0' 'pbr==7.1.3'
    # Ryu 4.34's setup.py needs the old setuptools above, so it builds without isolation.
    "$VENV/bin/pip" install -q --disable-pip-version-check --no-build-isolation -r "$ROOT/requirements.txt"
    "$VENV/bin/pip" install -q --disable-pip-version-check --no-build-isolation --no-deps -e "$ROOT"
    echo "$want" >"$stamp"
}

start_openvswitch() {
    ovs-vsctl --timeout=3 show >/dev/null 2>&1 && return
    say "starting Open vSwitch (no systemd)"
    /usr/share/openvswitch/scripts/ovs-ctl start --system-id=random >/dev/null 2>&1 || true
    ovs-vsctl --timeout=5 show >/dev/null 2>&1 || die "Open vSwitch did not start: see /var/log/openvswitch/ovs-vswitchd.log"
}

install_debian_packages
install_python_packages
start_openvswitch
say "ready (python: $VENV/bin/python)"
