"""The `desktop` alert channel: a notification on this computer through `notify-send`.

    [alerts.desktop]
    command = "notify-send"        # default; any program taking notify-send's arguments
    show_governor_alerts = false   # a concern about a DSL is not shown on a shared screen

URGENT alerts use the critical urgency, which stays on screen until dismissed. On in a new
repository: where there is no desktop (a server, cron, ssh, notify-send not installed) and no
`command` is set, alerts are skipped quietly rather than queued and warned about on every entry.
It reaches only whoever sits at this screen, so it never counts as reaching the DSL team.
"""

from __future__ import annotations

import os
from typing import Any, Mapping

from cpoms_kit.hookspecs import hookimpl
from cpoms_kit.pluginhost.contracts import AlertChannel, ChannelBase, Register


class DesktopChannel(ChannelBase):
    name = "desktop"
    # What [alerts.desktop] may hold besides the keys every channel takes (enabled, timeout...).
    settings = {"command": str, "show_governor_alerts": bool}

    def accepts(self, alert, settings: Mapping[str, Any]) -> tuple[bool, str]:
        if alert.confidential and not settings.get("show_governor_alerts"):
            return False, "a governor-only alert is not shown on this screen (show_governor_alerts)"
        if not settings.get("command"):
            import shutil

            if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
                return False, "no desktop session here"
            if shutil.which("notify-send") is None:
                return False, "notify-send is not installed here"
        return True, ""

    def reaches(self, recipients, settings: Mapping[str, Any]) -> list[str]:
        return []  # this screen only

    def send(self, alert, recipients, settings: Mapping[str, Any]) -> None:
        import shutil
        import subprocess

        from cpoms_kit.policy.alerts import ChannelError, render

        command = str(settings.get("command", "notify-send"))
        exe = shutil.which(command)
        if exe is None:
            raise ChannelError(f"{command} is not installed (Debian: apt-get install libnotify-bin)")
        subject, text = render(alert)
        argv = [exe, "--app-name=cpoms", f"--urgency={'critical' if alert.urgent else 'normal'}", subject, text]
        try:
            done = subprocess.run(argv, capture_output=True, text=True,
                                  timeout=float(settings.get("timeout", 10)), check=False)
        except subprocess.TimeoutExpired:
            raise ChannelError(f"{command} did not finish") from None
        if done.returncode != 0:
            detail = " ".join((done.stderr or "").split())[:200]
            raise ChannelError(f"{command} exited {done.returncode}: {detail}")


@hookimpl
def cpoms_register_alert_channels(register: Register[AlertChannel]) -> None:
    register(DesktopChannel())
