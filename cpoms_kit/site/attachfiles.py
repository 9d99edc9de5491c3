"""An entry's files and fields in the chronology. Each case's page shows its entries' photographs
in the page, PDFs in the browser's own viewer, and offers every file to download; the files are decrypted into the case's own
folder of the rendered site (tmpfs), so they are encrypted with the case's key inside the case's
bundle like its pages, and the viewer turns them into Blob URLs that Lock revokes. A plugin's
entry field (the body map) is drawn by its plugin's `html`, already escaped."""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING

from cpoms_kit.attachments.files import Attached, human_size, of
from cpoms_kit.model import Entry

if TYPE_CHECKING:
    from cpoms_kit.site.content import SiteView

# What every browser draws in an <img>: shown in the page. Anything else is offered to download.
IMAGES = {"image/png": ".png", "image/jpeg": ".jpg", "image/gif": ".gif", "image/webp": ".webp", "image/bmp": ".bmp"}
EXTENSIONS = {"application/pdf": ".pdf", "message/rfc822": ".eml", "text/plain": ".txt"}
VIEWABLE = {"application/pdf"}  # shown by the browser's own PDF viewer, from memory, in place of the page
FOLDER = "files"
TEXTS = {"text/plain", "message/rfc822"}  # files whose words the leak scan looks for, as entry text
SCANNED = 1_000_000  # characters of each: an email or a note, not a book


def href(att: Attached) -> str:
    """The file's place beside its case page; the name is the opaque id, never the file's own."""
    return f"{FOLDER}/{att.id}{IMAGES.get(att.type) or EXTENSIONS.get(att.type, '.bin')}"


def files_html(e: Entry) -> str:
    atts = of(e)
    if not atts:
        return ""
    items = []
    for a in atts:
        name, kind = html.escape(a.name), html.escape(a.type)
        if a.type in IMAGES:
            items.append(f'<li><figure class="cpoms-image"><img src="{href(a)}" alt="Attached image: {name}">'
                         f"<figcaption>{name} ({human_size(a.size)})</figcaption></figure></li>")
        else:
            view = (f'<a href="{href(a)}" data-cpoms-view="{name}">View {name}</a> · ' if a.type in VIEWABLE else "")
            items.append(f'<li>{view}<a href="{href(a)}" download="{name}" data-cpoms-file>Download {name}</a> '
                         f"<span class=\"cpoms-file-kind\">({kind}, {human_size(a.size)})</span></li>")
    return f'<div class="cpoms-files"><p class="cpoms-files-title">Attached</p><ul>{"".join(items)}</ul></div>'


def fields_html(view: "SiteView", e: Entry) -> str:
    out = []
    for fid, field in view.entry_fields.items():
        value = e.extra.get(fid)
        if value not in (None, [], ""):
            out.append(f'<div class="cpoms-field cpoms-field-{html.escape(fid)}">{field.html(value)}</div>')
    return "".join(out)


def place(view: "SiteView", site_dir: Path) -> int:
    """Decrypt the files of every case page rendered into that page's folder; how many."""
    if view.open_file is None:
        return 0
    placed = 0
    for pid, path in view.case_paths.items():
        if view.render_cases is not None and pid not in view.render_cases:
            continue
        folder = site_dir / path.rsplit("/", 1)[0] / FOLDER
        for e in view.entries_for(pid):
            for att in of(e):
                folder.mkdir(mode=0o700, parents=True, exist_ok=True)
                dest = folder / href(att).rsplit("/", 1)[1]
                view.open_file(att, dest)
                if att.type in TEXTS:
                    view.file_texts.append((e.id, dest.read_text("utf-8", errors="replace")[:SCANNED]))
                elif att.type == "application/pdf":
                    view.file_texts.append((e.id, pdf_text(dest)))
                placed += 1
    return placed


def pdf_text(path: Path) -> str:
    """A PDF's text layer (what a scanned form has none of), for the leak scan: "" if unreadable."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    out: list[str] = []
    try:
        for page in PdfReader(path).pages:
            out.append(page.extract_text() or "")
            if sum(map(len, out)) >= SCANNED:
                break
    except (PyPdfError, ValueError, KeyError, TypeError, OSError):
        return "\n".join(out)  # a damaged PDF: what could be read is still looked for
    return "\n".join(out)[:SCANNED]


def words(view: "SiteView") -> list[tuple[str, str]]:
    """(entry id, text) of what the leak scan must look for besides entry text: the files' words
    read while placing them, and every plugin field's words (a mark's "fell off my bike")."""
    out = list(view.file_texts)
    for e in view.entries:
        for fid, field in view.entry_fields.items():
            if e.extra.get(fid) not in (None, [], ""):
                out += [(e.id, text) for text in field.words(e.extra[fid])]
    return out
