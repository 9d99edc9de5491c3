"""A child-protection file for a school without cpoms-kit: one self-contained, offline HTML file.

The pupil's chronology and the summary of main concerns (what an OpenPGP transfer bundle carries),
laid out for reading and printing, encrypted whole with the chronology site's own crypto and viewer
(`crypto`, `package`: AES-256-GCM, PBKDF2-SHA256, a generated password, the same CSP, Lock, idle
lock, print stylesheet). The viewer, the data and the styles are inlined, so the file opens from
file:// with no network and no folder beside it; the two inline scripts are allowed by their
SHA-256 in the page's Content-Security-Policy, nothing else runs. The built file goes through the
site's leak scan before it is written.

Its first page tells the receiving DSL what to send back (their name, role and school, the day it
was received) and to whom."""

from __future__ import annotations

import base64
import hashlib
import html
import re
from pathlib import Path
from typing import Any, Callable

from cpoms_kit.errors import CpomsError
from cpoms_kit.infra.tmpfs import secure_tmpdir
from cpoms_kit.attachments.files import human_size
from cpoms_kit.site import crypto, package
from cpoms_kit.site.paths import shell_dir

TITLE = "Child protection file (encrypted)"  # in plaintext on the locked page: generic on purpose


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _css() -> str:
    base = Path(shell_dir()).parent / "assets" / "cpoms"
    return "\n".join((base / name).read_text(encoding="utf-8") for name in ("chronology.css", "print.css"))


def _when(iso: str) -> str:
    from datetime import datetime

    return f"{datetime.fromisoformat(iso):%a %d %b %Y %H:%M}"


def render(doc: dict[str, Any]) -> str:
    """The document the password opens: a first page for the receiving DSL, the summary, the
    chronology. `doc` is what lifecycle.transfer_html.contents gives."""
    p, s, sender = doc["pupil"], doc["summary"], doc["sender"]
    staff = doc.get("staff", {})

    def who(sid: str | None) -> str:
        person = staff.get(sid or "")
        return f"{esc(person['name'])} ({esc(person['role'])})" if person else esc(sid)

    first = (
        '<section class="cpoms-transfer-first" aria-labelledby="to-you">'
        '<h2 id="to-you">To the receiving Designated Safeguarding Lead</h2>'
        f"<p>This is the child protection file of <strong>{esc(p['name'])}</strong> (born {esc(p['dob'])}), "
        f"sent by {esc(doc['from_school'])} to {esc(doc['to_school'])} on {esc(_when(doc['sent_at']))}, "
        f"as Keeping Children Safe in Education asks (within five school days of the child starting).</p>"
        "<p><strong>Please confirm that you have received it</strong>, by phone or email, to "
        f"{esc(sender['name'])} ({esc(sender['role'])}), {esc(doc['from_school'])}"
        + (f", {esc(sender['email'])}" if sender.get("email") else "")
        + f". Give: your name, your role, your school, and the date you received it, quoting reference "
        f"<strong>{esc(doc['reference'])}</strong>.</p>"
        "<p>Keep it with your school's safeguarding records, separate from the main pupil file. "
        "Print it from this page if you keep paper records; do not forward the file and its password "
        "together.</p></section>"
    )
    cats = ", ".join(f"{esc(c)} ({n})" for c, n in sorted(s["categories"].items())) or "none"
    summary = (
        '<section aria-labelledby="summary"><h2 id="summary">Summary</h2><dl class="cpoms-transfer-summary">'
        f"<dt>Pupil</dt><dd>{esc(p['name'])}, born {esc(p['dob'])}, year group {esc(p.get('year_group') or '—')}</dd>"
        f"<dt>Entries</dt><dd>{s['entries']} ({s['concerns']} concerns), {esc(s['first'])} to {esc(s['last'])}</dd>"
        f"<dt>By category</dt><dd>{cats}</dd>"
        f"<dt>Case</dt><dd>{esc(s['case_status'] or '—')}{', complex' if s['complex'] else ''}</dd>"
        f"<dt>Open actions</dt><dd>{esc(', '.join(a['action'] or '' for a in s['open_actions']) or 'none')}</dd>"
        "</dl><h3>Main concerns</h3><ul>"
        + "".join(f"<li><time>{esc(m['date'])}</time> {esc(m['type'])}, {esc(m['category'] or '')}"
                  f"{' — HIGH PRIORITY' if m['high_priority'] else ''}: {esc(m['first_line'])}</li>"
                  for m in s["main_concerns"])
        + "</ul></section>"
    )
    items = []
    for e in doc["entries"]:
        roles = ", ".join(esc(r) for r in e["other_roles"])
        items.append(
            f'<li class="cpoms-entry{" cpoms-high" if e["high_priority"] else ""}">'
            f'<div class="cpoms-when">{"<strong class=cpoms-high-badge>HIGH PRIORITY</strong> " if e["high_priority"] else ""}'
            f'<time>{esc(_when(e["occurred_at"]))}</time> <span class="cpoms-recorded">recorded '
            f'{esc(_when(e["recorded_at"]))} by {who(e["recorded_by"])}</span></div>'
            f'<div class="cpoms-meta">{esc(e["type"])}{" (" + esc(e["action"]) + ")" if e["action"] else ""}'
            f'{" · " + esc(e["category"]) if e["category"] else ""}'
            f'{" · " + esc(", ".join(e["subcategories"])) if e["subcategories"] else ""}'
            f'{" · role: " + esc(e["role"]) if e["role"] and e["role"] != "subject" else ""}'
            f'{" · other pupils involved (not named): " + roles if roles else ""}</div>'
            '<div class="cpoms-body">' + "".join(f"<p>{esc(par)}</p>" for par in e["body"].split("\n\n") if par.strip())
            + "</div>" + e.get("fields_html", "") + _files(e.get("files") or []) + "</li>"
        )
    chronology = ('<section aria-labelledby="chronology"><h2 id="chronology">Chronology</h2>'
                  f'<ol class="cpoms-chronology">{"".join(items)}</ol></section>')
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Child protection file: {esc(p['name'])}</title><style>{_css()}</style></head>"
        f'<body><main><h1>Child protection file: {esc(p["name"])}</h1>{first}{summary}{chronology}</main></body></html>'
    )


def _files(files: list[dict[str, Any]]) -> str:
    if not files:
        return ""
    named = "".join(f"<li>{esc(f['name'])} ({esc(f['type'])}, {human_size(int(f['size']))})</li>" for f in files)
    return (f'<div class="cpoms-files"><p class="cpoms-files-title">{len(files)} attached file(s), not in this page: '
            f"ask the sending school for them</p><ul>{named}</ul></div>")


def _csp_with(hashes: list[str]) -> str:
    allowed = " ".join(f"'sha256-{h}'" for h in hashes)
    return package.CSP.replace("script-src 'self' file:", f"script-src {allowed}")


def build(doc: dict[str, Any], password: str, secrets=None) -> bytes:
    """The whole encrypted HTML file for `doc`, opened by `password`. With `secrets`
    (leakscan.Secrets) the site's leak scan runs on what is written (the viewer's own files, which
    hold nothing of a record, are known to it byte for byte) and any finding refuses the file."""
    page = render(doc).encode("utf-8")
    with secure_tmpdir("cpoms-transfer-") as tmp:
        rendered, out = tmp / "rendered", tmp / "out"
        rendered.mkdir()
        (rendered / "index.html").write_bytes(page)
        key = crypto.new_content_key()
        bundle = package.Bundle(name="team", prefix="", entry="index.html", content_key=key,
                                slots=[crypto.wrap_key(key, password, "transfer")])
        package.package_site(rendered, out, [bundle], title=TITLE)
        shell = (out / "index.html").read_text(encoding="utf-8")
        viewer_js = (out / "assets" / "viewer.js").read_text(encoding="utf-8")
        viewer_css = (out / "assets" / "viewer.css").read_text(encoding="utf-8")
        data_js = (out / bundle.data).read_text(encoding="ascii")
        if secrets is not None:
            from cpoms_kit.site import leakscan

            found = leakscan.scan(out, secrets, leakscan.vendor_files())
            if found:
                raise CpomsError(f"the leak scan refused the file ({found[0]}); nothing written")
    return _inline(shell, viewer_js, viewer_css, data_js)


def _inline(shell: str, viewer_js: str, viewer_css: str, data_js: str) -> bytes:
    """One file: the stylesheet and the two scripts moved into the page (the scripts at the end of
    the body, where the page they work on exists), each script allowed by its hash."""
    if "</script" in viewer_js.lower() or "</script" in data_js.lower():
        raise CpomsError("the viewer or the data cannot be put inline in a page")
    hashes = [base64.b64encode(hashlib.sha256(s.encode("utf-8")).digest()).decode("ascii") for s in (viewer_js, data_js)]
    out = re.sub(r'<link rel="stylesheet" href="[^"]*viewer\.css">', lambda _m: f"<style>{viewer_css}</style>", shell)
    out = re.sub(r'<script defer src="[^"]*"></script>\n?', "", out)
    out = out.replace("</body>", f"<script>{viewer_js}</script>\n<script>{data_js}</script>\n</body>")
    csp = html.escape(package.CSP, quote=False).replace('"', "&quot;")
    if csp not in out or out.count("<script>") != 2:
        raise CpomsError("the viewer's page is not the one the kit makes")
    return out.replace(csp, html.escape(_csp_with(hashes), quote=False).replace('"', "&quot;")).encode("utf-8")


def maker(store) -> Callable[[dict[str, Any], str], bytes]:
    """What `lifecycle.transfer_html.send` calls: build the file, then the site's leak scan of it
    (every pupil's name and date of birth, staff names, entry text): a finding refuses the file."""
    from cpoms_kit.site import leakscan

    def make(doc: dict[str, Any], password: str) -> bytes:
        secrets = leakscan.Secrets.from_records(store.pupils().values(), store.entries().entries,
                                                list(store.categories), store.staff().values())
        return build(doc, password, secrets)

    return make
