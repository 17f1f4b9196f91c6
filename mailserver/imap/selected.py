"""The selected folder as one session sees it (RFC 3501 §2.3.1.2): its message sequence
(UIDs in order), and how it catches up with changes other sessions and deliveries made.

Catching up costs nothing when no wake-up came for the mailbox (every writer publishes
one, mailserver/store/events.py) and the folder was read less than STALE_SECONDS ago;
NOOP, CHECK and IDLE always look. Otherwise it costs one row read when nothing changed
(the folder's modseq), and when something did it
reads the messages changed since the last modseq it saw (new ones become EXISTS,
re-flagged ones FETCH FLAGS), and counts its known UIDs to detect expunges (EXPUNGE,
highest sequence number first so every number is valid when sent). Changes this session
made itself and already reported are skipped. EXPUNGE is held back while answering
FETCH, STORE and SEARCH (RFC 3501 §7.4.1) and sent at the next command that allows it.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from mailserver.imap import responses
from mailserver.imap.grammar.sequence_sets import STAR, SequenceSet
from mailserver.store.events import Subscription
from mailserver.store.reader import Reader
from mailserver.store.reads import FlagChange

# A safety net for a wake-up lost on its way (a node's listener reconnecting).
STALE_SECONDS = 30.0


class FolderGone(Exception):
    """The selected folder was deleted or renamed away by another session."""


@dataclass(eq=False)
class SelectedFolder:
    mailbox_id: int
    mailbox_address: str
    folder_id: int
    name: str  # the IMAP name the client selected
    stored_name: str  # the folder name in its mailbox
    readonly: bool
    uidvalidity: int
    uids: list[int]
    modseq: int
    own_modseqs: set[int] = field(default_factory=set)
    expunge_check_pending: bool = False
    watch: Subscription | None = None
    checked_at: float = field(default_factory=time.monotonic)

    def close(self) -> None:
        """Stop watching the mailbox (the session left this folder)."""
        if self.watch is not None:
            self.watch.close()
            self.watch = None

    @property
    def exists(self) -> int:
        return len(self.uids)

    def seq_of(self, uid: int) -> int | None:
        i = bisect.bisect_left(self.uids, uid)
        return i + 1 if i < len(self.uids) and self.uids[i] == uid else None

    def resolve(self, numbers: SequenceSet, *, uid: bool) -> list[int]:
        """UIDs named by a sequence set (of UIDs or of sequence numbers), ascending."""
        if uid:
            return numbers.select(self.uids, self.uids[-1] if self.uids else 0)
        count = len(self.uids)
        explicit = [v for lo, hi in numbers.ranges for v in (lo, hi) if v != STAR]
        if any(v > count for v in explicit):
            raise responses.bad("Invalid message sequence number")
        seqs = numbers.select(range(1, count + 1), count)
        return [self.uids[s - 1] for s in seqs]

    def remove(self, gone: Sequence[int]) -> list[bytes]:
        """Drop expunged UIDs; the EXPUNGE responses, highest sequence number first."""
        doomed = set(gone)
        positions = [i + 1 for i, u in enumerate(self.uids) if u in doomed]
        self.uids = [u for u in self.uids if u not in doomed]
        return [responses.expunge(seq) for seq in reversed(positions)]

    def _may_skip(self, *, expunges: bool, force: bool) -> bool:
        woken = self.watch.take() if self.watch is not None else True
        fresh = time.monotonic() - self.checked_at < STALE_SECONDS
        pending = expunges and self.expunge_check_pending
        return not (force or woken or pending or not fresh)

    async def refresh(self, reader: Reader, *, expunges: bool, force: bool = False) -> list[bytes]:
        """Untagged responses for what changed since the last refresh."""
        if self._may_skip(expunges=expunges, force=force):
            return []
        self.checked_at = time.monotonic()
        look = expunges and self.expunge_check_pending
        delta = await reader.delta(
            self.folder_id,
            self.modseq,
            excluding=self.own_modseqs,
            known=self.uids if expunges else None,
            look=look,
        )
        if delta is None:
            raise FolderGone
        if delta.highest == self.modseq and not look:
            return []
        changed = self.expunge_check_pending or delta.highest != self.modseq
        self.expunge_check_pending = changed and not expunges
        alive = delta.alive
        out = self.remove([u for u in self.uids if u not in alive]) if alive is not None else []
        out += self._apply(delta.changes)
        self.modseq = max(self.modseq, delta.highest)
        self.own_modseqs = {m for m in self.own_modseqs if m > self.modseq}
        return out

    def _apply(self, changes: list[FlagChange]) -> list[bytes]:
        last = self.uids[-1] if self.uids else 0
        fresh = [c.uid for c in changes if c.uid > last]
        out: list[bytes] = []
        if fresh:
            self.uids.extend(fresh)
            out.append(responses.exists(len(self.uids)))
        for change in changes:
            if change.uid > last or change.modseq in self.own_modseqs:
                continue
            seq = self.seq_of(change.uid)
            if seq is not None:
                out.append(
                    responses.fetch(
                        seq,
                        [("UID", change.uid), ("FLAGS", responses.flag_list(change.flags.names()))],
                    )
                )
        return out
