"""The `webhook` alert channel: a JSON POST of {"text": …}, the shape Microsoft Teams, Slack and
Mattermost incoming webhooks accept.

    [alerts.webhook]
    url = "keyring:cpoms-kit/webhook"     # the URL carries the room's token: a reference, or a URL without one
    secret = "env:CPOMS_WEBHOOK_SECRET"   # optional: sign each POST with HMAC-SHA256 (older: secret_env = "VAR")
    governor_url = "keyring:cpoms-kit/webhook-governor"   # optional: a channel only the governor(s) read

`cpoms alerts setup webhook --by DSL_ID` asks for the URL, keeps it in this machine's keyring when it
carries a token, sends a test and commits the table. A webhook posts to a shared room, so an alert
routed to the governor (a concern about a DSL) is never posted to `url`: it goes to `governor_url` if
set, and is otherwise skipped (email still carries it to the governor). With a secret, each POST
carries `X-Cpoms-Timestamp: <unix seconds>` and `X-Cpoms-Signature: sha256=<hex>` where the hex is
HMAC-SHA256(secret, "<timestamp>." + body): a receiver checks it and rejects stale timestamps.
Plain http is refused except to this machine (127.0.0.1, ::1, localhost).
"""

from __future__ import annotations

import json
from typing import Any, Mapping

from cpoms_kit.hookspecs import hookimpl
from cpoms_kit.pluginhost.contracts import AlertChannel, ChannelBase, Register
from cpoms_kit.store.config import SECRET_REF

LOOPBACK = {"127.0.0.1", "::1", "localhost"}


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    import hashlib
    import hmac

    return "sha256=" + hmac.new(secret, timestamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()


class WebhookChannel(ChannelBase):
    name = "webhook"
    settings = {"url": str, "secret": SECRET_REF, "secret_env": str, "governor_url": str}

    def accepts(self, alert, settings: Mapping[str, Any]) -> tuple[bool, str]:
        if alert.confidential and not settings.get("governor_url"):
            return False, "a governor-only alert is never posted to a shared webhook (set governor_url)"
        return True, ""

    def send(self, alert, recipients, settings: Mapping[str, Any]) -> None:
        import time
        import urllib.error
        import urllib.parse
        import urllib.request

        from cpoms_kit.policy.alerts import ChannelError, render

        key = "governor_url" if alert.confidential else "url"
        url = _secret(settings, key)
        if not url:
            raise ChannelError("[alerts.webhook] needs url")
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "https" and not (parts.scheme == "http" and parts.hostname in LOOPBACK):
            raise ChannelError("[alerts.webhook] url must be https:// (plain http only to this machine)")
        subject, text = render(alert)
        body = json.dumps({"text": text}, ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "cpoms-kit",
                   "X-Cpoms-Alert": alert.id}
        secret = _secret(settings, "secret") or _secret(settings, "secret_env", env=True)
        if secret:
            stamp = str(int(time.time()))
            headers["X-Cpoms-Timestamp"] = stamp
            headers["X-Cpoms-Signature"] = sign(secret.encode("utf-8"), stamp, body)
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=float(settings.get("timeout", 10))) as resp:
                resp.read(1024)
        except urllib.error.HTTPError as exc:
            raise ChannelError(f"{parts.hostname} answered HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ChannelError(f"{parts.hostname}: {type(reason).__name__}: {reason}") from None


def _secret(settings: Mapping[str, Any], key: str, env: bool = False) -> str | None:
    """A setting that is (or may be) a reference, resolved (cpoms_kit.store.secretref); a plain URL
    without a token is itself. `env`: the older form naming a variable (`secret_env = "VAR"`)."""
    from cpoms_kit.errors import CpomsError
    from cpoms_kit.policy.alerts import ChannelError
    from cpoms_kit.store import secretref

    value = settings.get(key)
    if not value:
        return None
    ref = f"env:{value}" if env else str(value)
    if not secretref.is_ref(ref):
        return ref
    try:
        return secretref.resolve(ref, f"[alerts.webhook] {key}")
    except CpomsError as exc:
        raise ChannelError(exc.format_message()) from None


@hookimpl
def cpoms_register_alert_channels(register: Register[AlertChannel]) -> None:
    register(WebhookChannel())
