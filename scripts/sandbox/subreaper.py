#!/usr/bin/env python3
"""Run a command as the child of a PR_SET_CHILD_SUBREAPER process that reaps every
orphan at once. libvirtd runs under it because PID 1 on the sandbox hosts reaps orphans
(daemonized libvirt_lxc / qemu / virtlogd) only every 1-2 s, and libvirt waits on
kill(pid, 0) until the zombie is gone, so every destroy took 1.2-2 s instead of ~0.2 s.
Exits once the command and every adopted orphan are gone."""
import ctypes, os, signal, sys
PR_SET_CHILD_SUBREAPER = 36
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
    sys.exit("prctl failed: %d" % ctypes.get_errno())
child = os.fork()
if child == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
def forward(sig, _):
    try: os.kill(child, sig)
    except ProcessLookupError: pass
for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(s, forward)
status = 0
while True:
    try:
        pid, st = os.wait()
    except ChildProcessError:
        break
    except InterruptedError:
        continue
    if pid == child:
        status = os.waitstatus_to_exitcode(st)
        # keep reaping adopted orphans (virtlogd, libvirt_lxc, qemu) until none is left
sys.exit(status if status >= 0 else 128 - status)
