"""Is there a Ray cluster at HOST:PORT? Asked within a deadline before ray.init, which retries an address that does
not answer as Ray for minutes (a port that accepts TCP but is something else: > 4 min).

Ray's GCS (and its client server, ray://) speak gRPC, that is HTTP/2: to a client's connection preface an HTTP/2
server answers with a SETTINGS frame. Anything else within the deadline (silence, a closed connection, an HTTP/1
or SSH banner) is not a Ray cluster. With TLS on (RAY_USE_TLS) the frames are encrypted: only TCP is checked."""

from __future__ import annotations

import os
import socket
import time

PROBE_S = 10.0  # the whole probe: connect, send, and the first frame back
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
EMPTY_SETTINGS = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"  # length 0, type SETTINGS, no flags, stream 0
SETTINGS = 0x4
HINT = "is `ray start --head` running there, and is this its port (6379 by default)?"


def split_address(address: str) -> tuple[str, int] | None:
    """(host, port) of a HOST:PORT or ray://HOST:PORT address; None for 'auto' and anything else."""
    host, sep, port = address.split("://")[-1].rpartition(":")
    if address == "auto" or not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        return None
    return host.strip("[]"), int(port)


def _recv_exactly(sock: socket.socket, n: int, deadline: float) -> bytes:
    data = b""
    while len(data) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no answer")
        sock.settimeout(left)
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("the connection was closed")
        data += chunk
    return data


def check_ray_address(address: str, timeout_s: float | None = None) -> None:
    """A ConnectionError naming the address when nothing answers there, or it does not answer as HTTP/2 (gRPC)
    does, within `timeout_s` (default PROBE_S) in all."""
    timeout_s = PROBE_S if timeout_s is None else timeout_s
    parsed = split_address(address)
    if parsed is None:
        return  # 'auto' (a cluster started on this machine) and anything else: ray.init says what is wrong
    host, port = parsed
    deadline = time.monotonic() + timeout_s
    try:
        sock = socket.create_connection((host, port), timeout=timeout_s)
    except OSError as err:
        raise ConnectionError(f"nothing answers at {host}:{port} ({err.strerror or err}); {HINT}") from None
    with sock:
        if os.environ.get("RAY_USE_TLS", "0").lower() in ("1", "true"):
            return
        try:
            sock.sendall(PREFACE + EMPTY_SETTINGS)
            header = _recv_exactly(sock, 9, deadline)
        except OSError as err:
            why = "no answer" if isinstance(err, TimeoutError) else (err.strerror or str(err))
            raise ConnectionError(f"{host}:{port} accepts connections but is not a Ray cluster ({why} to a gRPC "
                                  f"greeting within {timeout_s:.0f} s); {HINT}") from None
    if header[3] != SETTINGS:
        raise ConnectionError(f"{host}:{port} accepts connections but is not a Ray cluster (it answered "
                              f"{header[:9]!r} to a gRPC greeting); {HINT}")
