"""The records repository and what goes into it: `repository` (Store: rosters, entries, signed
transactions) with `transaction` (a change's files written, and put back if its commit fails),
`cache` (the encrypted entry cache and bulk reads), `config` (cpoms.toml),
`configedit` (a setting changed by command, as a signed commit) with `tomledit` (the line editor
that keeps the file's comments) and `secretref` (secrets named by reference: env or OS keyring),
`roster` (enrolling staff and pupils), `misimport` (reading an MIS export), `pupilsync` (the MIS
sync, a pupil's flags and links), `pupilfiles` (the encrypted pupil roster and the intake's
directory), `staffrows` (staff.yaml checked as every command reads it), `recording` (validating and
committing an entry), `batch` (several entries committed at once, one signed commit
each), `editor` (`cpoms new`), `recipients` (who may read an entry, and who must act on it), `entryids` (ids a person can type:
unique beginnings), `lastseen` (when each person last looked at `cpoms today`, kept outside the repository), `namecache`
(the names the records have used, kept encrypted for the spelling check), `pushing` (each
commit sent to the remote at once, reads fetched first, the push outbox), `secretfiles` (the secret
files plugins register, re-encrypted when who may read them changes), `clock` and `textcheck` (what
a person types)."""
