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
# Whole words only: as stems these would catch innocent words (analysis, penitent).
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
    }
)
# Not words, but just as telling on a shared lock screen.
FORBIDDEN_EMOJI: tuple[str, ...] = ("🍆", "🍑", "💦", "👅", "🔞")

_WORD = re.compile(r"[^\W\d_]+")


def _fold(text: str) -> str:
    """Casefold and strip accents so "Thérapie" and "SEXUAL" are caught too."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def forbidden_terms(text: str) -> list[str]:
    """Return the words (and emoji) of `text` that are not discreet, in order, once each.

    The server uses this to tell a partner *why* their wording was refused.
    """
    found: list[str] = []
    for word in _WORD.findall(_fold(text)):
        if (word in FORBIDDEN_WORDS or word.startswith(FORBIDDEN_STEMS)) and word not in found:
            found.append(word)
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
