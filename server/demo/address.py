"""The address phones use to reach `make run`: what goes into slips and printed links.

`PUBLIC_BASE_URL` when it is set; else the host the server listens on, except that a
wildcard (0.0.0.0, ::) is no address a phone can open: then this machine's LAN
address, found by "connecting" a UDP socket towards a private address (which sends
nothing) and reading the socket's own address; 127.0.0.1 when there is none.

    python -m server.demo.address --host 0.0.0.0 --port 5000          # the URL
    python -m server.demo.address --host 0.0.0.0 --port 5000 --explain  # and why
"""

from __future__ import annotations

import argparse
import ipaddress
import socket
from collections.abc import Callable

from server.core.settings import read_settings

WILDCARDS = ("", "0.0.0.0", "::", "[::]", "*")  # noqa: S104 - recognised, never bound
PROBES = ("10.255.255.255", "192.168.255.255", "172.31.255.255")  # never sent to


def lan_address(probes: tuple[str, ...] = PROBES) -> str | None:
    """This machine's address on the local network, or None. Sends no packet: connect()
    on a UDP socket only picks the route (and so the source address)."""
    for target in probes:
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.connect((target, 9))
                addr = s.getsockname()[0]
        except OSError:
            continue
        if _usable(addr):
            return addr
    return None


def _usable(addr: str) -> bool:
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return False
    return not (ip.is_loopback or ip.is_unspecified or ip.is_link_local)


def public_base_url(host: str, port: int | str, public: str | None = None,
                    lan: Callable[[], str | None] = lan_address) -> tuple[str, str]:
    """(base URL, why it was chosen) for a server listening on `host`:`port`.

    Never a wildcard address: PUBLIC_BASE_URL, else the host itself, else for a
    wildcard the LAN address from `lan()`, else 127.0.0.1.
    """
    if public and public.strip():
        return public.strip().rstrip("/"), "PUBLIC_BASE_URL"
    host = (host or "").strip()
    said = f"HOST={host}" if host else "HOST unset"
    if host not in WILDCARDS:
        shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
        return f"http://{shown}:{port}", said
    found = lan()
    if found:
        return f"http://{found}:{port}", f"{said}: this machine's LAN address"
    return f"http://127.0.0.1:{port}", f"{said} but no LAN address found: phones cannot reach it"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", default="5000")
    parser.add_argument("--explain", action="store_true", help="print why, after the URL")
    args = parser.parse_args(argv)
    url, why = public_base_url(args.host, args.port, read_settings().PUBLIC_BASE_URL)
    print(f"{url}  ({why})" if args.explain else url)


if __name__ == "__main__":
    main()
