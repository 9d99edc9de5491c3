"""Email alerts over STARTTLS and implicit TLS with a login, against a real aiosmtpd server on
127.0.0.1 holding a certificate made for the test (trusted through `cafile`, as a school with its
own CA would). The password comes from the environment, never from cpoms.toml."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from test_alerts import Inbox, clean, configure, free_port, record

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert_path, key_path)
    return cert_path, ctx


class Logins:
    def __init__(self) -> None:
        self.seen: list[tuple[str, bool]] = []

    def __call__(self, server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and auth_data.password.decode() == PASSWORD
        self.seen.append((auth_data.login.decode() if isinstance(auth_data, LoginPassword) else "?", ok))
        return AuthResult(success=ok)


@pytest.fixture(params=["starttls", "tls"])
def secure_server(request, certificate):
    cert_path, ctx = certificate
    inbox, logins = Inbox(), Logins()
    kw = dict(authenticator=logins, auth_require_tls=True)
    if request.param == "starttls":
        controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), tls_context=ctx,
                                require_starttls=True, **kw)
    else:
        # aiosmtpd cannot tell that an implicit-TLS session is encrypted, so it would hide AUTH.
        kw["auth_require_tls"] = False
        controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), ssl_context=ctx, **kw)
    controller.start()
    yield request.param, controller.port, cert_path, inbox, logins
    controller.stop()


def test_email_over_tls_with_a_login_from_the_environment(cpoms, secure_server, monkeypatch):
    security, port, cert_path, inbox, logins = secure_server
    monkeypatch.setenv("CPOMS_TEST_SMTP_PASSWORD", PASSWORD)
    configure(cpoms.repo, email={"host": "127.0.0.1", "port": port, "security": security, "cafile": str(cert_path),
                                 "from": "cpoms@school.test", "username": "cpoms", "timeout": 5,
                                 "password_env": "CPOMS_TEST_SMTP_PASSWORD"})
    assert PASSWORD not in (cpoms.repo / "cpoms.toml").read_text()
    entry, _ = record(cpoms)
    assert sorted(r for rcpts, _ in inbox.messages for r in rcpts) == ["dep1@school.test", "dsl1@school.test"]
    assert logins.seen and all(ok for _, ok in logins.seen)
    assert cpoms("alerts", "list", "--json").json() == []
    clean(inbox, type("NoWeb", (), {"posts": []})())
    assert entry


def test_a_wrong_password_queues_the_alert_and_keeps_the_entry(cpoms, secure_server, monkeypatch):
    security, port, cert_path, inbox, logins = secure_server
    monkeypatch.setenv("CPOMS_TEST_SMTP_PASSWORD", "wrong")
    configure(cpoms.repo, email={"host": "127.0.0.1", "port": port, "security": security, "cafile": str(cert_path),
                                 "from": "cpoms@school.test", "username": "cpoms", "timeout": 5,
                                 "password_env": "CPOMS_TEST_SMTP_PASSWORD"})
    entry, res = record(cpoms)
    assert inbox.messages == []
    assert (cpoms.repo / "entries" / f"{entry}.md.gpg").exists()
    assert len(cpoms("alerts", "list", "--json").json()) == 1
    monkeypatch.setenv("CPOMS_TEST_SMTP_PASSWORD", PASSWORD)
    cpoms("alerts", "retry")
    assert len(inbox.messages) == 2
    assert cpoms("alerts", "list", "--json").json() == []


def test_an_untrusted_certificate_is_refused(cpoms, secure_server, monkeypatch):
    security, port, _cert, inbox, _ = secure_server
    monkeypatch.setenv("CPOMS_TEST_SMTP_PASSWORD", PASSWORD)
    configure(cpoms.repo, email={"host": "127.0.0.1", "port": port, "security": security,
                                 "from": "cpoms@school.test", "username": "cpoms", "timeout": 5,
                                 "password_env": "CPOMS_TEST_SMTP_PASSWORD"})
    record(cpoms)
    assert inbox.messages == []  # never talks to a server it cannot authenticate
    assert len(cpoms("alerts", "list", "--json").json()) == 1


def test_the_password_can_come_from_the_users_keyring_command(cpoms, secure_server, tmp_path, monkeypatch):
    security, port, cert_path, inbox, logins = secure_server
    keyring_tool = tmp_path / "secret-lookup"
    keyring_tool.write_text(f"#!/bin/sh\n[ \"$1 $2\" = \"service cpoms-smtp\" ] && echo '{PASSWORD}'\n")
    keyring_tool.chmod(0o755)
    monkeypatch.delenv("CPOMS_TEST_SMTP_PASSWORD", raising=False)
    configure(cpoms.repo, email={"host": "127.0.0.1", "port": port, "security": security, "cafile": str(cert_path),
                                 "from": "cpoms@school.test", "username": "cpoms", "timeout": 5,
                                 "password_command": f"{keyring_tool} service cpoms-smtp"})
    record(cpoms)
    assert len(inbox.messages) == 2 and all(ok for _, ok in logins.seen)
