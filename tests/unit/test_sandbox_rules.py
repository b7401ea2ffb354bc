"""The sandbox's pure parts: docker's -p syntax, the bridge's subnet, its nftables rules,
resolv.conf and hosts, the seccomp filter as data, the privileged spec, RUN's network and
the entitlements."""

import pytest

from distill.errors import DistillError
from distill.platform import Platform
from distill.build.plan import make_plan
from distill.build.runtime import seccomp
from distill.build.runtime import bridge
from distill.build.runtime.bridge import subnet
from distill.build.runtime.network import Port, exposed_ports, hosts_file, parse_port, resolv_conf
from distill.build.runtime.proxy import parse as parse_proxy_spec
from distill.build.runtime.spec import CAPABILITIES, DEFAULT_CAPS, ProcessSpec, caps_in, runtime_spec
from distill.build.solver import entitlements
from distill.build.solver.options import BuildError
from distill.build.solver.run import run_network

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


def test_proxy_spec():
    assert parse_proxy_spec("tcp,,5055,10.88.2.7,5000") == ("tcp", "", 5055, "10.88.2.7", 5000)
    assert parse_proxy_spec("udp,::1,53,10.88.2.7,53") == ("udp", "::1", 53, "10.88.2.7", 53)


ROUTES = """Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
"""


def _route(dest: str, mask: str) -> str:
    return f"eth1\t{dest}\t00000000\t0001\t0\t0\t0\t{mask}\t0\t0\t0\n"


def test_subnet_avoids_routed_networks():
    assert subnet(ROUTES) == "10.88.2"  # 192.0.2.0/24 and the default route do not collide
    assert subnet(ROUTES + _route("0002580A", "00FFFFFF")) == "10.0.2"  # 10.88.2.0/24 routed
    assert subnet(ROUTES + _route("0000000A", "000000FF")) == "172.30.2"  # 10.0.0.0/8 routed
    assert subnet(ROUTES + _route("00000000", "00000080")) == "172.30.2"  # 0.0.0.0/1 routed
    with pytest.raises(DistillError, match="no free private subnet"):
        subnet(ROUTES + _route("00000000", "00000080") + _route("00000080", "00000080"))


def test_resolv_conf():
    host = "# made by dhcp\nnameserver 10.255.255.53\nsearch corp.example\noptions ndots:2 timeout:1\n"
    assert resolv_conf(host, ["10.255.255.53"]) == \
        "nameserver 10.255.255.53\nsearch corp.example\noptions ndots:2 timeout:1\n"
    assert resolv_conf(host, []) == "search corp.example\noptions ndots:2 timeout:1\n"
    assert resolv_conf("", ["1.1.1.1", "9.9.9.9"]) == "nameserver 1.1.1.1\nnameserver 9.9.9.9\n"


def test_container_nameservers_as_docker_picks_them():
    host = "nameserver 127.0.0.53\nnameserver 10.255.255.53\nnameserver fd00::1\nsearch x\n"
    assert bridge.container_nameservers(host) == ["10.255.255.53"]  # loopback and IPv6 ones left out
    stub = "nameserver 127.0.0.53\noptions edns0\n"
    assert bridge.container_nameservers(stub, "nameserver 192.0.2.53\n") == ["192.0.2.53"]  # resolved's upstream
    assert bridge.container_nameservers(stub) == ["8.8.8.8", "8.8.4.4"]  # docker's fallback


def test_hosts_file():
    assert hosts_file("abc", "10.88.2.7") == \
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n10.88.2.7\tabc\n"
    assert hosts_file("distill", None) == "127.0.0.1\tlocalhost distill\n::1\tlocalhost ip6-localhost ip6-loopback\n"


def test_bridge_rules():
    script = bridge.nft_script("10.88.2")
    assert script.startswith("table ip distill\ndelete table ip distill\n")  # replaced whole, made or not
    assert 'ip saddr 10.88.2.0/24 oifname != "distill0" masquerade' in script
    # the subnet's own sources are forwarded out, answers come back, nothing else crosses
    forward = script[script.index("chain forward"):]
    assert forward.index('iifname "distill0" ip saddr 10.88.2.0/24 accept') < forward.index('iifname "distill0" drop')
    assert 'oifname "distill0" ct state established,related accept' in forward
    assert 'oifname "distill0" drop' in forward
    assert bridge.veth_name("10.88.2.7") == "dl0a580207" and len(bridge.veth_name("192.168.233.254")) <= 15


def _allowed(profile: dict, name: str) -> list[dict]:
    """The profile's rules that let `name` through (by name, any arguments)."""
    return [r for r in profile["syscalls"] if name in r["names"] and r["action"] == "SCMP_ACT_ALLOW"]


def test_seccomp_is_docker_allow_list():
    p = seccomp.profile(DEFAULT_CAPS, "x86_64", "6.18.4")
    assert p["defaultAction"] == "SCMP_ACT_ERRNO" and p["defaultErrnoRet"] == seccomp.EPERM
    assert p["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    for name in ("read", "execve", "adjtimex", "chmod", "mknod", "arch_prctl", "chroot", "ptrace", "uretprobe"):
        assert _allowed(p, name), name
    # not allowed to docker's default capabilities, whatever the arguments
    for name in ("mount", "unshare", "setns", "keyctl", "add_key", "init_module", "bpf", "open_by_handle_at",
                 "io_uring_setup", "kexec_load", "reboot", "clock_settime", "fanotify_init", "process_madvise",
                 "perf_event_open", "userfaultfd", "swapon", "pivot_root", "syslog", "iopl"):
        assert not _allowed(p, name), name
    # allowed for some arguments only
    assert [r["args"] for r in _allowed(p, "personality")] == \
        [[{"index": 0, "value": v, "op": "SCMP_CMP_EQ"}] for v in (0, 8, 0x20000, 0x20008, 0xFFFFFFFF)]
    assert [r["args"] for r in _allowed(p, "clone")] == \
        [[{"index": 0, "value": seccomp.CLONE_NAMESPACES, "op": "SCMP_CMP_MASKED_EQ", "valueTwo": 0}]]
    assert [r["args"][0]["op"] for r in _allowed(p, "socket")] == ["SCMP_CMP_LT", "SCMP_CMP_EQ", "SCMP_CMP_GT"]
    assert [r["errnoRet"] for r in p["syscalls"] if r["names"] == ["clone3"]] == [seccomp.ENOSYS]


def test_seccomp_follows_capabilities_and_architecture():
    admin = seccomp.profile(DEFAULT_CAPS + ["CAP_SYS_ADMIN", "CAP_SYS_PTRACE"], "x86_64", "6.1.0")
    for name in ("mount", "unshare", "setns", "clone3", "bpf", "process_madvise", "kcmp"):
        assert _allowed(admin, name), name
    assert all("args" not in r for r in _allowed(admin, "clone"))  # any flags with CAP_SYS_ADMIN
    assert not [r for r in admin["syscalls"] if r["names"] == ["clone3"] and r["action"] != "SCMP_ACT_ALLOW"]
    arm = seccomp.profile(DEFAULT_CAPS, "aarch64", "6.1.0")
    assert arm["architectures"] == ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
    assert _allowed(arm, "set_tls") and not _allowed(arm, "arch_prctl")
    s390 = seccomp.profile(DEFAULT_CAPS, "s390x", "6.1.0")
    assert [r["args"][0]["index"] for r in _allowed(s390, "clone")] == [1]  # s390 passes clone's flags second
    old = seccomp.profile(DEFAULT_CAPS, "x86_64", "4.4.0")
    assert not _allowed(old, "ptrace")  # before 4.8 ptrace could bypass seccomp
    assert seccomp.kernel_version("6.18.44-fc-v1272") == (6, 18) and seccomp.kernel_version("junk") == (0, 0)


def _mount(spec: dict, destination: str) -> dict:
    return next(m for m in spec["mounts"] if m["destination"] == destination)


def test_spec_confines_unless_insecure():
    plain = runtime_spec("/r", ProcessSpec(["true"], [], network={"type": "network", "path": "/n"}))
    assert plain["linux"]["seccomp"] == seccomp.profile(DEFAULT_CAPS)
    assert {"type": "network", "path": "/n"} in plain["linux"]["namespaces"]
    assert "/proc/kcore" in plain["linux"]["maskedPaths"] and "/proc/sys" in plain["linux"]["readonlyPaths"]
    assert "CAP_SYS_ADMIN" not in plain["process"]["capabilities"]["bounding"]
    assert "ro" in _mount(plain, "/sys")["options"] and "ro" in _mount(plain, "/sys/fs/cgroup")["options"]
    assert "devices" not in plain["linux"] and "resources" not in plain["linux"]
    disk = {"path": "/dev/loop0", "type": "b", "major": 7, "minor": 0, "fileMode": 0o660, "uid": 0, "gid": 6}
    insecure = runtime_spec("/r", ProcessSpec(["true"], [], insecure=True), [disk], held=(1 << 41) - 1)
    # docker's --privileged: every capability, no filter, nothing masked, /sys writable, the machine's devices
    assert insecure["process"]["capabilities"]["bounding"] == CAPABILITIES
    assert "seccomp" not in insecure["linux"] and insecure["linux"]["maskedPaths"] == []
    assert insecure["linux"]["readonlyPaths"] == []
    assert "ro" not in _mount(insecure, "/sys")["options"] and "ro" not in _mount(insecure, "/sys/fs/cgroup")["options"]
    assert insecure["linux"]["devices"] == [disk]
    assert insecure["linux"]["resources"]["devices"] == [{"allow": True, "access": "rwm"}]
    assert not any(n["type"] == "network" for n in insecure["linux"]["namespaces"])  # the machine's network
    # only what the builder holds can be given: a machine holding CAP_SYS_RESOURCE back
    held = runtime_spec("/r", ProcessSpec(["true"], [], insecure=True), held=0x1fffeffffff)
    assert held["process"]["capabilities"]["bounding"] == [c for c in CAPABILITIES if c != "CAP_SYS_RESOURCE"]
    assert caps_in(0xA80425FB) == sorted(DEFAULT_CAPS, key=CAPABILITIES.index)  # docker's 14


def test_spec_limits():
    spec = runtime_spec("/r", ProcessSpec(["true"], [], memory=64 << 20, pids_limit=50))
    assert spec["linux"]["resources"] == {"memory": {"limit": 64 << 20}, "pids": {"limit": 50}}


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
