"""The server side: a `pre-receive` hook for the shared bare repository DSL machines push to.

It refuses, before any ref moves: deleting a branch, a non-fast-forward (force) push other than a
retention disposal vouched for by a DSL-signed disposal record, and any new
commit that breaks the rules `cpoms verify` enforces (unsigned, signed by a key not on the roster
at the time, an entry deleted or edited, a file under entries/ that is not OpenPGP data, the roster
changed by a non-DSL, the intake's key doing anything but add an entry for staff enrolled with
--intake, a Recorded-by trailer on a commit the intake did not sign). Signatures are checked
in-process against the keys held in the repository, so the server needs cpoms-kit and git, not gpg
or anyone's secret key.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

from cpoms_kit.errors import InputError
from cpoms_kit.infra import gitrepo

ZERO = "0" * 40
HOOK = """#!{python}
# Installed by `cpoms hook install-server`: refuses pushes that would break the records' audit trail.
import sys
from cpoms_kit.audit.server_hook import main
sys.exit(main())
"""
IGNORED_KINDS = {"recipients"}  # stale recipients after a staff change are fixed by `cpoms reencrypt`, not refused


def check_update(root: Path, old: str, new: str, ref: str) -> list[str]:
    from cpoms_kit.audit.verify import verify

    if new == ZERO:
        return [f"{ref}: deleting a branch is refused (the audit trail is append-only)"]
    fresh = set(gitrepo.call(root, "rev-list", new, "--not", "--all", text=True).stdout.split())
    report = verify(root, rev=new, worktree=False, use_pins=False, gpg=None, decrypt=False, local_keyring=False)
    if old != ZERO and not gitrepo.is_ancestor(root, old, new) and old not in report.disposed:
        # The one rewrite allowed: a retention disposal whose DSL-signed record names this head.
        return [f"{ref}: non-fast-forward push refused: it would rewrite history (run `cpoms sync` instead of force-pushing)"]
    return [f"{ref}: {p.commit[:12] if p.commit else ''} {p.path or ''} {p.detail}".replace("  ", " ")
            for p in report.problems if p.kind not in IGNORED_KINDS and (p.commit is None or p.commit in fresh)]


def main(stdin=None) -> int:
    root = Path(os.environ.get("GIT_DIR", ".")).resolve()
    refused = []
    for line in (stdin or sys.stdin).read().splitlines():
        parts = line.split()
        if len(parts) == 3:
            refused += check_update(root, *parts)
    for msg in refused:
        print(f"cpoms: refused: {msg}", file=sys.stderr)
    return 1 if refused else 0


def install(bare: Path) -> Path:
    bare = Path(bare)
    if not gitrepo.is_bare(bare):
        raise InputError(f"{bare} is not a bare git repository (create one with `git init --bare {bare}`)")
    hook = bare / "hooks" / "pre-receive"
    hook.parent.mkdir(exist_ok=True)
    hook.write_text(HOOK.format(python=sys.executable), encoding="utf-8")
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    # Belt and braces: git itself refuses deletions even if the hook is removed. Non-fast-forward
    # pushes are left to the hook, which allows exactly one kind: a DSL-signed retention disposal.
    gitrepo.run(bare, "config", "receive.denyDeletes", "true")
    gitrepo.run(bare, "config", "receive.denyNonFastForwards", "false")
    return hook
