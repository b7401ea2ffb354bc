"""The sandbox's pure parts: docker's -p syntax, the private subnet, resolv.conf, pasta's
forwarding spec, the seccomp filter as data, RUN's network and the entitlements."""

import pytest

from distill.errors import DistillError
from distill.platform import Platform
from distill.plan import make_plan
from distill.runtime import seccomp
from distill.runtime.network import Port, _forwards, exposed_ports, parse_port, resolv_conf, subnet
from distill.runtime.spec import ProcessSpec, runtime_spec
from distill.solver import entitlements
from distill.solver.options import BuildError
from distill.solver.run import run_network

AMD64 = Platform("linux", "amd64")


@pytest.mark.parametrize("text, port", [
    ("5000", Port(5000, 0, "", "tcp")),
    ("5055:5000", Port(5000, 5055, "", "tcp")),
    ("127.0.0.1:5055:5000", Port(5000, 5055, "127.0.0.1", "tcp")),
    ("127.0.0.1::5000", Port(5000, 0, "127.0.0.1", "tcp")),
    ("53:53/udp", Port(53, 53, "", "udp")),
    ("[::1]:8080:80/tcp", Port(80, 8080, "::1", "tcp")),
])
def test_parse_port(text, port):
    assert parse_port(text) == port


@pytest.mark.parametrize("text", ["", "http", "80:http", "0:80", "70000:80", "80/sctp", "1.2.3:80:80", "a:1:2"])
def test_parse_port_refuses(text):
    with pytest.raises(DistillError, match="invalid port"):
        parse_port(text)


def test_exposed_ports():
    config = {"config": {"ExposedPorts": {"8080/tcp": {}, "53/udp": {}, "bad": {}}}}
    assert exposed_ports(config) == [Port(53, 0, "", "udp"), Port(8080, 0, "", "tcp")]
    assert exposed_ports({"config": {}}) == []


def test_forwards():
    assert _forwards([]) == "none"
    assert _forwards([Port(5000, 5055), Port(80, 8080, "127.0.0.1")]) == "5055:5000,127.0.0.1/8080:80"


ROUTES = """Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
"""


def _route(dest: str, mask: str) -> str:
    return f"eth1\t{dest}\t00000000\t0001\t0\t0\t0\t{mask}\t0\t0\t0\n"


def test_subnet_avoids_routed_networks():
    assert subnet(ROUTES) == "10.0.2"  # 192.0.2.0/24 and the default route do not collide
    assert subnet(ROUTES + _route("0002000A", "00FFFFFF")) == "10.88.2"  # 10.0.2.0/24 routed
    assert subnet(ROUTES + _route("0000000A", "000000FF")) == "172.30.2"  # 10.0.0.0/8 routed
    assert subnet(ROUTES + _route("00000000", "00000080")) == "172.30.2"  # 0.0.0.0/1 routed
    with pytest.raises(DistillError, match="no free private subnet"):
        subnet(ROUTES + _route("00000000", "00000080") + _route("00000080", "00000080"))


def test_resolv_conf():
    host = "# made by dhcp\nnameserver 10.255.255.53\nsearch corp.example\noptions ndots:2 timeout:1\n"
    assert resolv_conf(host, "10.0.2.3") == "nameserver 10.0.2.3\nsearch corp.example\noptions ndots:2 timeout:1\n"
    assert resolv_conf(host, None) == "search corp.example\noptions ndots:2 timeout:1\n"
    assert resolv_conf("", "10.0.2.3") == "nameserver 10.0.2.3\n"


def test_seccomp_profile():
    p = seccomp.profile("x86_64")
    assert p["defaultAction"] == "SCMP_ACT_ALLOW"
    assert p["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    denied = p["syscalls"][0]
    assert denied["action"] == "SCMP_ACT_ERRNO" and denied["errnoRet"] == seccomp.EPERM
    for name in ("mount", "unshare", "setns", "keyctl", "add_key", "init_module", "finit_module", "bpf",
                 "open_by_handle_at", "io_uring_setup", "kexec_load", "reboot", "clock_settime"):
        assert name in denied["names"]
    for allowed in ("clone", "ptrace", "chroot", "mknod", "socket", "execve"):
        assert allowed not in denied["names"]
    clones = [r for r in p["syscalls"] if r["names"] == ["clone"]]
    assert sorted(r["args"][0]["value"] for r in clones) == sorted(seccomp.NAMESPACE_FLAGS.values())
    assert all(r["args"][0]["op"] == "SCMP_CMP_MASKED_EQ" and r["args"][0]["value"] == r["args"][0]["valueTwo"]
               for r in clones)
    assert [r["errnoRet"] for r in p["syscalls"] if r["names"] == ["clone3"]] == [seccomp.ENOSYS]
    assert "architectures" not in seccomp.profile("riscv64")  # the native ABI only


def test_spec_confines_unless_insecure():
    plain = runtime_spec("/r", ProcessSpec(["true"], [], network={"type": "network", "path": "/n"}))
    assert plain["linux"]["seccomp"] == seccomp.profile()
    assert {"type": "network", "path": "/n"} in plain["linux"]["namespaces"]
    assert "/proc/kcore" in plain["linux"]["maskedPaths"] and "/proc/sys" in plain["linux"]["readonlyPaths"]
    assert "CAP_SYS_ADMIN" not in plain["process"]["capabilities"]["bounding"]
    insecure = runtime_spec("/r", ProcessSpec(["true"], [], insecure=True))
    assert "seccomp" not in insecure["linux"] and insecure["linux"]["maskedPaths"] == []
    assert "CAP_SYS_ADMIN" in insecure["process"]["capabilities"]["bounding"]
    assert not any(n["type"] == "network" for n in insecure["linux"]["namespaces"])  # the machine's network


@pytest.mark.parametrize("flag, build, mode", [
    (None, "default", "private"), ("default", "default", "private"), (None, "host", "host"),
    (None, "none", "none"), ("none", "default", "none"), ("host", "default", "host"), ("default", "none", "none"),
])
def test_run_network(flag, build, mode):
    assert run_network(flag, build) == mode


def _plan(text, target=None):
    return make_plan(text.encode(), target=target, target_platform=AMD64, build_platform=AMD64)


def test_entitlements():
    text = ("FROM a AS tools\nRUN --security=insecure mount -t tmpfs x /mnt\n"
            "FROM a\nRUN echo\nRUN --network=host curl x\n")
    with pytest.raises(BuildError) as e:
        entitlements.check(_plan(text), (), "ctx/Dockerfile")
    # only the stages the target needs: `tools` is not built
    assert str(e.value) == ("ctx/Dockerfile:5: RUN --network=host needs the entitlement network.host: "
                            "build with --allow network.host")
    entitlements.check(_plan(text), ("network.host",), "Dockerfile")
    with pytest.raises(BuildError, match="^Dockerfile:2: RUN --security=insecure needs the entitlement"):
        entitlements.check(_plan(text, target="tools"), ("network.host",), "Dockerfile")
    entitlements.check(_plan("FROM a\nRUN --network=none --security=sandbox x\n"), (), "Dockerfile")
