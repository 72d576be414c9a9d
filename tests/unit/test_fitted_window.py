import pytest

from vocable.engines.stt.fitted_window import cut_repetition


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("What is the capital of France?", "What is the capital of France?"),
        ("What is it? What is it? What is", "What is it?"),
        ("How many days are there? How many", "How many days are there?"),
        (
            "which animal is known as the king, which animal is known",
            "which animal is known as the king.",
        ),
        (  # two opening words after a comma, cut short by the token budget
            "which animal is known as the king of the jungle, which animal",
            "which animal is known as the king of the jungle.",
        ),
        ("Well, well, let me see", "Well, well, let me see"),  # one word after a comma: kept
        ("It is red, it is blue", "It is red, it is blue"),  # the third word differs: kept
        ("Yes. Yes.", "Yes."),
        # the budget stopped inside the opening word of the repeat
        ("Uro-Tromio and Juliet. Uro", "Uro-Tromio and Juliet."),
        ("How many days are there? How ma", "How many days are there?"),
        ("Tell me. Then go", "Tell me. Then go"),  # a new sentence, not the opening again
        ("Hello there, Hel", "Hello there, Hel"),  # one word after a comma: kept
        ("I think I can do it", "I think I can do it"),  # "I" recurs, but not after a sentence end
        ("no no no no", "no"),  # a spoken run of one word cannot be told from a repeat
        ("", ""),
    ],
)
def test_cut_repetition(text: str, expected: str) -> None:
    assert cut_repetition(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # going round without a sentence end: cut, and no mark is made up
        ("Uro-Tromio and Juliet Uro-", "Uro-Tromio and Juliet"),
        ("You wrote Romeo and Juliet You wrote Ro", "You wrote Romeo and Juliet"),
        (
            "You wrote Romeo and Juliet Romeo and Juliet Romeo and Juliet Romeo and",
            "You wrote Romeo and Juliet",
        ),
        ("what is the boiling, the boiling, the", "what is the boiling"),
        ("What is it? What is it? What is", "What is it?"),  # the rules before still hold
        ("What is the capital of France?", "What is the capital of France?"),
        ("I think that that is all", "I think that that is all"),  # one word twice: kept
    ],
)
def test_cut_repetition_when_the_token_budget_ran_out(text: str, expected: str) -> None:
    assert cut_repetition(text, ran_out=True) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (  # three words twice in a row: the model going round, budget or not
            "You wrote Romeo and Juliet Romeo and Juliet Romeo and Juliet Romeo and",
            "You wrote Romeo and Juliet",
        ),
        ("Uro-Tromio and Juliet Uro-", "Uro-Tromio and Juliet"),  # the opening again, cut off
        ("New York New York", "New York New York"),  # two words twice: a speaker may say that
        ("Hello there, Hel", "Hello there, Hel"),  # no dash: the word may be the speaker's
    ],
)
def test_a_loop_is_cut_without_the_budget_running_out(text: str, expected: str) -> None:
    assert cut_repetition(text) == expected
