"""Whisper on an encoder window fitted to the utterance instead of the fixed 30 s.

Whisper pads every input to 30 s, so its encoder costs the same for a 2 s question as for 30 s of
speech: about 350 ms for tiny.en on two cores. The CTranslate2 encoder accepts shorter inputs, and
a window of the utterance plus `PAD_S` of silence costs a fraction of that. The model was trained
on full windows, so decoding on a short one tends to repeat the sentence instead of ending: the
token budget is bounded by the audio length, and a repeat of the opening words is cut off.
`vocable bench turn` reports the word error rate, so the trade is measured, not assumed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 16000
PAD_S = 1.5
"""Silence appended after the speech; shorter pads recognise worse on synthetic voices."""
MAX_FIT_S = 25.0
"""Longer audio goes through the full 30 s window."""
TOKENS_PER_S = 6
"""Token budget per second of audio (speech runs at about 3 words, 4 tokens, a second)."""
_REPEAT_WORDS = 3


def transcribe_fitted(model: Any, samples: npt.NDArray[np.float32], language: str | None) -> str:
    """Transcribe `samples` (16 kHz mono, at most `MAX_FIT_S`) with a fitted encoder window.

    Args:
        model: A loaded ``faster_whisper.WhisperModel``.
        samples: The utterance.
        language: Language code for multilingual models (ignored by ``.en`` models).
    """
    import ctranslate2
    from faster_whisper.tokenizer import Tokenizer

    padded = np.zeros(len(samples) + int(PAD_S * SAMPLE_RATE), np.float32)
    padded[: len(samples)] = samples
    features = model.feature_extractor(padded)
    frames = features.shape[-1] - features.shape[-1] % 2  # the encoder's conv has stride 2
    batch = np.ascontiguousarray(features[None, :, :frames], dtype=np.float32)
    encoded = model.model.encode(ctranslate2.StorageView.from_array(batch), to_cpu=False)
    tokenizer = Tokenizer(
        model.hf_tokenizer,
        model.model.is_multilingual,
        task="transcribe",
        language=language or "en",
    )
    prompt = [*tokenizer.sot_sequence, tokenizer.no_timestamps]
    budget = int(len(samples) / SAMPLE_RATE * TOKENS_PER_S) + 10
    result = model.model.generate(
        encoded,
        [prompt],
        beam_size=1,
        max_length=len(prompt) + budget,
        suppress_blank=True,
        suppress_tokens=[-1],
    )
    tokens = [t for t in result[0].sequences_ids[0] if t < tokenizer.eot]
    return cut_repetition(tokenizer.decode(tokens).strip(), ran_out=len(tokens) >= budget)


def cut_repetition(text: str, *, ran_out: bool = False) -> str:
    """Drop everything from the first place where the opening words come round again.

    A repeat counts after a sentence end when what follows starts like the text does (the token
    budget may cut it short, even inside a word: "Uro-Tromio and Juliet. Uro"), after a comma when
    two or more opening words run to the end of the text, and anywhere when `_REPEAT_WORDS`
    opening words recur. The model starting over means the sentence before was finished, so a
    comma it ended on becomes a full stop.

    Two more repeats count with no sentence end before them, as the model going round: a run of
    three or more words said twice in a row ("You wrote Romeo and Juliet Romeo and Juliet Romeo
    and"; two words where the token budget `ran_out`), and the opening words again up to an end
    cut off by a dash or by the budget ("Uro-Tromio and Juliet Uro-"). Those keep no mark, so the
    turn's end stays uncertain.
    """
    words = text.split()

    def key(chunk: list[str]) -> list[str]:
        return [w.lower().strip(".,?!;:-") for w in chunk]

    cut_off = ran_out or (bool(words) and words[-1].endswith("-"))
    looped = _loop_start(key(words), restart=cut_off, run=2 if ran_out else 3)
    if looped is not None:
        return cut_repetition(" ".join(words[:looped]).rstrip(",;:-"))

    for start in range(1, len(words)):
        following = key(words[start : start + _REPEAT_WORDS])
        opening = key(words[: len(following)])
        to_end = start + len(following) == len(words)
        cut_short = (  # the budget ended the text inside the repeat's last word
            to_end
            and following[:-1] == opening[:-1]
            and bool(following[-1])
            and opening[-1].startswith(following[-1])
        )
        if following != opening and not cut_short:
            continue
        mark = words[start - 1][-1]
        if (
            len(following) == _REPEAT_WORDS
            or mark in ".?!"
            or (mark == "," and len(following) >= 2 and to_end)
        ):
            kept = " ".join(words[:start])
            return kept[:-1] + "." if kept.endswith(",") else kept
    return text


def _loop_start(words: list[str], *, restart: bool, run: int) -> int | None:
    """Where `words` start going round, or None.

    That is the second of two like runs of `run` or more words in a row (the earliest, then the
    shortest), or, with `restart`, a restart of the opening that runs to the end.
    """
    for start in range(len(words)):
        for size in range(run, (len(words) - start) // 2 + 1):
            if words[start : start + size] == words[start + size : start + 2 * size]:
                return start + size
    for start in range(1, len(words) if restart else 0):
        tail = words[start:]
        if (
            tail[:-1] == words[: len(tail) - 1]
            and tail[-1]
            and words[len(tail) - 1].startswith(tail[-1])
        ):
            return start
    return None
