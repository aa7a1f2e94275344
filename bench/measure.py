#!/usr/bin/env python3
"""Run one command and print what it cost, as one JSON line on stdout.

    bench/measure.py [--stdout FILE] [--label TEXT] -- COMMAND [ARG]...
    bench/measure.py --busy SECONDS     # print how many cores were busy (0.0-nproc)

Printed keys:
  label        the --label text (for the report)
  wall         wall-clock seconds, fork to reap
  user, sys    CPU seconds of the command and every descendant it waited for
  maxrss_kib   peak resident set size of the largest process in that tree (KiB)
  exit         exit status (negative: killed by that signal)
  load1        1-minute load average just before the command started (/proc/loadavg)
  other_cpu    average number of cores busy with *other* work while it ran:
               (busy jiffies of the whole machine from /proc/stat - our user+sys) / wall.
               This is the contention the command actually saw; kernel writeback
               threads flushing our own dirty pages are counted here too.

The command's stdout goes to FILE (default /dev/null); stderr is inherited. The
command is run directly (fork + execvp), never through a shell; the rusage comes
from os.wait4 on that one child, so nothing else this process did is counted.
Stdlib only. The exit status of measure.py is the command's (0 when it succeeded).
"""

import os
import sys
import time

# json is imported only after the command has run: every page this process has
# touched before the fork counts towards the child's peak RSS (Linux records the
# pre-exec image in ru_maxrss), so the floor is kept as low as we can (~7 MB,
# see "floor" in bench/convert.sh's output). Run it as `python3 -S` for the same
# reason.


def busy_seconds():
    """Seconds of CPU the whole machine spent not idle, summed over cores."""
    with open("/proc/stat", encoding="ascii") as f:
        fields = f.readline().split()
    # cpu user nice system idle iowait irq softirq steal guest guest_nice
    vals = [int(v) for v in fields[1:]]
    busy = vals[0] + vals[1] + vals[2] + vals[5] + vals[6] + vals[7]
    return busy / os.sysconf("SC_CLK_TCK")


def load1():
    with open("/proc/loadavg", encoding="ascii") as f:
        return float(f.read().split()[0])


def usage(msg):
    print(f"measure.py: {msg}\nusage: measure.py [--stdout FILE] [--label TEXT] -- COMMAND [ARG]...",
          file=sys.stderr)
    sys.exit(2)


def parse(argv):
    """Tiny hand-made parser (argparse would raise the RSS floor)."""
    stdout, label = os.devnull, ""
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--":
            i += 1
            break
        if a in ("--stdout", "--label"):
            if i + 1 >= len(argv):
                usage(f"{a} needs a value")
            if a == "--stdout":
                stdout = argv[i + 1]
            else:
                label = argv[i + 1]
            i += 2
        elif a in ("-h", "--help"):
            print(__doc__)
            sys.exit(0)
        elif a.startswith("-"):
            usage(f"unknown option {a}")
        else:
            break
    cmd = argv[i:]
    if not cmd:
        usage("no command given")
    return stdout, label, cmd


def report_busy(seconds):
    """Average number of busy cores over the next `seconds` (we only sleep meanwhile)."""
    b0, t0 = busy_seconds(), time.perf_counter()
    time.sleep(seconds)
    b1, t1 = busy_seconds(), time.perf_counter()
    print(f"{max(0.0, b1 - b0) / (t1 - t0):.3f}")
    return 0


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--busy":
        return report_busy(float(sys.argv[2]))
    stdout, label, cmd = parse(sys.argv[1:])
    out_fd = os.open(stdout, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    load_before = load1()
    busy_before = busy_seconds()
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # child
        try:
            os.dup2(out_fd, 1)
            os.close(out_fd)
            os.execvp(cmd[0], cmd)
        except OSError as e:
            print(f"measure.py: cannot run {cmd[0]}: {e}", file=sys.stderr)
        os._exit(127)
    os.close(out_fd)
    _, status, ru = os.wait4(pid, 0)
    wall = time.perf_counter() - t0
    busy = busy_seconds() - busy_before
    ours = ru.ru_utime + ru.ru_stime
    code = os.waitstatus_to_exitcode(status)
    import json  # pylint: disable=import-outside-toplevel  (see the note at the top)

    rec = {
        "label": label,
        "wall": round(wall, 4),
        "user": round(ru.ru_utime, 4),
        "sys": round(ru.ru_stime, 4),
        "maxrss_kib": ru.ru_maxrss,  # Linux reports KiB
        "exit": code,
        "load1": load_before,
        "other_cpu": round(max(0.0, busy - ours) / wall, 3) if wall > 0 else 0.0,
    }
    print(json.dumps(rec), flush=True)
    return 0 if code == 0 else (code if code > 0 else 128 - code)


if __name__ == "__main__":
    sys.exit(main())
