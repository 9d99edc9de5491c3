"""The body map: marks seen on a child, on a front and back outline the kit draws (child-proportioned,
never a photograph), each with a region from a fixed list, a kind, a size, a colour and the child's
explanation in their own words. Recorded with `cpoms add --mark "left upper arm:bruise:3cm:
yellow-green:'fell off my bike'"` (repeatable), kept in the entry's encrypted front matter as
`body_map`, drawn as an accessible SVG in the chronology. A lint check asks for the size and the
child's words, as the policy asks for facts in the pupil's own words.

Regions are named as the child's own left and right, as on paper body maps: on the front outline
the child's left is on the reader's right; on the back outline it is on the reader's left.
"""

from __future__ import annotations

import difflib
import html
import re
from typing import Any

from cpoms_kit.errors import InputError
from cpoms_kit.hookspecs import hookimpl
from cpoms_kit.pluginhost.contracts import EntryFieldBase
from cpoms_kit.policy.lint import LintContext, LintFinding

KINDS = ("bruise", "cut", "burn", "mark", "swelling", "other")
MAX_CM = 100.0
FIELD = "body_map"

# region -> (side, x, y): x from the outline's centre line, + towards the reader's right.
_FRONT = {
    "head-top": (0, 14), "forehead": (0, 28), "left-eye": (12, 40), "right-eye": (-12, 40), "nose": (0, 50),
    "left-cheek": (20, 55), "right-cheek": (-20, 55), "mouth": (0, 63), "chin": (0, 73), "left-ear": (33, 45),
    "right-ear": (-33, 45), "neck-front": (0, 85), "left-shoulder": (40, 100), "right-shoulder": (-40, 100),
    "chest": (0, 122), "abdomen": (0, 175), "groin": (0, 207), "left-upper-arm": (53, 130),
    "right-upper-arm": (-53, 130), "left-elbow": (56, 158), "right-elbow": (-56, 158), "left-forearm": (58, 182),
    "right-forearm": (-58, 182), "left-wrist": (60, 204), "right-wrist": (-60, 204), "left-hand": (62, 222),
    "right-hand": (-62, 222), "left-thigh": (19, 248), "right-thigh": (-19, 248), "left-knee": (19, 290),
    "right-knee": (-19, 290), "left-shin": (19, 325), "right-shin": (-19, 325), "left-ankle": (19, 358),
    "right-ankle": (-19, 358), "left-foot": (21, 374), "right-foot": (-21, 374),
}
_BACK = {
    "back-of-head": (0, 40), "neck-back": (0, 85), "left-shoulder-blade": (-22, 115),
    "right-shoulder-blade": (22, 115), "upper-back": (0, 140), "lower-back": (0, 185), "buttocks": (0, 212),
    "left-back-of-arm": (-53, 135), "right-back-of-arm": (53, 135), "left-back-of-thigh": (-19, 252),
    "right-back-of-thigh": (19, 252), "left-back-of-knee": (-19, 290), "right-back-of-knee": (19, 290),
    "left-calf": (-19, 322), "right-calf": (19, 322), "left-heel": (-19, 372), "right-heel": (19, 372),
}
REGIONS: dict[str, tuple[str, int, int]] = {**{r: ("front", *xy) for r, xy in _FRONT.items()},
                                            **{r: ("back", *xy) for r, xy in _BACK.items()}}
_ALIASES = {"face-left-cheek": "left-cheek", "face-right-cheek": "right-cheek", "head-face-left-cheek": "left-cheek",
            "head-face-right-cheek": "right-cheek", "stomach": "abdomen", "tummy": "abdomen", "bottom": "buttocks",
            "back": "upper-back", "neck": "neck-front", "head": "head-top", "face": "nose"}
# A mark is typed on one line, so any control character (a newline too) is refused there; the child's
# words read back from older entries may hold a newline or tab, which the chronology shows as a space.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_READ = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _region(text: str, what: str = "--mark") -> str:
    key = re.sub(r"[\s_]+", "-", text.strip().lower())
    key = _ALIASES.get(key, key)
    if key in REGIONS:
        return key
    near = difflib.get_close_matches(key, list(REGIONS), n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(near)}?" if near else " (see `cpoms add --help`: regions like left-upper-arm)"
    raise InputError(f"{what}: unknown body region {text.strip()!r}{hint}")


def _kind(text: str, what: str = "--mark") -> str:
    kind = text.strip().lower()
    if kind not in KINDS:
        raise InputError(f"{what}: kind {text.strip()!r} must be one of {', '.join(KINDS)}")
    return kind


def _size(text: str) -> float | None:
    t = text.strip().lower().replace(" ", "")
    if not t:
        return None
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(cm|mm)?", t)
    if not m:
        raise InputError(f"--mark: size {text.strip()!r} must be a length like 3cm, 2.5 cm or 30mm")
    return _cm(float(m.group(1)) / (10 if m.group(2) == "mm" else 1), text.strip(), "--mark")


def _cm(cm: float, shown: str, what: str) -> float:
    # Compared before float(): a 400-digit integer in front matter would overflow it. NaN fails too.
    if not 0 < cm <= MAX_CM:
        raise InputError(f"{what}: size {shown!r} must be more than 0 and at most {MAX_CM:g} cm")
    return float(cm)


def _unquote(text: str) -> str:
    t = text.strip()
    # Outer quotes go only when they are the only ones: in "Dad" said "stop" they are the child's
    # own, and an apostrophe between letters (didn't) is no quotation mark.
    if len(t) >= 2 and t[0] == t[-1] and t[0] in "'\"":
        inner = t[1:-1]
        if not re.search(rf"(?<!\w){t[0]}|{t[0]}(?!\w)", inner):
            t = inner.strip()
    return t


def parse_mark(text: str) -> dict[str, Any]:
    """`REGION:KIND[:SIZE[:COLOUR[:'WORDS']]]`; the child's words may hold colons of their own."""
    if _CONTROL.search(text):
        raise InputError("--mark holds a control character; type the mark on one line")
    parts = text.split(":", 4)
    if len(parts) < 2 or not parts[0].strip() or not parts[1].strip():
        raise InputError(f"--mark {text!r} needs at least REGION:KIND, e.g. \"left upper arm:bruise:3cm:yellow-green:"
                         "'fell off my bike'\"")
    parts += [""] * (5 - len(parts))
    kind = _kind(parts[1])
    region = _region(parts[0])
    return {"region": region, "side": REGIONS[region][0], "kind": kind, "size_cm": _size(parts[2]),
            "colour": parts[3].strip(), "explanation": _unquote(parts[4])}


def check_marks(value: Any) -> list[dict[str, Any]]:
    """A `body_map` value read back (front matter, a template): checked as `--mark` checks, field by
    field, not rebuilt as a `--mark` text: a colon in the colour or quotes round the child's words
    must come back as they were written."""
    if not isinstance(value, list):
        raise InputError("body_map must be a list of marks")
    out = []
    for n, mark in enumerate(value, 1):
        what = f"body_map mark {n}"
        if not isinstance(mark, dict) or not isinstance(mark.get("region"), str) or not isinstance(mark.get("kind"), str):
            raise InputError(f"{what} needs a region and a kind")
        texts: dict[str, str] = {}
        for key in ("region", "kind", "colour", "explanation"):
            text = "" if mark.get(key) is None else mark[key]
            if not isinstance(text, str):
                raise InputError(f"{what}: {key} must be text")
            texts[key] = text
        if any(_CONTROL_READ.search(t) for t in texts.values()) or _CONTROL.search(texts["region"] + texts["kind"]):
            raise InputError(f"{what} holds a control character")
        size = mark.get("size_cm")
        if size is not None and (isinstance(size, bool) or not isinstance(size, (int, float))):
            raise InputError(f"{what}: size_cm must be a number of cm")
        region = _region(texts["region"], what)
        out.append({"region": region, "side": REGIONS[region][0], "kind": _kind(texts["kind"], what),
                    "size_cm": None if size is None else _cm(size, f"{size}", what),
                    "colour": texts["colour"].strip(), "explanation": texts["explanation"].strip()})
    return out


def _words(mark: dict[str, Any]) -> str:
    region = mark["region"].replace("-", " ")
    size = f", {mark['size_cm']:g} cm" if mark.get("size_cm") else ", size not recorded"
    colour = f", {mark['colour']}" if mark.get("colour") else ""
    said = f" — “{mark['explanation']}”" if mark.get("explanation") else " — no explanation recorded"
    return f"{region} ({mark['side']}): {mark['kind']}{size}{colour}{said}"


def marks_text(marks: list[dict[str, Any]]) -> list[str]:
    return [f"{n}. {_words(m)}" for n, m in enumerate(marks, 1)]


STROKE, MARK = "#595959", "#a3001b"  # 7:1 and 7.6:1 against white (WCAG 1.4.11 asks 3:1)


def _outline(cx: int) -> str:
    """A child's outline (head about a fifth of the height), drawn about the centre line `cx`."""
    limbs = [  # (x offsets, y) polygons for arms and legs, mirrored
        ((38, 92), (50, 95), (66, 200), (68, 230), (56, 232), (52, 205), (40, 120)),
        ((6, 212), (36, 212), (32, 360), (34, 382), (10, 382), (10, 360)),
    ]
    shapes = [f'<circle cx="{cx}" cy="45" r="33"/>', f'<rect x="{cx - 10}" y="76" width="20" height="16"/>',
              f'<path d="M{cx - 44} 92 H{cx + 44} L{cx + 38} 215 H{cx - 38} Z"/>']
    for limb in limbs:
        for sign in (1, -1):
            points = " ".join(f"{cx + sign * x},{y}" for x, y in limb)
            shapes.append(f'<polygon points="{points}"/>')
    return f'<g fill="#ffffff" stroke="{STROKE}" stroke-width="2">{"".join(shapes)}</g>'


# Where the 2nd, 3rd... mark on one region goes, from the region's point: fingertip bruising puts
# several marks on one upper arm, and each number must stay readable.
_NUDGE = ((13, -13), (-13, 13), (13, 13), (-13, -13), (0, -18), (0, 18), (18, 0), (-18, 0))


def marks_svg(marks: list[dict[str, Any]], *, title: str = "Body map") -> str:
    centres = {"front": 105, "back": 315}
    lines = marks_text(marks)
    dots = []
    seen: dict[str, int] = {}
    for n, mark in enumerate(marks, 1):
        side, x, y = REGIONS[mark["region"]]
        k = seen[mark["region"]] = seen.get(mark["region"], -1) + 1
        ring, i = divmod(k - 1, len(_NUDGE))
        dx, dy = (0, 0) if k == 0 else _NUDGE[i]
        # Kept inside the drawing (and above the labels) however many marks share a region.
        px, y = min(max(centres[side] + x + dx * (ring + 1), 10), 410), min(max(y + dy * (ring + 1), 10), 390)
        dots.append(f'<g class="cpoms-mark"><circle cx="{px}" cy="{y}" r="9" fill="{MARK}"/>'
                    f'<text x="{px}" y="{y + 4}" text-anchor="middle" font-size="11" fill="#ffffff">{n}</text></g>')
    labels = "".join(f'<text x="{cx}" y="405" text-anchor="middle" font-size="14" fill="#1f1f1f">{side.title()}</text>'
                     for side, cx in centres.items())
    desc = html.escape("; ".join(lines) if lines else "No marks.")
    # aria-label, not aria-labelledby: a page with two body maps would repeat the ids.
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 420 412" width="420" height="412" role="img" '
            f'aria-label="{html.escape(title)}: {desc}"><title>{html.escape(title)}</title><desc>{desc}</desc>'
            f'{_outline(centres["front"])}{_outline(centres["back"])}{labels}{"".join(dots)}</svg>')


class BodyMapField(EntryFieldBase):
    id = FIELD
    option = "mark"
    example = "left upper arm:bruise:3cm:yellow-green:'fell off my bike'"
    description = "Marks on a front and back body outline: region, kind, size, colour, the child's words"

    def parse(self, texts: list[str]) -> list[dict[str, Any]]:
        return [parse_mark(t) for t in texts]

    def check(self, value: Any) -> list[dict[str, Any]]:
        return check_marks(value)

    def html(self, value: Any) -> str:
        marks = check_marks(value)
        items = "".join(f"<li>{html.escape(line.split('. ', 1)[1])}</li>" for line in marks_text(marks))
        return (f'<figure class="cpoms-body-map">{marks_svg(marks)}<figcaption>Body map: {len(marks)} '
                f'mark{"s" if len(marks) != 1 else ""}<ol>{items}</ol></figcaption></figure>')

    def words(self, value: Any) -> list[str]:
        return [str(m.get("explanation") or "") for m in value if isinstance(m, dict) and m.get("explanation")]


class BodyMapCheck:
    id = "body-map-facts"
    description = "A body-map mark without its size or the child's explanation in their own words"

    def check(self, draft, ctx: LintContext) -> list[LintFinding]:
        out = []
        for n, mark in enumerate(getattr(draft, "extra", {}).get(FIELD) or [], 1):
            if not isinstance(mark, dict):
                continue
            where = f"body-map mark {n} ({str(mark.get('region', '')).replace('-', ' ')})"
            if not mark.get("explanation"):
                out.append(ctx.finding(self.id, f"{where} has no explanation: record what the child said, in their "
                                                "own words (or that they said nothing)"))
            if not mark.get("size_cm"):
                out.append(ctx.finding(self.id, f"{where} has no size: measure or estimate it in cm"))
        return out


@hookimpl
def cpoms_register_entry_fields(register) -> None:
    register(BodyMapField())


@hookimpl
def cpoms_register_lint_checks(register) -> None:
    register(BodyMapCheck())
