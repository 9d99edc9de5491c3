"""The machinery under everything: gpg (encryption over pipes, batch decryption in tmpfs), git (signed
commits through the CLI, the writer lock), RAM-only scratch folders, atomic files, signals, the
fast-path runtime switch, and `layout` (the one module that knows a records repository's paths).
Nothing here knows what a child-protection record is; it imports only `cpoms_kit.errors`."""
