"""Attachments (issue 20): files kept with an entry, encrypted to exactly its readers, in its
signed commit; refused by content; read back with their checksum checked; verified; re-encrypted
and disposed of with their entry. Real gpg, real git, real processes for memory."""

from __future__ import annotations

import hashlib
import json
import os
import resource
import subprocess
import sys
import zlib
from email.message import EmailMessage
from pathlib import Path

import pytest

from conftest import git, only_key_of, run_process


def png(width: int = 4, height: int = 4) -> bytes:
    """A real PNG (a small red square)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    rows = b"".join(b"\0" + b"\xcc\x00\x00" * width for _ in range(height))
    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + b"\x08\x02\x00\x00\x00"
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def pdf(size: int = 2000) -> bytes:
    """A PDF-headed file of `size` bytes (what filetype sniffs is the header)."""
    head = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\n"
    body = (b"% referral form line of text for the record\n" * (size // 44 + 1))[: max(0, size - len(head) - 6)]
    return head + body + b"%%EOF\n"


def text_pdf(text: str) -> bytes:
    """A real one-page PDF whose text layer holds `text` (as a typed, not scanned, form has)."""
    stream = f"BT /F1 12 Tf 72 712 Td ({text}) Tj ET".encode("latin-1")
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
               b"/Resources << /Font << /F1 5 0 R >> >> >>",
               b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out, offsets = b"%PDF-1.4\n", []
    for n, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{n} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    return out + f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()


def photo_and_form(folder: Path, photo: str, form: str, size: tuple[int, int] = (8, 8)) -> tuple[Path, Path]:
    """A photograph (PNG of `size`) and a referral form (PDF) to attach, written in `folder`."""
    (folder / photo).write_bytes(png(*size))
    (folder / form).write_bytes(pdf())
    return folder / photo, folder / form


def recipients(repo: Path, rel: str) -> set[str]:
    out = subprocess.run(["gpg", "--batch", "--list-packets", "--pinentry-mode", "cancel", str(repo / rel)],
                         capture_output=True, text=True, env={**os.environ, "GNUPGHOME": "/nonexistent-keyring"})
    return {line.split("keyid ")[1].split()[0] for line in out.stdout.splitlines() if ":pubkey enc packet:" in line}


@pytest.fixture
def files(tmp_path):
    folder = tmp_path / "incoming"
    folder.mkdir()
    (folder / "referral.pdf").write_bytes(pdf())
    (folder / "bruise.png").write_bytes(png())
    return folder


def test_add_with_attachments_one_signed_commit_encrypted_to_the_entrys_readers(cpoms, files):
    out = cpoms("add", "--by", "tj", "--pupil", "P001", "--category", "Safeguarding", "--occurred", "2026-11-27T09:00",
                "--body", "Samira said: 'it hurts'. Photo taken by the school nurse, referral form attached.",
                "--attach", files / "referral.pdf", "--attach", files / "bruise.png", "--json").json()
    eid, atts = out["id"], out["attachments"]
    assert [a["name"] for a in atts] == ["referral.pdf", "bruise.png"]
    assert [a["type"] for a in atts] == ["application/pdf", "image/png"]
    assert atts[1]["sha256"] == hashlib.sha256(png()).hexdigest() and atts[1]["size"] == len(png())
    # One commit holds the entry and both files, under opaque names; nothing else changed.
    changed = git(cpoms.repo, "show", "--name-only", "--format=", "HEAD").split()
    assert sorted(changed) == sorted([f"entries/{eid}.md.gpg", *(f"attachments/{a['id']}.gpg" for a in atts)])
    assert "referral" not in git(cpoms.repo, "log", "-1", "--format=%B") and "G" in git(cpoms.repo, "log", "-1", "--format=%G?")
    entry_keys = recipients(cpoms.repo, f"entries/{eid}.md.gpg")
    assert len(entry_keys) >= 2
    for a in atts:
        blob = (cpoms.repo / f"attachments/{a['id']}.gpg").read_bytes()
        assert b"PNG" not in blob and b"%PDF" not in blob
        assert recipients(cpoms.repo, f"attachments/{a['id']}.gpg") == entry_keys
    shown = cpoms("show", eid).stdout
    assert "referral.pdf" in shown and atts[0]["id"] in shown
    listed = cpoms("attachment", "list", eid, "--json").json()
    assert [r["id"] for r in listed] == [a["id"] for a in atts]
    assert cpoms("verify", ok=None).code == 0


def test_attachment_open_out_and_viewer_wipes_after(cpoms, files, tmp_path):
    eid = cpoms.add("tj", ("P001",), "Safeguarding", "2026-11-27T09:00",
                    'Samira said: "it hurts". Photo of the mark attached, taken by the school nurse.',
                    "--attach", str(files / "bruise.png"))
    att = cpoms("attachment", "list", eid, "--json").json()[0]
    out = tmp_path / "copy.png"
    res = cpoms("attachment", "open", att["id"][:10], "--out", out)
    assert out.read_bytes() == png() and oct(out.stat().st_mode & 0o777) == "0o600"
    assert "plain text" in res.stderr
    cpoms.fails("attachment", "open", att["id"], "--out", out)  # never overwrites
    # The viewer sees the plaintext in tmpfs; once it ends, the file is gone.
    seen = tmp_path / "seen.txt"
    viewer = tmp_path / "viewer.sh"
    viewer.write_text(f'#!/bin/sh\nsha256sum "$1" > {seen}\necho "$1" >> {seen}\n')
    viewer.chmod(0o755)
    cpoms("attachment", "open", att["id"], env={"CPOMS_VIEWER": str(viewer)})
    digest, where = seen.read_text().split("\n")[:2]
    assert digest.split()[0] == att["sha256"]
    assert not Path(where).exists() and not Path(where).parent.exists()


def test_refused_by_content_not_name(cpoms, files, tmp_path):
    elf = tmp_path / "minutes.pdf"
    elf.write_bytes(b"\x7fELF\x02\x01\x01\x00" + b"\0" * 8 + b"\x02\x00\x3e\x00" + b"\0" * 200)
    exe = tmp_path / "photo.png"
    exe.write_bytes(b"MZ\x90\x00\x03" + b"\0" * 60 + b"PE\0\0" + b"\0" * 200)
    script = tmp_path / "notes.txt"
    script.write_text("#!/bin/sh\nrm -rf /\n")
    blob = tmp_path / "data.bin"
    blob.write_bytes(bytes(range(256)) * 4)
    empty = tmp_path / "empty.pdf"
    empty.write_bytes(b"")
    base = ["add", "--by", "tj", "--pupil", "P001", "--category", "Safeguarding", "--occurred", "2026-11-27T09:00",
            "--body", "Samira said: 'it hurts'. File attached for the record."]
    for bad, word in ((elf, "Linux program"), (exe, "Windows program"), (script, "script"), (blob, "cannot be told"),
                      (empty, "empty"), (tmp_path / "missing.pdf", "no such file"), (tmp_path, "not a file")):
        out = cpoms.fails(*base, "--attach", bad)
        assert word in out.stderr, out.stderr
    out = cpoms.fails(*base, "--attach", files / "bruise.png", "--attach", files / "bruise.png")
    assert "twice" in out.stderr
    cpoms("config", "set", "attachments.max_mb", "0.001", "--by", "dsl1")
    out = cpoms.fails(*base, "--attach", files / "referral.pdf")
    assert "limit of 0.001 MB" in out.stderr
    out = cpoms.fails(*base, "--meta", "attached=[]")
    assert "written by cpoms itself" in out.stderr


def test_attach_adds_a_follow_up_carrying_the_file(cpoms, files):
    eid = cpoms.add()
    out = cpoms("attach", eid[:10], files / "referral.pdf", "--by", "dsl1", "--json").json()
    assert out["follows"] == eid and out["attachments"][0]["name"] == "referral.pdf"
    follow = cpoms("show", out["id"], "--json").json()
    assert follow["type"] == "note" and follow["follows"] == eid and follow["pupils"][0]["id"] == "P001"
    assert "Attached: referral.pdf" in follow["body"]
    cpoms.fails("attach", "01ZZZZZZZZZZZZZZZZZZZZZZZZ", files / "referral.pdf", "--by", "dsl1")


def test_a_20_mb_pdf_is_streamed(cpoms, tmp_path):
    big = tmp_path / "chronology-from-previous-school.pdf"
    big.write_bytes(pdf(20_000_000))
    code = ("import resource, subprocess, sys; "
            "done = subprocess.run(sys.argv[1:]); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(done.returncode)")
    done = subprocess.run([sys.executable, "-c", code, "cpoms", "add", "--by", "tj", "--pupil", "P002", "--category",
                           "Safeguarding", "--occurred", "2026-11-27T09:00", "--body",
                           "The previous school's chronology for Jack, received today by post and scanned.",
                           "--attach", str(big), "--json", "--repo", str(cpoms.repo)],
                          capture_output=True, text=True, env=os.environ, timeout=300)
    assert done.returncode == 0, done.stderr
    peak_kb = int(done.stdout.strip().splitlines()[-1])
    assert peak_kb < 150 * 1024, f"peak {peak_kb / 1024:.0f} MB"
    eid = json.loads(done.stdout.strip().splitlines()[0])["id"]
    att = cpoms("show", eid, "--json").json()["attached"][0]
    assert att["size"] == 20_000_000
    out = tmp_path / "back.pdf"
    cpoms("attachment", "open", att["id"], "--out", out)
    assert hashlib.sha256(out.read_bytes()).hexdigest() == hashlib.sha256(big.read_bytes()).hexdigest()
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss > 0


def _email(tmp_path: Path, sender: str) -> Path:
    msg = EmailMessage()
    msg["From"] = f"Jo Bloggs <{sender}>"
    msg["To"] = "dsl@school.test"
    msg["Subject"] = "Re: Samira - strategy meeting"
    msg["Date"] = "Thu, 26 Nov 2026 16:05:00 +0000"
    msg.set_content("Thank you for the referral. A strategy meeting is set for Monday at 10:00.\n\nJo")
    msg.add_attachment(pdf(), maintype="application", subtype="pdf", filename="minutes.pdf")
    msg.add_attachment(png(), maintype="image", subtype="png", filename="map.png")
    path = tmp_path / "reply.eml"
    path.write_bytes(bytes(msg))
    return path


def test_from_email_makes_an_agency_contact_with_its_attachments(cpoms, tmp_path):
    cpoms("config", "set", "email.agencies", '["@county.gov.uk"]', "--by", "dsl1")
    path = _email(tmp_path, "jo.bloggs@county.gov.uk")
    eid = cpoms("add", "--by", "dsl1", "--pupil", "P001", "--category", "Safeguarding", "--from-email", path,
                "--json").json()["id"]
    entry = cpoms("show", eid, "--json").json()
    assert entry["type"] == "agency-contact"
    assert entry["occurred_at"].startswith("2026-11-26T16:05")
    assert "Email from Jo Bloggs <jo.bloggs@county.gov.uk>" in entry["body"] and "strategy meeting is set" in entry["body"]
    names = [a["name"] for a in entry["attached"]]
    assert names == ["minutes.pdf", "map.png", "reply.eml"]
    assert entry["attached"][2]["type"] == "message/rfc822"
    kept = tmp_path / "kept.eml"
    cpoms("attachment", "open", entry["attached"][2]["id"], "--out", kept)
    assert kept.read_bytes() == path.read_bytes()  # headers and all
    # From someone not on the agency list: a parent contact; claimed as an agency's: refused.
    other = _email(tmp_path, "mum@example.com")
    eid2 = cpoms("add", "--by", "dsl1", "--pupil", "P001", "--from-email", other, "--json").json()["id"]
    assert cpoms("show", eid2, "--json").json()["type"] == "parent-contact"
    out = cpoms.fails("add", "--by", "dsl1", "--pupil", "P001", "--type", "agency-contact", "--from-email", other)
    assert "not on the school's agency list" in out.stderr
    notmail = tmp_path / "not.eml"
    notmail.write_text("just some words\n")
    cpoms.fails("add", "--by", "dsl1", "--pupil", "P001", "--from-email", notmail)


def test_verify_catches_an_attachment_swapped_for_another_entrys(cpoms, files, keyring):
    a = cpoms.add("tj", ("P001",), "Safeguarding", "2026-11-27T09:00",
                  'Samira said: "it hurts". Referral form attached for the record.', "--attach", str(files / "referral.pdf"))
    b = cpoms.add("tj", ("P001",), "Safeguarding", "2026-11-27T09:10",
                  'Samira said: "it still hurts". Photo of the mark attached for the record.',
                  "--attach", str(files / "bruise.png"))
    att_a = cpoms("show", a, "--json").json()["attached"][0]["id"]
    att_b = cpoms("show", b, "--json").json()["attached"][0]["id"]
    assert cpoms("verify", ok=None).code == 0
    (cpoms.repo / f"attachments/{att_a}.gpg").write_bytes((cpoms.repo / f"attachments/{att_b}.gpg").read_bytes())
    home, fprs = keyring
    git(cpoms.repo, "add", "-A")
    git(cpoms.repo, "-c", f"user.signingkey={fprs['dsl1']}", "-c", "user.name=dsl1", "-c", "user.email=dsl1@school.test",
        "commit", "-q", "-S", "-m", "tidy")
    out = cpoms("verify", "--json", ok=None)
    kinds = {p["kind"] for p in out.json()["problems"]}
    assert out.code != 0
    assert {"attachment-modified", "attachment-checksum"} <= kinds, kinds
    cpoms.fails("attachment", "open", att_a, "--out", files / "x.pdf")


def test_reencrypt_takes_the_files_with_their_entries(cpoms, files, keyring):
    eid = cpoms.add("tj", ("P001",), "Safeguarding", "2026-11-27T09:00",
                    'Samira said: "it hurts". Referral form attached for the record.', "--attach", str(files / "referral.pdf"))
    att = cpoms("show", eid, "--json").json()["attached"][0]
    before = recipients(cpoms.repo, f"attachments/{att['id']}.gpg")
    cpoms("staff", "remove", "dep1", "--by", "dsl1")
    res = cpoms("reencrypt", "--by", "dsl1", "--json").json()
    assert att["id"] in res["attachments"] and eid in res["changed"]
    after = recipients(cpoms.repo, f"attachments/{att['id']}.gpg")
    assert after == recipients(cpoms.repo, f"entries/{eid}.md.gpg") and after != before
    assert cpoms("verify", ok=None).code == 0
    out = cpoms.repo.parent / "again.pdf"
    cpoms("attachment", "open", att["id"], "--out", out)
    assert out.read_bytes() == (files / "referral.pdf").read_bytes()
    # The deputy who left cannot open it any more.
    home = only_key_of(keyring, "dep1")
    res = run_process(cpoms.repo, "attachment", "open", att["id"], "--out", str(cpoms.repo.parent / "dep.pdf"),
                      env={"GNUPGHOME": str(home)})
    assert res.code != 0 and not (cpoms.repo.parent / "dep.pdf").exists()


def test_disposal_removes_the_files_with_their_entry_from_history(cpoms, files):
    from test_retention import LATER

    mine = cpoms.add("tj", ("P001",), "Safeguarding", "2026-11-27T09:00",
                     'Samira said: "it hurts". Photo of the mark attached for the record.', "--attach", str(files / "bruise.png"))
    shared = cpoms.add("tj", ("P001", "P002:witness"), "Safeguarding", "2026-11-27T09:30",
                       "Both pupils were there; referral form attached for the record.", "--attach", str(files / "referral.pdf"))
    gone = cpoms("show", mine, "--json").json()["attached"][0]["id"]
    kept = cpoms("show", shared, "--json").json()["attached"][0]["id"]
    rec = cpoms("retention", "dispose", "P001", "--by", "dsl1", "--json", env=LATER).json()
    assert rec["removed_entries"] == [mine] and rec["kept_shared_entries"] == [shared]
    assert git(cpoms.repo, "log", "--all", "--format=%H", "--", f"attachments/{gone}.gpg") == ""
    assert not (cpoms.repo / f"attachments/{gone}.gpg").exists()
    assert (cpoms.repo / f"attachments/{kept}.gpg").exists()
    report = cpoms("verify", "--json", ok=None).json()
    assert report["ok"], report["problems"]


def test_verify_refuses_a_plaintext_file_under_attachments_and_one_added_alone(cpoms, keyring):
    cpoms.add()
    home, fprs = keyring
    (cpoms.repo / "attachments").mkdir(exist_ok=True)
    (cpoms.repo / "attachments" / "01M8ZH5AT0098K5GNHHR17JA1V.gpg").write_bytes(pdf())  # plaintext, by its name
    git(cpoms.repo, "add", "-A")
    git(cpoms.repo, "-c", f"user.signingkey={fprs['dsl1']}", "-c", "user.name=dsl1", "-c", "user.email=dsl1@school.test",
        "commit", "-q", "-S", "-m", "add a file")
    out = cpoms("verify", "--json", ok=None)
    kinds = {p["kind"] for p in out.json()["problems"]}
    assert out.code != 0 and {"not-openpgp", "attachment-alone"} <= kinds, kinds


def test_git_log_p_never_decrypts_an_attachment_onto_the_screen(cpoms, files):
    """The entry is shown decrypted (the diff driver); its file is "Binary files differ", from
    .gitattributes and, for a repository made before, the clone's own .git/info/attributes."""
    eid = cpoms.add("tj", ("P001",), "Safeguarding", "2026-11-27T09:00",
                    'Samira said: "it hurts". Photo of the mark attached for the record.', "--attach", str(files / "bruise.png"))
    (cpoms.repo / ".gitattributes").write_text("*.gpg diff=gpg\n")  # as a repository made before attachments
    git(cpoms.repo, "update-index", "--assume-unchanged", ".gitattributes")
    out = subprocess.run(["git", "-C", str(cpoms.repo), "log", "-p", "-1"], capture_output=True).stdout
    assert b"IHDR" not in out and b"PNG" not in out
    assert b"Binary files" in out and eid.encode() in out and b"Photo of the mark" in out


@pytest.mark.parametrize(("head", "name", "mime"), [
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600, "Re referral.msg", "application/vnd.ms-outlook"),
    (b"From: Jo <jo@county.gov.uk>\r\nTo: dsl@school.test\r\nSubject: Samira\r\n\r\nHello", "mail.txt", "message/rfc822"),
    (b"Notes from the meeting with the school nurse, 24 November.\n", "notes", "text/plain"),
    (png(), "photo.jpg", "image/png"),  # named .jpg, is a PNG: the content decides
    (pdf(), "scan", "application/pdf"),
])
def test_a_file_is_what_its_content_says(head, name, mime):
    from cpoms_kit.attachments.kinds import sniff

    assert sniff(head, name) == mime


@pytest.mark.parametrize("head", [
    b"\xcf\xfa\xed\xfe" + b"\0" * 100,  # Mach-O
    b"PK\x03\x04" + b"\0" * 100,  # a zip: could hold anything
    b"\x7fELF\x02\x01\x01" + b"\0" * 100,
])
def test_programs_and_archives_are_refused_whatever_their_name(head):
    from cpoms_kit.attachments.kinds import sniff
    from cpoms_kit.errors import InputError

    with pytest.raises(InputError):
        sniff(head, "minutes.pdf")
