"""The chunk_sentences stage: streamed LLM text in, speakable sentences out.

`SentenceChunker` does the text work (pure and synchronous); `ChunkSentences` wraps it as a
pipeline stage.
"""

from __future__ import annotations

import re

from vocable.config import ChunkerSettings
from vocable.frames import ControlFrame, Frame, LLMDone, LLMToken, PipelineEventType, Sentence
from vocable.pipeline.channel import Send
from vocable.pipeline.stage import FrameProcessor, StageContext
from vocable.stages.markdown import MarkdownCleaner

_TERMINALS = frozenset(".!?…")
_CLOSERS = frozenset("\"'”’»)]}")
_OPENERS = "\"'“‘«([¿¡"
_CLAUSE_MARKS = frozenset(",;:")
_DASHES = frozenset("—–")
# A "." after these never ends a sentence: titles before a name, and Latin linkers.
_NEVER_FINAL = frozenset(
    {"Mr", "Mrs", "Ms", "Dr", "Prof", "St", "Mt", "Sgt", "Capt", "Lt", "Col", "Gen", "Rev"}
    | {"MR", "MRS", "MS", "DR", "PROF", "ST", "MT"}
    | {"vs", "Vs", "e.g", "E.g", "i.e", "I.e", "cf", "Cf", "viz", "approx", "Approx", "Fig"}
)
# A "." after these ends a sentence only when the next word starts like a sentence.
_MAYBE_FINAL = frozenset({"etc", "jr", "sr", "inc", "ltd", "co", "corp", "al", "a.m", "p.m"})
_UPPER_ACRONYM = re.compile(r"(?:[A-Z]\.)+[A-Z]")
_LOWER_ACRONYM = re.compile(r"(?:[a-z]\.)+[a-z]")


class SentenceChunker:
    """Cuts streamed model text into speakable pieces, as early as each cut is certain.

    Feed text as it arrives; token boundaries do not matter (the output is the same however
    the text is split). `flush` ends the reply and returns the rest.

    Markdown is cleaned first: ``*`` and ``_`` runs used as emphasis, backticks, ``#``
    heading markers and bullet markers (``-``, ``+``, ``*``, ``•``, ``>``) at the start of a
    line are removed. A ``*`` between two spaces or two digits and a ``_`` inside a word
    (``snake_case``) are kept. Numbered list markers (``1.``) are kept.

    Cut rules, in the order the text is read:

    - A newline always ends a piece (paragraphs, list items).
    - ``!``, ``?`` (or a run such as ``?!``), with any closing quotes or brackets after it,
      ends a sentence when whitespace follows.
    - ``.`` with closing quotes/brackets after it ends a sentence when whitespace follows,
      except after:
        - a title or Latin linker (``Mr.``, ``Mrs.``, ``Ms.``, ``Dr.``, ``St.``, ``vs.``,
          ``e.g.``, ``i.e.``, ...), a single capital initial (``J. R. R. Tolkien``) or a
          dotted capital acronym (``U.S.``, ``U.K.``): never a cut;
        - a number alone at the start of a line (``1. Apples``): a list marker, no cut;
        - ``etc.``, ``a.m.``, ``p.m.``, ``Inc.``, ``Jr.`` and the like: a cut only if the
          next word starts like a sentence (capital letter, digit or opening quote).
    - An ellipsis (``...`` or ``…``) followed by whitespace is a cut only if the next word
      starts like a sentence; ``Well… maybe`` stays together.
    - Punctuation followed by a non-space character never cuts, so decimals (``3.14``,
      ``$3.50``), versions (``v1.2.3``), times (``10:30``), thousands (``1,000``), URLs and
      e-mail addresses stay whole. This is why a cut waits for the character after the mark.
    - The first piece of each reply may end early at a clause mark (``,`` ``;`` ``:``, or
      ``—``/``–``/``--``) followed by whitespace, once it holds at least
      ``first_clause_min_words`` words, so speech can start sooner.
    - The first piece may also end before a word that opens a phrase (``first_phrase_words``:
      ``and``, ``which``, ``that``, ``is``, ``in``…) once it holds at least
      ``first_phrase_min_words`` words (0 turns this off).
    - A piece that reaches ``max_words`` words with no cut is cut after that word.

    Cuts always fall on whitespace, so no word or number is ever split. Emitted pieces have
    their whitespace collapsed; pieces without a letter or digit are dropped.
    """

    def __init__(self, settings: ChunkerSettings | None = None) -> None:
        self.settings = settings or ChunkerSettings()
        self._phrase_words = frozenset(w.lower() for w in self.settings.first_phrase_words)
        self._cleaner = MarkdownCleaner()
        self.reset()

    def reset(self) -> None:
        """Forget buffered text and start a new reply."""
        self._cleaner.reset()
        self._text = ""
        self._scan = 0
        self._words = 0
        self._word_start: int | None = None
        self._line_start = True
        self._first = True

    @property
    def pending_text(self) -> str:
        """Cleaned text received but not yet emitted."""
        return self._text

    def feed(self, text: str) -> list[str]:
        """Add streamed text; return the pieces whose end is now certain."""
        self._text += self._cleaner.feed(text)
        return self._cut(final=False)

    def flush(self) -> list[str]:
        """End the reply: return every remaining piece and reset for the next reply."""
        self._text += self._cleaner.flush()
        pieces = self._cut(final=True)
        self._take(pieces, len(self._text), len(self._text), newline=False)
        self.reset()
        return pieces

    def _cut(self, *, final: bool) -> list[str]:
        pieces: list[str] = []
        while (cut := self._find_cut(final)) is not None:
            end, skip, newline = cut
            self._take(pieces, end, skip, newline=newline)
        return pieces

    def _take(self, pieces: list[str], end: int, skip: int, *, newline: bool) -> None:
        """Emit text[:end] as a piece (if speakable) and drop text[:skip]."""
        piece = " ".join(self._text[:end].split())
        if any(ch.isalnum() for ch in piece):
            pieces.append(piece)
            self._first = False
        self._text = self._text[skip:]
        self._scan = 0
        self._words = 0
        self._word_start = None
        self._line_start = newline

    def _find_cut(self, final: bool) -> tuple[int, int, bool] | None:
        """Scan on from `_scan`; return (end, skip, at_newline) or None to wait/stop.

        The scan state (`_scan`, `_words`, `_word_start`) is only moved past a position once
        the decision there is made, so waiting for more text and resuming gives the same cuts.
        """
        t = self._text
        n = len(t)
        i = self._scan
        while i < n:
            c = t[i]
            if c == "\n":
                return i, i + 1, True
            if c.isspace():
                if self._word_start is not None:
                    word = t[self._word_start : i]
                    if self._opens_phrase(word):
                        return self._word_start, self._word_start, False
                    if _has_alnum(word):
                        self._words += 1
                    self._word_start = None
                    if self._words >= self.settings.max_words:
                        return i, i, False
                i += 1
                self._scan = i
                continue
            if self._word_start is None:
                self._word_start = i
            if c in _TERMINALS:
                decision = self._terminal(i, final)
                if decision is None:
                    return None
                cut, after = decision
                if cut:
                    return after, after, False
                i = after
                self._scan = i
                continue
            if self._first:
                mark_end = self._clause_mark_end(i, final)
                if mark_end is None:
                    return None
                if (
                    mark_end > 0
                    and t[mark_end].isspace()
                    and self._words_through(mark_end) >= self.settings.first_clause_min_words
                ):
                    return mark_end, mark_end, False
            i += 1
            self._scan = i
        return None

    def _opens_phrase(self, word: str) -> bool:
        """True when the first piece should end before `word` (a complete word)."""
        least = self.settings.first_phrase_min_words
        return (
            self._first
            and least > 0
            and self._words >= least
            and word.lower() in self._phrase_words
        )

    def _clause_mark_end(self, i: int, final: bool) -> int | None:
        """Index after a clause mark at `i` (a character follows it); -1: none; None: wait."""
        t = self._text
        n = len(t)
        if t[i] == "-":
            if i + 1 >= n:
                return -1 if final else None
            if t[i + 1] != "-":
                return -1
            end = i + 2
        elif t[i] in _CLAUSE_MARKS or t[i] in _DASHES:
            end = i + 1
        else:
            return -1
        if end >= n:
            return -1 if final else None
        return end

    def _words_through(self, end: int) -> int:
        """Complete words so far plus the word in progress up to `end`."""
        current = self._word_start
        in_progress = current is not None and _has_alnum(self._text[current:end])
        return self._words + int(in_progress)

    def _terminal(self, i: int, final: bool) -> tuple[bool, int] | None:
        """Decide the terminal run at `i`: (cut here?, index after run and closers) or wait."""
        t = self._text
        n = len(t)
        j = i
        while j < n and t[j] in _TERMINALS:
            j += 1
        k = j
        while k < n and t[k] in _CLOSERS:
            k += 1
        if k >= n:
            return None if not final else (False, k)
        if not t[k].isspace():
            return False, k
        run = t[i:j]
        if "!" in run or "?" in run:
            return True, k
        if run == ".":
            verdict = self._after_period(i)
            if verdict is not None:
                return verdict, k
        # An ellipsis or a "maybe final" abbreviation: look at the next word.
        m = k
        while m < n and t[m].isspace() and t[m] != "\n":
            m += 1
        if m >= n:
            return None if not final else (False, k)
        return _starts_sentence(t[m]), k

    def _after_period(self, i: int) -> bool | None:
        """Cut after the "." at `i`? None when the next word decides."""
        start = self._word_start if self._word_start is not None else i
        word = self._text[start:i].lstrip(_OPENERS)
        if not word:
            return True
        if word in _NEVER_FINAL or _UPPER_ACRONYM.fullmatch(word):
            return False
        if len(word) == 1 and word.isupper():
            return False
        if word.isdigit() and self._line_start and not self._text[:start].strip():
            return False
        if word.lower() in _MAYBE_FINAL or _LOWER_ACRONYM.fullmatch(word):
            return None
        return True


def _has_alnum(text: str) -> bool:
    return any(ch.isalnum() for ch in text)


def _starts_sentence(ch: str) -> bool:
    return ch == "\n" or ch.isupper() or ch.isdigit() or ch in _OPENERS


class ChunkSentences(FrameProcessor):
    """LLMToken… in; Sentence… out, then the turn's LLMDone.

    Protocol: tokens of one turn are chunked into `Sentence(text, index, turn_id)` frames,
    indexed from 0 per turn, with a ``sentence`` event (``index``, ``text``) for each.
    `LLMDone` flushes the rest and is forwarded; `EndOfStream` flushes a reply that got no
    `LLMDone`. A token from a newer turn drops any unfinished text and restarts the index;
    tokens from an older turn are stale and dropped (their `LLMDone` is forwarded).
    `Interrupt`/`Cancel` drop the unfinished text; the turn's indices keep counting, so no
    index is reused. Other frames pass through.
    """

    name = "chunk_sentences"

    def __init__(self, ctx: StageContext, settings: ChunkerSettings | None = None) -> None:
        super().__init__(ctx)
        self.chunker = SentenceChunker(settings or ctx.settings.chunker)
        self._reply_turn: int | None = None
        self._index = 0

    async def process(self, frame: Frame, outbox: Send) -> None:
        """Chunk tokens, flush on LLMDone, pass anything else through."""
        if isinstance(frame, LLMToken):
            if self._enter_turn(frame.turn_id):
                await self._send(self.chunker.feed(frame.text), frame.turn_id, outbox)
        elif isinstance(frame, LLMDone):
            if self._enter_turn(frame.turn_id):
                await self._send(self.chunker.flush(), frame.turn_id, outbox)
            await outbox.send(frame)
        else:
            await outbox.send(frame)

    async def flush(self, outbox: Send) -> None:
        """At end of stream, speak what is left of a reply that got no LLMDone."""
        if self._reply_turn is not None:
            await self._send(self.chunker.flush(), self._reply_turn, outbox)

    async def on_interrupt(self, frame: ControlFrame) -> None:
        """Drop the unfinished reply text."""
        self.chunker.reset()

    def _enter_turn(self, turn_id: int) -> bool:
        """Switch to `turn_id` if it is newer; False when the frame is from an older turn."""
        if self._reply_turn is None or turn_id > self._reply_turn:
            self._reply_turn = turn_id
            self._index = 0
            self.chunker.reset()
        return turn_id == self._reply_turn

    async def _send(self, pieces: list[str], turn_id: int, outbox: Send) -> None:
        for text in pieces:
            index = self._index
            self._index += 1
            await outbox.send(Sentence(text, index, turn_id=turn_id))
            self.emit(PipelineEventType.SENTENCE, turn_id=turn_id, index=index, text=text)
