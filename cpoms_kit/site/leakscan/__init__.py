"""The leak scan: the last step of every site build, and the reason the build may fail.

Every file of the output folder (and its path) is searched for what must never be readable there:
pupil and staff names, dates of birth, fragments of entry text, a category next to a pupil, `http(s)://` URLs
and forbidden files (sitemaps, search indexes, Markdown sources, a 404 page with content).

- `secrets`: what to look for, made once from the pupils, staff, entries and categories
  (`Secrets`, a frozen object holding its own lookup index);
- `normalise`: text as a reader sees it (no invisible characters, accents or lookalike letters);
- `decoding`: the ways a leak hides, undone (gzip, zlib, base64, hex, UTF-16, HTML entities,
  percent-encoding once or twice, tags, JSON and JS escapes), and the islands of text inside binary;
- `matching`: finding names, entry text, dates of birth, categories beside pupils and URLs in one
  text, on word tokens;
- `reader`: one file read layer upon layer, to a small depth, remembering per scan what repeats;
- `files`: the walk of the built folder, forbidden files and names in paths (`scan`, `Leak`);
- `vendor`: the theme's and the kit's own files, copied byte for byte, whose content is not read;
- `plaintext`: the settings shown in plaintext on every page (the title), refused if they hold a name.

A finding never repeats the secret it found (the message may end up in a log): it names the file,
the kind of leak and, for a pupil, the pupil id.
"""

from cpoms_kit.site.leakscan.files import HEX_NAME, Leak, scan, scan_bytes, scan_path_name, shape
from cpoms_kit.site.leakscan.matching import scan_text
from cpoms_kit.site.leakscan.normalise import fold
from cpoms_kit.site.leakscan.plaintext import refuse_secrets_in_setting
from cpoms_kit.site.leakscan.secrets import SHINGLE, WORD, Secrets, words_of
from cpoms_kit.site.leakscan.vendor import VendorFiles, vendor_files, vendor_hashes, vendor_roots

__all__ = ["HEX_NAME", "SHINGLE", "WORD", "Leak", "Secrets", "VendorFiles", "fold", "refuse_secrets_in_setting", "scan",
           "scan_bytes", "scan_path_name", "scan_text", "shape", "vendor_files", "vendor_hashes", "vendor_roots",
           "words_of"]
