"""Readings of /proc for a server process: peak RSS, CPU seconds."""

from __future__ import annotations

import os
from pathlib import Path


def peak_rss_mb(pid: int) -> float:
    """The peak resident set size (VmHWM) of a live process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # kB
    raise RuntimeError(f"no VmHWM for pid {pid}")


def rss_mb(pid: int) -> float:
    """The current resident set size (VmRSS) of a live process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int) -> float:
    """CPU time a live process has used so far, in seconds: the sum of its threads' time on
    a CPU from /proc/PID/task/*/schedstat (nanoseconds: a PostgreSQL statement of 50 ms is
    read to the microsecond, where /proc/PID/stat's clock ticks of 10 ms move a ratio by a
    fifth), or user + system time from /proc/PID/stat where schedstat is not there. A thread
    that ended is not counted by the first: the servers measured keep theirs."""
    try:
        return (
            sum(
                int((task / "schedstat").read_text().split()[0])
                for task in Path(f"/proc/{pid}/task").iterdir()
            )
            / 1e9
        )
    except (OSError, IndexError, ValueError):
        pass
    stat = Path(f"/proc/{pid}/stat").read_text()
    # the command name (field 2) may hold spaces and parentheses: split after its last ')'
    fields = stat.rpartition(")")[2].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) / os.sysconf("SC_CLK_TCK")
