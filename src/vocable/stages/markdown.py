"""Streaming removal of markdown from model text, before it is cut into spoken pieces."""

from __future__ import annotations

_BULLETS = frozenset("-+*•‣◦·>")


class MarkdownCleaner:
    """Streaming removal of markdown markup; holds back text until each decision is certain."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget held-back text (a new reply)."""
        self._raw = ""
        self._line_start = True
        self._prev = "\n"

    def feed(self, text: str) -> str:
        """Add streamed text; return the cleaned text whose markup is now certain."""
        self._raw += text.replace("\r\n", "\n").replace("\r", "\n")
        return self._clean(final=False)

    def flush(self) -> str:
        """End the text: return the rest, cleaned, and reset."""
        out = self._clean(final=True)
        self.reset()
        return out

    def _clean(self, *, final: bool) -> str:
        raw = self._raw
        n = len(raw)
        out: list[str] = []
        i = 0
        while i < n:
            c = raw[i]
            if self._line_start and c not in " \t\n":
                marker_end = self._line_marker(i)
                if marker_end is None and not final:
                    break
                self._line_start = False
                if marker_end:
                    i = marker_end
                    continue
            if c in "*_":
                j = i
                while j < n and raw[j] == c:
                    j += 1
                if j >= n and not final:
                    break
                after = raw[j] if j < n else ""
                if _keep_run(c, self._prev, after):
                    out.append(raw[i:j])
                    self._prev = c
                i = j
                continue
            if c != "`":
                out.append(c)
                self._prev = c
                if c == "\n":
                    self._line_start = True
            i += 1
        self._raw = raw[i:]
        return "".join(out)

    def _line_marker(self, i: int) -> int | None:
        """End of a heading or bullet marker (and its spaces) at `i`; 0 if none; None: wait."""
        raw = self._raw
        n = len(raw)
        j = i
        if raw[i] == "#":
            while j < n and raw[j] == "#":
                j += 1
        elif raw[i] in _BULLETS:
            j = i + 1
        else:
            return 0
        if j >= n:
            return None
        if raw[j] not in " \t":
            return 0
        while j < n and raw[j] in " \t":
            j += 1
        return j


def _keep_run(mark: str, before: str, after: str) -> bool:
    """Whether a run of ``*`` or ``_`` is text (kept) rather than emphasis (dropped)."""
    if mark == "_":
        return before.isalnum() and after.isalnum()
    return (before.isspace() and after.isspace()) or (before.isdigit() and after.isdigit())
