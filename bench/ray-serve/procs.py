#!/usr/bin/env python3
"""The server's process tree, for bench/ray-serve/run.sh (Linux /proc only).

    procs.py memory PID    # RSS and PSS (KiB) of PID and its descendants, in all and per role
    procs.py cpu PID       # CPU ticks per role of the tree, and of the whole machine

A role is what a process is, from its command line: Ray Serve's reader and
writer replicas, its coordinator, proxy and controller, Ray's own daemons,
the driver (`python -m hypencoder.ray.serve`), or `hypencoder serve`.
"""

import json
import os
import sys

ROLES = [  # first match wins
    ("reader-", "readers"),
    ("writer-", "writers"),
    ("coordinator", "coordinator"),
    ("ProxyActor", "proxy"),
    ("ServeController", "controller"),
    ("hypencoder.ray.serve", "driver"),
    ("hypencoder serve", "hypencoder serve"),
    ("raylet", "ray daemons"),
    ("gcs_server", "ray daemons"),
    ("dashboard", "ray daemons"),
    ("log_monitor", "ray daemons"),
    ("monitor.py", "ray daemons"),
    ("runtime_env", "ray daemons"),
]


def role(cmdline: str) -> str:
    for needle, name in ROLES:
        if needle in cmdline:
            return name
    return "other"


def tree(root: int):
    children = {}
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                ppid = int(open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(p))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def cmdline(pid: int) -> str:
    return open(f"/proc/{pid}/cmdline").read().replace("\0", " ").strip()


def memory(root: int):
    out = {"processes": 0, "rss_kib": 0, "pss_kib": 0, "roles": {}}
    for p in tree(root):
        try:
            name = role(cmdline(p))
            vals = {}
            for line in open(f"/proc/{p}/smaps_rollup"):
                key = line.split(":")[0]
                if key in ("Rss", "Pss"):
                    vals[key] = int(line.split()[1])
        except (OSError, ValueError, IndexError):
            continue
        out["processes"] += 1
        out["rss_kib"] += vals.get("Rss", 0)
        out["pss_kib"] += vals.get("Pss", 0)
        r = out["roles"].setdefault(name, {"processes": 0, "rss_kib": 0, "pss_kib": 0})
        r["processes"] += 1
        r["rss_kib"] += vals.get("Rss", 0)
        r["pss_kib"] += vals.get("Pss", 0)
    return out


def cpu(root: int):
    roles = {}
    for p in tree(root):
        try:
            name = role(cmdline(p))
            fields = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        # utime, stime: fields 14 and 15 of stat, i.e. 12 and 13 after the name.
        roles[name] = roles.get(name, 0) + int(fields[11]) + int(fields[12])
    cpu_line = open("/proc/stat").readline().split()[1:]
    ticks = [int(x) for x in cpu_line]
    busy = sum(ticks) - ticks[3] - ticks[4]  # all but idle and iowait
    return {"roles": roles, "machine_busy": busy, "clk_tck": os.sysconf("SC_CLK_TCK")}


if __name__ == "__main__":
    what, pid = sys.argv[1], int(sys.argv[2])
    print(json.dumps(memory(pid) if what == "memory" else cpu(pid)))
