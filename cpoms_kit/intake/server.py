"""`cpoms serve`: the intake's application under uvicorn, on loopback or behind TLS.

Listening on anything but loopback without TLS is refused: passwords and concerns would cross
the school's network in clear. Behind a reverse proxy that ends TLS, listen on 127.0.0.1 and let
the proxy (on the same host) forward to it.
"""

from __future__ import annotations

import ipaddress
import logging
from pathlib import Path

from cpoms_kit.errors import InputError


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_listen(host: str, tls_cert: Path | None, tls_key: Path | None) -> bool:
    """Whether TLS is on; InputError for a setting that must not run."""
    if (tls_cert is None) != (tls_key is None):
        raise InputError("give both --tls-cert and --tls-key, or neither")
    for path in (tls_cert, tls_key):
        if path is not None and not Path(path).is_file():
            raise InputError(f"{path}: no such file")
    tls = tls_cert is not None
    if not tls and not is_loopback(host):
        raise InputError(f"--host {host} is not loopback: the intake listens on the school network only with TLS "
                         "(--tls-cert FILE --tls-key FILE), or on 127.0.0.1 behind a TLS proxy")
    return tls


def serve(root: Path, home: Path, host: str, port: int, tls_cert: Path | None = None, tls_key: Path | None = None,
          require_totp: bool | None = None) -> None:
    import uvicorn

    from cpoms_kit.intake.app import create_app

    tls = check_listen(host, tls_cert, tls_key)
    app = create_app(root, home, tls=tls, require_totp=require_totp)
    logging.getLogger("cpoms_kit").setLevel(logging.INFO)
    # No access log: a URL's query (`?follows=ID`, a pupil search) is nobody's business in a log file.
    uvicorn.run(app, host=host, port=port, ssl_certfile=str(tls_cert) if tls_cert else None,
                ssl_keyfile=str(tls_key) if tls_key else None, access_log=False, server_header=False,
                # Behind a TLS proxy on this host, the client's address (for log-in throttling) is
                # the one the proxy forwards; X-Forwarded-For from anywhere else is ignored.
                proxy_headers=True, forwarded_allow_ips="127.0.0.1,::1", log_level="info")
