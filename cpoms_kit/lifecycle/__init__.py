"""What happens to a pupil's file over time: subject-access and other `requests` with their
`disclosure` packs (an entry's files and body map in them: `disclosure_files`), `transfer` to
another school (received with `transfer_in`; its files: `transfer_files`; and `transfer_html`, to
a school without the kit: an encrypted web page and a password), and `retention` review and
disposal."""
