"""The leak scan on its own: it must find each kind of leak however it is encoded (it can fail),
and find nothing in ciphertext, generic pages and vendor files (it must not cry wolf)."""

from __future__ import annotations

import base64
import gzip
import html
import os
from datetime import date
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import quote

import pytest

from cpoms_kit.site import leakscan
from cpoms_kit.site.crypto import encrypt_file, new_content_key

NAME = "Lily-Mae Thornbury"
BODY = "Lily-Mae said her brother locks her in the shed when mum works nights"


@pytest.fixture(scope="module")
def secrets():
    pupils = [SimpleNamespace(id="P003", name=NAME, dob=date(2017, 1, 30)),
              SimpleNamespace(id="P001", name="Samira Okonkwo-Bright", dob="2016-04-01")]
    entries = [SimpleNamespace(id="01ENTRY", body=BODY), SimpleNamespace(id="02SHORT", body="Hit by peer")]
    return leakscan.Secrets.from_records(pupils, entries, ["Safeguarding", "Communication with parents"])


def scan_one(tmp_path: Path, secrets, name: str, data: bytes | str) -> list[leakscan.Leak]:
    folder = tmp_path / "out"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return leakscan.scan(folder, secrets)


def kinds(leaks):
    return {x.kind for x in leaks}


@pytest.mark.parametrize("data", [
    f"<h1>{NAME}</h1>",
    f"<p>{NAME.upper()}</p>",
    "Thornbury, Lily-Mae",
    gzip.compress(f"<title>{NAME}</title>".encode()),
    f"var t = '{base64.b64encode(NAME.encode()).decode()}';",
    f"data:text/plain;base64,{base64.urlsafe_b64encode(NAME.encode()).decode()}",
    base64.b64encode(gzip.compress(NAME.encode())),
    f"?q={quote(NAME)}",
    "".join(f"&#{ord(c)};" for c in NAME),
    "".join(f"&#x{ord(c):x};" for c in NAME),
    html.escape("<b>Lily-Mae</b> <i>Thornbury</i>"),
    json_escaped := '"\\u004cily-Mae Thornbury"',
], ids=["plain", "upper", "surname-first", "gzip", "base64", "base64url", "b64-gzip", "percent",
        "entities-dec", "entities-hex", "tags-between", "json-escape"])
def test_finds_a_planted_name_however_encoded(tmp_path, secrets, data):
    leaks = scan_one(tmp_path, secrets, "page.html", data)
    assert "name" in kinds(leaks), leaks
    assert all(NAME not in str(x) and "Thornbury" not in str(x) for x in leaks)  # never repeats it
    assert any("P003" in str(x) for x in leaks)


@pytest.mark.parametrize("dob", ["2017-01-30", "30/01/2017", "30.1.2017", "30 January 2017",
                                 "30th Jan 2017", "January 30, 2017", "1/30/2017"])
def test_finds_a_date_of_birth(tmp_path, secrets, dob):
    assert "dob" in kinds(scan_one(tmp_path, secrets, "x.js", f"let d = '{dob}';"))


def test_finds_entry_text_fragments_and_short_bodies(tmp_path, secrets):
    fragment = "her brother locks her in the shed"
    assert "entry-text" in kinds(scan_one(tmp_path, secrets, "a.html", f"<p>...{fragment}...</p>"))
    assert "entry-text" in kinds(scan_one(tmp_path, secrets, "b.json", '{"t": "hit by PEER"}'))
    assert "entry-text" in kinds(scan_one(tmp_path, secrets, "c.txt", quote(fragment)))


def test_finds_a_category_beside_a_pupil(tmp_path, secrets):
    leaks = scan_one(tmp_path, secrets, "nav.html", "<li>P001</li><li>Safeguarding</li>")
    assert "category-pupil" in kinds(leaks)
    # A category alone, or an id alone, is not a pairing.
    assert not scan_one(tmp_path / "2", secrets, "n.html", "<li>Safeguarding</li>")


def test_finds_urls(tmp_path, secrets):
    assert "url" in kinds(scan_one(tmp_path, secrets, "a.css", "@import url(https://fonts.googleapis.com/css)"))
    assert "url" in kinds(scan_one(tmp_path / "2", secrets, "a.js", 'fetch("http:\\/\\/evil.test")'))


@pytest.mark.parametrize("name", ["sitemap.xml", "sitemap.xml.gz", "search/search_index.json", "c/notes.md"])
def test_forbidden_files(tmp_path, secrets, name):
    assert "forbidden-file" in kinds(scan_one(tmp_path, secrets, name, "x"))


def test_404_with_content_is_forbidden_but_a_generic_one_is_not(tmp_path, secrets):
    assert "forbidden-file" in kinds(scan_one(tmp_path, secrets, "404.html",
                                              '<nav><a href="c/x.html">Cases</a></nav><h1>Not found</h1>'))
    assert not scan_one(tmp_path / "2", secrets, "404.html", "<h1>Not found</h1>")


def test_names_and_ids_in_file_names(tmp_path, secrets):
    assert "pupil-id-in-file-name" in kinds(scan_one(tmp_path, secrets, "c/P003.html", "x"))
    assert "name-in-file-name" in kinds(scan_one(tmp_path / "2", secrets, "lily-mae-thornbury/index.html", "x"))


def test_clean_ciphertext_and_generic_text_find_nothing(tmp_path, secrets):
    key = new_content_key()
    folder = tmp_path / "out"
    (folder / "d").mkdir(parents=True)
    blob = b"".join(encrypt_file(key, "b", f"p{i}", os.urandom(4000)) for i in range(200))
    (folder / "d" / "a1b2.js").write_text("cpomsBundle(" + repr(base64.b64encode(blob).decode()) + ");")
    (folder / "raw.bin").write_bytes(os.urandom(200_000))
    (folder / "index.html").write_text("<h1>Records</h1><p>These records are encrypted. Enter the password.</p>")
    assert leakscan.scan(folder, secrets) == []


def test_vendor_files_are_not_read_but_their_paths_are(tmp_path, secrets):
    import material

    src = next((Path(material.__file__).parent / "templates" / "assets" / "javascripts").glob("bundle.*.min.js"))
    folder = tmp_path / "out"
    (folder / "assets").mkdir(parents=True)
    (folder / "assets" / src.name).write_bytes(src.read_bytes())  # holds https:// strings
    assert "url" in kinds(leakscan.scan(folder, secrets))
    assert leakscan.scan(folder, secrets, leakscan.vendor_hashes()) == []
    (folder / "assets" / src.name).write_bytes(src.read_bytes() + b"//" + NAME.encode())
    assert "name" in kinds(leakscan.scan(folder, secrets, leakscan.vendor_hashes()))
