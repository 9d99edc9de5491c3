"""The leak scan on its own: it must find each kind of leak however it is encoded (it can fail),
and find nothing in ciphertext, generic pages and vendor files (it must not cry wolf)."""

from __future__ import annotations

import base64
import gzip
import html
import json
import os
import zlib
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


# -- what a human would read (issue 16, point 5) ------------------------------------------------
# Each of these passed the scan before: a reader sees the name, the scan saw other words or bytes.

def _hide(text: str) -> str:
    """Every character of `text` percent-encoded, then the '%' encoded again: "%254C%2569..."."""
    return "".join(f"%25{b:02X}" for b in text.encode())


@pytest.mark.parametrize("data", [
    "<p>Lily-Mae Thorn\u00adbury</p>",  # soft hyphen
    "<p>Lily-Mae Thorn&shy;bury</p>",
    "<p>Lily-Mae Thorn\u200bbury</p>",  # zero-width space
    "<p>Li\u2060ly-Mae Thorn\ufeffbury</p>",  # word joiner, byte-order mark
    "<p>Lily-Mae Th\u043ernbury</p>",  # Cyrillic o
    "<p>\u041c\u0430\u0435</p><p>L\u0456ly-\u041c\u0430\u0435 \u03a4h\u03bfrnbury</p>",  # Cyrillic and Greek
    "<p>\uff2c\uff49\uff4c\uff59-\uff2d\uff41\uff45 \uff34\uff48\uff4f\uff52\uff4e\uff42\uff55\uff52\uff59</p>",  # full width
    "<p>Lily-Mae Thorn<span>bury</span></p>",  # split across tags
    "<p>Lily-Mae <b>Thorn</b><i>bury</i></p>",
    "<p>Lily-Mae Thorn<!-- -->bury</p>",
    "var t = '\\x4c\\x69\\x6c\\x79-Mae Thornbury';",  # JS byte escapes
], ids=["soft-hyphen", "shy-entity", "zero-width-space", "word-joiner-bom", "cyrillic-o", "cyrillic-greek",
        "fullwidth", "split-span", "split-b-i", "split-comment", "js-x-escapes"])
def test_finds_a_name_as_a_reader_sees_it(tmp_path, secrets, data):
    leaks = scan_one(tmp_path, secrets, "page.html", data)
    assert "name" in kinds(leaks) and any("P003" in str(x) for x in leaks), leaks


@pytest.mark.parametrize("text", ["Zoe Angstrom", "Zoe\u0308 A\u030angstro\u0308m", "ZO\u00cb \u0104NGSTR\u00d6M"],
                         ids=["no-accents", "combining-accents", "other-accents"])
def test_finds_an_accented_name_however_accented(tmp_path, secrets, text):
    assert "name" in kinds(scan_one(tmp_path, secrets, "p.html", f"<p>{text}</p>"))


@pytest.mark.parametrize("data", [
    lambda: zlib.compress(f"<h1>{NAME}</h1>".encode()),
    lambda: f"x('{base64.b64encode(zlib.compress(NAME.encode())).decode()}');".encode(),
    lambda: f"<p data-x='{NAME.encode().hex()}'></p>".encode(),
    lambda: f"id={NAME.encode().hex().upper()};".encode(),
    lambda: f"id=fad{NAME.encode().hex()};".encode(),  # glued to a word of hex digits: an odd run
    lambda: f"<p>{NAME}</p>".encode("utf-16-le"),
    lambda: f"<p>{NAME}</p>".encode("utf-16"),  # with a byte-order mark
    lambda: f"<p>{NAME}</p>".encode("utf-16-be"),
    lambda: base64.b64encode(f"<p>{NAME}</p>".encode("utf-16-le")),
    lambda: f"?q={_hide(NAME)}".encode(),  # %254C: percent-encoded twice
    lambda: f"?q={quote(quote(NAME))}".encode(),  # %2520 between the words
], ids=["zlib", "base64-zlib", "hex", "hex-upper", "hex-odd", "utf-16-le", "utf-16-bom", "utf-16-be",
        "base64-utf-16", "double-percent", "double-percent-space"])
def test_finds_a_name_through_more_encodings(tmp_path, secrets, data):
    leaks = scan_one(tmp_path, secrets, "x.bin", data())
    assert "name" in kinds(leaks) and any("P003" in str(x) for x in leaks), leaks
    assert all(NAME not in str(x) and "Thornbury" not in str(x) for x in leaks)


def test_finds_a_hex_encoded_name_in_a_file_shaped_like_one_already_read(tmp_path, secrets):
    """Shell pages differing only in hex names are read once; what a hex run decodes to is still read."""
    folder = tmp_path / "out"
    (folder / "c").mkdir(parents=True)
    (folder / "c" / "a.html").write_text(f'<html data-bundle="{os.urandom(10).hex()}"><h1>Records</h1></html>')
    (folder / "c" / "b.html").write_text(f'<html data-bundle="{NAME.encode().hex()}"><h1>Records</h1></html>')
    assert [(x.path, x.kind) for x in leakscan.scan(folder, secrets)] == [("c/b.html", "name")]


@pytest.fixture(scope="module")
def staff_secrets():
    pupils = [SimpleNamespace(id="P003", name=NAME, dob=date(2017, 1, 30))]
    staff = [SimpleNamespace(id="rpatel", name="Raj Patel"), SimpleNamespace(id="dquayle", name="Dan Quayle-Reid"),
             SimpleNamespace(id="office", name="Office")]  # one word: too common to look for
    return leakscan.Secrets.from_records(pupils, [], [], staff=staff)


@pytest.mark.parametrize("text, sid", [("Raj Patel", "rpatel"), ("PATEL, Raj", "rpatel"), ("Dan Quayle-Reid", "dquayle"),
                                       ("R\u0430j P\u0430tel", "rpatel")])
def test_finds_staff_names(tmp_path, staff_secrets, text, sid):
    leaks = scan_one(tmp_path, staff_secrets, "index.html", f"<p>Recorded by {text}</p>")
    assert [(x.kind, x.detail) for x in leaks] == [("staff-name", f"staff {sid}")]
    assert "Patel" not in str(leaks[0])
    assert not scan_one(tmp_path / "2", staff_secrets, "index.html", "<p>Office hours: ask Raj or Mr Patel</p>")


@pytest.mark.parametrize("text", ["20170130", "dob=30012017;", "id_20170130", "\uff12\uff10\uff11\uff17\uff10\uff11\uff13\uff10"])
def test_finds_a_date_of_birth_written_as_eight_digits(tmp_path, secrets, text):
    leaks = scan_one(tmp_path, secrets, "x.js", f"let d = '{text}';")
    assert ("dob", "pupil P003") in {(x.kind, x.detail) for x in leaks}, leaks


def test_eight_digits_that_are_not_a_date_of_birth_find_nothing(tmp_path, secrets):
    assert not scan_one(tmp_path, secrets, "x.js", "let d = ['20170131', '201701301', '1700000000', '30012016'];")


def test_every_format_character_is_invisible_to_the_scan():
    import sys
    import unicodedata

    from cpoms_kit.site.leakscan.normalise import INVISIBLE

    missing = [hex(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Cf"
               and not INVISIBLE.fullmatch(chr(c))]
    assert not missing


def test_the_generic_shell_and_theme_assets_find_nothing_new(tmp_path, secrets, staff_secrets):
    """No false positive on the kit's own shell and the theme's assets read as output files (not as
    vendor files): only the URLs their source mentions, as before."""
    import material

    from cpoms_kit.site.paths import shell_dir

    theme = Path(material.__file__).parent / "templates" / "assets"
    sources = [*shell_dir().iterdir(), *(theme / "javascripts").rglob("*.js"), *(theme / "stylesheets").rglob("*.css")]
    folder = tmp_path / "out"
    folder.mkdir()
    for i, src in enumerate(s for s in sources if s.is_file()):
        (folder / f"{i}{src.suffix}").write_bytes(src.read_bytes())
    for found in (leakscan.scan(folder, secrets), leakscan.scan(folder, staff_secrets)):
        assert kinds(found) <= {"url"}, [x for x in found if x.kind != "url"]


def test_a_title_holding_a_name_is_refused_before_anything_is_built(cpoms, tmp_path):
    toml = cpoms.repo / "cpoms.toml"
    base = toml.read_text()
    out = tmp_path / "site"
    for title, who in [("Sami\\u00adra Okonkwo-Bright", "pupil P001"), ("Records of Alison Lead", "staff dsl1"),
                       ("Jack P\\u0435nnywh\\u0456stle", "pupil P002")]:
        toml.write_text(base + f'\n[site]\ntitle = "{title}"\n')
        res = cpoms.fails("site", "build", "--out", str(out))
        assert "[site] title" in res.stderr and who in res.stderr, res.stderr
        assert "Okonkwo" not in res.stderr and "Lead" not in res.stderr and "stle" not in res.stderr
        assert not out.exists() and not (cpoms.repo / "site").exists()


def test_a_generic_title_is_accepted(secrets):
    pupils = [SimpleNamespace(id="P003", name=NAME, dob=date(2017, 1, 30))]
    staff = [SimpleNamespace(id="rpatel", name="Raj Patel")]
    for title in ("Records", "Follifoot Primary: safeguarding chronology", "DSL team 2026-27"):
        leakscan.refuse_secrets_in_setting("[site] title", title, pupils, staff)


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
    """The scan's de-duplication key: the fast way gives the regex's answer on any bytes."""
    assert leakscan.shape(data) == leakscan.HEX_NAME.sub(b"0", data)
