"""Site encryption in Python: round trips, wrong passwords, tampering, AD binding, slot hygiene,
the committed test vector, and what package_site writes (and refuses to write)."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest

from cpoms_kit.errors import CpomsError
from cpoms_kit.site import crypto
from cpoms_kit.site.package import Bundle, package_site

VECTOR = json.loads((Path(__file__).parent / "data" / "site_vector.json").read_text(encoding="utf-8"))
FAST = 2_000  # only where the test is about something other than the KDF cost


def test_file_round_trip_and_padding_hides_exact_size():
    key = crypto.new_content_key()
    assert len(key) == 32 and key != crypto.new_content_key()
    for size in (0, 1, 255, 256, 5000):
        data = bytes(range(256)) * (size // 256) + b"\x00" * (size % 256)  # trailing NULs survive unpadding
        blob = crypto.encrypt_file(key, "b1", "a/b.html", data)
        assert crypto.decrypt_file(key, "b1", "a/b.html", blob) == data
        assert (len(blob) - 1 - 12 - 16) % crypto.PAD_BLOCK == 0
    a = crypto.encrypt_file(key, "b1", "p", b"same")
    assert a != crypto.encrypt_file(key, "b1", "p", b"same")  # random nonce each time
    assert b"same" not in a


@pytest.mark.parametrize(
    "bundle, path",
    [("b2", "a/b.html"), ("b1", "a/c.html"), ("b1", "/manifest"), ("b1", "a/b.html ")],
)
def test_associated_data_binds_bundle_and_path(bundle, path):
    key = crypto.new_content_key()
    blob = crypto.encrypt_file(key, "b1", "a/b.html", b"<p>x</p>")
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt_file(key, bundle, path, blob)


def test_tampered_or_wrong_key_raises():
    key = crypto.new_content_key()
    blob = bytearray(crypto.encrypt_file(key, "b1", "p.html", b"<p>secret</p>"))
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt_file(crypto.new_content_key(), "b1", "p.html", bytes(blob))
    for i in (0, 5, 20, len(blob) - 1):
        bad = bytearray(blob)
        bad[i] ^= 0x01
        with pytest.raises(crypto.DecryptionError):
            crypto.decrypt_file(key, "b1", "p.html", bytes(bad))
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt_file(key, "b1", "p.html", bytes(blob[:-1]))


def test_key_slots_real_iterations_distinct_salts_wrong_password():
    key = crypto.new_content_key()
    pw = crypto.generate_password()
    a = crypto.wrap_key(key, pw, "team")
    b = crypto.wrap_key(key, pw, "case")
    assert a["kdf"] == "PBKDF2-HMAC-SHA256" and a["hash"] == "SHA-256"
    assert a["iterations"] == crypto.KDF_ITERATIONS >= 1_000_000
    assert a["salt"] != b["salt"] and len(base64.b64decode(a["salt"])) == 16
    assert a["wrapped"] != b["wrapped"]
    json.dumps(a)  # JSON-able
    assert crypto.unwrap_key(a, pw) == key
    assert crypto.unwrap_key(a, pw.upper().replace("-", " ")) == key  # typing case and separators don't matter
    assert crypto.unwrap_key(a, crypto.generate_password()) is None


def test_slot_header_is_authenticated():
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    key = crypto.new_content_key()
    slot = crypto.wrap_key(key, "pw-one", "team", iterations=FAST)
    assert crypto.unwrap_key(dict(slot, label="other"), "pw-one") == key  # the label is bookkeeping only
    assert crypto.unwrap_key(dict(slot, iterations=FAST + 1), "pw-one") is None
    assert crypto.unwrap_key(dict(slot, salt=base64.b64encode(bytes(16)).decode()), "pw-one") is None
    # With the right key-encryption key, a header that differs in any byte still fails: it is the AD.
    kek = crypto._derive("pw-one", base64.b64decode(slot["salt"]), FAST)
    nonce, sealed = base64.b64decode(slot["nonce"]), base64.b64decode(slot["wrapped"])
    assert AESGCM(kek).decrypt(nonce, sealed, crypto._slot_header_ad(slot)) == key
    with pytest.raises(InvalidTag):
        AESGCM(kek).decrypt(nonce, sealed, crypto._slot_header_ad(dict(slot, iterations=FAST * 1000)))
    with pytest.raises(ValueError):
        crypto.unwrap_key(dict(slot, kdf="MD5"), "pw-one")


def test_generated_passwords_are_readable_and_80_bits():
    seen = {crypto.generate_password() for _ in range(200)}
    assert len(seen) == 200
    for pw in seen:
        assert re.fullmatch(r"[0-9a-hjkmnp-tv-z]{4}(-[0-9a-hjkmnp-tv-z]{4}){3}", pw)
        assert crypto.normalize_password(pw) == pw.replace("-", "")
    assert crypto.PASSWORD_BITS == 80
    assert crypto.normalize_password(" AbIL-o ") == "ab110"


def test_fixed_vector_decrypts_in_python():
    slot = VECTOR["slot"]
    assert slot["iterations"] == 1_000_000
    key = crypto.unwrap_key(slot, VECTOR["password_as_typed"])
    assert key == bytes.fromhex(VECTOR["content_key_hex"])
    blob = base64.b64decode(VECTOR["blob_b64"])
    assert crypto.decrypt_file(key, VECTOR["bundle_id"], VECTOR["path"], blob).decode() == VECTOR["plaintext"]


# ---- package_site --------------------------------------------------------------------------------

FAKE_NAME = "Zebedee Quartermain"


def _rendered(root: Path) -> Path:
    pages = {
        "index.html": "<title>Team reports</title><h1>Team reports</h1><a href='cases/k9/index.html'>case</a>",
        "reports/governors.html": "<title>Governors</title><img src='chart.svg'>",
        "reports/chart.svg": "<svg xmlns='http://www.w3.org/2000/svg'><text>Neglect 4</text></svg>",
        "cases/k9/index.html": f"<title>{FAKE_NAME}</title><h1>Chronology of {FAKE_NAME}</h1>",
        "assets/stylesheets/main.css": "body{color:#111}",
        "assets/chart-in-assets.svg": "<svg><text>Neglect</text></svg>",
        "sitemap.xml": "<urlset><url>cases/k9/</url></urlset>",
    }
    for rel, text in pages.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    return root


def _bundles():
    team_key, case_key = crypto.new_content_key(), crypto.new_content_key()
    team_slot = crypto.wrap_key(team_key, "team-pass", "team", iterations=FAST)
    return [
        Bundle("team", "", "index.html", team_key, [team_slot], grants=["P001"]),
        Bundle(
            "P001",
            "cases/k9/",
            "cases/k9/index.html",
            case_key,
            [crypto.wrap_key(case_key, "case-pass", "case", iterations=FAST),
             crypto.wrap_key(case_key, "team-pass", "team", iterations=FAST)],
        ),
    ]


def _load_data(out: Path, shell: str) -> dict:
    page = (out / shell).read_text()
    src = re.search(r'<script defer src="(?:\.\./)?(d/[0-9a-f]+\.js)"', page).group(1)
    text = (out / src).read_text()
    assert text.startswith("cpomsBundle(") and text.endswith(");\n")
    return json.loads(text[len("cpomsBundle("):-3])


def test_package_site_writes_only_ciphertext_and_generic_shells(tmp_path):
    rendered = _rendered(tmp_path / "r")
    out = tmp_path / "out"
    bundles = _bundles()
    shells = package_site(rendered, out, bundles, idle_minutes=7)
    assert shells["team"] == "index.html"
    assert re.fullmatch(r"c/[0-9a-f]{20}\.html", shells["P001"])
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    # Only the theme CSS is plaintext; the SVG under assets/ and everything else is ciphertext.
    assert "assets/stylesheets/main.css" in files
    assert "assets/chart-in-assets.svg" not in files and "sitemap.xml" not in files
    assert all(re.fullmatch(r"(index\.html|c/[0-9a-f]{20}\.html|d/[0-9a-f]{20}\.js|assets/viewer\.(js|css)"
                            r"|assets/stylesheets/main\.css|\.cpoms-site)", f) for f in files), files
    blob = b"".join((out / f).read_bytes() for f in files)
    for needle in [FAKE_NAME, "Zebedee", "Team reports", "Governors", "Neglect", "cases/k9", "P001", "cases/",
                   "governors", "team-pass", "case-pass"]:
        assert needle.encode() not in blob, needle
    assert b'data-idle-minutes="7"' in (out / "index.html").read_bytes()
    assert b"connect-src 'none'" in (out / "index.html").read_bytes()

    # Decrypt it back the way the viewer does: slot -> key -> manifest -> page; team grants the case.
    team = _load_data(out, "index.html")
    key = crypto.unwrap_key(team["slots"][0], "team-pass")
    manifest = json.loads(crypto.decrypt_file(key, team["id"], "/manifest", base64.b64decode(team["manifest"]), team["build"]))
    assert set(manifest["files"]) == {"index.html", "reports/governors.html", "reports/chart.svg",
                                      "assets/chart-in-assets.svg", "sitemap.xml"}
    i, mime = manifest["files"]["reports/chart.svg"]
    assert mime == "image/svg+xml"
    assert b"Neglect 4" in crypto.decrypt_file(key, team["id"], "reports/chart.svg", base64.b64decode(team["files"][i]),
                                              team["build"])
    (grant,) = manifest["grants"]
    assert grant["prefix"] == "cases/k9/" and base64.b64decode(grant["key"]) == bundles[1].content_key
    case = _load_data(out, shells["P001"])
    assert case["id"] == grant["id"] and all("label" not in s for s in case["slots"])
    assert crypto.unwrap_key(case["slots"][0], "team-pass") is None
    assert crypto.unwrap_key(case["slots"][0], "case-pass") == bundles[1].content_key
    # A case blob moved into the team bundle (or to another path) does not decrypt.
    cm = json.loads(crypto.decrypt_file(bundles[1].content_key, case["id"], "/manifest", base64.b64decode(case["manifest"]),
                                        case["build"]))
    ci, _ = cm["files"]["cases/k9/index.html"]
    moved = base64.b64decode(case["files"][ci])
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt_file(bundles[1].content_key, team["id"], "cases/k9/index.html", moved, case["build"])
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt_file(bundles[1].content_key, case["id"], "index.html", moved, case["build"])


def test_package_site_names_are_random_each_build(tmp_path):
    rendered = _rendered(tmp_path / "r")
    first = package_site(rendered, tmp_path / "o1", _bundles())
    second = package_site(rendered, tmp_path / "o2", _bundles())
    assert first["P001"] != second["P001"]
    # Rebuilding over a previous site replaces it wholesale (no stale ciphertext left behind).
    third = package_site(rendered, tmp_path / "o1", _bundles())
    assert not (tmp_path / "o1" / first["P001"]).exists() and (tmp_path / "o1" / third["P001"]).exists()
    assert len(list((tmp_path / "o1" / "d").iterdir())) == 2


def test_package_site_refuses_bad_input_and_foreign_folders(tmp_path):
    rendered = _rendered(tmp_path / "r")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "thesis.txt").write_text("mine")
    with pytest.raises(CpomsError, match="not a cpoms site"):
        package_site(rendered, foreign, _bundles())
    assert (foreign / "thesis.txt").read_text() == "mine"
    b = _bundles()
    with pytest.raises(CpomsError, match='prefix ""'):
        package_site(rendered, tmp_path / "o", [b[1]])
    b[1].entry = "cases/k9/missing.html"
    with pytest.raises(CpomsError, match="start page"):
        package_site(rendered, tmp_path / "o", b)
    b = _bundles()
    b[0].grants = ["nobody"]
    with pytest.raises(CpomsError, match="unknown bundle"):
        package_site(rendered, tmp_path / "o", b)
    assert not (tmp_path / "o").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
