"""The machinery under everything: `gpg` (encryption over pipes, batch decryption in tmpfs),
`gitrepo` (every git process cpoms starts: signed commits, the writer lock, the object store),
`gitbatch` (several signed commits in a row, built without `git commit`, HEAD moved once),
`gitremote` (the school's remote: fetch a branch, push a commit, bounded in time, never prompting),
`textconv` (the git diff driver: `git log -p` decrypted, a neutral line for what is not),
`layout` (the one module that knows a records repository's paths), `tmpfs` (RAM-only scratch
folders), `fslock` (one exclusive lock per file), `atomicfile` (files replaced whole), `interrupts`
(signals during a change), `runtime` (the fast-path switch), `textin` (text from outside, decoded)
and `keygen` (throwaway keys for demos and tests). Nothing here knows what a child-protection
record is; it imports only `cpoms_kit.errors`."""
