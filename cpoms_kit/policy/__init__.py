"""The school's policy at work: `deadlines` (rules evaluated over a view of the entries), `timeliness`
(the summary of what was done, and how soon), `cases`
(open/closed/complex cases), `keyinfo` (a case's key facts: the panel),
`tasks` (what is assigned to one person, open and due), `today` (one person's morning: what to act on), `lint`
with `lintwords` and `lintnames` (names told from words, and those the records have used)
(recording quality), `alerts` (routing, outbox, delivery, reminders) and `schooldays` (terms,
holidays). The rules, categories and channels themselves are
plugins (top-level `plugins/`)."""
