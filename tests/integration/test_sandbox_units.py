"""PURE parts of the sandbox: tc and ip command builders, rates, the address allocator,
the state file, the inventory it writes. No root, no processes."""

import ipaddress
import json

import pytest

from harness.config.inventory import Inventory
from harness.errors import UsageError
from harness.sandbox import UpRequest, _validate, inventory_dict, netns, shaping, sshd
from harness.sandbox.state import HostState, SandboxState

N = ipaddress.ip_network


@pytest.mark.parametrize("text,bits", [
    ("100mbit", 100_000_000), ("1gbit", 10**9), ("10GBIT", 10**10), ("50Mbit", 50_000_000),
    ("1.5mbit", 1_500_000), ("800kbit", 800_000), ("1mbps", 8_000_000), ("64000", 64_000),
])
def test_parse_rate_uses_tc_units(text, bits):
    assert shaping.parse_rate(text) == bits


@pytest.mark.parametrize("bad", ["fast", "10 furlongs", "", "-5mbit", "1bit"])
def test_parse_rate_rejects_with_an_example(bad):
    with pytest.raises(UsageError, match="100mbit|8kbit"):
        shaping.parse_rate(bad)


def test_format_rate_is_the_shortest_exact_spelling():
    assert [shaping.format_rate(b) for b in (10**10, 10**9, 50_000_000, 1_500_000, 12_345)] == \
        ["10gbit", "1gbit", "50mbit", "1500kbit", "12345bit"]


def test_delay_and_loss_parsing():
    assert shaping.parse_delay_ms("2ms") == 2.0 and shaping.parse_delay_ms("500us") == 0.5
    assert shaping.parse_delay_ms("0.1s") == 100.0 and shaping.parse_delay_ms(None) == 0.0
    assert shaping.parse_loss_percent("0%") == 0.0 and shaping.parse_loss_percent("0.5%") == 0.5
    with pytest.raises(UsageError):
        shaping.parse_loss_percent("150%")
    with pytest.raises(UsageError):
        shaping.parse_delay_ms("soon")


def test_tbf_burst_scales_with_rate_but_never_below_a_segment():
    low = shaping.tbf_params(shaping.parse_rate("1mbit"))
    high = shaping.tbf_params(shaping.parse_rate("10gbit"))
    assert low[:2] == ["rate", "1mbit"] and int(low[3]) == shaping.MIN_BURST_BYTES
    assert int(high[3]) == 10**10 // 8 * 2 // 1000  # 2 ms worth at 10gbit
    assert low[4:] == ["latency", "50ms"]


def test_shape_commands_both_sides_of_a_veth():
    host_side = shaping.shape_commands("hsbabcde-h0", 50_000_000)
    ns_side = shaping.shape_commands("eth0", 50_000_000, netns="hsbabcde-0")
    assert host_side[0] == ["tc", "qdisc", "del", "dev", "hsbabcde-h0", "root"]
    assert host_side[1][:9] == ["tc", "qdisc", "replace", "dev", "hsbabcde-h0", "root", "handle", "1:", "tbf"]
    assert ns_side[1][:3] == ["tc", "-n", "hsbabcde-0"] and "eth0" in ns_side[1]
    assert len(host_side) == 2  # no netem unless asked


def test_shape_commands_put_netem_under_tbf_and_split_delay_and_loss_per_end():
    cmds = shaping.shape_commands("eth0", 10**9, netns="ns", delay_ms=2.0, loss_percent=1.0)
    netem = cmds[2]
    assert netem[:3] == ["tc", "-n", "ns"] and netem[netem.index("parent") + 1] == "1:1"
    assert netem[netem.index("delay") + 1] == "1ms"     # half of the one-way delay per end
    per_end = float(netem[netem.index("loss") + 1].rstrip("%")) / 100
    assert abs(1 - (1 - per_end) ** 2 - 0.01) < 1e-6    # two ends together lose 1%
    only_netem = shaping.shape_commands("eth0", None, delay_ms=4.0)
    assert only_netem[1][-3:] == ["netem", "delay", "2ms"] and "root" in only_netem[1]
    assert shaping.shape_commands("eth0", None) == [["tc", "qdisc", "del", "dev", "eth0", "root"]]


def test_netem_probe_and_message():
    assert shaping.netem_probe_command("lo", "scratch") == \
        ["tc", "-n", "scratch", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"]
    assert "no netem (sch_netem)" in shaping.NETEM_MISSING and "--delay/--loss" in shaping.NETEM_MISSING
    assert shaping._unknown_qdisc("Error: Specified qdisc kind is unknown.\n")
    assert shaping._unknown_qdisc("RTNETLINK answers: No such file or directory")


def test_summarize_qdisc():
    out = ("qdisc tbf 1: root refcnt 2 rate 50Mbit burst 32Kb lat 50ms \n"
           "qdisc netem 10: parent 1:1 limit 1000 delay 1ms\n")
    assert shaping.summarize_qdisc(out) == "tbf 50Mbit, netem delay 1ms"
    assert shaping.summarize_qdisc("qdisc noqueue 0: root refcnt 2 \n") == "noqueue"
    assert shaping.summarize_qdisc("") == "none"


# --- addresses and ip commands ---

def test_allocator_skips_used_and_the_range_edges():
    assert netns.allocate_subnet([]) == N("198.18.1.0/24")
    used = [N("198.18.1.0/24"), N("198.18.2.128/25"), N("10.0.0.0/8")]
    assert netns.allocate_subnet(used) == N("198.18.3.0/24")
    # A route covering a wider block takes all of it.
    assert netns.allocate_subnet([N("198.18.0.0/16")]) == N("198.19.0.0/24")


def test_allocator_full_pool_is_a_clear_error():
    from harness.errors import HarnessError

    with pytest.raises(HarnessError, match="harness sandbox down"):
        netns.allocate_subnet([N("198.18.0.0/15")])


def test_addresses_in_a_subnet():
    net = N("198.18.7.0/24")
    assert str(netns.gateway(net)) == "198.18.7.1"
    assert [str(netns.host_address(net, i)) for i in (0, 1, 239)] == ["198.18.7.10", "198.18.7.11", "198.18.7.249"]
    with pytest.raises(ValueError):
        netns.host_address(net, 240)


def test_names_fit_interface_limits_and_carry_the_tag():
    ns, outside, inside = netns.names("hsbabcde", 239)
    assert (ns, outside, inside) == ("hsbabcde-239", "hsbabcde-h239", "hsbabcde-n239")
    assert len(outside) <= netns.IFNAMSIZ and len(netns.bridge_name("hsbabcde")) <= netns.IFNAMSIZ
    assert netns.tag_of("hsbabcde-3", "hsb") == "hsbabcde" and netns.tag_of("hsbabcde-br", "hsb") == "hsbabcde"
    assert netns.tag_of("hts1a2b-0", "hsb") is None and netns.tag_of("hsbprobe1f-0", "hsb") is None
    assert netns.probe_owner(netns.probe_name("hsb", 4660), "hsb") == 4660
    assert netns.probe_owner("hsbabcde-0", "hsb") is None


def test_cli_registers_under_any_parser():
    import argparse

    from harness.cli.sandbox import cmd_sandbox, register

    ap = argparse.ArgumentParser(prog="harness")
    register(ap.add_subparsers(dest="command"))
    a = ap.parse_args(["sandbox", "fault", "sb0", "slow", "10mbit", "--dir", "/x"])
    assert (a.func, a.sandbox_command, a.host, a.fault, a.rate, a.dir) == (cmd_sandbox, "fault", "sb0", "slow",
                                                                          "10mbit", "/x")
    a = ap.parse_args(["sandbox", "up", "--hosts", "4", "--bandwidth", "100mbit"])
    assert (a.hosts, a.bandwidth, a.loopback, a.out) == (4, "100mbit", False, "hosts/sandbox.yaml")
    with pytest.raises(SystemExit):
        ap.parse_args(["sandbox", "fault", "sb0", "explode"])


def test_bridge_and_host_commands():
    net = N("198.18.7.0/24")
    assert netns.bridge_commands("hsbabcde-br", net) == [
        ["ip", "link", "add", "hsbabcde-br", "type", "bridge"],
        ["ip", "addr", "add", "198.18.7.1/24", "dev", "hsbabcde-br"],
        ["ip", "link", "set", "hsbabcde-br", "up"]]
    cmds = netns.host_commands("hsbabcde", 2, "hsbabcde-br", net)
    assert cmds[0] == ["ip", "netns", "add", "hsbabcde-2"]
    assert cmds[1] == ["ip", "link", "add", "hsbabcde-h2", "type", "veth", "peer", "name", "hsbabcde-n2",
                       "netns", "hsbabcde-2"]
    assert ["ip", "-n", "hsbabcde-2", "addr", "add", "198.18.7.12/24", "dev", "eth0"] in cmds
    assert ["ip", "-n", "hsbabcde-2", "link", "set", "lo", "up"] in cmds
    assert not any("default" in c for c in cmds)  # no way off the bridge


def test_parse_networks_from_addr_and_route_output():
    out = ("1: lo    inet 127.0.0.1/8 scope host lo\n"
           "7: hsbabcde-br    inet 198.18.1.1/24 brd 198.18.1.255 scope global hsbabcde-br\n"
           "198.18.9.0/24 dev x proto kernel scope link src 198.18.9.1\n"
           "default via 192.0.2.1 dev eth0\n"
           "198.18.200.5 dev y scope link\n")
    nets = netns.parse_networks(out)
    assert N("198.18.1.0/24") in nets and N("198.18.9.0/24") in nets and N("198.18.200.5/32") in nets
    assert N("127.0.0.0/8") in nets


# --- state, inventory, sshd config ---

def _state(tmp_path, mode="netns"):
    st = SandboxState(tag="hsbabcde", mode=mode, dir=str(tmp_path), user="root",
                      client_key=str(tmp_path / "client_ed25519"), python="/usr/bin/python3",
                      subnet="198.18.7.0/24", bridge="hsbabcde-br", rate_bits=10**8)
    for i in range(2):
        st.hosts.append(HostState(name=f"sb{i}", address=f"198.18.7.1{i}", port=22, dir=str(tmp_path / f"sb{i}"),
                                  netns=f"hsbabcde-{i}", veth=f"hsbabcde-h{i}", rate_bits=10**8))
    return st


def test_state_round_trips_through_json(tmp_path):
    st = _state(tmp_path)
    again = SandboxState.from_json(st.to_json())
    assert again == st and json.loads(st.to_json())["hosts"][1]["veth"] == "hsbabcde-h1"
    assert again.host("sb1").workdir == str(tmp_path / "sb1" / "work")


def test_inventory_validates_and_gives_each_host_its_workdir(tmp_path):
    inv = Inventory.model_validate(inventory_dict(_state(tmp_path)))
    assert [h.address for h in inv.hosts] == ["198.18.7.10", "198.18.7.11"]
    assert all(h.port == 22 and h.user == "root" and h.python == "/usr/bin/python3" for h in inv.hosts)
    assert len({h.workdir for h in inv.hosts}) == 2
    assert inv.hosts[0].labels == {"sandbox": "1", "network_interface": "eth0", "rate": "100mbit"}
    assert [h.name for h in inv.select(["sandbox=1"])] == ["sb0", "sb1"]
    assert {h.instance_type for h in inv.hosts} == {"sandbox"}  # one type: the report finds a baseline


def test_each_host_gets_its_own_hostname_and_a_hosts_file_naming_every_host(tmp_path):
    text = netns.hosts_text([("sb0", "198.18.7.10"), ("sb1", "198.18.7.11")])
    lines = [line.split() for line in text.splitlines() if not line.startswith("#")]
    assert ["127.0.0.1", "localhost"] in lines and ["198.18.7.10", "sb0"] in lines and ["198.18.7.11", "sb1"] in lines
    argv = sshd.spawn_argv(tmp_path / "sb1", "hsbabcde-1", "sb1")
    assert argv[:2] == ["unshare", "--uts"] and "sb1" in argv and argv[-4:] == [
        sshd.SSHD, "-D", "-e", "-f", str(tmp_path / "sb1" / "sshd_config")][-4:]
    assert sshd.spawn_argv(tmp_path / "sb1", None, "sb1")[0] == sshd.SSHD  # loopback: this machine's hostname


def test_sshd_config_and_known_hosts_line(tmp_path):
    text = sshd.config_text(tmp_path / "sb0", "198.18.7.10", 22)
    assert "ListenAddress 198.18.7.10\nPort 22\n" in text
    assert f"HostKey {tmp_path / 'sb0' / 'ssh_host_ed25519_key'}" in text and "PasswordAuthentication no" in text
    assert sshd.known_hosts_line("198.18.7.10", 22, "ssh-ed25519 AAAA") == "198.18.7.10 ssh-ed25519 AAAA"
    assert sshd.known_hosts_line("127.0.0.1", 2222, "ssh-ed25519 AAAA") == "[127.0.0.1]:2222 ssh-ed25519 AAAA"


def test_loopback_refuses_shaping_and_says_why():
    with pytest.raises(UsageError, match="--bandwidth cannot be used with --loopback: .*share"):
        _validate(UpRequest(hosts=2, bandwidth="100mbit", loopback=True))
    with pytest.raises(UsageError, match="--delay"):
        _validate(UpRequest(hosts=2, bandwidth=None, delay="2ms", loopback=True))
    assert _validate(UpRequest(hosts=2, bandwidth=None, loopback=True)) == (None, 0.0, 0.0)
    with pytest.raises(UsageError, match="1 to 240"):
        _validate(UpRequest(hosts=0))


def test_fault_errors_name_the_problem(tmp_path):
    from harness.sandbox import faults

    st = _state(tmp_path, mode="loopback")
    with pytest.raises(UsageError, match="no sandbox host 'nope'; hosts: sb0, sb1"):
        faults.inject(st, "nope", "cut")
    with pytest.raises(UsageError, match="network-namespace sandbox"):
        faults.inject(st, "sb0", "cut")
    with pytest.raises(UsageError, match="needs a rate"):
        faults.inject(st, "sb0", "slow")
    with pytest.raises(UsageError, match="unknown fault"):
        faults.inject(st, "sb0", "explode")
