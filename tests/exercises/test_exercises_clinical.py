"""Issue 14: the catalog read as a sex therapist would. One test per rule change, on the
pure package and the shipped content (the HTTP side is tests/api/test_catalog_clinical.py).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from exercises.catalog import Catalog, check_catalog
from exercises.forms import flags_from_answers, is_declined, partner_hidden_keys, validate_answers
from exercises.model import (
    DECLINED_KEY,
    READY_KEY,
    Criteria,
    Exercise,
    Program,
    Stage,
    StageItem,
    without_therapist_notes,
)
from exercises.program import CheckinRecord, homework, suggest_advancement
from tests.exercises.conftest import Edit
from tests.exercises.published import published_v1_catalog

SF = "exercises/sensate_focus.yaml"
COMM = "exercises/communication.yaml"
STEPS = ("sf-1-nongenital-touch", "sf-2-genital-touch", "sf-3-mutual-touch",
         "sf-4-genital-contact", "sf-5-containment", "sf-6-pleasure-together")  # fmt: skip
BAN_STEPS = STEPS[:3]  # the steps before any ban is lifted
CALM = {
    "duration_minutes": 30,
    "initiated_by": "Me",
    "anxiety": 2,
    "pain": 0,
    "distress": 1,
    "within_limits": True,
    "pressured": False,
    "stopped": False,
    "unsafe": False,
    "ready_to_move_on": True,
}


def flat(text: str | None) -> str:
    """Markdown with its line breaks folded, so phrases can be looked for."""
    return " ".join((text or "").split())


def _joint_steps(catalog: Catalog) -> list[Exercise]:
    return [catalog.exercise(slug) for slug in STEPS]


# --- versions: published meaning never changes ------------------------------------------


def test_every_changed_item_has_a_new_version_and_no_key_lost_its_meaning(
    catalog: Catalog,
) -> None:
    published = published_v1_catalog()
    for kind in ("exercises", "programs"):
        old_items = getattr(published, kind)
        new_items = getattr(catalog, kind)
        assert set(old_items) <= set(new_items), f"a published {kind} slug disappeared"
        for slug, old in old_items.items():
            new = new_items[slug]
            assert new.version >= old.version, slug
            if new.to_dict() != old.to_dict():
                assert new.version > old.version, f"{slug} changed without a version bump"
    bumped = {s for s, e in published.exercises.items() if catalog.exercise(s).version > e.version}
    assert set(STEPS[:5]) <= bumped  # the shared form changed: all five bumped together
    for slug, old in published.exercises.items():
        new_form = catalog.exercise(slug).form
        for question in old.form:
            kept = new_form.get(question.key)
            assert kept is not None, f"{slug}: key {question.key!r} was removed or renamed"
            assert (kept.type, kept.flag, kept.flag_at, kept.min, kept.max) == (
                question.type, question.flag, question.flag_at, question.min, question.max,
            ), f"{slug}: {question.key!r} changed type, flag or scale"  # fmt: skip


def test_new_questions_have_new_keys_and_are_optional(catalog: Catalog) -> None:
    published = published_v1_catalog()
    for slug in STEPS[:5]:
        old = set(published.exercise(slug).form.keys)
        new = catalog.exercise(slug).form
        added = [q for q in new if q.key not in old]
        assert {q.key for q in added} == {
            DECLINED_KEY, "stopped_early", "self_pressure", "ongoing_pain", "genital_discomfort",
        }  # fmt: skip
        # Optional, so that check-ins written for version 1's questions stay valid.
        assert all(not q.required and q.flag is None for q in added), slug


# --- therapist-only guidance ---------------------------------------------------------


def test_therapist_notes_are_loaded_and_validated(
    catalog: Catalog, seed_copy: Path, edit: Edit
) -> None:
    assert "screen each partner alone" in flat(catalog.exercise(STEPS[0]).therapist_notes).lower()
    course = catalog.program("sensate-focus-course")
    assert course.therapist_notes and any(stage.therapist_notes for stage in course.stages)

    def spoil(data: list[dict[str, object]]) -> None:
        data[0]["therapist_notes"] = "   "
        data[1]["therapist_notes"] = ["not", "text"]

    edit(SF, spoil)
    rendered = [str(p) for p in check_catalog(seed_copy)]
    assert any("sf-1-nongenital-touch: therapist_notes: must not be empty" in r for r in rendered)
    assert any("sf-2-genital-touch: therapist_notes: must be a string" in r for r in rendered)


def test_therapist_notes_round_trip_and_are_stripped_for_partners(catalog: Catalog) -> None:
    course = catalog.program("sensate-focus-course")
    data = course.to_dict()
    assert Program.from_dict(data) == course
    assert "therapist_notes" in data and any("therapist_notes" in s for s in data["stages"])
    stripped = without_therapist_notes(data)
    assert "therapist_notes" not in stripped
    assert all("therapist_notes" not in stage for stage in stripped["stages"])
    assert "therapist_notes" in data  # the original is left alone
    exercise = without_therapist_notes(catalog.exercise(STEPS[0]).to_dict())
    assert "therapist_notes" not in exercise and exercise["form"]


def test_every_joint_item_tells_the_therapist_to_screen_each_partner_alone(
    catalog: Catalog,
) -> None:
    joint = [e for e in catalog.exercises.values() if e.joint and e.kind != "communication"]
    joint += [
        catalog.exercise(s) for s in ("speaker-listener", "yes-no-maybe", "desire-discrepancy-talk")
    ]
    for item in [*joint, *catalog.programs.values()]:
        notes = flat(item.therapist_notes).lower()
        assert "alone" in notes and "bograd" in notes and "stith" in notes, item.slug


def test_medical_examination_before_genital_contact_and_containment(catalog: Catalog) -> None:
    for slug in ("sf-4-genital-contact", "sf-5-containment"):
        exercise = catalog.exercise(slug)
        notes = flat(exercise.therapist_notes).lower()
        assert "medical examination" in notes and "erectile" in notes, slug
        assert "cardiovascular" in notes and "childbirth" in notes, slug
        text = flat(exercise.instructions).lower()
        assert "medical check" in text and "heart" in text, slug  # the partner text says why


# --- therapist-only answers ----------------------------------------------------------


def test_ready_to_move_on_is_therapist_only_in_every_form(catalog: Catalog) -> None:
    for exercise in catalog.exercises.values():
        ready = exercise.form.get(READY_KEY)
        if ready is not None:
            assert ready.audience == "therapist", exercise.slug
            assert READY_KEY in partner_hidden_keys(exercise.form.to_list()), exercise.slug


def test_the_loader_refuses_a_ready_question_the_partner_could_read(
    seed_copy: Path, edit: Edit
) -> None:
    def share_ready(data: list[dict[str, object]]) -> None:
        form = data[0]["form"]
        assert isinstance(form, list)
        for question in form:
            if question["key"] == READY_KEY:
                question["audience"] = "all"
        data[1]["form"][0]["audience"] = "everyone"  # type: ignore[index]

    edit(COMM, share_ready)
    rendered = [str(p) for p in check_catalog(seed_copy)]
    assert any(
        "speaker-listener: form[" in r and "audience: 'ready_to_move_on' must be 'therapist'" in r
        for r in rendered
    ), rendered
    assert any("form[0].audience: must be one of all, therapist" in r for r in rendered)


def test_partner_hidden_keys_current_and_legacy_forms(catalog: Catalog) -> None:
    form = catalog.exercise(STEPS[0]).form.to_list()
    hidden = partner_hidden_keys(form)
    assert {READY_KEY, "pain", "distress", "stopped", "pressured", "unsafe"} <= hidden
    # Pain signals below the alert line inform the therapist's decisions (a medical
    # check, a pelvic-floor physiotherapist): theirs alone, like the pain scale itself.
    assert {"genital_discomfort", "ongoing_pain"} <= hidden
    # Information a partner may share with the couple stays readable.
    assert not {"stopped_early", "self_pressure", "anxiety", "reflection"} & hidden
    # A form stored before `audience` existed (version 1) still hides "ready".
    legacy = published_v1_catalog().exercise(STEPS[0]).form.to_list()
    assert all("audience" not in q for q in legacy)
    assert READY_KEY in partner_hidden_keys(legacy)


# --- stop, pressure and pain: information apart from the safety signals ---------------


@pytest.mark.parametrize(
    ("extra", "flags"),
    [
        ({"stopped_early": True}, set()),  # stopping is part of the exercise
        ({"stopped": True}, {"stop"}),  # stopped because something felt wrong
        ({"self_pressure": True}, set()),
        ({"pressured": True}, {"pressured"}),  # pressured by the partner
        ({"genital_discomfort": True, "pain": 2}, set()),  # mild: information
        ({"pain": 4}, {"pain"}),  # from the touch, at the form's threshold
        ({"ongoing_pain": 9}, set()),  # pain one already lives with
        ({"unsafe": True}, {"unsafe"}),
    ],
)
def test_stop_pressure_and_pain_split(
    catalog: Catalog, extra: dict[str, object], flags: set[str]
) -> None:
    form = catalog.exercise(STEPS[0]).form
    answers = {**CALM, **extra}
    assert validate_answers(form, answers) == {}
    assert flags_from_answers(form, answers) == flags


def test_the_safety_questions_say_what_they_mean(catalog: Catalog) -> None:
    form = catalog.exercise(STEPS[0]).form
    stopped, pressured = form.get("stopped"), form.get("pressured")
    assert stopped is not None and pressured is not None and form.get("pain") is not None
    assert "wrong, unsafe or painful" in stopped.label
    assert "your partner" in pressured.label.lower()
    assert "touch" in form.get("pain").label.lower()  # type: ignore[union-attr]
    for exercise in catalog.exercises.values():
        if exercise.kind == "sensate_focus":
            assert "pelvic-floor physiotherapist" in flat(exercise.safety), exercise.slug


# --- a declined session ---------------------------------------------------------------


def test_a_declined_session_needs_no_other_answer(catalog: Catalog) -> None:
    form = catalog.exercise(STEPS[0]).form
    assert validate_answers(form, {DECLINED_KEY: True}) == {}
    assert is_declined(form, {DECLINED_KEY: True})
    assert flags_from_answers(form, {DECLINED_KEY: True}) == frozenset()
    # Not declined: the form's required questions are required again.
    assert "anxiety" in validate_answers(form, {DECLINED_KEY: False})
    assert not is_declined(form, {DECLINED_KEY: False})
    # What is answered is still checked, and safety answers still raise their flag.
    assert "anxiety" in validate_answers(form, {DECLINED_KEY: True, "anxiety": 11})
    assert flags_from_answers(form, {DECLINED_KEY: True, "pressured": True}) == {"pressured"}


NY = ZoneInfo("America/New_York")
WED = datetime(2026, 3, 11, 20, 0, tzinfo=NY)
MON = datetime(2026, 3, 9, 20, 0, tzinfo=NY)
ONE = Program("p", 1, "P", "", (Stage(1, "Touch", "", (StageItem("touch", 3),)),))


def test_a_declined_session_is_not_done_and_not_held_against_them() -> None:
    declined = CheckinRecord("touch", MON, {DECLINED_KEY: True}, declined=True)
    done = CheckinRecord("touch", MON + timedelta(hours=1))
    (item,) = homework(ONE, 1, checkins=[declined, done], tz=NY, now=WED).items
    assert item.done_this_week == 1  # not counted as done...
    assert item.declined_this_week == 1
    assert item.remaining == 1  # ...nor as a session still owed
    (none,) = homework(ONE, 1, checkins=[done], tz=NY, now=WED).items
    assert none.remaining == 2
    # Declining every session of the week leaves nothing due: no reminders, no "behind".
    all_declined = [
        CheckinRecord("touch", MON + timedelta(hours=h), declined=True) for h in range(3)
    ]
    (item,) = homework(ONE, 1, checkins=all_declined, tz=NY, now=WED).items
    assert (item.done_this_week, item.remaining, item.due_today) == (0, 0, False)


def test_declined_sessions_never_count_towards_moving_on() -> None:
    crit = Criteria(min_sessions=2, max_mean={"anxiety": 4})
    program = Program("p", 1, "P", "", (Stage(1, "T", "", (StageItem("touch", 3),),
                                              min_weeks=0, criteria=crit),) * 1)  # fmt: skip
    start = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
    declines = [
        CheckinRecord("touch", start + timedelta(days=d), {DECLINED_KEY: True}, declined=True)
        for d in (1, 2, 3)
    ]
    result = suggest_advancement(program, 1, {"A": declines}, started_at=start,
                                 now=start + timedelta(weeks=1))  # fmt: skip
    assert not result.ready
    assert result.partners["A"].sessions == 0
    assert "A has logged 0 of 2 sessions at this stage." in result.reasons
    # A safety flag on a declined session still holds the suggestion back.
    flagged = [*declines, CheckinRecord("touch", start + timedelta(days=4), {},
                                        frozenset({"pressured"}), declined=True)]  # fmt: skip
    result = suggest_advancement(program, 1, {"A": flagged}, started_at=start,
                                 now=start + timedelta(weeks=1))  # fmt: skip
    assert result.partners["A"].flags == {"pressured"}


def test_min_yes_share_criteria() -> None:
    crit = Criteria(min_yes_share={"refocused": 0.5}, mean_of_last=4)
    program = Program("p", 1, "P", "", (Stage(1, "T", "", (StageItem("touch", 3),),
                                              min_weeks=0, criteria=crit),))  # fmt: skip
    start = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)

    def recs(*answers: bool) -> list[CheckinRecord]:
        return [
            CheckinRecord("touch", start + timedelta(days=i + 1), {"refocused": a})
            for i, a in enumerate(answers)
        ]

    now = start + timedelta(weeks=1)
    assert suggest_advancement(
        program, 1, {"A": recs(True, False)}, started_at=start, now=now
    ).ready
    result = suggest_advancement(
        program, 1, {"A": recs(True, False, False, False)}, started_at=start, now=now
    )
    assert result.reasons == (
        "A answered yes to refocused in 1 of 4 recent sessions; this stage asks for at least 50%.",
    )
    # Only the window counts: an early "no" falls out of it.
    assert suggest_advancement(
        program, 1, {"A": recs(False, False, True, True, True, False)}, started_at=start, now=now
    ).ready


def test_min_yes_share_must_name_a_yes_no_question(seed_copy: Path, edit: Edit) -> None:
    def spoil(data: list[dict[str, object]]) -> None:
        criteria = data[0]["stages"][0]["criteria"]  # type: ignore[index]
        criteria["min_yes_share"] = {"anxiety": 0.5, "refocused": 2}

    edit("programs/sensate_focus_course.yaml", spoil)
    rendered = [str(p) for p in check_catalog(seed_copy)]
    assert any("min_yes_share.anxiety: no yes/no question 'anxiety'" in r for r in rendered)
    assert any("min_yes_share.refocused: must be a share from 0 to 1" in r for r in rendered)


# --- content ----------------------------------------------------------------------------


def test_the_ban_holds_between_sessions_until_the_therapist_lifts_it(catalog: Catalog) -> None:
    for slug in BAN_STEPS:
        exercise = catalog.exercise(slug)
        limits = " ".join(exercise.off_limits).lower()
        assert "oral sex" in limits and "intercourse" in limits, slug
        assert "between sessions" in limits, slug
        assert "between sessions too" in flat(exercise.instructions), slug
    for slug in ("sf-4-genital-contact", "sf-5-containment", "sf-6-pleasure-together"):
        assert "## What your therapist lifts" in catalog.exercise(slug).instructions, slug
    course = catalog.program("sensate-focus-course")
    for stage in course.stages[:3]:
        assert "between sessions too" in flat(stage.guidance), stage.title
    for stage in course.stages[3:5]:
        assert "lifts the ban on" in flat(stage.guidance), stage.title


def test_saying_no_is_never_a_debt(catalog: Catalog) -> None:
    for exercise in _joint_steps(catalog):
        initiator = flat(exercise.initiator).lower()
        assert "never owe" in initiator, exercise.slug
        assert "next day or two" not in initiator, exercise.slug
        assert "tell your therapist privately" in flat(exercise.safety), exercise.slug


def test_titles_are_steps_and_slugs_stay(catalog: Catalog) -> None:
    for number, slug in enumerate(STEPS, start=1):
        assert catalog.exercise(slug).title.startswith(f"Step {number}: "), slug
        assert "Sensate focus" not in catalog.exercise(slug).title


def test_oil_lubricant_infection_pregnancy_and_toys(catalog: Catalog) -> None:
    for exercise in _joint_steps(catalog):
        safety = flat(exercise.safety).lower()
        assert "oil weakens latex" in safety and "numbing" in safety, exercise.slug
    stage4 = flat(catalog.exercise("sf-4-genital-contact").instructions).lower()
    assert "infections" in stage4 and "pregnancy" in stage4
    stage5 = flat(catalog.exercise("sf-5-containment").instructions).lower()
    assert "## toys" in stage5 and "flared base" in stage5
    stage3 = catalog.exercise("sf-3-mutual-touch")
    assert any("arouse" in limit for limit in stage3.off_limits)
    assert "not to arouse" in flat(stage3.instructions)


def test_inclusive_and_trauma_informed_wording(catalog: Catalog) -> None:
    first = catalog.exercise(STEPS[0])
    assert any("chest" in limit.lower() for limit in first.off_limits)
    text = flat(first.instructions).lower()
    assert "gender dysphoria" in text and "disability" in text
    assert "face down is a choice" in text and "ground yourselves" in text
    assert "does not assume that either of you wants more sex" in text
    assert "asexual" in flat(catalog.program("sensate-focus-course").therapist_notes).lower()


def test_citations_are_corrected(catalog: Catalog) -> None:
    speaker = " ".join(catalog.exercise("speaker-listener").sources)
    assert "Markman" in speaker and "Gottman" not in speaker
    assert "PREP" in (catalog.exercise("speaker-listener").therapist_notes or "")
    story = " ".join(catalog.exercise("journal-sexual-story").sources)
    assert "Weiner" not in story
    ynm = catalog.exercise("yes-no-maybe").sources
    assert not any("Nagoski" in s for s in ynm)
    scarleteen = next(s for s in ynm if "Scarleteen" in s)
    assert re.search(r"\(\d{4}\)", scarleteen) and "https://www.scarleteen.com/" in scarleteen


def test_yes_no_maybe_reveals_only_what_both_said_yes_or_maybe_to(catalog: Catalog) -> None:
    exercise = catalog.exercise("yes-no-maybe")
    text = flat(exercise.instructions).lower()
    assert "only the items that you *both* marked yes or maybe are revealed" in text
    assert "take turns reading out items you marked yes" not in text
    assert "do not compare your lists yourselves" in text
    # The check-in never records the lists.
    assert not any("list" in q.label.lower() for q in exercise.form)


def test_program_weeks_add_up(catalog: Catalog) -> None:
    for program in catalog.programs.values():
        least = sum(stage.min_weeks for stage in program.stages)
        found = re.search(r"Usually (\d+) to (\d+) weeks", program.summary)
        assert found, program.slug
        assert int(found.group(1)) == least, (program.slug, least)


def test_advancement_asks_for_refocusing_and_no_pain_where_genitals_meet(
    catalog: Catalog,
) -> None:
    course = catalog.program("sensate-focus-course")
    for stage in course.stages:
        crit = stage.criteria
        assert crit is not None and crit.require_ready, stage.title
        if crit.exercise in ("sf-4-genital-contact", "sf-5-containment"):
            assert crit.max_mean.get("pain") == 0, stage.title
        if crit.exercise in STEPS[:5]:
            assert crit.min_yes_share == {"refocused": 0.5}, stage.title


def test_speaker_listener_is_practised_before_the_desire_talk(catalog: Catalog) -> None:
    stages = catalog.program("desire-discrepancy").stages
    first_talk = next(s.index for s in stages if "desire-discrepancy-talk" in s.exercise_slugs)
    first_drill = next(s.index for s in stages if "speaker-listener" in s.exercise_slugs)
    assert first_drill < first_talk


def test_solo_start_closing_step_and_stress_reducing_conversation(catalog: Catalog) -> None:
    solo = catalog.program("sensate-focus-solo-start")
    assert solo.stages[0].exercise_slugs[0] == "sf-self-exploration"
    assert not catalog.exercise("sf-self-exploration").joint
    course = catalog.program("sensate-focus-course")
    assert [s.items for s in solo.stages[1:]] == [s.items for s in course.stages]
    assert course.stages[0].exercise_slugs[0] == "sf-1-nongenital-touch"  # unchanged start
    closing = catalog.exercise("sf-6-pleasure-together")
    assert course.stages[-1].exercise_slugs[0] == closing.slug
    assert "with or without penetration" in flat(closing.summary)
    assert "whether or not penetration is part of your sex life" in flat(closing.instructions)
    talk = catalog.exercise("stress-reducing-conversation")
    assert talk.joint and any("Gottman" in s for s in talk.sources)
    assert "outside the relationship" in flat(talk.summary)
