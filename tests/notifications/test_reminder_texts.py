"""What a reminder shows on a lock screen (privacy rule 8, safety rules)."""

import re

import pytest

from notifications.planning import ReminderSettings
from notifications.texts import (
    DISCREET_BODY,
    DISCREET_TITLE,
    PLAIN_BODY,
    PLAIN_TITLE,
    forbidden_terms,
    is_discreet,
    reminder_text,
)

# Words that would point at the other partner ("has not done it yet" is pressure).
PARTNER_WORDS = re.compile(
    r"\b(partner|husband|wife|spouse|boyfriend|girlfriend|other|both|together|"
    r"they|them|their|he|she|his|her|yet)\b",
    re.IGNORECASE,
)


@pytest.mark.parametrize(
    "text",
    [
        "sex",
        "Sexual wellbeing",
        "Be sexy tonight",
        "Sensate focus, stage 2",
        "therapy homework",
        "Message your therapist",
        "Thérapie de couple",
        "Touch time",
        "non-genital touching",
        "Intimacy hour",
        "be intimate",
        "Arousal journal",
        "clinical check",
        "counselling at 8",
        "Orgasm diary",
        "desire discrepancy talk",
        "get naked",
        "Tonight 🍆",
        "INTERCOURSE",
    ],
)
def test_sexual_and_clinical_words_are_not_discreet(text: str) -> None:
    assert not is_discreet(text)


@pytest.mark.parametrize(
    "text",
    [
        DISCREET_BODY,
        PLAIN_BODY,
        "Time for a walk",
        "Analysis of the week",  # "anal" is a whole word only
        "Ride the carousel",  # "arous" only at a word start
        "Be patient with yourself",
        "Water the plants 🌱",
        "",
    ],
)
def test_everyday_words_are_discreet(text: str) -> None:
    assert is_discreet(text)


def test_forbidden_terms_are_listed_once_in_order() -> None:
    assert forbidden_terms("Therapy, sex and more therapy 🍑") == ["therapy", "sex", "🍑"]


@pytest.mark.parametrize(
    ("discreet", "text", "expected"),
    [
        (True, None, (DISCREET_TITLE, DISCREET_BODY)),
        (False, None, (PLAIN_TITLE, PLAIN_BODY)),
        (True, "Plants need water", (DISCREET_TITLE, "Plants need water")),
        (False, "Our evening ritual", (PLAIN_TITLE, "Our evening ritual")),
        (True, "  Tea time  ", (DISCREET_TITLE, "Tea time")),
        (True, "   ", (DISCREET_TITLE, DISCREET_BODY)),
    ],
)
def test_reminder_text(discreet: bool, text: str | None, expected: tuple[str, str]) -> None:
    settings = ReminderSettings("Europe/London", discreet=discreet, text=text)
    assert reminder_text(settings) == expected


@pytest.mark.parametrize("words", [(DISCREET_TITLE, DISCREET_BODY), (PLAIN_TITLE, PLAIN_BODY)])
def test_default_texts_are_discreet_and_never_mention_the_other_partner(
    words: tuple[str, str],
) -> None:
    for text in words:
        assert is_discreet(text)
        assert not PARTNER_WORDS.search(text)


def test_default_discreet_text_does_not_name_the_app() -> None:
    assert "tandem" not in " ".join((DISCREET_TITLE, DISCREET_BODY)).casefold()


# Issue 14, point 12: slang, emoji and disguised spellings are caught too.
@pytest.mark.parametrize(
    ("text", "caught"),
    [
        ("Bedtime 🍆", "🍆"),
        ("🍑 o'clock", "🍑"),
        ("💦💦", "💦"),
        ("Tonight 🔥", "🔥"),
        ("😈 later", "😈"),
        ("👅", "👅"),
        ("spicy 🌶️ evening", "🌶"),
        ("💋 x", "💋"),
        ("Time to fuck", "fuck"),
        ("FUCKING finally", "fucking"),
        ("shag time", "shag"),
        ("boobs!", "boobs"),
        ("Quickie?", "quickie"),
        ("feeling frisky", "frisky"),
        ("naughty o'clock", "naughty"),
        ("nsfw reminder", "nsfw"),
        ("make love", "make love"),
        ("Let's get  laid", "get laid"),
        ("s3x", "sex"),
        ("S3XY time", "sexy"),
        ("$exy", "sexy"),
        ("p0rn", "porn"),
        ("h0rny", "horny"),
        ("0rg@sm", "orgasm"),
        ("S E X", "sex"),
        ("s.e.x tonight", "sex"),
        ("s-e-x", "sex"),
        ("n a k e d", "naked"),
        ("hornyyyy", "horny"),
        ("seeexxx", "sex"),
        ("f*ck", "fuck"),
        ("s#x", "sex"),
        ("s\u0435x", "sex"),  # a Cyrillic "e"
        ("\u0440orn", "porn"),  # a Cyrillic "p"
        ("Th3r@py", "therapy"),
    ],
)
def test_slang_emoji_and_disguises_are_not_discreet(text: str, caught: str) -> None:
    assert not is_discreet(text)
    assert caught in forbidden_terms(text)


@pytest.mark.parametrize(
    "text",
    [
        "Cocktail hour",  # "cock" is a whole word only
        "Read Dickens",
        "Trip to Scunthorpe",
        "Class assessment",
        "Hump day",
        "Shaggy dog walk",
        "Call Mum at 5",
        "Buy 4 x 4 tiles",
        "Tea at 7:30",
        "#1 priority: rest",
        "Be kind*",
        "a b c",
        "Sussex trip",  # "sex" only at a word start
        "Essex",
        "Good morning 🌞",
    ],
)
def test_everyday_text_with_digits_and_symbols_stays_discreet(text: str) -> None:
    assert is_discreet(text), forbidden_terms(text)
