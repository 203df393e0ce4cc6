"""Run one command with resource limits and without network access, then become it (exec).

    python jail.py --memory BYTES --cpu SECONDS --file-size BYTES -- COMMAND [ARG...]

Started by ``sandbox.run_bounded`` as a script, not as a module of the package, so that it
imports nothing but the standard library and pyseccomp (a conversion must not pay for the
detection core's imports). The limits are set here rather than in a ``preexec_fn``, which is
not safe in a threaded server.

Network: a seccomp filter (libseccomp, through pyseccomp) makes ``socket()`` fail with EACCES
for every address family but local ones (AF_UNIX, AF_NETLINK), and refuses io_uring, which
could open sockets without the ``socket`` system call. It holds for the command and everything
it starts, and needs no privileges (no_new_privs is set first, as the kernel requires).
"""

from __future__ import annotations

import argparse
import errno
import os
import resource
import socket
import sys

# Families a document converter may open: its own local pipes and the kernel's netlink.
LOCAL_FAMILIES = (socket.AF_UNIX, socket.AF_NETLINK)
FAMILIES = 64  # AF_MAX is 46 in Linux 6.x
EXIT_JAIL_FAILED = 125  # like env(1) and timeout(1): the jail itself could not start


def limit(memory: int, cpu: int, file_size: int) -> None:
    for what, value in ((resource.RLIMIT_AS, memory), (resource.RLIMIT_CPU, cpu),
                        (resource.RLIMIT_FSIZE, file_size), (resource.RLIMIT_CORE, 0)):
        resource.setrlimit(what, (value, value))


def cut_network() -> None:
    import pyseccomp as seccomp

    rules = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
    # socket(domain, ...) fails for every domain but the local ones. libseccomp takes one
    # comparison per argument in a rule, so each refused family is a rule of its own; the
    # kernel knows fewer than FAMILIES and refuses the rest by itself (EAFNOSUPPORT).
    for family in range(FAMILIES):
        if family not in LOCAL_FAMILIES:
            rules.add_rule(seccomp.ERRNO(errno.EACCES), "socket",
                           seccomp.Arg(0, seccomp.EQ, family))
    for call in ("io_uring_setup", "io_uring_enter", "io_uring_register"):
        rules.add_rule(seccomp.ERRNO(errno.ENOSYS), call)
    rules.load()  # libseccomp sets no_new_privs before loading


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--memory", type=int, required=True, help="address space, bytes")
    ap.add_argument("--cpu", type=int, required=True, help="CPU time, seconds")
    ap.add_argument("--file-size", type=int, required=True, help="largest file written, bytes")
    ap.add_argument("command", nargs=argparse.REMAINDER)
    args = ap.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        ap.error("no command")
    try:
        cut_network()
    except Exception as exc:  # no libseccomp, or a kernel without seccomp: never run unbounded
        print(f"jail: cannot cut the network off ({exc!r}); nothing was run", file=sys.stderr)
        return EXIT_JAIL_FAILED
    try:
        limit(args.memory, args.cpu, args.file_size)
        os.execvp(command[0], command)
    except OSError as exc:
        print(f"jail: cannot run {command[0]}: {exc}", file=sys.stderr)
    return EXIT_JAIL_FAILED


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
