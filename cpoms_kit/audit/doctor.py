"""`cpoms doctor`: what will go wrong soon, and how to fix it. Each finding carries its fix."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import datetime, timezone

from cpoms_kit.infra import gitrepo, layout, textconv
from cpoms_kit.store.repository import Store


@dataclass(frozen=True)
class Finding:
    level: str  # "problem" (fix now) or "warning" (fix soon)
    what: str
    fix: str

    def to_json(self) -> dict:
        return {"level": self.level, "what": self.what, "fix": self.fix}


def _keys(store: Store, now: datetime, days: int) -> list[Finding]:
    out = []
    staff = [s for s in store.staff().values() if s.active and s.has_key]
    have = store.gpg.keys([s.fingerprint for s in staff]) if staff else {}
    for s in staff:
        rel = layout.key_file(s.fingerprint)
        asc = store.root / rel
        if not asc.is_file():
            out.append(Finding("problem", f"{s.id}: public key file {rel} is missing from the repository",
                               f"import their key, then `cpoms staff set-key {s.id} --key {s.fingerprint} --by DSL_ID`"))
        info = have.get(s.fingerprint)
        if info is None:
            fix = (f"`cpoms` imports it from {layout.KEYS}/ on the next write; or `gpg --import "
                   f"{rel}`" if asc.is_file() else "ask them to send their public key and import it")
            out.append(Finding("problem", f"{s.id}: public key {s.fingerprint} is not in this keyring", fix))
            continue
        renew = (f"{s.id} runs `gpg --quick-set-expire {s.fingerprint} 1y` (and for the subkey: "
                 f"`gpg --quick-set-expire {s.fingerprint} 1y '*'`), sends the key, then a DSL runs "
                 f"`cpoms staff set-key {s.id} --key {s.fingerprint}`")
        if info.validity == "r":
            out.append(Finding("problem", f"{s.id}: key {s.fingerprint} is revoked; nothing can be encrypted to them",
                               f"enrol their new key: `cpoms staff set-key {s.id} --key NEW_FPR`, then `cpoms reencrypt`"))
        elif info.validity == "e" or (info.expires and info.expires <= now.timestamp()):
            out.append(Finding("problem", f"{s.id}: key {s.fingerprint} has expired; entries cannot be encrypted to them", renew))
        elif info.expires and info.expires - now.timestamp() < days * 86400:
            left = int((info.expires - now.timestamp()) // 86400)
            when = datetime.fromtimestamp(info.expires, timezone.utc).date()
            out.append(Finding("warning", f"{s.id}: key {s.fingerprint} expires in {left} days ({when})", renew))
        elif not info.can_encrypt:
            out.append(Finding("problem", f"{s.id}: key {s.fingerprint} has no usable encryption subkey",
                               f"{s.id} adds one: `gpg --quick-add-key {s.fingerprint} cv25519 encr 2y`, "
                               "then `cpoms staff set-key`"))
    return out


def _agent(store: Store) -> list[Finding]:
    out = []
    if shutil.which("gpg") is None:
        return [Finding("problem", "gpg is not installed", "install GnuPG 2.2 or later (Debian: apt install gnupg)")]
    done = store.gpg.agent_tool("gpg-connect-agent", "GETINFO version", "/bye")
    if done is None:
        out.append(Finding("problem", "gpg-agent does not answer",
                           "run `gpgconf --kill gpg-agent`, then `gpgconf --launch gpg-agent`"))
    elif done.returncode != 0 or "OK" not in done.stdout:
        out.append(Finding("problem", f"gpg-agent does not answer: {done.stderr.strip()[:120]}",
                           "run `gpgconf --kill gpg-agent` and try again; check GNUPGHOME's permissions (0700)"))
    listed = store.gpg.agent_tool("gpgconf", "--list-options", "gpg-agent")
    opts = listed.stdout if listed is not None else ""
    for line in opts.splitlines():
        parts = line.split(":")
        if parts[0] == "pinentry-program" and len(parts) > 9 and parts[9]:
            program = parts[9].strip('"')
            if not shutil.which(program):
                out.append(Finding("problem", f"pinentry program {program} does not exist: gpg cannot ask for passphrases",
                                   "fix pinentry-program in gpg-agent.conf, then `gpgconf --kill gpg-agent`"))
    if not opts and not any(shutil.which(p) for p in ("pinentry", "pinentry-curses", "pinentry-gnome3", "pinentry-tty")):
        out.append(Finding("warning", "no pinentry program found: gpg may fail to ask for a passphrase",
                           "install one (Debian: apt install pinentry-curses)"))
    return out


def _repo(store: Store) -> list[Finding]:
    out = []
    root = store.root
    fsck = gitrepo.call(root, "fsck", "--no-dangling", "--no-progress", text=True)
    if fsck.returncode != 0:
        first = ((fsck.stderr or fsck.stdout).strip().splitlines() or ["no message"])[0]
        out.append(Finding("problem", f"git fsck reports damage: {first}",
                           "restore from another DSL machine (`cpoms sync`) or a backup clone; do not commit until fixed"))
    status = gitrepo.call(root, "status", "--porcelain", "--untracked-files=all", text=True).stdout.strip()
    if status:
        n = len(status.splitlines())
        out.append(Finding("warning", f"{n} uncommitted or untracked file(s) in the repository",
                           "run `cpoms verify` to see whether any is a tampered entry; remove stray files (`git status`)"))
    if not textconv.installed(root):
        out.append(Finding("warning", "this clone's git diff driver for entries is missing or out of date: `git log -p` "
                           "shows ciphertext, or stops at an entry this keyring cannot decrypt",
                           "`cpoms doctor --fix` installs it (in .git/config, for this clone only)"))
    lock = f"{layout.DOT_GIT}/{layout.INDEX_LOCK}"
    if layout.dot_git(root, layout.INDEX_LOCK).exists():
        out.append(Finding("warning", f"{lock} exists: a git command crashed or is running",
                           f"if no git or cpoms process is running, delete {lock}"))
    remotes = gitrepo.call(root, "remote", text=True).stdout.split()
    if not remotes:
        out.append(Finding("warning", "no remote: this machine holds the only copy of the records",
                           "add a private remote on school infrastructure: `cpoms remote add URL`, then `cpoms sync`"))
    else:
        ahead = gitrepo.call(root, "rev-list", "--count", "@{upstream}..HEAD", text=True)
        if ahead.returncode == 0 and ahead.stdout.strip() not in ("", "0"):
            out.append(Finding("warning", f"{ahead.stdout.strip()} commit(s) not yet pushed to the remote", "run `cpoms sync`"))
    return out


def _entries(store: Store) -> list[Finding]:
    """Entries every command skips (damaged), or cannot read for now, and files under entries/
    that are not the committed record."""
    from cpoms_kit.audit import strays

    out = []
    reading = store.entries(allow_failed=True)
    for entry_id, why in sorted(reading.damaged.items()):
        out.append(Finding("problem", f"entry {entry_id} is damaged ({why}); every command skips it",
                           "entries are never edited: `cpoms verify` shows who committed it; ask its author to record "
                           "it again as a new entry, and keep the damaged file as evidence"))
    if reading.failed:
        out.append(Finding("problem", f"{len(reading.failed)} entries addressed to your key could not be decrypted",
                           "unlock your key (`export GPG_TTY=$(tty)`, then run any cpoms command at a terminal; "
                           "docs/passphrases.md)"))
    found = strays.find(store)
    if found:
        shown = ", ".join(f"{s.path} ({s.state.strip()})" for s in found[:3]) + (" …" if len(found) > 3 else "")
        out.append(Finding("problem", f"{len(found)} file(s) under entries/ are not the committed record: {shown}",
                           "`cpoms doctor --fix` commits each whole entry (signed by its author, whose key must be "
                           "here) and removes or restores the rest"))
    return out


def _secrets(store: Store) -> list[Finding]:
    """Secret files (the `cpoms_register_secrets` hook) still addressed to someone who may no longer
    read them, or to a key that is nobody's now; and plugins that failed to say what they keep."""
    from cpoms_kit.audit.reencrypt import _key_index, addressed
    from cpoms_kit.pluginhost import contracts

    out = []
    registered = store.hooks.collect(contracts.SECRETS, strict=False)
    for plugin, why in sorted(registered.broken.items()):
        out.append(Finding("problem", f"plugin {plugin} failed to register its secrets ({why}): they are not "
                           "re-encrypted when someone leaves", "fix or disable the plugin (`cpoms plugins`), then "
                           "`cpoms reencrypt --by DSL_ID`"))
    if registered.broken:
        return out  # `cpoms reencrypt` refuses to run until every plugin registers
    staff = store.staff()
    for found in addressed(store, staff, _key_index(store)):
        if found.lost:
            who = ", ".join(s.id for s in found.lost)
            out.append(Finding("problem", f"{found.item.label} is still encrypted to {who}, who may no longer read it",
                               "`cpoms reencrypt --by DSL_ID` re-encrypts it to those who may (and replaces what "
                               "they could use: the site passwords are all new)"))
        stale = found.stale_keys(staff)
        if stale:
            out.append(Finding("warning", f"{found.item.label} is still encrypted to key(s) nobody on the staff roster "
                               f"holds now: {', '.join(stale)}", "`cpoms reencrypt --by DSL_ID`"))
    return out


def diagnose(store: Store, days: int = 60) -> list[Finding]:
    return [*_keys(store, store.now(), days), *_agent(store), *_repo(store), *_entries(store), *_secrets(store)]
