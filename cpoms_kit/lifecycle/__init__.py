"""What happens to a pupil's file over time: subject-access and other `requests` with their
`disclosure` packs, `transfer` to another school, and `retention` review and disposal."""
