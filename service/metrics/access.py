"""Who may read the metrics: client addresses in SPARRING_METRICS_ALLOW, nobody else."""

import ipaddress

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def allowed_networks(items: list[str]) -> list[Network]:
    return [ipaddress.ip_network(item, strict=False) for item in items]


def may_read_metrics(client: str | None, allowed: list[Network]) -> bool:
    """Whether the client address (as the app resolved it) is in one of `allowed`; a missing
    or non-IP address (a Unix socket, a test transport's name) never is."""
    if not client:
        return False
    try:
        address = ipaddress.ip_address(client)
    except ValueError:
        return False
    # An IPv4 client on an IPv6 socket arrives as ::ffff:a.b.c.d.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in allowed)
