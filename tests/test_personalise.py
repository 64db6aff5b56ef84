"""Personalised PDFs (the desk's name, start date and clinician's note): printed where they belong, in every
script, as data; refused clearly when the fonts cannot print them; and absent PDFs stay those of `leafgen build`."""

from __future__ import annotations

import datetime as dt
import io

import pytest

from conftest import DATA, LEAFLET, SHIPPED, normalise, pdf_text, rendered, squash
from leafgen import api
from leafgen.build.plan import relative_path
from leafgen.cli import main
from leafgen.i18n.catalogs import translator
from leafgen.render.job import Job
from leafgen.render.pipeline import Personal, PersonalDataError, render_job
from test_accessibility import ua_problems

LANGS = ("en", "es", "ar", "zh_Hans", "vi", "uk")


def text_of(pdf: bytes, lang: str) -> str:
    return squash(pdf_text(pdf)) if lang in ("ar", "zh_Hans") else normalise(pdf_text(pdf))


def same(text: str, lang: str) -> str:
    return squash(text) if lang in ("ar", "zh_Hans") else normalise(text)


@pytest.mark.parametrize("lang", LANGS)
def test_the_name_and_start_date_are_on_the_checklist(lang: str) -> None:
    job = Job(LEAFLET, lang, "checklist")
    plain = rendered(job)
    mine = render_job(SHIPPED, job, personal=Personal("Ann Lee-Testpatient", dt.date(2026, 12, 7)))
    text = text_of(mine.pdf, lang)
    assert same("Ann Lee-Testpatient", lang) in text
    assert text.count("2026") > text_of(plain.pdf, lang).count("2026")  # the start date, in the language
    assert mine.pages == plain.pages  # the name fills a line that was there already


@pytest.mark.parametrize("lang", LANGS)
def test_the_note_is_boxed_on_the_handout_under_its_translated_heading(lang: str) -> None:
    job = Job(LEAFLET, lang, "handout")
    note = "Do the stretches twice a day.\nCall us on Monday."
    pdf = render_job(SHIPPED, job, personal=Personal(note=note)).pdf
    text = text_of(pdf, lang)
    heading = translator(SHIPPED, lang)("A note from your clinician")
    assert same(heading, lang) in text
    assert same("Do the stretches twice a day.", lang) in text and same("Call us on Monday.", lang) in text
    assert same(heading, lang) not in text_of(rendered(job).pdf, lang)


def test_the_note_is_data_not_markup_or_template_code() -> None:
    note = "<b>x</b> </p><h1>y</h1> {{ 7*7 }} {% raw %} &amp; &lt;"
    pdf = render_job(SHIPPED, Job(LEAFLET, "en", "handout"), personal=Personal(note=note)).pdf
    assert normalise(note) in normalise(pdf_text(pdf))


def test_a_character_the_fonts_lack_is_refused_naming_it_not_the_note() -> None:
    with pytest.raises(PersonalDataError) as e:
        render_job(SHIPPED, Job(LEAFLET, "ar", "handout"), personal=Personal(note="Private detail 😀"))
    assert "U+1F600" in str(e.value) and "Private detail" not in str(e.value)


@pytest.mark.parametrize(
    ("personal", "message"),
    [(Personal(name="Ann\nBcc: x"), "one line"), (Personal(note="x" * 601), "at most 600")],
)
def test_details_that_cannot_be_printed_as_given_are_refused(personal: Personal, message: str) -> None:
    with pytest.raises(PersonalDataError, match=message):
        render_job(SHIPPED, Job(LEAFLET, "en", "checklist"), personal=personal)


def test_personal_details_never_show_in_a_repr() -> None:
    shown = repr(Personal("Ann Lee", dt.date(2026, 1, 2), "secret note"))
    assert "Ann" not in shown and "secret" not in shown and "2026" not in shown


@pytest.mark.parametrize(
    "job",
    [Job(LEAFLET, "en", "handout"), Job(LEAFLET, "ar", "checklist", "letter", True, True)],
    ids=["en-handout", "ar-checklist-letter-large-fillable"],
)
def test_without_personal_details_the_pdf_is_leafgen_builds(tmp_path, job: Job) -> None:  # noqa: ANN001
    args = ["build", LEAFLET, "--project", str(SHIPPED.root), "--out", str(tmp_path), "--lang", job.lang]
    args += ["--kind", job.kind, "--paper", job.paper, "--jobs", "1"]
    args += ["--large-print"] * job.large_print + ["--fillable"] * job.fillable
    assert main(args, io.StringIO(), io.StringIO()) == 0
    built = (tmp_path / relative_path(job)).read_bytes()
    assert render_job(SHIPPED, job, personal=None).pdf == built
    assert render_job(SHIPPED, job, personal=Personal()).pdf == built  # empty details are no details


@pytest.mark.parametrize(
    ("job", "personal"),
    [
        (Job(LEAFLET, "ar", "handout"), Personal(note="Do the stretches twice a day.\nمرتين في اليوم")),
        (Job(LEAFLET, "en", "checklist", fillable=True), Personal("Ann Lee", dt.date(2026, 12, 7))),
    ],
    ids=["ar-handout-note", "en-checklist-name"],
)
def test_personalised_pdfs_stay_tagged_throughout(job: Job, personal: Personal) -> None:
    assert ua_problems(render_job(SHIPPED, job, personal=personal).pdf) == []


BAD_DETAILS = sorted((DATA / "bad" / "personal").glob("*.txt"))


@pytest.mark.parametrize("bad", BAD_DETAILS, ids=[p.name for p in BAD_DETAILS])
def test_a_control_character_in_the_details_is_refused_by_the_library_naming_it(bad) -> None:
    # Every caller of leafgen.api (not only the desk, which checked them itself) gets the same refusal: a NUL or
    # ESC pasted from another program breaks the layout, a bidi override reorders what the patient reads.
    # Each file: '# expect: MESSAGE' then the name (name-*) or note (note-*) exactly as typed, control included.
    expect, _, value = bad.read_bytes().decode("utf-8").partition("\n")
    message = expect.removeprefix("# expect: ")
    field, kind = ("name", "checklist") if bad.name.startswith("name-") else ("note", "handout")
    with pytest.raises(PersonalDataError) as e:
        api.render(LEAFLET, "en", kind, personal=Personal(**{field: value}), project=SHIPPED.root)
    assert message in e.value.message, e.value.message
    assert str(e.value) == e.value.message and "\n" not in str(e.value)  # one line, no path
    assert not any(part in str(e.value) for part in ("Zo", "Stretch", "tablets"))  # names the field, not the text
