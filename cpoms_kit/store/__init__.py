"""The records repository and what goes into it: `repository` (Store: rosters, entries, signed
transactions), `cache` (the encrypted entry cache and bulk reads), `config` (cpoms.toml), `roster`
(enrolling staff and pupils), `staffrows` (staff.yaml checked as every command reads it),
`recording` (validating and committing an entry), `editor` (`cpoms new`), `recipients` (who may
read an entry), `clock` and `textcheck` (what a person types)."""
