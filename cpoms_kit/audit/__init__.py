"""The audit trail: verifying history (signatures, rosters, entries, pins), the activity log,
re-encryption after staff changes, and health checks. One module per job."""
