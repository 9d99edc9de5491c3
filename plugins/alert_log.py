"""The `log` alert channel: one line per alert appended to a local file outside the repository.

    [alerts.log]
    path = "~/.local/state/cpoms/alerts.log"   # default: $XDG_STATE_HOME/cpoms/alerts.log

The line holds the time, alert id, kind, urgency, entry id, entry type and category, who recorded
it and who was alerted: never names or text. A path inside the records repository is refused (the
log must not be committed). On in a new repository (`cpoms init` writes the table); like every
channel, off without it. It stays on this machine, so it never counts as reaching the DSL team.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

from cpoms_kit.hookspecs import hookimpl
from cpoms_kit.pluginhost.contracts import AlertChannel, ChannelBase, Register


def default_path() -> Path:
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(state) / "cpoms" / "alerts.log"


class LogChannel(ChannelBase):
    name = "log"
    settings = {"path": str}
    wants_context = True

    def reaches(self, recipients, settings: Mapping[str, Any]) -> list[str]:
        return []  # a file on this machine

    def send(self, alert, recipients, settings: Mapping[str, Any], context=None) -> None:
        from cpoms_kit.policy.alerts import ChannelError
        from cpoms_kit.store.clock import now

        path = Path(os.path.expanduser(str(settings.get("path") or default_path()))).resolve()
        if context is not None and path.is_relative_to(context.root):
            raise ChannelError(f"[alerts.log] path {path} is inside the records repository; choose a path outside it")
        fields = [
            now().isoformat(timespec="seconds"), alert.id, alert.kind,
            "URGENT" if alert.urgent else "normal", alert.entry or "-",
            "/".join(x for x in (alert.category, alert.entry_type, alert.action or alert.rule) if x) or "-",
            f"by={alert.recorded_by or '-'}", f"to={','.join(alert.recipients)}", f"route={alert.route}",
        ]
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o600)
            with os.fdopen(fd, "a", encoding="utf-8") as fh:
                fh.write("\t".join(fields) + "\n")
        except OSError as exc:
            raise ChannelError(f"cannot append to {path}: {exc.strerror or exc}") from None


@hookimpl
def cpoms_register_alert_channels(register: Register[AlertChannel]) -> None:
    register(LogChannel())
