"""The chronology site: `build` (records to an encrypted folder, by way of tmpfs) with `content`
(what the site is made of, in memory), `chronology` (the pages' Markdown), `attachfiles` (an
entry's files and body map in its case's pages), `panel` (a case's key-information panel and the
index's filters), `mkdocs_plugin` (MkDocs
renders it), `stamping` (case pages without a render each), `incremental` (re-render only what
changed), `package` and `crypto` (per-case encryption), `transferfile` (a transferred file as one encrypted
page), `integrity` (the signed SHA256SUMS and
`cpoms site verify`), `passwords` (the site's passwords, kept encrypted), `governors` (the governors' own
site of concerns about staff, and its password), `counts` (the anonymised counts governors read), `builds` (the folders
built here, and which need building again), `paths` (the site's
configuration and templates) and `leakscan` (the last check)."""
