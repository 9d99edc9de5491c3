"""The policy's recording-quality checks: accurate, factual, timely (CPOMS Policy 2021-22).

Each check is its own object registered through `cpoms_register_lint_checks`, so a school can
replace one (``register(MyCheck(), replace=True)`` with the same ``id``) or switch this whole module
off. The reviewed word lists the checks read ship beside this file (``wordlists/*.txt``) and are
registered through the same hook as :class:`~cpoms_kit.policy.lint.WordList` objects, exactly as a
school's plugin adds its own; a records repository extends them with ``lint/<list>.txt``.

Every check reads the writer's own words only (``ctx.outside``): what is inside quotation marks is
the pupil's own words, recorded verbatim, and is never marked as opinion, slur or misspelling.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from cpoms_kit.hookspecs import hookimpl
from cpoms_kit.pluginhost.contracts import LintCheck, Register
from cpoms_kit.policy.lint import LintContext, LintFinding, WordList, plain_letters
from .lint_speech import LeadingQuestionCheck
from cpoms_kit.policy.lintnames import INITIALS_RE, initials_of, named_by_initials, proper_nouns

WORDLISTS = Path(__file__).with_name("wordlists")
DICTIONARY = "/usr/share/dict/british-english"  # Debian package wbritish (SCOWL, en-GB, -ise)
DICTIONARY_PACKAGE = "wbritish"

_TITLE = r"\b(?:Mr|Mrs|Ms|Miss|Mx|Dr)\.?\s+[A-Z][\w'-]+"


class PhraseCheck:
    """Flags every phrase of one word list in the writer's own words."""

    def __init__(self, id: str, wordlist: str, description: str, default_reason: str):
        self.id, self.wordlist, self.description, self.default_reason = id, wordlist, description, default_reason

    def check(self, draft, ctx: LintContext) -> list[LintFinding]:
        out, seen = [], set()
        for m, phrase in sorted(ctx.list(self.wordlist).finditer(ctx.outside), key=lambda mp: mp[0].start()):
            key = (m.group(0).casefold(), ctx.line(m.start()))
            if key in seen:
                continue
            seen.add(key)
            out.append(ctx.finding(self.id, f'"{m.group(0)}": {phrase.reason or self.default_reason}', m.start(), m.group(0)))
        return out


# -- spelling -------------------------------------------------------------------------------------
@lru_cache(maxsize=4)
def load_dictionary(path: str) -> frozenset[str] | None:
    try:
        with open(path, encoding="utf-8") as fh:
            return frozenset(fh.read().split())  # one word a line; split() is the fast way
    except FileNotFoundError:
        return None


_WORD = re.compile(r"[^\W\d_](?:[^\W\d_]|'(?=[^\W\d_]))*")
_SKIP = re.compile(r"\S+@\S+|\b(?:https?://|www\.)\S+|\b[0-9A-HJKMNP-TV-Z]{26}\b")  # emails, links, entry ids
_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def _edits1(word: str) -> list[str]:
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    return ([a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1]
            + [a + b[1:] for a, b in splits if b]
            + [a + c + b[1:] for a, b in splits if b for c in _LETTERS]
            + [a + c + b for a, b in splits for c in _LETTERS])


class SpellingCheck:
    id = "spelling"
    description = ("British English spelling (Debian's wbritish word list), with the rosters' names, "
                   "the kit's school words and the school's lint/words.txt as known words")

    def known_words(self, ctx: LintContext) -> set[str]:
        words = set(ctx.list("words").texts()) | ctx.names
        # A word another check already marks (a slur, "naughty") is not also a misspelling.
        for name in ("opinion", "derogatory"):
            words.update(t for t in ctx.list(name).texts() if t.isalpha())
        for person in ctx.people:
            for part in re.split(r"[\s-]+", person.name):
                if part:
                    words.update({part, plain_letters(part)})  # "Siobhan" for the roster's "Siobhán"
        return words

    def check(self, draft, ctx: LintContext) -> list[LintFinding]:
        path = str(ctx.setting("dictionary", DICTIONARY))
        dictionary = load_dictionary(path)
        if dictionary is None:
            return [ctx.finding(self.id, f"spelling NOT checked: no British English word list at {path} "
                                         f"(install the Debian package {DICTIONARY_PACKAGE}: "
                                         f"apt-get install {DICTIONARY_PACKAGE})")]
        extra = self.known_words(ctx)
        suggestions = {p.text.casefold(): p.reason for p in ctx.list("spelling-suggestions").phrases}

        def known(word: str) -> bool:
            # The capitalised form ("Gray", a surname) counts only for a word written capitalised.
            forms = {word, word.lower()} | ({word.capitalize()} if word[:1].isupper() else set())
            if word.endswith("'s"):
                forms |= {word[:-2], word[:-2].lower()}
            return any(f in dictionary or f in extra for f in forms) or _compound(word.lower(), dictionary)

        text = _SKIP.sub(lambda m: " " * len(m.group(0)), ctx.outside)
        names = proper_nouns(text)
        out, seen = [], set()
        for m in _WORD.finditer(text):
            word = m.group(0)
            american = word.lower() in suggestions  # flagged even where a British list carries it
            if len(word) < 2 or (word.isupper() and len(word) <= 5) or word in seen:
                continue
            if not american and (known(word) or m.start() in names or known(_hyphenated(text, m))):
                continue
            seen.add(word)
            out.append(ctx.finding(self.id, self._message(word, dictionary, suggestions), m.start(), word))
        return out

    @staticmethod
    def _message(word: str, dictionary: frozenset[str], suggestions: dict[str, str]) -> str:
        lower = word.lower()
        if lower in suggestions:
            return f'"{word}" is not British English spelling: write "{suggestions[lower]}"'
        candidates = list(dict.fromkeys(c for c in _edits1(lower) if c in dictionary))[:3] if len(word) <= 20 else []
        hint = f" (did you mean {', '.join(repr(c) for c in candidates)}?)" if candidates else ""
        return (f'"{word}" is not in the British English word list{hint}; if it is a name or a local word, '
                f"add it to lint/words.txt in the records repository")


def _hyphenated(text: str, m: re.Match) -> str:
    """The whole hyphenated word `m` is part of ("hi-vis" for "vis"), or the word itself."""
    start, end = m.start(), m.end()
    while start > 0 and (text[start - 1].isalpha() or text[start - 1] == "-"):
        start -= 1
    while end < len(text) and (text[end].isalpha() or text[end] == "-"):
        end += 1
    return text[start:end].strip("-")


def _compound(word: str, dictionary: frozenset[str]) -> bool:
    """Two dictionary words of three letters or more written as one ("handprint"), unless one
    letter's change makes a dictionary word: "diffrent" is "different" misspelt, not diff + rent."""
    if len(word) < 7 or not any(word[:i] in dictionary and word[i:] in dictionary for i in range(3, len(word) - 2)):
        return False
    return not any(c in dictionary for c in _edits1(word))


# -- names ----------------------------------------------------------------------------------------


class NamesCheck:
    id = "full-names"
    description = "Initials, or a first name alone, for someone whose full name the rosters know"

    def check(self, draft, ctx: LintContext) -> list[LintFinding]:
        out = []
        people = [p for p in ctx.people if len(p.parts) >= 2]
        for person in people:
            if ctx.mentions(person.name):
                continue  # named in full at least once: a first name afterwards is clear
            for m in ctx.mentions(person.parts[0], ctx.outside):
                out.append(ctx.finding(self.id, f'"{m.group(0)}" alone: the {person.kind} roster knows '
                                                f"{person.name}; write the full name at least once",
                                       m.start(), m.group(0)))
                break
        acronyms = {w for w in ctx.list("words").texts() | ctx.list("presence").texts() if w.isupper()}
        for m in INITIALS_RE.finditer(ctx.outside):
            letters = re.sub(r"[.\s-]", "", m.group(0))
            if letters in acronyms:
                continue
            who = [p.name for p in people if letters in initials_of(p.name)]
            if who:
                out.append(ctx.finding(self.id, f'initials "{m.group(0).strip()}": write the full name '
                                                f"({' or '.join(who)})", m.start(), m.group(0).strip()))
        return out


_PRONOUN = re.compile(r"\b(?:he|she|him|his|her|hers)\b", re.IGNORECASE)
# Someone off the rosters (a parent, a visitor) written as a full name: two capitalised words,
# unless the first is one that starts sentences or dates ("On Monday", "At Follifoot").
_CAP = r"[A-Z][a-z']+(?:-[A-Z][a-z']+)?"
_FULL_NAME = re.compile(rf"\b({_CAP})\s+{_CAP}\b")
_NOT_A_FIRST_NAME = {
    "a", "an", "at", "on", "in", "the", "this", "that", "when", "after", "before", "during", "by", "from", "to",
    "with", "last", "next", "today", "yesterday", "i", "we", "year", "class", "school", "room", "dear",
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "january", "february",
    "march", "april", "may", "june", "july", "august", "september", "october", "november", "december",
}


class PronounCheck:
    id = "pronoun-before-name"
    description = '"he" or "she" before anyone is named: the reader cannot tell who is meant'

    def check(self, draft, ctx: LintContext) -> list[LintFinding]:
        pronoun = _PRONOUN.search(ctx.outside)
        if not pronoun:
            return []
        firsts = [m.start() for m in re.finditer(_TITLE, ctx.body)]
        firsts += [m.start() for m in _FULL_NAME.finditer(ctx.body) if m.group(1).lower() not in _NOT_A_FIRST_NAME]
        for person in ctx.people:
            for part in {*person.parts, *person.name.replace("-", " ").split()}:
                hit = ctx.mentions(part)
                if hit:
                    firsts.append(hit[0].start())
        firsts += named_by_initials(ctx.body, [p.name for p in ctx.people])
        if firsts and min(firsts) < pronoun.start():
            return []
        return [ctx.finding(self.id, f'"{pronoun.group(0)}" comes before anyone is named: say who, '
                                     f"by full name, first", pronoun.start(), pronoun.group(0))]


# -- the pupil's own words -----------------------------------------------------------------------
def _norm(text: str) -> str:
    return " ".join(str(text).casefold().split()).rstrip(" .")


DISCLOSURE_TYPES = ("concern", "check-in")


class DisclosureQuoteCheck:
    id = "disclosure-quote"
    description = "A disclosure recorded without the pupil's own words in quotation marks"

    def check(self, draft, ctx: LintContext) -> list[LintFinding]:
        if ctx.quoted_words():
            return []
        marked = {_norm(t) for t in ctx.list("disclosure-subcategories").texts()}
        labels = [ctx.type, *(draft.tags or [])]
        by_label = next((x for x in labels if x and (_norm(x) in marked or "disclos" in _norm(x))), None)
        # Only a pupil's words make a disclosure: in a parent's call or an agency's email "told me" is not one.
        hit = ctx.list("disclosure").search(ctx.outside) if ctx.type in DISCLOSURE_TYPES else None
        if not by_label and not hit:
            return []
        why = f'"{hit[0].group(0)}"' if hit else f"a {by_label!r} entry"
        return [ctx.finding(self.id, f"{why} records a disclosure, but no words are quoted: write what the pupil "
                                     f"said, word for word, in quotation marks",
                            hit[0].start() if hit else None, hit[0].group(0) if hit else "")]


class CircumstancesCheck:
    id = "when-where-who"
    description = "A concern that does not say when, where, or who was present"

    def check(self, draft, ctx: LintContext) -> list[LintFinding]:
        if ctx.type != "concern" or len(_WORD.findall(ctx.body)) < int(ctx.setting("min_words", 6)):
            return []  # a text shorter than a sentence is the too-short check's
        text = ctx.outside  # the recorder's statement: a place in the child's words is not where it happened
        out = []
        if not ctx.list("time").search(text):
            out.append(ctx.finding(self.id, "no time in the text: say when it happened or was noticed "
                                            "(e.g. 10:40, at lunchtime, on arrival)"))
        if not ctx.list("place").search(text):
            out.append(ctx.finding(self.id, "no place in the text: say where it happened (e.g. in the playground)"))
        if not self._presence(draft, ctx):
            out.append(ctx.finding(self.id, "no one present is named: say who was there (adults and children), "
                                            'or "no one else was present"'))
        return out

    @staticmethod
    def _presence(draft, ctx: LintContext) -> bool:
        if ctx.list("presence").search(ctx.outside) or re.search(_TITLE, ctx.outside):
            return True
        if any(role != "subject" for role in ctx.pupil_roles.values()):
            return True
        others = [p for p in ctx.people if p.kind == "staff" or p.id not in ctx.pupil_roles]
        return any(ctx.mentions(p.name) or (len(p.parts) > 1 and ctx.mentions(p.parts[0])) for p in others)


class LengthCheck:
    id = "too-short"
    description = "A text shorter than a sentence"

    def check(self, draft, ctx: LintContext) -> list[LintFinding]:
        minimum = int(ctx.setting("min_words", 6))
        words = len(_WORD.findall(ctx.body))
        if words >= minimum:
            return []
        return [ctx.finding(self.id, f"the text is {words} word{'s' if words != 1 else ''}, shorter than a sentence: "
                                     "say what happened, when, where and who was there", 0 if ctx.body else None,
                            ctx.body.strip()[:60])]


class ThirdPartyCheck:
    id = "third-party"
    description = "Reminder: other children named in the text are third-party data under FOI / subject access"

    def check(self, draft, ctx: LintContext) -> list[LintFinding]:
        if not ctx.pupil_roles:
            return []  # plain text: who the entry is about is not known, so neither is who is "other"
        own = set(ctx.pupil_roles)  # every pupil linked to the entry, in any role, is the entry's own
        named, first = [], None
        for person in ctx.people:
            if person.kind != "pupil" or person.id in own:
                continue
            # The writer's own words only, as every check reads (see the module): a name inside the
            # child's quoted words is what the child said.
            hits = ctx.mentions(person.name, ctx.outside) or (
                ctx.mentions(person.parts[0], ctx.outside) if len(person.parts) > 1 else [])
            if hits:
                named.append(person.name)
                first = hits[0].start() if first is None else min(first, hits[0].start())
        if not named:
            return []
        return [ctx.finding(self.id, f"names other children ({', '.join(named)}): this is third-party data. The "
                                     "record may be disclosed under FOI or a subject access request with their "
                                     "details redacted; keep what is said about them to what is needed",
                            first, ", ".join(named))]


CHECKS = (
    SpellingCheck(),
    PhraseCheck("opinion", "opinion", "Opinion and speculation (\"I think\", \"seems\", \"probably\"...)",
                "opinion or speculation: record what you saw and heard"),
    PhraseCheck("derogatory", "derogatory", "Discriminatory or derogatory language",
                "derogatory or discriminatory: if someone said it, quote their exact words"),
    NamesCheck(),
    PronounCheck(),
    DisclosureQuoteCheck(),
    CircumstancesCheck(),
    LengthCheck(),
    ThirdPartyCheck(),
    LeadingQuestionCheck(),
)


def shipped_wordlists() -> list[WordList]:
    return [WordList.from_file(p, id=f"wordlist:{p.stem}") for p in sorted(WORDLISTS.glob("*.txt"))]


@hookimpl
def cpoms_register_lint_checks(register: Register[LintCheck | WordList]) -> None:
    for check in CHECKS:
        register(check)
    for wordlist in shipped_wordlists():
        register(wordlist)
