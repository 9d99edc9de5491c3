"""What happens to a pupil's file over time: subject-access and other `requests` with their
`disclosure` packs, `transfer` to another school (and `transfer_html`, to a school without the
kit: an encrypted web page and a password), and `retention` review and disposal."""
