"""``vocable bench memory``: recall quality and speed of semantic memory on generated facts.

The corpus is generated from templates with a fixed seed: facts about people and things
("Maya lives in Porto.") and, for a sample of them, a question that paraphrases the fact
without repeating its wording ("Which city is Maya based in?"). Reported:

- recall@1, @3 and @5: the share of questions whose fact is among the first k results;
- retrieval p50/p95 with the embedding cache cold (cleared before each query) and warm;
- the LRU hit rate over a replayed conversation (a seeded mix of repeated and new utterances,
  each embedded as a turn would: the utterance for the memory lookup, as the intent path does);
- embeddings per second, batched and one text at a time.
"""

from __future__ import annotations

import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vocable.bench.machine import machine_info
from vocable.bench.stats import distribution, percentile
from vocable.config import Settings
from vocable.engines.embed.cache import CachedEmbedder
from vocable.engines.embed.loader import load_uncached
from vocable.memory.semantic import SemanticMemory
from vocable.storage.db import Database
from vocable.storage.repo import get_or_create_user

NAMES = (
    "Maya Ana Bruno Clara Dev Elena Farid Greta Hugo Iris Jonas Kemal Lena Mateo Nadia Oskar "
    "Priya Quentin Rosa Sami Tara Umar Vera Wim Yusuf Zoe Alba Boris Chiara Dario"
).split()
CITIES = "Porto Lyon Krakow Osaka Denver Tallinn Nairobi Quito Bergen Adelaide".split()
JOBS = "nurse carpenter pilot teacher chemist baker lawyer architect plumber librarian".split()
FOODS = "ramen paella lasagne sushi tacos curry pierogi falafel risotto dumplings".split()
INSTRUMENTS = "cello violin trumpet piano drums flute harp saxophone banjo accordion".split()
PETS = "Biscuit Pepper Luna Mango Ziggy Olive Rocket Pickles Nemo Tofu".split()
ALLERGENS = "peanuts shellfish pollen penicillin cats latex eggs wasps dust gluten".split()
MONTHS = "January March April June July August September October November December".split()
SPORTS = "tennis rowing climbing chess judo fencing cycling surfing curling golf".split()
LANGS = "Finnish Greek Swahili Korean Dutch Turkish Hindi Welsh Czech Tagalog".split()
CARS = "a red hatchback|a blue van|a green pickup|a silver estate|a black coupe".split("|")

# (fact template, paraphrased question templates, slot values)
TEMPLATES: tuple[tuple[str, tuple[str, ...], list[str]], ...] = (
    ("{n} lives in {v}.", ("Which city is {n} based in?", "Where is {n}'s home?"), CITIES),
    (
        "{n} works as a {v}.",
        ("What is {n}'s occupation?", "What does {n} do for a living?"),
        JOBS,
    ),
    (
        "{n}'s favourite food is {v}.",
        ("What dish does {n} love most?", "What does {n} like to eat best?"),
        FOODS,
    ),
    (
        "{n} plays the {v}.",
        ("Which instrument can {n} play?", "What music does {n} make?"),
        INSTRUMENTS,
    ),
    (
        "{n}'s dog is called {v}.",
        ("What is the name of {n}'s pet?", "What's {n}'s puppy named?"),
        PETS,
    ),
    ("{n} is allergic to {v}.", ("What allergy does {n} have?", "What must {n} avoid?"), ALLERGENS),
    (
        "{n}'s birthday is in {v}.",
        ("When was {n} born?", "Which month does {n} celebrate turning a year older?"),
        MONTHS,
    ),
    (
        "{n} practises {v} every weekend.",
        ("What sport does {n} do?", "How does {n} keep fit?"),
        SPORTS,
    ),
    (
        "{n} is learning {v}.",
        ("Which language is {n} studying?", "What tongue is {n} trying to speak?"),
        LANGS,
    ),
    ("{n} drives {v}.", ("What car does {n} have?", "What vehicle does {n} own?"), CARS),
)
CHATTER = (
    "what time is it",
    "set a timer for ten minutes",
    "what's the weather like",
    "thanks",
    "tell me a joke",
    "what is 17 times 23",
    "stop",
)


@dataclass(frozen=True, slots=True)
class Corpus:
    """Facts, and (question, index of the fact it asks about) pairs."""

    facts: list[str]
    questions: list[tuple[str, int]]


def make_corpus(n_facts: int = 200, n_questions: int = 50, seed: int = 0) -> Corpus:
    """Generate `n_facts` distinct facts and `n_questions` paraphrased questions, seeded."""
    rng = random.Random(seed)
    pairs = [(name, t) for name in NAMES for t in range(len(TEMPLATES))]
    if n_facts > len(pairs):
        raise ValueError(f"at most {len(pairs)} facts can be generated")
    chosen = rng.sample(pairs, n_facts)
    facts: list[str] = []
    asks: list[tuple[str, ...]] = []
    for name, t in chosen:
        template, questions, values = TEMPLATES[t]
        facts.append(template.format(n=name, v=rng.choice(values)))
        asks.append(tuple(q.format(n=name) for q in questions))
    picked = rng.sample(range(n_facts), min(n_questions, n_facts))
    return Corpus(facts, [(rng.choice(asks[i]), i) for i in picked])


def conversation_replay(corpus: Corpus, turns: int = 200, seed: int = 0) -> list[str]:
    """User utterances of a long conversation: chatter and questions, many repeated."""
    rng = random.Random(seed + 1)
    pool = [q for q, _ in corpus.questions[:20]] + list(CHATTER)
    weights = [1.0 / (rank + 1) for rank in range(len(pool))]  # Zipf-like: a few dominate
    rng.shuffle(pool)
    return rng.choices(pool, weights=weights, k=turns)


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000


async def run_memory_bench(
    settings: Settings,
    *,
    n_facts: int = 200,
    n_questions: int = 50,
    seed: int = 0,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Run the bench on a temporary SQLite database; returns the result object."""
    corpus = make_corpus(n_facts, n_questions, seed)
    progress(f"loading the {settings.memory.embed_engine} embedder…")
    start = time.perf_counter()
    inner = await load_uncached(settings)
    load_s = time.perf_counter() - start
    embedder = CachedEmbedder(inner, settings.memory.embed_cache_size)
    try:
        with tempfile.TemporaryDirectory(prefix="vocable-bench-memory-") as tmp:
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'memory.db'}"
            db = await Database.open(settings.storage, url=url)
            try:
                return await _measure(settings, db, embedder, corpus, load_s, progress) | {
                    "seed": seed
                }
            finally:
                await db.close()
    finally:
        await embedder.close()


async def _measure(
    settings: Settings,
    db: Database,
    embedder: CachedEmbedder,
    corpus: Corpus,
    load_s: float,
    progress: Callable[[str], None],
) -> dict[str, Any]:
    inner = embedder.inner
    memory = SemanticMemory(db, embedder, settings.memory)
    async with db.uow() as tx:
        user_id = int((await get_or_create_user(tx, name="bench")).id)
    progress(f"embedding {len(corpus.facts)} facts…")
    await inner.embed(corpus.facts[:8])  # warm-up
    start = time.perf_counter()
    await inner.embed(corpus.facts)
    batch_s = time.perf_counter() - start
    single_ms = []
    for fact in corpus.facts[:20]:
        start = time.perf_counter()
        await inner.embed([fact])
        single_ms.append(_ms(start))
    ids = [await memory.remember(user_id=user_id, text=fact) for fact in corpus.facts]
    progress(f"asking {len(corpus.questions)} questions, cache cold then warm…")
    ranks: list[int | None] = []
    cold_ms: list[float] = []
    for question, index in corpus.questions:
        embedder.clear()
        start = time.perf_counter()
        hits = await memory.recall(user_id=user_id, query=question, k=5)
        cold_ms.append(_ms(start))
        found = [h.id for h in hits]
        ranks.append(found.index(ids[index]) if ids[index] in found else None)
    warm_ms: list[float] = []
    for question, _ in corpus.questions:
        await memory.recall(user_id=user_id, query=question, k=5)  # fills the cache
        start = time.perf_counter()
        await memory.recall(user_id=user_id, query=question, k=5)
        warm_ms.append(_ms(start))
    progress("replaying a conversation through the cache…")
    embedder.clear()
    embedder.reset_stats()
    replay = conversation_replay(corpus)
    for utterance in replay:
        await memory.recall(user_id=user_id, query=utterance, k=3)
    n = len(corpus.questions)
    recall = {
        f"recall_at_{k}_ratio": sum(r is not None and r < k for r in ranks) / n for k in (1, 3, 5)
    }
    return {
        "bench": "memory",
        "n": n,
        "facts": len(corpus.facts),
        **recall,
        **distribution("retrieval_cold", cold_ms),
        **distribution("retrieval_warm", warm_ms),
        "lru_hit_rate_ratio": round(embedder.hit_rate, 3),
        "lru_replay_turns": len(replay),
        "lru_size": embedder.size,
        "embeddings_per_s": round(len(corpus.facts) / batch_s, 1),
        "single_embed_p50_ms": percentile(single_ms, 50),
        "embedder_load_s": round(load_s, 2),
        "vector_search": await memory.vector_path(),
        "model": embedder.model_name,
        "dim": embedder.dim,
        "machine": machine_info({"embed": inner.info.as_dict()}),
    }


def summary_line(result: dict[str, Any]) -> str:
    """The one-line human summary."""
    return (
        f"memory ({result['model']}, {result['vector_search']}): "
        f"recall@1 {result['recall_at_1_ratio']:.2f} @3 {result['recall_at_3_ratio']:.2f} "
        f"@5 {result['recall_at_5_ratio']:.2f} on {result['n']} questions over "
        f"{result['facts']} facts; retrieval p50/p95 cold {result['retrieval_cold_p50_ms']}/"
        f"{result['retrieval_cold_p95_ms']} ms, warm {result['retrieval_warm_p50_ms']}/"
        f"{result['retrieval_warm_p95_ms']} ms; LRU hit rate {result['lru_hit_rate_ratio']:.2f}; "
        f"{result['embeddings_per_s']} embeddings/s"
    )
