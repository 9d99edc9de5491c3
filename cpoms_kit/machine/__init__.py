"""This machine's place in the school-wide system, one module per job: `join` (a new machine's
clone in one command: the branch holding the records, the diff driver, the roster's public keys,
the history verified and pinned, the member's secret key checked), `remote` (a shared remote set
up so that plain `git clone` works too) and `schedule` (the unattended morning `check --alert`,
as a systemd user timer or a crontab line)."""
