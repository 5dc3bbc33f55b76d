"""Captions that quote the rendered text, TextDiffuser/AnyText style: ``'a shop front, with the words "OPEN 24 HOURS"'``."""

from __future__ import annotations

from collections.abc import Sequence

EMPTY_BASE = "an image"


def quote_text(text: str) -> str:
    """One line as a double-quoted string: whitespace runs collapsed, ``\\`` and ``"`` backslash-escaped."""
    clean = " ".join(text.split())
    return '"' + clean.replace("\\", "\\\\").replace('"', '\\"') + '"'


def caption_with_text(base: str, texts: Sequence[str], empty_base: str = EMPTY_BASE) -> str:
    """``'<base>, with the words "A", "B"'`` quoting each non-blank line in the order given (reading order).

    A trailing period and whitespace of ``base`` are dropped before the clause; a blank ``base`` becomes
    ``empty_base``. With no non-blank line, the base caption is returned unchanged (stripped).
    """
    quoted = [quote_text(t) for t in texts if t.strip()]
    head = base.strip()
    if not quoted:
        return head
    head = head.rstrip(" .") or empty_base
    return f"{head}, with the words {', '.join(quoted)}"
