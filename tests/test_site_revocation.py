"""Issue 16, points 1 and 2: a DSL who leaves loses the site, and rotation revokes.

Real gpg, real git, real site builds (two cases, to keep them quick). Each attack is checked the way
whoever held the old secrets would try it: the recipients of the passwords file as `gpg
--list-packets` shows them, and the old passwords and content keys tried with cpoms_kit.site.crypto
on every data file of the rebuilt site."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import git, only_key_of
from cpoms_kit.infra import keygen
from cpoms_kit.site import crypto

PASSWORDS = "site/passwords.yaml.gpg"


@pytest.fixture
def repo(cpoms):
    """The test school with a concern on each of two pupils (so the site has two cases)."""
    cpoms.add("tj", ("P001",), "Safeguarding", "2026-11-26T09:00", "Said she was left alone overnight.")
    cpoms.add("ms", ("P002",), "Wellbeing", "2026-11-26T10:00", "Came in without a coat in the sleet.")
    return cpoms


# -- what the files say ---------------------------------------------------------------------------
def recipients(keyring, path: Path) -> set[str]:
    """The staff ids an OpenPGP message is encrypted to, as `gpg --list-packets` lists them."""
    home, fprs = keyring
    env = {**os.environ, "GNUPGHOME": str(home)}
    listing = subprocess.run(["gpg", "--batch", "--list-packets", "--pinentry-mode", "loopback", "--passphrase", ""],
                             input=path.read_bytes(), env=env, capture_output=True).stdout.decode()
    keyids = set(re.findall(r"pubkey enc packet: .*keyid ([0-9A-F]{16})", listing))
    owner = {}
    for sid, fpr in fprs.items():
        keys = subprocess.run(["gpg", "--batch", "--with-colons", "--list-keys", fpr], env=env,
                              capture_output=True, text=True, check=True).stdout
        for line in keys.splitlines():
            fields = line.split(":")
            if fields[0] in ("pub", "sub"):
                owner[fields[4]] = sid
    assert keyids, listing
    return {owner.get(k, k) for k in keyids}


def can_decrypt(keyring, who: str, path: Path) -> bool:
    home = only_key_of(keyring, who)
    try:
        done = subprocess.run(["gpg", "--batch", "--decrypt"], input=path.read_bytes(), capture_output=True,
                              env={**os.environ, "GNUPGHOME": str(home)})
        return done.returncode == 0
    finally:
        keygen.kill_agent(home)
        shutil.rmtree(home, ignore_errors=True)


def passwords(repo):
    from cpoms_kit.site.passwords import load
    from cpoms_kit.store.repository import Store

    return load(Store(repo.repo))


def bundles(out: Path) -> dict[str, dict]:
    """Every data file of a built site: {d/<name>.js: its payload}."""
    return {f"d/{p.name}": json.loads(p.read_text(encoding="ascii").strip()[len("cpomsBundle("):-2])
            for p in sorted((out / "d").glob("*.js"))}


def opens(slots: list[dict], passwords_: list[str]) -> list[tuple[str, bytes]]:
    """(password, key) for every slot any of these passwords unwraps (in parallel: 0.2 s a try)."""
    tries = [(slot, pw) for slot in slots for pw in passwords_]
    with ThreadPoolExecutor() as pool:
        keys = list(pool.map(lambda t: crypto.unwrap_key(*t), tries))
    return [(pw, key) for (_, pw), key in zip(tries, keys, strict=True) if key is not None]


def sealed_files(payload: dict, key: bytes) -> list[tuple[str, bytes]]:
    """(path, blob) for every blob of a data file, the manifest first, its paths read with `key`."""
    bid, build = payload["id"], payload["build"]
    manifest = crypto._unb64(payload["manifest"])
    files = json.loads(crypto.decrypt_file(key, bid, "/manifest", manifest, build))["files"]
    return [("/manifest", manifest), *((path, crypto._unb64(payload["files"][i])) for path, (i, _) in files.items())]


def assert_old_secrets_open_nothing(out: Path, old_passwords: list[str], old_keys: list[bytes], new_keys: list[bytes]):
    """Neither an old password (through any slot) nor an old content key (on any blob, the
    manifest included) opens anything of the site in `out`; the new keys do open it all."""
    found = bundles(out)
    assert found
    slots = [slot for payload in found.values() for slot in payload["slots"]]
    assert opens(slots, old_passwords) == [], "an old password unwraps a slot of the rebuilt site"
    assert not set(old_keys) & set(new_keys)
    for name, payload in found.items():
        key = next((k for k in new_keys if _opens_manifest(payload, k)), None)
        assert key is not None, f"{name} opens with no current key"
        for path, blob in sealed_files(payload, key):
            for old in old_keys:
                with pytest.raises(crypto.DecryptionError):
                    crypto.decrypt_file(old, payload["id"], path, blob, payload["build"])


def _opens_manifest(payload: dict, key: bytes) -> bool:
    try:
        crypto.decrypt_file(key, payload["id"], "/manifest", crypto._unb64(payload["manifest"]), payload["build"])
        return True
    except crypto.DecryptionError:
        return False


def every_secret(pw) -> tuple[list[str], list[bytes]]:
    """All the passwords and content keys in a passwords file."""
    return [pw.team.password, *(s.password for s in pw.cases.values())], [pw.team.key, *(s.key for s in pw.cases.values())]


# -- 1. a DSL who leaves loses the site --------------------------------------------------------------
def test_staff_remove_and_reencrypt_leave_the_passwords_file_unreadable_to_the_removed_deputy(repo, keyring):
    repo("site", "password")
    repo("site", "password", "P001")
    path = repo.repo / PASSWORDS
    assert recipients(keyring, path) == {"dsl1", "dep1"}
    old = passwords(repo)
    out = repo("staff", "remove", "dep1", "--by", "dsl1").stdout
    repo("reencrypt", "--by", "dsl1")
    # Encrypted to the remaining team only, in the removal's own commit; dep1's key opens nothing.
    assert recipients(keyring, path) == {"dsl1"}
    assert not can_decrypt(keyring, "dep1", path) and can_decrypt(keyring, "dsl1", path)
    assert PASSWORDS in git(repo.repo, "show", "--name-only", "--format=", "HEAD~1")
    # Everything dep1 could have read is replaced: every password and content key.
    new = passwords(repo)
    assert new.team.password != old.team.password and new.team.key != old.team.key
    assert new.cases["P001"].password != old.cases["P001"].password and new.cases["P001"].key != old.cases["P001"].key
    # The new team password is printed to the DSL who made the change, once.
    assert new.team.password in out and "dep1" in out
    assert repo("site", "password").stdout.strip() == new.team.password
    assert new.team.password not in repo("reencrypt", "--by", "dsl1").stdout
    # Someone leaving who never read the passwords (not on the DSL team) changes none of them.
    assert new.team.password not in repo("staff", "remove", "tj", "--by", "dsl1").stdout
    assert passwords(repo).team.password == new.team.password


def test_the_next_build_after_a_removal_rekeys_every_case(repo, keyring, tmp_path):
    out, copy = tmp_path / "site", tmp_path / "old-copy"
    repo("site", "build", "--out", str(out))
    shutil.copytree(out, copy)  # what the deputy took home
    old = passwords(repo)
    old_names = set(bundles(copy)) | {p["id"] for p in bundles(copy).values()}
    repo("staff", "remove", "dep1", "--by", "dsl1")
    built = repo("site", "build", "--out", str(out), "--json").json()
    assert sorted(built["rendered"]) == ["P001", "P002"] and built["reused"] == []
    new = passwords(repo)
    assert new.team.password != old.team.password
    assert all(new.cases[pid].key != old.cases[pid].key for pid in ("P001", "P002"))
    assert not old_names & (set(bundles(out)) | {p["id"] for p in bundles(out).values()}), "a name was reused"
    old_passwords, old_keys = every_secret(old)
    assert_old_secrets_open_nothing(out, old_passwords, old_keys, every_secret(new)[1])
    # The new team password opens the team's bundle, with every case's new key granted in it.
    team = opens([p["slots"][0] for p in bundles(out).values()], [new.team.password])
    assert [key for _, key in team] == [new.team.key]


def test_doctor_reports_a_secret_still_addressed_to_someone_who_left(repo, keyring):
    repo("site", "password")
    # A removal made while the built-in secrets plugin was switched off leaves the passwords to dep1.
    toml = repo.repo / "cpoms.toml"
    toml.write_text(toml.read_text().replace("disabled = []", 'disabled = ["repository_secrets"]'))
    repo("staff", "remove", "dep1", "--by", "dsl1")
    git(repo.repo, "checkout", "cpoms.toml")
    assert "dep1" in recipients(keyring, repo.repo / PASSWORDS)
    found = [f for f in repo("doctor", "--json", ok=None).json() if PASSWORDS in f["what"]]
    assert len(found) == 1 and found[0]["level"] == "problem" and "dep1" in found[0]["what"]
    assert "cpoms reencrypt" in found[0]["fix"]
    old = passwords(repo).team.password
    dry = repo("reencrypt", "--by", "dsl1", "--dry-run", "--json").json()
    assert dry["secrets"] == [PASSWORDS] and dry["commit"] is None
    done = repo("reencrypt", "--by", "dsl1", "--json").json()
    assert done["secrets"] == [PASSWORDS] and f"Secret: {PASSWORDS}" in git(repo.repo, "log", "-1", "--format=%B")
    new = passwords(repo).team.password
    assert new != old and any(new in notice for notice in done["notices"])
    assert recipients(keyring, repo.repo / PASSWORDS) == {"dsl1"}
    assert not [f for f in repo("doctor", "--json", ok=None).json() if PASSWORDS in f["what"]]
    assert repo("verify", "--json").json()["ok"]


def test_a_plugins_secret_is_reencrypted_when_someone_leaves(repo, keyring):
    """The `cpoms_register_secrets` hook through a school's local plugin: a token kept for the DSL
    team is re-encrypted by `staff remove`, and replaced by the plugin's `revoke`."""
    (repo.repo / "plugins").mkdir()
    (repo.repo / "plugins" / "vault.py").write_text(textwrap.dedent("""
        from cpoms_kit.hookspecs import hookimpl
        from cpoms_kit.pluginhost.contracts import Revoked

        class Token:  # no SecretBase: `revoke` is its own
            path = "vault/*.gpg"
            description = "the case-management system's API token"

            def readers(self, staff):
                return [s for s in staff.values() if s.is_dsl]

            def revoke(self, plaintext, lost, now):
                return Revoked(b"new token", "ask the supplier for a new token: " + ",".join(s.id for s in lost))

        @hookimpl
        def cpoms_register_secrets(register):
            register(Token())
    """), encoding="utf-8")
    from cpoms_kit.store.repository import Store

    store = Store(repo.repo)
    dsl1 = store.staff()["dsl1"]
    with store.transaction("vault: token", dsl1) as tx:
        tx.write("vault/token.gpg", store.encrypt(b"old token", store.dsl_team()))
    assert recipients(keyring, repo.repo / "vault/token.gpg") == {"dsl1", "dep1"}
    rows = {r["name"]: r for r in repo("plugins", "--json").json()}
    assert rows["local:vault"]["provides"] == {"secrets": ["vault/*.gpg"]}
    out = repo("staff", "remove", "dep1", "--by", "dsl1").stdout
    assert "ask the supplier for a new token: dep1" in out
    assert recipients(keyring, repo.repo / "vault/token.gpg") == {"dsl1"}
    assert Store(repo.repo).gpg.decrypt((repo.repo / "vault/token.gpg").read_bytes()) == b"new token"


# -- 2. rotation revokes ----------------------------------------------------------------------------
def test_rotating_the_team_password_rekeys_every_case(repo, tmp_path):
    out, copy = tmp_path / "site", tmp_path / "old-copy"
    repo("site", "build", "--out", str(out))
    shutil.copytree(out, copy)
    old = passwords(repo)
    new_team = repo("site", "password", "--rotate").stdout.strip()
    new = passwords(repo)
    assert new_team == new.team.password != old.team.password
    assert all(new.cases[pid].key != old.cases[pid].key for pid in ("P001", "P002"))
    # Case passwords stay: their holders are not being revoked.
    assert all(new.cases[pid].password == old.cases[pid].password for pid in ("P001", "P002"))
    built = repo("site", "build", "--out", str(out), "--json").json()
    assert built["reused"] == []
    assert not set(bundles(copy)) & set(bundles(out))
    assert not {p["id"] for p in bundles(copy).values()} & {p["id"] for p in bundles(out).values()}
    assert_old_secrets_open_nothing(out, [old.team.password], every_secret(old)[1], every_secret(new)[1])
    # A case's own password still opens that case.
    assert len(opens([s for p in bundles(out).values() for s in p["slots"]], [old.cases["P001"].password])) == 1


def test_rotating_a_case_password_rekeys_that_case_and_no_other(repo, tmp_path):
    out = tmp_path / "site"
    first = repo("site", "build", "--out", str(out), "--json").json()
    before = bundles(out)
    old = passwords(repo)
    repo("site", "password", "--rotate", "P001")
    again = repo("site", "build", "--out", str(out), "--json").json()
    assert again["rendered"] == ["P001"] and again["reused"] == ["P002"]
    after = bundles(out)
    new = passwords(repo)
    assert new.cases["P001"].key != old.cases["P001"].key and new.cases["P002"].key == old.cases["P002"].key
    # P002 kept its names; P001 has a new data file, bundle id and shell; its old ones are gone.
    assert again["cases"]["P002"] == first["cases"]["P002"]
    assert again["cases"]["P001"] != first["cases"]["P001"] and not (out / first["cases"]["P001"]).exists()
    (gone,) = [name for name, p in before.items() if _opens_manifest(p, old.cases["P001"].key)]
    (case,) = [name for name, p in after.items() if _opens_manifest(p, new.cases["P001"].key)]
    assert gone not in after and case not in before
    assert before[gone]["id"] not in {p["id"] for p in after.values()}
    assert after[case]["id"] not in {p["id"] for p in before.values()}
    # Nothing of the rebuilt site opens with the case's old password or old key.
    assert opens([s for p in after.values() for s in p["slots"]], [old.cases["P001"].password]) == []
    for payload in after.values():
        key = next(k for k in every_secret(new)[1] if _opens_manifest(payload, k))
        for path, blob in sealed_files(payload, key):
            with pytest.raises(crypto.DecryptionError):
                crypto.decrypt_file(old.cases["P001"].key, payload["id"], path, blob, payload["build"])
