"""The pure parts of harness/sandbox/cgroupfs.py; a sandbox host reading its own quota
through those mounts: tests/integration/test_sampler.py."""

from harness.sandbox import cgroupfs

MOUNTINFO = """\
22 1 8:1 / / rw - ext4 /dev/vda rw
25 22 0:21 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
26 25 0:22 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
27 25 0:23 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
28 25 0:24 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
29 25 0:25 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
30 22 0:5 / /proc rw - proc proc rw
"""


def test_mounts_are_the_cgroup_hierarchies_and_their_tmpfs():
    assert cgroupfs.mounts(MOUNTINFO) == [
        ("tmpfs", "mode=755", "/sys/fs/cgroup"), ("cgroup", "cpu", "/sys/fs/cgroup/cpu"),
        ("cgroup", "memory", "/sys/fs/cgroup/memory"), ("cgroup", "none,name=systemd", "/sys/fs/cgroup/systemd"),
        ("cgroup2", "", "/sys/fs/cgroup/unified")]


def test_script_mounts_the_tmpfs_first_and_only_where_nothing_is_mounted():
    s = cgroupfs.mount_script(list(reversed(cgroupfs.mounts(MOUNTINFO))))
    assert s.startswith("{ mountpoint -q /sys/fs/cgroup || { mkdir -p /sys/fs/cgroup && mount -t tmpfs")
    assert "mount -t cgroup -o cpu cgroup /sys/fs/cgroup/cpu" in s
    assert "mount -t cgroup2 cgroup2 /sys/fs/cgroup/unified" in s
    assert s.count("} } 2>/dev/null") == 5 and s.count("mountpoint -q") == 5
    assert cgroupfs.mount_script([]) == ""
