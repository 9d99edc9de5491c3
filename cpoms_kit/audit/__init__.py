"""The audit trail, one module per job: `verify` (every rule over the whole history) with
`history` (the history in a few git processes), `signatures` and `openpgp` (commit signatures
checked in-process), `rules` (what each commit may do), `entrychecks` (the entries at the head:
recipients, authors, re-encryptions), `attachchecks` (their files: there, with the entry, to its
readers, checksums), `disposals` (the one rewrite allowed), `pins` and
`checkpoint` (what this machine has already verified); `trail` (the activity log), `reencrypt`
(after staff changes), `doctor` and `strays` (health checks and their fixes), `sync` and
`server_hook` (several machines, one remote)."""
