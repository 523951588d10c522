"""What a reminder says on a lock screen.

Privacy rule 8: pushes are discreet by default — no exercise names, no sexual or
clinical words. A partner may write their own wording. Reminders only ever speak to
the partner about their own homework, never about the other partner (safety rules:
"has not done it yet" is pressure), so nothing here takes the couple as input.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # planning imports this module; only the type is needed here
    from notifications.planning import ReminderSettings

log = logging.getLogger(__name__)

# Shown when the partner keeps the discreet default: reads like any wellbeing app.
DISCREET_TITLE = "Reminder"
DISCREET_BODY = "Time for your check-in with yourself."
# Shown when the partner turned discreet off and wrote nothing of their own. Still
# names no exercise: the planner does not know which one is due, on purpose.
PLAIN_TITLE = "Tandem"
PLAIN_BODY = "A few minutes for this week's homework?"

# Longest custom wording we accept: what a lock screen shows without truncating.
MAX_TEXT_LENGTH = 120

# Any word *starting* with one of these is not discreet ("therap" covers therapy,
# therapist, therapeutic; "sex" covers sexual, sexuality, sexy). Stems are chosen long
# enough not to catch everyday words ("arous" but not "carousel": matching is on
# word starts only).
FORBIDDEN_STEMS: tuple[str, ...] = (
    "sex",
    "sensate",
    "sensual",
    "therap",
    "psychotherap",
    "psycholog",
    "psychiatr",
    "counsel",
    "clinic",
    "diagnos",
    "touch",
    "caress",
    "genital",
    "intima",
    "intercourse",
    "orgasm",
    "erot",
    "erogen",
    "arous",
    "libid",
    "foreplay",
    "masturbat",
    "porn",
    "vagin",
    "vulv",
    "clitor",
    "erect",
    "ejacul",
    "impoten",
    "dyspareun",
    "nipple",
    "breast",
    "condom",
    "lubric",
    "fetish",
    "undress",
)
# Whole words only: as stems these would catch innocent words (analysis, penitent,
# cocktail, Dickens, Scunthorpe, shaggy).
FORBIDDEN_WORDS: frozenset[str] = frozenset(
    {
        "anal",
        "penis",
        "penile",
        "lube",
        "kink",
        "kinky",
        "horny",
        "nude",
        "nudes",
        "naked",
        "bdsm",
        "desire",
        "lust",
        "treatment",
        # slang
        "ass",
        "arse",
        "bj",
        "boner",
        "boners",
        "bonk",
        "booty",
        "clit",
        "cock",
        "cocks",
        "cum",
        "cums",
        "cumming",
        "cunt",
        "dick",
        "dicks",
        "frisky",
        "naughty",
        "nookie",
        "nooky",
        "nsfw",
        "orgy",
        "orgies",
        "pussy",
        "pussies",
        "quickie",
        "shag",
        "shagging",
        "smut",
        "tits",
        "titty",
        "titties",
        "twat",
        "vibrator",
        "vibrators",
        "xxx",
    }
)
# Stems of slang, on word starts like FORBIDDEN_STEMS.
FORBIDDEN_SLANG_STEMS: tuple[str, ...] = (
    "fuck",
    "boob",
    "blowjob",
    "handjob",
    "jizz",
    "wank",
    "dildo",
    "spank",
    "threesome",
    "seduc",
    "slut",
    "whore",
    "lingerie",
)
# Several words that say it together.
FORBIDDEN_PHRASES: tuple[str, ...] = (
    "make love",
    "making love",
    "made love",
    "get laid",
    "getting laid",
    "netflix and chill",
)
# Not words, but just as telling on a shared lock screen.
FORBIDDEN_EMOJI: tuple[str, ...] = (
    "🍆", "🍑", "💦", "👅", "🔞", "🔥", "😈", "💋", "🫦", "🥵", "🌶", "😏", "🤤", "🍌", "🍒",
)  # fmt: skip

_WORD = re.compile(r"[^\W\d_]+")
_STEMS = FORBIDDEN_STEMS + FORBIDDEN_SLANG_STEMS
# Digits and symbols standing in for letters ("s3x", "p0rn", "$exy", "@nal").
_LEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i"}
)
_LEET_L = str.maketrans({"1": "l", "!": "l", "|": "l"})
# Cyrillic and Greek letters that look like Latin ones (a Cyrillic "e" in "sex"),
# written as escapes so that the source itself stays unambiguous.
_LOOKALIKES = str.maketrans(
    {
        "\u0430": "a",
        "\u0432": "b",
        "\u0435": "e",
        "\u043a": "k",
        "\u043c": "m",
        "\u043d": "h",
        "\u043e": "o",
        "\u0440": "p",
        "\u0441": "c",
        "\u0442": "t",
        "\u0443": "y",
        "\u0445": "x",
        "\u0456": "i",
        "\u0455": "s",
        "\u0458": "j",
        "\u03b1": "a",
        "\u03b5": "e",
        "\u03b9": "i",
        "\u03ba": "k",
        "\u03bd": "v",
        "\u03bf": "o",
        "\u03c1": "p",
        "\u03c4": "t",
        "\u03c5": "u",
        "\u03c7": "x",
    }
)
_STRETCHED = re.compile(r"(.)\1{2,}")
# A word with letters hidden behind asterisks or hashes ("f*ck", "s#x").
_MASKED = re.compile(r"[^\W\d_]*[*#]+[^\W\d_*#]*(?:[*#]+[^\W\d_*#]*)*")


def _fold(text: str) -> str:
    """Casefold and strip accents so "Thérapie" and "SEXUAL" are caught too."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _words(text: str) -> list[str]:
    """The words of `text` as written and as meant: with look-alike letters, digits and
    symbols read as letters ("s3x"), letters spelled out one by one ("s e x", "s.e.x")
    joined, and stretched letters ("hornyyy") shrunk."""
    folded = _fold(text).translate(_LOOKALIKES)
    out: list[str] = []
    for variant in (folded, folded.translate(_LEET), folded.translate(_LEET_L).translate(_LEET)):
        tokens = _WORD.findall(variant)
        run: list[str] = []
        for token in [*tokens, ""]:
            out.append(token)
            if len(token) == 1:
                run.append(token)
                continue
            if len(run) > 1:
                out.append("".join(run))
            run = []
        for token in tokens:
            if _STRETCHED.search(token):
                out.extend((_STRETCHED.sub(r"\1", token), _STRETCHED.sub(r"\1\1", token)))
    return [w for w in out if w]


def _forbidden(word: str) -> bool:
    return word in FORBIDDEN_WORDS or word.startswith(_STEMS)


def _unmasked(text: str) -> list[str]:
    """Forbidden words that a masked word ("f*ck") stands for."""
    out: list[str] = []
    for masked in _MASKED.findall(text):
        letters = masked.strip("*#")
        if len(letters) < 2 or masked.count("*") + masked.count("#") > 3:
            continue
        pattern = re.compile(re.sub(r"[*#]+", "[a-z]{1,2}", re.escape(masked).replace("\\", "")))
        out.extend(w for w in (*sorted(FORBIDDEN_WORDS), *_STEMS) if pattern.fullmatch(w))
    return out


def forbidden_terms(text: str) -> list[str]:
    """Return the words (and emoji) of `text` that are not discreet, in order, once each.

    Words are caught however they are disguised: case and accents, digits or symbols
    for letters, letters spaced or dotted apart, stretched letters, look-alike letters
    from other alphabets. The server uses this to tell a partner *why* their wording
    was refused.
    """
    found: list[str] = []
    words = _words(text) + _unmasked(_fold(text).translate(_LOOKALIKES))
    for word in words:
        if _forbidden(word) and word not in found:
            found.append(word)
    joined = " " + " ".join(_WORD.findall(_fold(text).translate(_LOOKALIKES))) + " "
    found.extend(p for p in FORBIDDEN_PHRASES if f" {p} " in joined and p not in found)
    found.extend(emoji for emoji in FORBIDDEN_EMOJI if emoji in text)
    return found


def is_discreet(text: str) -> bool:
    """True if `text` contains no sexual or clinical word that a lock screen could show."""
    return not forbidden_terms(text)


def reminder_text(settings: ReminderSettings) -> tuple[str, str]:
    """Return the `(title, body)` of a reminder push for one partner.

    The partner's own wording, when set, replaces the body. Otherwise the body is the
    discreet default, or — if the partner turned discreet off — a plain one naming
    the app. Never an exercise name, never the other partner.
    """
    own = settings.text.strip() if settings.text else ""
    title = DISCREET_TITLE if settings.discreet else PLAIN_TITLE
    if own:
        return title, own
    return title, DISCREET_BODY if settings.discreet else PLAIN_BODY
