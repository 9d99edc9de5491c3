"""Batch decryption: many entries through a few `gpg --decrypt-files` processes over copies in a
0700 tmpfs folder, split across cores and into pieces, each piece's results handed over as soon as
it is done (`Decryption`, made by `Gpg.decrypting`)."""

from __future__ import annotations

import os
import queue
import subprocess
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from cpoms_kit.errors import GpgError
from cpoms_kit.infra import runtime
from cpoms_kit.infra.tmpfs import secure_tmpdir

if TYPE_CHECKING:  # the package makes a Decryption (Gpg.decrypting) and imports this module to do it
    from cpoms_kit.infra.gpg import Gpg

BATCH = ["--batch", "--yes", "--no-tty", "--quiet"]
# Below this many files the scratch keyring (two gpg processes, ~60 ms) costs more than it saves.
# A fast path: the plain path (`runtime.fast()` false) reads the user's own keyring.
OWN_KEYRING_FROM = 32


class Decryption:
    """One batch decryption (see `Gpg.decrypting`).

    Copies go to a 0700 tmpfs folder. One thread per core (plus one) runs `gpg --decrypt-files`
    over its share of them, a piece at a time (about four pieces each), so results arrive in
    steps the caller can work on while the rest decrypts. gpg writes a status file per piece
    (a file, not a pipe: ~16 lines per entry, and a reader woken for each cost ~10 % of the run):

    - a file counts as decrypted only if gpg said DECRYPTION_OKAY and not DECRYPTION_FAILED for it:
      a truncated or manipulated ciphertext can leave partial plaintext behind;
    - a file that failed although a key this keyring holds is among its recipients (and did not
      open it) is named in `failed`: it may read next time, so a cache must not record it;
    - a file gpg started but never finished stopped gpg (a damaged compressed packet is fatal to
      the whole run): it is unread (FAILED: gpg may have died for another reason), and the files
      after it go round again in a new piece, so one damaged file never hides those that follow;

    Each plaintext is read into memory and its file removed as soon as its piece is done; the
    folder goes when the block ends, and any gpg still running is stopped, however it ends.
    """

    PIECES_PER_WORKER = 4
    MIN_PIECE = 64

    def __init__(self, gpg: Gpg, blobs: dict[str, bytes], workers: int | None = None):
        self.gpg, self.blobs = gpg, blobs
        # One more gpg than cores: gpg-agent does every private-key step, one at a time, and an
        # extra process keeps it fed while the others wait on it (10,000 entries, 2 cores: ~10 %).
        self.workers = max(1, min(workers or (os.cpu_count() or 2) + 1, len(blobs), 8))
        self._done: queue.Queue = queue.Queue()
        self._procs: list[subprocess.Popen] = []
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._error: BaseException | None = None
        # Names yielded without plaintext whose failure may pass (FAILED): not to be remembered
        # as unreadable.
        self.failed: set[str] = set()
        # Names yielded without plaintext because the file itself is bad (not OpenPGP, truncated,
        # altered after a key of ours opened it): to be reported, never taken for someone else's.
        self.damaged: set[str] = set()

    def __enter__(self) -> "Decryption":
        self._names: dict[str, str] = {}  # copy's path -> caller's name
        if not self.blobs:
            self._tmp = None
            return self
        self._tmp = secure_tmpdir("cpoms-dec-")
        self.folder = self._tmp.__enter__()
        try:
            big = runtime.fast() and len(self.blobs) >= OWN_KEYRING_FROM
            self._keyring = self.gpg._own_keyring(self.folder) if big else []
            paths = []
            for i, (name, blob) in enumerate(self.blobs.items()):
                p = self.folder / f"{i}.gpg"
                p.write_bytes(blob)
                self._names[str(p)] = name
                paths.append(str(p))
            piece = max(self.MIN_PIECE, -(-len(paths) // (self.workers * self.PIECES_PER_WORKER)))
            for w in range(self.workers):
                share = paths[w::self.workers]
                pieces = [share[i:i + piece] for i in range(0, len(share), piece)]
                t = threading.Thread(target=self._work, args=(w, pieces), name="cpoms-gpg-batch", daemon=True)
                t.start()
                self._threads.append(t)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _work(self, worker: int, pieces: list[list[str]]) -> None:
        try:
            for n, piece in enumerate(pieces):
                while piece and not self._stop.is_set():
                    status = self.folder / f"status-{worker}-{n}"
                    proc = subprocess.Popen(
                        ["gpg", *BATCH, *self._keyring, "--status-file", str(status), "--decrypt-files", *piece],
                        env=self.gpg._env(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL)
                    self._procs.append(proc)
                    if self._stop.is_set():  # the block ended while this one was starting
                        proc.kill()
                    proc.wait()
                    finished, (stuck, opened) = _outcomes(status)
                    status.unlink(missing_ok=True)
                    results = [(path, self._judge(finished[path])) for path in piece if path in finished]
                    if stuck in piece:
                        # Opened by our key, then gpg stopped inside the data: the file is damaged.
                        # Stopped before any key opened it: gpg itself may have failed (FAILED).
                        results.append((stuck, DAMAGED if opened else FAILED))
                    # gpg stopped at `stuck`: the files after it go round again. No progress at all
                    # (gpg did not run, or named other files): they are given up for this read.
                    rest = [path for path in piece if path not in finished and path != stuck]
                    if len(rest) == len(piece):
                        results += [(path, FAILED) for path in rest]
                        rest = []
                    self._done.put(results)
                    piece = rest
        except BaseException as exc:  # noqa: BLE001 - raised again by the reader, in its thread
            self._error = exc
        finally:
            self._done.put(None)

    def _judge(self, outcome: "str | frozenset[str]") -> str:
        """A failure whose recipients include a key this keyring holds may pass (FAILED); one
        encrypted only to others' keys will not (UNREADABLE)."""
        if isinstance(outcome, str):
            return outcome
        return FAILED if outcome & self.gpg.own_keyids() else UNREADABLE

    def __iter__(self):
        left = dict(self._names)
        running = len(self._threads)
        while running:
            results = self._done.get()
            if results is None:
                running -= 1
                continue
            for path, outcome in results:
                name = left.pop(path, None)
                if name is None:
                    continue
                plain = Path(path[: -len(".gpg")])
                try:
                    data = plain.read_bytes() if outcome == OK else None
                except OSError:
                    data, outcome = None, FAILED
                plain.unlink(missing_ok=True)
                if outcome == FAILED:
                    self.failed.add(name)
                elif outcome == DAMAGED:
                    self.damaged.add(name)
                yield name, data
        if self._error is not None:
            raise GpgError(f"gpg could not be run for a batch decryption: {self._error}") from None
        for name in left.values():  # never reached
            self.failed.add(name)
            yield name, None

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for proc in list(self._procs):
            if proc.poll() is None:
                proc.kill()
        for t in self._threads:
            t.join()
        if self._tmp is not None:
            self._tmp.__exit__(None, None, None)


# What became of one file of a batch. UNREADABLE: encrypted only to keys this keyring does not
# hold (someone else's entry), and will stay so. DAMAGED: not OpenPGP data, or bad after a key of
# ours opened it; also lasting, but a fault to report. FAILED may pass (a key this keyring holds
# could not be used just then: its passphrase not cached, a card pulled out, a prompt cancelled).
OK, UNREADABLE, DAMAGED, FAILED = "ok", "unreadable", "damaged", "failed"


def _outcomes(status: Path) -> tuple[dict[str, "str | frozenset[str]"], tuple[str | None, bool]]:
    """From a `--status-file` of `--decrypt-files`: the outcome of each file gpg finished, and the
    file it started but never finished (gpg stopped there) with whether a key had opened it."""
    finished: dict[str, str | frozenset[str]] = {}
    current = None
    try:
        lines = status.read_text("utf-8", "surrogateescape").splitlines()
    except OSError:
        lines = []
    for line in lines:
        if not line.startswith("[GNUPG:] "):
            continue
        kind, _, rest = line[9:].partition(" ")
        if kind == "FILE_START":
            current, ok, keyed, to = rest.split(" ", 1)[-1], None, False, set()
        elif current is None:
            continue
        elif kind == "DECRYPTION_OKAY" and ok is None:
            ok = True
        elif kind == "DECRYPTION_FAILED":
            ok = False
        elif kind == "DECRYPTION_KEY":  # a secret key opened the session key: the rest is the data's
            keyed = True
        elif kind == "ENC_TO":
            to.add(rest.split(" ", 1)[0].upper())
        elif kind == "FILE_DONE":
            # Failed after a secret key opened it (the data is bad) or with no recipients at all (not
            # an OpenPGP message to anyone): damaged. Otherwise the recipients decide (`_judge`).
            finished[current] = OK if ok else DAMAGED if keyed or not to else frozenset(to)
            current = None
    return finished, (current, current is not None and keyed)
