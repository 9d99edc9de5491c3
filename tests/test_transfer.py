"""A child-protection file moves between two schools' records repositories with different keyrings."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import PUPILS, Cpoms, git
from cpoms_kit.infra import keygen


@pytest.fixture(scope="module")
def new_school_keys():
    """The receiving school's own GNUPGHOME: its DSL's secret key and nothing of the sending school."""
    home = keygen.new_gnupghome("cpg2-")
    fpr = keygen.generate_key(home, "Kirkby DSL", "dsl9@kirkby.test")
    pub = subprocess.run(["gpg", "--batch", "--armor", "--export", fpr], env={**os.environ, "GNUPGHOME": str(home)},
                         capture_output=True, check=True).stdout
    yield home, fpr, pub
    keygen.kill_agent(home)
    shutil.rmtree(home, ignore_errors=True)


def receiving_school(tmp_path, home2, fpr9) -> Cpoms:
    """The receiving school's records repository, its DSL (dsl9) enrolled with their own keyring."""
    env2 = {"GNUPGHOME": str(home2)}
    kirkby = Cpoms(None)
    root2 = tmp_path / "kirkby"
    kirkby("init", root2, "--school", "Kirkby High", env=env2)
    kirkby.repo = root2
    kirkby("staff", "add", "dsl9", "--name", "Kim Kirkby", "--role", "dsl", "--key", fpr9, env=env2)
    return kirkby


def _has_key(home, fpr) -> bool:
    return subprocess.run(["gpg", "--batch", "--list-keys", fpr], env={**os.environ, "GNUPGHOME": str(home)},
                          capture_output=True).returncode == 0


def test_transfer_end_to_end_with_receipt(cpoms, env, keyring, fprs, new_school_keys, tmp_path):
    home1, _ = keyring
    home2, fpr9, pub9 = new_school_keys
    c1 = cpoms.add("tj", ("P001", "P002:witness"), "Safeguarding", "2026-11-20T10:00",
                   "Samira said her uncle hit her; Jack Pennywhistle saw the bruise.", "--high-priority")
    cpoms("add", "--by", "dsl1", "--type", "action", "--action", "referral", "--follows", c1,
          "--occurred", "2026-11-20T12:00", "--body", "Referred to children's social care.")
    cpoms.add("ms", ("P002",), "Safeguarding", "2026-11-21T09:00", "About Jack only: not part of Samira's file.")
    key_file = tmp_path / "dsl9.asc"
    key_file.write_bytes(pub9)
    bundle = tmp_path / "P001.cpoms.asc"

    sent = cpoms("transfer", "out", "P001", "--to-key", key_file, "--school", "Kirkby High", "--by", "dsl1",
                 "--out", bundle, "--json").json()
    assert sent["entries"] == 2 and sent["to_fingerprint"] == fpr9
    assert not _has_key(home1, fpr9), "the receiving key must not be imported at the sender"
    data = bundle.read_bytes()
    assert data.startswith(b"-----BEGIN PGP MESSAGE-----")
    for secret in (b"Samira", b"uncle", b"Okonkwo", b"P002"):
        assert secret not in data
    # Only the receiving DSL can read it: the sending school's own keyring cannot.
    assert subprocess.run(["gpg", "--batch", "--decrypt"], input=data, capture_output=True,
                          env={**os.environ, "GNUPGHOME": str(home1)}).returncode != 0

    def receipt_findings(now):
        res = cpoms("check", "--json", env={"CPOMS_NOW": now}, ok=None).json()
        return [f["status"] for f in res if f["rule"] == "transfer-receipt"]

    assert receipt_findings("2026-11-30T09:00") == []
    assert receipt_findings("2026-12-03T09:00") == ["due-soon"]
    assert receipt_findings("2026-12-05T09:00") == ["overdue"]  # 5 working days: Friday 4 December

    # -- the receiving school: its own repository and keyring ----------------------------------------
    env2 = {"GNUPGHOME": str(home2)}
    kirkby = receiving_school(tmp_path, home2, fpr9)
    root2 = kirkby.repo
    kirkby.fails("transfer", "in", bundle, "--by", "dsl9", "--as", "K042", "--sender-key", tmp_path / "nope.asc", env=env2)

    sender_pub = tmp_path / "dsl1.asc"
    sender_pub.write_bytes(subprocess.run(["gpg", "--batch", "--armor", "--export", fprs["dsl1"]],
                                          env={**os.environ, "GNUPGHOME": str(home1)}, capture_output=True).stdout)
    got = kirkby("transfer", "in", bundle, "--by", "dsl9", "--as", "K042", "--sender-key", sender_pub,
                 "--json", env=env2).json()
    assert got["pupil"] == "K042" and got["enrolled"] and got["entries"] == 2 and got["signature"] == "verified"
    assert not _has_key(home2, fprs["dsl1"]), "--sender-key checks the signature without importing the key"
    assert kirkby("pupil", "list", "--json", env=env2).json()[0]["name"] == PUPILS["P001"][0]
    listed = kirkby("list", "--pupil", "K042", "--json", env=env2).json()
    assert sorted(e["type"] for e in listed) == ["transfer-in", "transferred", "transferred"]
    shown = [kirkby("show", e["id"], "--json", env=env2).json() for e in listed]
    concern = next(e for e in shown if e["type"] == "transferred" and e["original"]["type"] == "concern")
    action = next(e for e in shown if e["type"] == "transferred" and e["original"]["type"] == "action")
    assert action["follows"] == concern["id"] and action["original"]["action"] == "referral"
    assert concern["body"].startswith("Samira said her uncle hit her")  # the file travels whole
    assert concern["pupils"] == [{"id": "K042", "role": "subject"}] and concern["high_priority"] is True
    assert concern["original"]["id"] == c1 and concern["original"]["type"] == "concern"
    assert concern["original"]["recorded_by_name"] == "Tom Jones" and concern["original"]["extra"]["other_pupils"] == ["witness"]
    prov = concern["provenance"]
    assert prov["from_school"] == "Follifoot Test Primary" and prov["sender_fingerprint"] == fprs["dsl1"]
    assert concern["id"] != c1 and "gpgsig" in git(root2, "cat-file", "commit", "HEAD")
    everything = " ".join(map(str, shown))
    assert "P002" not in everything and "About Jack only" not in everything
    # The receiving school's clock does not fire on another school's history.
    assert [f for f in kirkby("check", "--json", env=env2, ok=None).json() if f["pupil"] == "K042"] == []
    kirkby.fails("transfer", "in", bundle, "--by", "dsl9", "--as", "K042", env=env2)  # already imported

    # -- the receipt goes back --------------------------------------------------------------------------
    receipt = Path(got["receipt"])
    assert receipt.read_bytes().startswith(b"-----BEGIN PGP MESSAGE-----")
    cpoms.fails("transfer", "receipt", bundle, "--by", "dsl1")  # not a receipt (and not readable here)
    rec = cpoms("transfer", "receipt", receipt, "--by", "dsl1", "--json").json()
    assert rec["transfer"] == sent["transfer"]
    shown = cpoms("show", rec["id"], "--json").json()
    assert shown["received_by"]["fingerprint"] == fpr9 and shown["entries_received"] == 2
    assert receipt_findings("2026-12-05T09:00") == []
    cpoms.fails("transfer", "receipt", receipt, "--by", "dsl1")  # recorded once


def test_unknown_sender_key_is_reported_unconfirmed(cpoms, env, new_school_keys, tmp_path):
    from cpoms_kit.infra.gpg import Gpg
    from cpoms_kit.store.repository import Store
    from cpoms_kit.lifecycle.transfer_in import open_bundle

    home2, fpr9, pub9 = new_school_keys
    cpoms.add()
    (tmp_path / "k.asc").write_bytes(pub9)
    cpoms("transfer", "out", "P001", "--to-key", tmp_path / "k.asc", "--school", "Kirkby High", "--by", "dep1",
          "--out", tmp_path / "b.asc")
    root2 = tmp_path / "k2"
    Cpoms(None)("init", root2, "--school", "Kirkby High", env={"GNUPGHOME": str(home2)})
    doc, how = open_bundle(Store(root2, Gpg(str(home2))), (tmp_path / "b.asc").read_bytes(), None)
    assert how == "unconfirmed" and doc["pupil"]["id"] == "P001" and len(doc["entries"]) == 1


def test_transfer_out_refusals(cpoms, tmp_path, new_school_keys):
    _, _, pub9 = new_school_keys
    key = tmp_path / "k.asc"
    key.write_bytes(pub9)
    out = ("--out", tmp_path / "b")
    cpoms.fails("transfer", "out", "P001", "--to-key", key, "--school", "X", "--by", "dsl1", *out)  # no entries
    cpoms.add()
    cpoms.fails("transfer", "out", "P001", "--to-key", key, "--school", "X", "--by", "tj", "--out", tmp_path / "b")
    cpoms.fails("transfer", "out", "P001", "--to-key", tmp_path / "none.asc", "--school", "X", "--by", "dsl1", *out)
    (tmp_path / "junk.asc").write_text("not a key")
    cpoms.fails("transfer", "out", "P001", "--to-key", tmp_path / "junk.asc", "--school", "X", "--by", "dsl1", *out)
    assert not (tmp_path / "b").exists()
