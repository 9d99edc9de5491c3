"""The chronology site: MkDocs build in tmpfs, per-case encryption, leak scan."""
