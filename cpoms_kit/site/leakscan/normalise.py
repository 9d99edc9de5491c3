"""What a human reads, not what the code points say: `fold` makes a text (a page's, or a secret's)
read as its reader sees it, so that the same name spelt with invisible characters, lookalike
letters, compatibility forms or accents still matches.

- invisible characters removed: every Unicode format character (category Cf: the soft hyphen,
  zero-width space and joiners, word joiner, byte-order mark, bidi controls, tags...), and the
  few other code points that render as nothing (the combining grapheme joiner, variation
  selectors, Hangul fillers);
- NFKD (compatibility forms, e.g. full-width or mathematical letters and digits, ligatures, made
  their plain letters) and the combining diacritics it splits off removed ("Zoë" reads "Zoe");
- lookalike letters of Cyrillic, Greek and a few other scripts made the Latin letter they look
  like (`CONFUSABLES`).

The lookalike table is small and kept here rather than a dependency: the packages that carry
Unicode's whole confusables list (confusable-homoglyphs, confusables) detect mixed scripts rather
than fold to Latin, ship megabytes of data, or have not been released for years; the letters that
pass for Latin in an ordinary font are the few dozen below. Only text that is not ASCII is folded
(ASCII is its own fold), so ordinary pages cost nothing.
"""

from __future__ import annotations

import re
import unicodedata

# Every code point of category Cf (a test checks this against `unicodedata`), with those that are
# not Cf but render as nothing: U+034F, U+115F-U+1160, U+17B4-U+17B5, U+180B-U+180F, U+3164,
# U+FE00-U+FE0F, U+FFA0 and the supplementary variation selectors.
INVISIBLE = re.compile(
    "[\u00ad\u034f\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u115f\u1160\u17b4\u17b5"
    "\u180b-\u180f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\u3164\ufe00-\ufe0f\ufeff"
    "\uffa0\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3"
    "\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f\U000e0100-\U000e01ef]"
)
# The combining diacritics NFKD splits off Latin, Greek and Cyrillic letters.
DIACRITICS = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")

_LOOKALIKES = {
    # Cyrillic
    "a": "\u0430", "b": "\u044c\u0432", "c": "\u0441", "d": "\u0501", "e": "\u0435\u0454\u0451", "g": "\u0261",
    "h": "\u04bb\u043d", "i": "\u0456\u0457\u0131", "j": "\u0458", "k": "\u043a", "l": "\u04cf",
    "m": "\u043c", "n": "\u043f", "o": "\u043e", "p": "\u0440", "q": "\u051b", "r": "\u0433", "s": "\u0455",
    "t": "\u0442", "u": "\u0446", "v": "\u0475", "w": "\u051d\u0448", "x": "\u0445", "y": "\u0443\u04af",
    "A": "\u0410", "B": "\u0412", "C": "\u0421", "D": "\u0500", "E": "\u0415\u0401", "H": "\u041d",
    "I": "\u0406\u0407\u04c0", "J": "\u0408", "K": "\u041a", "M": "\u041c", "O": "\u041e", "P": "\u0420",
    "Q": "\u051a", "S": "\u0405", "T": "\u0422", "W": "\u051c", "X": "\u0425", "Y": "\u0423\u04ae",
}
_GREEK = {
    "a": "\u03b1", "i": "\u03b9", "k": "\u03ba", "n": "\u03b7", "o": "\u03bf\u03c3", "p": "\u03c1",
    "t": "\u03c4", "u": "\u03c5", "v": "\u03bd", "x": "\u03c7", "y": "\u03b3", "c": "\u03f2", "j": "\u03f3",
    "A": "\u0391", "B": "\u0392", "E": "\u0395", "H": "\u0397", "I": "\u0399", "K": "\u039a", "M": "\u039c",
    "N": "\u039d", "O": "\u039f", "P": "\u03a1", "T": "\u03a4", "X": "\u03a7", "Y": "\u03a5", "Z": "\u0396",
    "C": "\u03f9",
}
_OTHER = {  # Armenian, Latin letters that pass for others, and Cherokee capitals
    "a": "\u0251", "g": "\u0581", "h": "\u0570", "n": "\u0578", "o": "\u0585", "q": "\u0566", "u": "\u057d",
    "A": "\u13aa", "B": "\u13f4", "C": "\u13df", "D": "\u13a0", "E": "\u13ac", "G": "\u13c0", "H": "\u13bb",
    "J": "\u13ab", "K": "\u13e6", "M": "\u13b7", "P": "\u13e2", "R": "\u13a1", "S": "\u13da", "T": "\u13a2",
    "V": "\u13d9", "W": "\u13b3", "Z": "\u13c3",
}
CONFUSABLES = {ord(ch): latin for table in (_LOOKALIKES, _GREEK, _OTHER) for latin, chars in table.items() for ch in chars}


def fold(text: str) -> str:
    """`text` as a reader sees it (see the module's docstring); ASCII is returned as it is."""
    if text.isascii():
        return text
    text = unicodedata.normalize("NFKD", INVISIBLE.sub("", text))
    return DIACRITICS.sub("", text).translate(CONFUSABLES)
