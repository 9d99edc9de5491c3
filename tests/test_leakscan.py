"""The leak scan on its own: it must find each kind of leak however it is encoded (it can fail),
and find nothing in ciphertext, generic pages and vendor files (it must not cry wolf)."""

from __future__ import annotations

import base64
import gzip
import html
import json
import os
from datetime import date
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import quote

import pytest
from hypothesis import given, settings, strategies as st

from cpoms_kit.site import leakscan
from cpoms_kit.site.crypto import encrypt_file, new_content_key

NAME = "Lily-Mae Thornbury"
BODY = "Lily-Mae said her brother locks her in the shed when mum works nights"


@pytest.fixture(scope="module")
def secrets():
    pupils = [SimpleNamespace(id="P003", name=NAME, dob=date(2017, 1, 30)),
              SimpleNamespace(id="P001", name="Samira Okonkwo-Bright", dob="2016-04-01"),
              SimpleNamespace(id="P004", name="Zo\u00eb \u00c5ngstr\u00f6m", dob=date(2016, 9, 12))]
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


# -- the shortcuts ----------------------------------------------------------------------------
# What decodes to binary is read only for its islands of text (and gzip streams in it); short
# base64 runs and text views are worked out once per scan; text that is ASCII but for characters
# no pattern matches takes a fast path. Each test below hides a leak where a shortcut might skip it.

def _ciphertext(size: int = 4000) -> bytes:
    blob = encrypt_file(new_content_key(), "b", "p", os.urandom(size))
    return blob[: len(blob) // 3 * 3]  # whole base64 quads, so what is appended decodes in step


def _bundle(*blobs: bytes) -> str:
    files = [base64.b64encode(b).decode() for b in blobs]
    return "cpomsBundle(" + json.dumps({"v": 1, "id": "a1b2", "files": files}, separators=(",", ":")) + ");\n"


@pytest.mark.parametrize("blob, pid", [
    (lambda: _ciphertext() + f" {NAME} ".encode(), "P003"),
    (lambda: f" {NAME} ".encode() + _ciphertext(), "P003"),
    (lambda: _ciphertext() + f"<li>{NAME}</li>".encode() + _ciphertext(), "P003"),
    (lambda: _ciphertext() + gzip.compress(f"<h1>{NAME}</h1>".encode()) + _ciphertext(), "P003"),
    (lambda: _ciphertext() + b" " + base64.b64encode(NAME.encode()) + b" " + _ciphertext(), "P003"),
    (lambda: gzip.compress(f"<h1>{NAME}</h1>".encode() * 50), "P003"),
    (lambda: _ciphertext() + " Zoë Ångström was upset at lunch ".encode() + _ciphertext(), "P004"),
], ids=["after-ciphertext", "before-ciphertext", "between-ciphertext", "gzip-inside-binary",
        "base64-inside-binary", "base64-of-gzip", "accented-inside-binary"])
def test_finds_plaintext_beside_ciphertext_in_a_bundle(tmp_path, secrets, blob, pid):
    leaks = scan_one(tmp_path, secrets, "d/a1b2.js", _bundle(_ciphertext(), blob(), _ciphertext(300)))
    assert "name" in kinds(leaks), leaks
    assert any(pid in str(x) for x in leaks)


def test_finds_base64_of_a_name_spliced_into_a_long_base64_run(tmp_path, secrets):
    hidden = f" {NAME} ".encode()
    hidden += b" " * (-len(hidden) % 3)
    run = base64.b64encode(_ciphertext()) + base64.b64encode(hidden) + base64.b64encode(_ciphertext(20_000))
    assert b"=" not in run and len(run) > 30_000  # one unbroken run, random-looking throughout
    leaks = scan_one(tmp_path, secrets, "d/a1b2.js", f'cpomsBundle({{"v":1,"files":["{run.decode()}"]}});')
    assert "name" in kinds(leaks), leaks


def test_finds_entry_text_and_dates_beside_ciphertext(tmp_path, secrets):
    page = f"<p>{BODY}</p><p>Born 30/01/2017</p>".encode()
    leaks = scan_one(tmp_path, secrets, "d/a1b2.js", _bundle(_ciphertext() + page + _ciphertext()))
    assert {"entry-text", "dob"} <= kinds(leaks), leaks


def test_words_joined_by_plus_in_a_long_run_are_still_read(tmp_path, secrets):
    # Decodes (as base64) to noise, but is not random-looking: kept for the word scan.
    run = ("+".join(["nothing"] * 20) + "+Lily+Mae+Thornbury+" + "+".join(["nothing"] * 20))
    assert "name" in kinds(scan_one(tmp_path, secrets, "d/a1b2.js", f'x("{run}");'))


def test_remembered_runs_and_views_are_reported_for_every_file(tmp_path, secrets):
    folder = tmp_path / "out"
    (folder / "c").mkdir(parents=True)
    hidden = base64.b64encode(NAME.encode()).decode()
    page = '<!doctype html><html data-bundle="{}"><body><p title="{}">These records are encrypted.</p>{}</body></html>'
    files = {
        "a.html": page.format("1a2b", "", f"<i>{hidden}</i>"),  # the same run in two files
        "b.html": page.format("3c4d", "", ""),
        "c.html": page.format("5e6f", "", f"<i>{hidden}</i>"),
        "d.html": page.format("7a8b", NAME, ""),  # only in an attribute: its tag-free view is b's
        "e.html": page.format("9c0d", "", ""),
    }
    for name, text in files.items():
        (folder / "c" / name).write_text(text)
    leaks = leakscan.scan(folder, secrets)
    assert {x.path for x in leaks if x.kind == "name"} == {"c/a.html", "c/c.html", "c/d.html"}
    assert {x.path for x in leaks} == {"c/a.html", "c/c.html", "c/d.html"}


@pytest.mark.parametrize("text, kind", [
    ("Lily-Mae \u2192 Thornbury", "name"),  # arrow: ASCII fast path
    ("\u201cLily-Mae\u201d\u2014Thornbury", "name"),
    ("born \u2190 30/01/2017 \u2192", "dob"),
    ("\u00abhttps://evil.test\u00bb", "url"),
    ("\ufffd\ufffdhit by peer\ufffd", "entry-text"),
    ("P001 \u2022 Safeguarding", "category-pupil"),
    ("born 30\u00a0January\u00a02017", "dob"),  # no-break spaces: the general path
    ("Lily-Mae Thornbury, n\u00e9e Smith", "name"),
    ("Zo\u00eb \u00c5ngstr\u00f6m", "name"),
    ("\uff12\uff10\uff11\uff17-\uff10\uff11-\uff13\uff10", "dob"),  # full-width digits
], ids=["arrow", "quotes-dash", "dob-arrows", "url-guillemets", "replacement-chars", "bullet",
        "nbsp", "accent-elsewhere", "accented-name", "fullwidth-dob"])
def test_text_with_non_ascii_characters(tmp_path, secrets, text, kind):
    assert kind in kinds(scan_one(tmp_path, secrets, "p.html", f"<p>{text}</p>"))


def test_files_differing_only_in_random_names_are_read_once_and_anything_else_is_read(tmp_path, secrets):
    """Shell pages differ only in the kit's long hex names, so one is read for all of them; a file
    of the same shape that differs anywhere else (a name) is read, and its leak found."""
    import secrets as rnd

    def shell(extra: str = "") -> str:
        return (f'<html data-bundle="{rnd.token_hex(10)}"><script src="../d/{rnd.token_hex(10)}.js"></script>'
                f"<h1>Records</h1>{extra}</html>")

    folder = tmp_path / "out"
    (folder / "c").mkdir(parents=True)
    for _ in range(5):
        (folder / "c" / f"{rnd.token_hex(10)}.html").write_text(shell())
    assert leakscan.scan(folder, secrets) == []
    (folder / "c" / f"{rnd.token_hex(10)}.html").write_text(shell(f"<p>{NAME}</p>"))
    leaks = leakscan.scan(folder, secrets)
    assert [x.kind for x in leaks] == ["name"] and leaks[0].path.startswith("c/")
    # Hex runs are only ever the kit's own names: a name spelt out elsewhere in one is still found.
    (folder / "c" / f"{rnd.token_hex(10)}.html").write_text(shell().replace("Records", NAME))
    assert len(leakscan.scan(folder, secrets)) == 2


# -- the fast tokeniser against the plain one ---------------------------------------------------------
_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=200) | st.sampled_from(
    ["Straße ΣΊΣΥΦΟΣ İstanbul ﬁne ǅemal", "Siobhán O'Brien-Ngata said nobody", ""])


@settings(max_examples=300, deadline=None)
@given(_TEXT)
def test_words_of_equals_folding_each_word(text):
    from cpoms_kit.site.leakscan import WORD, words_of

    assert words_of(text) == [w.casefold() for w in WORD.findall(text)]


@settings(max_examples=100, deadline=None)
@given(st.lists(_TEXT, max_size=6))
def test_shingles_equal_every_slice(bodies):
    from cpoms_kit.site.leakscan import SHINGLE, Secrets, fold, words_of

    entries = [SimpleNamespace(id=f"E{i}", body=b) for i, b in enumerate(bodies)]
    expected: dict = {}
    for e in entries:
        for body in (e.body, fold(e.body)):  # as written and as read
            words = tuple(words_of(body))
            if len(words) < SHINGLE:
                if len(words) >= 3:
                    expected[words] = e.id
                continue
            for i in range(len(words) - SHINGLE + 1):
                expected[words[i:i + SHINGLE]] = e.id
    assert Secrets.from_records([], entries).shingles == expected


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([b"a", b"0", b"f9", b"G", b"+", b"<", b"\xc3", b"deadbeef" * 2, b"0123456789abcde"]),
                max_size=60).map(b"".join))
def test_shape_is_the_hex_name_regex_done_fast(data):
    """The scan's de-duplication key: the fast way gives the regex's answer on any bytes (a run
    that decodes to something readable is kept: it is not one of the kit's random names)."""
    from cpoms_kit.site.leakscan.decoding import hex_decoded, opaque

    def name(m):
        return b"0" if all(opaque(d) for d in hex_decoded(m.group())) else m.group()

    assert leakscan.shape(data) == leakscan.HEX_NAME.sub(name, data)
