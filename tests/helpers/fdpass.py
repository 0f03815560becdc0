"""Pass an open file description to an unrelated process over SCM_RIGHTS.

    python fdpass.py recv SOCKET        bind SOCKET, print "ready", receive one fd
    python fdpass.py send SOCKET PATH   open PATH and send its fd to SOCKET

Either prints "fd N" (the fd it holds), then waits for EOF on stdin, holding it.
"""

from __future__ import annotations

import os
import socket
import sys


def main(argv: list[str]) -> None:
    mode, address = argv[1], argv[2]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        if mode == "recv":
            sock.bind(address)
            print("ready", flush=True)
            _, fds, _, _ = socket.recv_fds(sock, 1, 1)
            fd = fds[0]
        else:
            fd = os.open(argv[3], os.O_RDONLY)
            sock.connect(address)
            socket.send_fds(sock, [b"x"], [fd])
    print(f"fd {fd}", flush=True)
    sys.stdin.read()


if __name__ == "__main__":
    main(sys.argv)
