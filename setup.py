"""lvsdn: an emulated LVS-style server cluster whose director is a Ryu OpenFlow 1.3 application."""
from setuptools import find_packages, setup

setup(
    name="lvsdn",
    version="0.1.0",
    description="LVS-style load balancing, failover and intrusion detection on Mininet, "
                "Open vSwitch and Ryu",
    python_requires=">=3.9",
    packages=find_packages(include=["core", "topologies", "controller", "apps"]),
    install_requires=["ryu==4.34", "eventlet>=0.33.3", "requests", "etcd3gw"],
)
