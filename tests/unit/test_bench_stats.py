import pytest

from vocable.bench.stats import distribution, percentile, word_error_rate


def test_percentiles() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.5
    assert percentile(values, 95) == 95.0
    assert percentile([], 50) is None
    assert distribution("stt", [1.0, 3.0]) == {"stt_p50_ms": 2.0, "stt_p95_ms": 2.9}
    # A real-time factor of 0.04 must not read as 0.0.
    rtf = distribution("tts", [0.04, 0.05], unit="rtf", digits=3)
    assert rtf == {"tts_p50_rtf": 0.045, "tts_p95_rtf": 0.05}


@pytest.mark.parametrize(
    ("ref", "hyp", "expected"),
    [
        ("What is the capital of France?", "what is the capital of france", 0.0),
        ("What is the capital of France?", "What is the capa to love friends?", 4 / 6),
        ("one two three", "one three", 1 / 3),
        ("one two", "one two three four", 1.0),
        ("", "", 0.0),
        ("", "noise", 1.0),
    ],
)
def test_word_error_rate(ref: str, hyp: str, expected: float) -> None:
    assert word_error_rate(ref, hyp) == pytest.approx(expected)
