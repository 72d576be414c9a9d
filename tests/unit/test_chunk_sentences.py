"""The sentence chunker and the chunk_sentences stage."""

from __future__ import annotations

import random
import re

import pytest

from vocable.config import ChunkerSettings, Settings
from vocable.frames import (
    AudioChunk,
    EndOfStream,
    Frame,
    Interrupt,
    LLMDone,
    LLMToken,
    PipelineEventType,
    Sentence,
    Transcript,
)
from vocable.pipeline.events import EventBus
from vocable.pipeline.runner import Pipeline
from vocable.pipeline.stage import StageContext
from vocable.pipeline.testing import run_stage
from vocable.stages.chunk_sentences import ChunkSentences, SentenceChunker

# A high first-clause minimum turns early clauses off, to test sentence rules alone.
NO_CLAUSE = ChunkerSettings(first_clause_min_words=40, first_phrase_min_words=0, max_words=40)


def chunk(text: str, settings: ChunkerSettings = NO_CLAUSE) -> list[str]:
    """Feed `text` whole, then flush."""
    chunker = SentenceChunker(settings)
    return chunker.feed(text) + chunker.flush()


def chunk_split(tokens: list[str], settings: ChunkerSettings = NO_CLAUSE) -> list[str]:
    chunker = SentenceChunker(settings)
    out: list[str] = []
    for token in tokens:
        out += chunker.feed(token)
    return out + chunker.flush()


def random_split(text: str, rng: random.Random) -> list[str]:
    cuts = sorted(rng.sample(range(1, len(text)), k=rng.randint(0, min(len(text) - 1, 40))))
    return [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]


SENTENCE_CASES: list[tuple[str, list[str]]] = [
    ("Hello there. How are you?", ["Hello there.", "How are you?"]),
    ("Wow! Really? Yes.", ["Wow!", "Really?", "Yes."]),
    ("Really?! No way!!", ["Really?!", "No way!!"]),
    ("Dr. Smith met Mr. Jones. They talked.", ["Dr. Smith met Mr. Jones.", "They talked."]),
    (
        "Mrs. Lee and Ms. Park live on St. James St. Nice.",
        ["Mrs. Lee and Ms. Park live on St. James St. Nice."],
    ),
    ("Cats vs. dogs is old. Next.", ["Cats vs. dogs is old.", "Next."]),
    ("Fruits, e.g. apples, are sweet. Yes.", ["Fruits, e.g. apples, are sweet.", "Yes."]),
    ("Use it, i.e. daily. Done.", ["Use it, i.e. daily.", "Done."]),
    ("Apples, pears, etc. are fruit. OK.", ["Apples, pears, etc. are fruit.", "OK."]),
    ("I like apples, pears, etc. They are good.", ["I like apples, pears, etc.", "They are good."]),
    ("J. R. R. Tolkien wrote it. Good.", ["J. R. R. Tolkien wrote it.", "Good."]),
    ("John F. Kennedy spoke. Yes.", ["John F. Kennedy spoke.", "Yes."]),
    ("The U.S. Army is big. True.", ["The U.S. Army is big.", "True."]),
    ("It opens at 9 a.m. on Monday. Come.", ["It opens at 9 a.m. on Monday.", "Come."]),
    ("It opens at 9 a.m. Come early.", ["It opens at 9 a.m.", "Come early."]),
    ("Pi is 3.14159. Nice.", ["Pi is 3.14159.", "Nice."]),
    ("It costs $3.50. Cheap.", ["It costs $3.50.", "Cheap."]),
    ("Use v1.2.3 now. Then update.", ["Use v1.2.3 now.", "Then update."]),
    ("It is 10:30 now. Hurry.", ["It is 10:30 now.", "Hurry."]),
    ("We counted 1,000,000 stars. Wow.", ["We counted 1,000,000 stars.", "Wow."]),
    ("The year was 1999. Then more.", ["The year was 1999.", "Then more."]),
    ("Well... maybe not. Hmm.", ["Well... maybe not.", "Hmm."]),
    ("Wait... What happened?", ["Wait...", "What happened?"]),
    ("So… we go. Then… Bye.", ["So… we go.", "Then…", "Bye."]),
    ('He said "Hi." Then he left.', ['He said "Hi."', "Then he left."]),
    ("She asked (twice.) Then stopped.", ["She asked (twice.)", "Then stopped."]),
    ("He said “yes.” She agreed.", ["He said “yes.”", "She agreed."]),
    (
        "Visit https://example.com/a?b=1.2 today. Or mail me@x.org. Bye.",
        ["Visit https://example.com/a?b=1.2 today.", "Or mail me@x.org.", "Bye."],
    ),
    ("See example.com. Then go.", ["See example.com.", "Then go."]),
    ("Loose . Period", ["Loose .", "Period"]),
    ("Plan B. Then go.", ["Plan B. Then go."]),
    ("No trailing punctuation", ["No trailing punctuation"]),
    ("Ends with abbreviation Dr.", ["Ends with abbreviation Dr."]),
    ("Ends with ellipsis...", ["Ends with ellipsis..."]),
    ("   ", []),
    ("... !!! ??", []),
    ("", []),
]


@pytest.mark.parametrize(("text", "expected"), SENTENCE_CASES)
def test_sentence_rules(text: str, expected: list[str]) -> None:
    assert chunk(text) == expected
    assert chunk_split(list(text)) == expected


MARKDOWN_CASES: list[tuple[str, list[str]]] = [
    ("**Paris** is the *capital*.", ["Paris is the capital."]),
    ("Use `pip install` and __init__ files.", ["Use pip install and init files."]),
    ("snake_case stays, 2 * 3 and 2*3 stay.", ["snake_case stays, 2 * 3 and 2*3 stay."]),
    ("## Summary\nParis it is.", ["Summary", "Paris it is."]),
    ("#1 hit song.", ["#1 hit song."]),
    (
        "Fruits:\n- apples\n- pears\n* plums\n+ figs",
        ["Fruits:", "apples", "pears", "plums", "figs"],
    ),
    ("  • one\n  ‣ two", ["one", "two"]),
    ("> quoted text.", ["quoted text."]),
    ("Steps:\n1. Open it.\n2. Close it.", ["Steps:", "1. Open it.", "2. Close it."]),
    ("1. First\n2. Second", ["1. First", "2. Second"]),
    ("First para.\n\nSecond para", ["First para.", "Second para"]),
    ("Line one\r\nLine two", ["Line one", "Line two"]),
    ("-5 degrees today.", ["-5 degrees today."]),
    ("---\n***\nText", ["Text"]),
    ("**\n", []),
]


@pytest.mark.parametrize(("text", "expected"), MARKDOWN_CASES)
def test_markdown_and_lines(text: str, expected: list[str]) -> None:
    assert chunk(text) == expected
    assert chunk_split(list(text)) == expected


def test_tokens_splitting_numbers_and_words() -> None:
    tokens = ["Pi", " is", " 3", ".", "14", ". Hel", "lo", " Dr", ".", " Who", "."]
    chunker = SentenceChunker(NO_CLAUSE)
    emitted = [chunker.feed(t) for t in tokens]
    # Nothing is emitted on "3." until "14" shows it is a decimal.
    assert emitted[:5] == [[], [], [], [], []]
    assert emitted[5] == ["Pi is 3.14."]
    assert chunker.flush() == ["Hello Dr. Who."]


def test_period_waits_for_next_character_only() -> None:
    chunker = SentenceChunker(NO_CLAUSE)
    assert chunker.feed("Done.") == []
    assert chunker.feed(" ") == ["Done."]
    assert chunker.feed("etc.") == []
    assert chunker.feed(" ") == []  # "etc." needs the next word
    assert chunker.feed("And") == ["etc."]


def test_exclamation_is_emitted_on_whitespace() -> None:
    chunker = SentenceChunker(NO_CLAUSE)
    assert chunker.feed("Hi!") == []
    assert chunker.feed(" ") == ["Hi!"]


# --- the early first clause -----------------------------------------------------------------

CLAUSE = ChunkerSettings(first_clause_min_words=4, first_phrase_min_words=0, max_words=40)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Well, the answer is simple, really: it is 42. Then, more, here.",
            ["Well, the answer is simple,", "really: it is 42.", "Then, more, here."],
        ),
        ("Yes, it is. Sure, fine.", ["Yes, it is.", "Sure, fine."]),
        ("The capital of France; Paris. Yes.", ["The capital of France;", "Paris.", "Yes."]),
        ("The answer to that — is 42.", ["The answer to that —", "is 42."]),
        ("The answer to that -- is 42.", ["The answer to that --", "is 42."]),
        ("The answer to that – is 42.", ["The answer to that –", "is 42."]),
        ("It is well-known in the field, yes.", ["It is well-known in the field,", "yes."]),
        ("We meet at 10:30 in the hall, ok.", ["We meet at 10:30 in the hall,", "ok."]),
        ("There are 1,000 people here, wow.", ["There are 1,000 people here,", "wow."]),
        (
            "One two three four, five, six seven eight, nine.",
            ["One two three four,", "five, six seven eight, nine."],
        ),
    ],
)
def test_early_first_clause(text: str, expected: list[str]) -> None:
    assert chunk(text, CLAUSE) == expected
    assert chunk_split(list(text), CLAUSE) == expected


def test_first_clause_is_emitted_as_soon_as_a_space_follows() -> None:
    chunker = SentenceChunker(CLAUSE)
    assert chunker.feed("Paris is the capital,") == []
    assert chunker.feed(" ") == ["Paris is the capital,"]
    assert chunker.feed("and it is big, and old, and fine") == []
    assert chunker.flush() == ["and it is big, and old, and fine"]


PHRASE = ChunkerSettings(first_clause_min_words=40, first_phrase_min_words=6, max_words=40)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Frozen water is a type of water which has reached a frozen state. It is ice.",
            ["Frozen water is a type of water", "which has reached a frozen state.", "It is ice."],
        ),
        (  # too few words before the joining word: no cut
            "Salt and pepper are the two most common spices and both are cheap.",
            ["Salt and pepper are the two most common spices", "and both are cheap."],
        ),
        (  # only the first piece is cut early
            "Yes. I like tea and coffee and cake and bread and jam and honey.",
            ["Yes.", "I like tea and coffee and cake and bread and jam and honey."],
        ),
        ("Android phones are sold by many firms.", ["Android phones are sold by many firms."]),
    ],
)
def test_early_first_phrase(text: str, expected: list[str]) -> None:
    assert chunk(text, PHRASE) == expected
    assert chunk_split(list(text), PHRASE) == expected


DEFAULT_PHRASE = ChunkerSettings(first_clause_min_words=40)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (  # a long subject ends before its verb
            "The king of the jungle is the jaguar.",
            ["The king of the jungle", "is the jaguar."],
        ),
        (  # before a preposition, once four words are in
            "There are 161 known continents in the world.",
            ["There are 161 known continents", "in the world."],
        ),
        (  # "of" binds too tightly to open a phrase
            "The boiling point of water is 100 degrees.",
            ["The boiling point of water", "is 100 degrees."],
        ),
        ("2 plus 2 is 4.", ["2 plus 2 is 4."]),  # three words before "is": too short to cut
        ("A spider has 8 legs.", ["A spider has 8 legs."]),
    ],
)
def test_default_first_phrase_words(text: str, expected: list[str]) -> None:
    assert chunk(text, DEFAULT_PHRASE) == expected
    assert chunk_split(list(text), DEFAULT_PHRASE) == expected


def test_first_phrase_words_come_from_settings() -> None:
    spanish = ChunkerSettings(
        first_clause_min_words=40, first_phrase_min_words=3, first_phrase_words=["que", "Es"]
    )
    assert chunk("El hielo flota sobre el agua que lo rodea.", spanish) == [
        "El hielo flota sobre el agua",
        "que lo rodea.",
    ]
    assert chunk("La capital de Francia es París.", spanish) == [
        "La capital de Francia",
        "es París.",
    ]


def test_each_reply_gets_its_own_early_clause() -> None:
    chunker = SentenceChunker(CLAUSE)
    text = "Paris is the capital, of France."
    assert chunker.feed(text) + chunker.flush() == ["Paris is the capital,", "of France."]
    assert chunker.feed(text) + chunker.flush() == ["Paris is the capital,", "of France."]


def test_reset_starts_a_new_reply() -> None:
    chunker = SentenceChunker(CLAUSE)
    assert chunker.feed("Something half") == []
    chunker.reset()
    assert chunker.pending_text == ""
    assert chunker.feed("Paris is the capital, ") == ["Paris is the capital,"]


def test_first_dropped_piece_keeps_clause_chance() -> None:
    assert chunk("...\nParis is the capital, of France.", CLAUSE) == [
        "Paris is the capital,",
        "of France.",
    ]


# --- max_words -------------------------------------------------------------------------------


def test_max_words_cut_at_word_boundary() -> None:
    settings = ChunkerSettings(first_clause_min_words=40, max_words=4)
    words = "one two three four five six seven eight nine ten"
    assert chunk(words, settings) == ["one two three four", "five six seven eight", "nine ten"]


def test_max_words_emits_once_the_word_is_complete() -> None:
    chunker = SentenceChunker(ChunkerSettings(first_clause_min_words=40, max_words=4))
    assert chunker.feed("one two three fo") == []
    assert chunker.feed("ur") == []  # "four" may still grow
    assert chunker.feed(" fi") == ["one two three four"]


def test_max_words_counts_only_spoken_words() -> None:
    settings = ChunkerSettings(first_clause_min_words=40, max_words=4)
    assert chunk("one — two — three — four five", settings) == [
        "one — two — three — four",
        "five",
    ]


def test_sentence_end_inside_max_words() -> None:
    settings = ChunkerSettings(first_clause_min_words=40, max_words=4)
    assert chunk("One two. Three four five six seven.", settings) == [
        "One two.",
        "Three four five six",
        "seven.",
    ]


# --- properties over random token splits -----------------------------------------------------

PROPERTY_TEXTS = [
    "Dr. Smith paid $3.50 for v1.2.3 at 10:30 a.m. on Monday. Then he left, happily; "
    "it was fine — mostly. Wait... Really?! Yes. Apples, pears, etc. are fruit. "
    'J. R. R. Tolkien said "Hi." The U.S. is big. Visit example.com/a?b=1.5 or mail '
    "me@x.org. The end…",
    "Here is a list:\n1. Open the door.\n2. Walk in, slowly.\n\n- one\n- two three\n"
    "That is all, really, and nothing more to add here whatsoever at all today.",
    "A very long sentence without any punctuation that keeps on going and going and going "
    "well past the limit of words so that it has to be cut somewhere sensible by the chunker "
    "and then it goes on a bit more",
    "Pi is about 3.14159, e is 2.71828, and 1,000,000 is a million. Hmm… okay. Bye!",
]
SETTINGS_GRID = [
    ChunkerSettings(first_clause_min_words=1, first_phrase_min_words=1, max_words=4),
    ChunkerSettings(first_clause_min_words=4, first_phrase_min_words=6, max_words=12),
    ChunkerSettings(first_clause_min_words=40, first_phrase_min_words=0, max_words=40),
]


@pytest.mark.parametrize("settings", SETTINGS_GRID, ids=["tight", "default-ish", "loose"])
@pytest.mark.parametrize("text", PROPERTY_TEXTS, ids=["mixed", "lists", "long", "numbers"])
def test_output_independent_of_token_split(text: str, settings: ChunkerSettings) -> None:
    expected = chunk(text, settings)
    assert chunk_split(list(text), settings) == expected
    rng = random.Random(f"{text[:10]}-{settings.max_words}")
    for _ in range(300):
        assert chunk_split(random_split(text, rng), settings) == expected


def assert_words_kept(source_words: list[str], pieces: list[str]) -> None:
    """Pieces hold the source words in order, whole, once; only unspeakable ones may go."""
    out_words = " ".join(pieces).split()
    speakable = [w for w in source_words if re.search(r"\w", w)]
    assert [w for w in out_words if re.search(r"\w", w)] == speakable
    remaining = iter(source_words)
    assert all(word in remaining for word in out_words), "not a subsequence of the source"


@pytest.mark.parametrize("settings", SETTINGS_GRID, ids=["tight", "default-ish", "loose"])
@pytest.mark.parametrize("text", PROPERTY_TEXTS, ids=["mixed", "lists", "long", "numbers"])
def test_no_word_lost_duplicated_or_split(text: str, settings: ChunkerSettings) -> None:
    pieces = chunk(text, settings)
    assert_words_kept([w for w in text.split() if w != "-"], pieces)
    assert all(piece == piece.strip() and "  " not in piece for piece in pieces)
    spoken_counts = [sum(bool(re.search(r"\w", w)) for w in p.split()) for p in pieces]
    assert max(spoken_counts) <= settings.max_words


def test_random_texts_property() -> None:
    """Random word soups: same output for any split, and every word kept whole."""
    vocab = [
        "Dr.", "Mr.", "etc.", "e.g.", "3.14", "$3.50", "10:30", "1,000", "U.S.", "a.m.",
        "J.", "word", "Word", "hello,", "yes;", "no:", "—", "well...", "Why?", "Stop!",
        "end.", "End.", '"quoted."', "(aside.)", "it’s", "v1.2.3", "x@y.org", "1.", "…",
    ]  # fmt: skip
    rng = random.Random(7)
    for _ in range(300):
        words = [rng.choice(vocab) for _ in range(rng.randint(1, 30))]
        text = " ".join(words)
        settings = rng.choice(SETTINGS_GRID)
        expected = chunk(text, settings)
        assert_words_kept(words, expected)
        for _ in range(3):
            assert chunk_split(random_split(text, rng), settings) == expected


# --- the stage --------------------------------------------------------------------------------


def tokens(text: str, turn_id: int, size: int = 3) -> list[Frame]:
    return [LLMToken(text[i : i + size], turn_id=turn_id) for i in range(0, len(text), size)]


@pytest.fixture
def ctx(settings: Settings) -> StageContext:
    return StageContext(settings=settings, bus=EventBus())


async def test_stage_emits_sentences_then_llm_done(ctx: StageContext) -> None:
    reply = "Paris is the capital of France. It is big, old and pretty! Bye"
    done = LLMDone(reply, turn_id=1)
    out = await run_stage(ChunkSentences(ctx), [*tokens(reply, 1), done])
    assert out == [
        Sentence("Paris is the capital of France.", 0, turn_id=1),
        Sentence("It is big, old and pretty!", 1, turn_id=1),
        Sentence("Bye", 2, turn_id=1),
        done,
    ]
    events = [e for e in ctx.bus.log if e.kind is PipelineEventType.SENTENCE]
    assert [(e.stage, e.turn_id, e.payload) for e in events] == [
        ("chunk_sentences", 1, {"index": 0, "text": "Paris is the capital of France."}),
        ("chunk_sentences", 1, {"index": 1, "text": "It is big, old and pretty!"}),
        ("chunk_sentences", 1, {"index": 2, "text": "Bye"}),
    ]


async def test_stage_early_clause_uses_settings(ctx: StageContext) -> None:
    reply = "Well, the capital of France, as you know, is Paris."
    out = await run_stage(ChunkSentences(ctx), [*tokens(reply, 0), LLMDone(reply)])
    assert [f.text for f in out if isinstance(f, Sentence)] == [
        "Well, the capital of France,",
        "as you know, is Paris.",
    ]
    narrow = ChunkerSettings(first_clause_min_words=40, first_phrase_min_words=0, max_words=40)
    out = await run_stage(ChunkSentences(ctx, narrow), [*tokens(reply, 0), LLMDone(reply)])
    assert [f.text for f in out if isinstance(f, Sentence)] == [reply]


async def test_stage_new_turn_resets_index_and_text(ctx: StageContext) -> None:
    frames: list[Frame] = [
        *tokens("First turn. Unfinished and abandoned", 1),
        *tokens("Second turn. Done.", 2),
        LLMDone("Second turn. Done.", turn_id=2),
    ]
    out = await run_stage(ChunkSentences(ctx), frames)
    sentences = [(f.text, f.index, f.turn_id) for f in out if isinstance(f, Sentence)]
    assert sentences == [("First turn.", 0, 1), ("Second turn.", 0, 2), ("Done.", 1, 2)]


async def test_stage_drops_stale_tokens_from_older_turn(ctx: StageContext) -> None:
    frames: list[Frame] = [
        *tokens("New turn here. ", 3),
        LLMToken("Stale words. ", turn_id=2),
        LLMDone("stale", turn_id=2),
        LLMDone("New turn here.", turn_id=3),
    ]
    out = await run_stage(ChunkSentences(ctx), frames)
    assert [(f.text, f.turn_id) for f in out if isinstance(f, Sentence)] == [("New turn here.", 3)]
    assert [f.turn_id for f in out if isinstance(f, LLMDone)] == [2, 3]


async def test_stage_interrupt_drops_unfinished_text(ctx: StageContext) -> None:
    # Driven step by step: an Interrupt sent with the tokens would drop them from the inbox.
    async with Pipeline([ChunkSentences(ctx)]) as pipe:
        for frame in tokens("Spoken already. Half a sent", 1):
            await pipe.send(frame)
        assert await pipe.receive() == Sentence("Spoken already.", 0, turn_id=1)
        await pipe.send(Interrupt(turn_id=1))
        assert isinstance(await pipe.receive(), Interrupt)
        for frame in [*tokens("Fresh start.", 1), LLMDone("Fresh start.", turn_id=1)]:
            await pipe.send(frame)
        await pipe.end()
        rest = [frame async for frame in pipe]
    assert rest == [
        Sentence("Fresh start.", 1, turn_id=1),
        LLMDone("Fresh start.", turn_id=1),
        EndOfStream(),
    ]


async def test_stage_flushes_at_end_of_stream_without_llm_done(ctx: StageContext) -> None:
    out = await run_stage(ChunkSentences(ctx), tokens("One. Two", 4))
    assert out == [Sentence("One.", 0, turn_id=4), Sentence("Two", 1, turn_id=4)]


async def test_stage_passes_other_frames_through(ctx: StageContext) -> None:
    other: list[Frame] = [
        Transcript("hi", turn_id=1),
        AudioChunk(b"\x00\x00", 16000, turn_id=1),
    ]
    out = await run_stage(ChunkSentences(ctx), other)
    assert out == other
    assert not any(isinstance(f, EndOfStream) for f in out)
