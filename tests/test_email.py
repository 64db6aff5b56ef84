"""leafgen email against a real SMTP server on 127.0.0.1 (aiosmtpd): real PDFs, real TLS, a real journal.

smtplib is never mocked: faults (451 once, 550, a dropped connection, a held reply while the sender is killed)
are injected by the server (tests/email_server.py). The project is a private copy of the shipped one with an
empty German catalog added for the translation gate. Arabic (right to left) and Chinese (zh_Hans: BCP 47 zh-Hans)
are the shipped catalogs, which must be complete; expected strings come from those catalogs, not from this file,
so translators can keep improving the wording.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import ssl
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.header import decode_header, make_header
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
import trustme
from babel.messages.catalog import Catalog
from babel.messages.pofile import write_po
from markupsafe import escape

from conftest import LEAFLET, copy_project
from email_server import Handler, authenticator, start
from leafgen import api
from leafgen.build.plan import relative_path
from leafgen.cli import main
from leafgen.content.schema import load_leaflet
from leafgen.i18n import catalogs as i18n
from leafgen.i18n.extract import expected_units
from leafgen.i18n.status import status
from leafgen.mail.journal import Journal
from leafgen.mail.message import attachment_filename
from leafgen.mail.recipients import single
from leafgen.mail.send import send_one
from leafgen.mail.smtp import load_config
from leafgen.project import Project
from leafgen.render.job import Job
from leafgen.render.pipeline import render_job

SENDER = "Riverside Clinic <leaflets@riverside.example>"
RTL = "ar"
CJK = "zh_Hans"
MARK = "عربي"  # a marker word for the synthetic catalog of the subject-injection test
TITLE = "Pins and needles in the back"
CHECKLIST = "Posture and stretching checklist"
HEADER = "email,name,lang,leaflet,kind"


def addr(i: int) -> str:
    return f"patient{i:02d}@example.org"


# --- fixtures ------------------------------------------------------------------------------------------------


def _write_catalog(path: Path, catalog: Catalog) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        write_po(f, catalog)


@pytest.fixture(scope="module")
def proj(tmp_path_factory: pytest.TempPathFactory) -> Project:
    project = copy_project(tmp_path_factory.mktemp("email") / "project")
    project.clinic_path.write_text(
        "name: Riverside Clinic\nphone: 01234 567890\nemail: info@riverside.example\ndefault_paper: a4\n"
    )
    _write_catalog(i18n.catalog_path(project, "de"), Catalog(locale="de"))
    assert not status(project, "de").complete
    for lang in (RTL, CJK):
        assert status(project, lang).complete, f"the shipped {lang} catalog is incomplete: leafgen i18n status"
    return project


def translated(project: Project, lang: str) -> tuple[i18n.Translator, str, str]:
    """The language's translator, and the leaflet's and its checklist's titles in it, from the catalog."""
    leaflet, _ = load_leaflet(project.leaflet_path(LEAFLET))
    tr = i18n.translator(project, lang)
    return tr, tr(leaflet.title), tr(leaflet.checklist.title)


@pytest.fixture(scope="module")
def built(proj: Project, tmp_path_factory: pytest.TempPathFactory) -> dict[Job, bytes]:
    """What `leafgen build` makes for the jobs the emails attach, each rendered once for the module."""
    out = tmp_path_factory.mktemp("built")
    code = main(
        [
            "build",
            "--project",
            str(proj.root),
            "--out",
            str(out),
            "--lang",
            f"en,{RTL}",
            "--kind",
            "handout,checklist",
            "--paper",
            "a4",
            "--fillable",
            "--jobs",
            "1",
        ]
    )
    assert code == 0
    jobs = [
        Job(LEAFLET, lang, kind, "a4", fillable=kind == "checklist")
        for lang in ("en", RTL)
        for kind in ("handout", "checklist")
    ]
    return {job: (out / relative_path(job)).read_bytes() for job in jobs}


@pytest.fixture
def server():
    handler = Handler()
    controller = start(handler)
    yield handler, controller
    handler.release.set()
    controller.stop()


def _clear_smtp_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("LEAFGEN_SMTP_"):
            monkeypatch.delenv(key)


@pytest.fixture
def smtp(server, monkeypatch: pytest.MonkeyPatch) -> Handler:
    """The server, and LEAFGEN_SMTP_* pointing at it (plain SMTP: allowed because it is loopback)."""
    handler, controller = server
    _clear_smtp_env(monkeypatch)
    monkeypatch.setenv("LEAFGEN_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("LEAFGEN_SMTP_PORT", str(controller.port))
    monkeypatch.setenv("LEAFGEN_SMTP_SECURITY", "none")
    monkeypatch.setenv("LEAFGEN_SMTP_FROM", SENDER)
    return handler


def leafgen_email(proj: Project, tmp_path: Path, *args: str, capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    outbox = tmp_path / "outbox"  # each test its own journal: the project is shared by the module
    code = main(
        [
            "email",
            "--project",
            str(proj.root),
            "--outbox",
            str(outbox),
            "--journal",
            str(outbox / "journal.sqlite"),
            "--retry-delay",
            "0.01",
            *args,
        ]
    )
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def write_csv(path: Path, lines: list[str], header: str = HEADER, encoding: str = "utf-8") -> Path:
    path.write_text("\r\n".join([header, *lines]) + "\r\n", encoding=encoding, newline="")
    return path


def journal(tmp_path: Path) -> dict[str, sqlite3.Row]:
    db = sqlite3.connect(tmp_path / "outbox" / "journal.sqlite")
    db.row_factory = sqlite3.Row
    try:
        return {r["email"]: r for r in db.execute("SELECT * FROM deliveries")}
    finally:
        db.close()


def assert_private(text: str, *secrets: str) -> None:
    """The console names no patient: no address, no name, no server reply quoting them."""
    for secret in secrets:
        assert secret not in text, f"{secret!r} printed: {text}"
    assert "@example.org" not in text, text


def assert_one_line_errors(code: int, err: str, *needles: str) -> list[str]:
    assert code == 1
    lines = err.splitlines()
    assert lines and all(line.startswith("leafgen: error: ") for line in lines), err
    for needle in needles:
        assert needle in err, err
    return lines


# --- one patient ---------------------------------------------------------------------------------------------


def test_single_send_arrives_with_headers_parts_and_the_built_pdfs(proj, built, smtp, tmp_path, capsys):
    code, out, err = leafgen_email(
        proj,
        tmp_path,
        "--to",
        "ann.lee@example.org",
        "--name",
        "Ann Lée",
        "--leaflet",
        LEAFLET,
        "--lang",
        "en",
        "--send",
        capsys=capsys,
    )
    assert code == 0, err
    assert "1 sent, 0 failed, 0 skipped" in out
    assert_private(out + err, "ann.lee", "Lée")

    [got] = smtp.received
    assert got.mail_from == "leaflets@riverside.example" and got.rcpt_tos == ("ann.lee@example.org",)
    msg = got.message
    date = parsedate_to_datetime(msg["Date"])
    assert abs((datetime.now(UTC) - date).total_seconds()) < 300
    assert re.fullmatch(r"<[^<>@\s]+@riverside\.example>", msg["Message-ID"])
    [sender] = msg["From"].addresses
    assert (sender.display_name, sender.addr_spec) == ("Riverside Clinic", "leaflets@riverside.example")
    [to] = msg["To"].addresses
    assert (to.display_name, to.addr_spec) == ("Ann Lée", "ann.lee@example.org")
    assert b"To: Ann =?utf-8?q?L=C3=A9e?= <ann.lee@example.org>" in got.data  # encoded word, not raw UTF-8
    assert msg["Subject"] == f"{TITLE}: information from Riverside Clinic"
    assert msg["Content-Language"] == "en"
    assert got.data.isascii()  # 7-bit clean: no reliance on the server's 8BITMIME

    assert msg.get_content_type() == "multipart/mixed"
    alternative, *attachments = msg.iter_parts()
    assert alternative.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in alternative.iter_parts()] == ["text/plain", "text/html"]
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert text.startswith("Dear Ann Lée,") and "Phone: 01234 567890" in text
    assert f"- {TITLE} – {CHECKLIST}" in text and "You can tick the checklist on screen" in text
    assert '<html lang="en" dir="ltr">' in html and "<p>Dear Ann Lée,</p>" in html

    assert [(a.get_content_type(), a.get_filename()) for a in attachments] == [
        ("application/pdf", f"{TITLE}.pdf"),
        ("application/pdf", f"{TITLE} – {CHECKLIST}.pdf"),
    ]
    assert attachments[0].get_content() == built[Job(LEAFLET, "en", "handout", "a4")]
    assert attachments[1].get_content() == built[Job(LEAFLET, "en", "checklist", "a4", fillable=True)]

    row = journal(tmp_path)["ann.lee@example.org"]
    assert (row["state"], row["message_id"], row["attempts"]) == ("sent", msg["Message-ID"], 1)

    # The same command again is the same delivery: nothing is sent twice.
    code, out, _ = leafgen_email(
        proj,
        tmp_path,
        "--to",
        "ann.lee@example.org",
        "--name",
        "Ann Lée",
        "--leaflet",
        LEAFLET,
        "--lang",
        "en",
        "--send",
        capsys=capsys,
    )
    assert code == 0 and "0 sent, 0 failed, 1 skipped (already sent)" in out and len(smtp.received) == 1


def test_rtl_language_gets_translated_parts_encoded_headers_and_readable_file_names(
    proj, built, smtp, tmp_path, capsys
):
    code, out, err = leafgen_email(
        proj,
        tmp_path,
        "--to",
        "sami@example.org",
        "--name",
        "سامي",
        "--leaflet",
        LEAFLET,
        "--lang",
        RTL,
        "--send",
        capsys=capsys,
    )
    assert code == 0, err
    [got] = smtp.received
    msg = got.message
    tr, title, checklist_title = translated(proj, RTL)
    assert msg["Content-Language"] == "ar"
    assert msg["Subject"] == tr("%(title)s: information from %(clinic)s") % {
        "title": title,
        "clinic": "Riverside Clinic",
    }
    assert re.search(rb"^Subject: =\?utf-8\?[bq]\?", got.data, re.MULTILINE)  # RFC 2047, not raw UTF-8
    assert msg["To"].addresses[0].display_name == "سامي"
    assert got.data.isascii()

    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert text.startswith(tr("Dear %(name)s,") % {"name": "سامي"})
    assert f"- {title}" in text.splitlines()
    assert '<html lang="ar" dir="rtl">' in html and '<body dir="rtl"' in html
    assert (
        str(escape(tr("As discussed at %(clinic)s, we attach information for you:")) % {"clinic": "Riverside Clinic"})
        in html
    )

    handout, checklist = msg.iter_attachments()
    assert handout.get_filename() == attachment_filename(title)
    assert checklist.get_filename() == attachment_filename(f"{title} – {checklist_title}")
    assert re.search("[\u0600-\u06ff]", checklist.get_filename())  # readable in Arabic
    assert re.search(rb"filename\*(0\*)?=utf-8''%D8", got.data)  # RFC 2231 (with continuations if long)
    assert handout.get_content() == built[Job(LEAFLET, RTL, "handout", "a4")]
    assert checklist.get_content() == built[Job(LEAFLET, RTL, "checklist", "a4", fillable=True)]


# --- dry run -------------------------------------------------------------------------------------------------


def test_dry_run_writes_parseable_eml_files_and_sends_nothing(proj, smtp, tmp_path, capsys):
    recipients = write_csv(
        tmp_path / "recipients.csv",
        [
            f'{addr(1)},"Ann & Co ""Jr""",en,{LEAFLET},handout,letter,yes',
            f"{addr(2)},王芳,{CJK},{LEAFLET},handout;checklist,,",
            f"{addr(3)},,en,{LEAFLET},,,",
        ],
        header=f"{HEADER},paper,large_print",
        encoding="utf-8-sig",
    )  # with a byte-order mark, as Excel writes it
    code, out, err = leafgen_email(proj, tmp_path, "--recipients", str(recipients), capsys=capsys)
    assert code == 0, err
    assert "dry run, nothing sent: 3 written, 0 failed" in out
    assert_private(out + err, "Ann", "王芳")
    assert smtp.received == [] and smtp.mail_commands == 0
    assert not (tmp_path / "outbox" / "journal.sqlite").exists()  # a dry run records no delivery

    files = sorted((tmp_path / "outbox").glob("*.eml"))
    assert len(files) == 3
    messages = {}
    for f in files:
        msg = message_from_bytes(f.read_bytes(), policy=policy.default)
        assert not msg.defects
        messages[msg["To"].addresses[0].addr_spec] = msg
    assert set(messages) == {addr(1), addr(2), addr(3)}

    html = messages[addr(1)].get_body(("html",)).get_content()
    assert "Ann &amp; Co &#34;Jr&#34;" in html  # data, never markup ('<' cannot be in a name: see below)
    assert messages[addr(1)]["To"].addresses[0].display_name == 'Ann & Co "Jr"'
    [large] = messages[addr(1)].iter_attachments()
    assert large.get_content() == render_job(proj, Job(LEAFLET, "en", "handout", "letter", large_print=True)).pdf
    assert messages[addr(2)]["Content-Language"] == "zh-Hans"  # BCP 47, not the gettext folder name
    assert messages[addr(2)]["Subject"].startswith(translated(proj, CJK)[1])
    assert '<html lang="zh-Hans" dir="ltr">' in messages[addr(2)].get_body(("html",)).get_content()
    assert len(list(messages[addr(2)].iter_attachments())) == 2
    assert messages[addr(3)].get_body(("plain",)).get_content().startswith("Hello,")
    assert len(list(messages[addr(3)].iter_attachments())) == 2  # no kind: handout and checklist
    assert all(m["Message-ID"] and m["Date"] for m in messages.values())


# --- lists ---------------------------------------------------------------------------------------------------


def test_list_of_20_survives_451_550_and_a_dropped_connection(proj, smtp, tmp_path, capsys):
    smtp.tempfail_once = {addr(5)}
    smtp.reject = {addr(10)}
    smtp.drop_at_mail = 14
    recipients = write_csv(
        tmp_path / "recipients.csv", [f"{addr(i)},Patient {i},en,{LEAFLET},handout" for i in range(1, 21)]
    )
    code, out, err = leafgen_email(proj, tmp_path, "--recipients", str(recipients), "--send", capsys=capsys)
    assert code == 1
    assert "19 sent, 1 failed, 0 skipped (already sent)" in out
    assert f"leafgen: failed: {recipients}:11: SMTP 550 at RCPT TO (permanent)" in err  # patient 10 is row 11
    assert_private(out + err, "Patient ")
    assert smtp.tempfailed == [addr(5)] and smtp.dropped == 1
    for i in range(1, 21):
        assert len(smtp.to(addr(i))) == (0 if i == 10 else 1), i
    rows = journal(tmp_path)
    assert rows[addr(10)]["state"] == "failed" and "550" in rows[addr(10)]["error"]
    assert rows[addr(5)]["attempts"] == 2
    assert all(rows[addr(i)]["state"] == "sent" for i in range(1, 21) if i != 10)

    code, out, err = leafgen_email(proj, tmp_path, "--report", capsys=capsys)
    assert code == 1  # a failed row: a scheduled job must notice
    assert f"{recipients}:11: failed: 550 5.1.1 <{addr(10)}>: mailbox unavailable" in out
    assert "19 sent, 1 failed, 0 deferred, 0 uncertain, 0 pending" in out

    # Rerun: only what was not delivered is tried again.
    code, out, _ = leafgen_email(proj, tmp_path, "--recipients", str(recipients), "--send", capsys=capsys)
    assert code == 1 and "0 sent, 1 failed, 19 skipped (already sent)" in out
    assert len(smtp.received) == 19


@pytest.mark.parametrize(
    ("how", "state"), [(signal.SIGKILL, "sending"), (signal.SIGINT, "uncertain")], ids=["killed", "ctrl-c"]
)
def test_stopped_mid_list_then_rerun_delivers_each_message_once(proj, smtp, tmp_path, capsys, how, state):
    n, killed_at = 8, 3
    recipients = write_csv(
        tmp_path / "recipients.csv", [f"{addr(i)},Patient {i},en,{LEAFLET},handout" for i in range(1, n + 1)]
    )
    smtp.hold_at = killed_at  # the server stores message 3, then holds its "250" while the sender is killed
    proc, log = _send_in_background(proj, tmp_path, recipients)
    try:
        assert smtp.arrived.wait(60), (tmp_path / "stderr.txt").read_text()
        proc.send_signal(how)  # while the server holds its answer to message 3
        assert proc.wait(20) == (130 if how == signal.SIGINT else -signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
        log.close()
    smtp.hold_at = None
    smtp.release.set()
    assert len(smtp.received) == killed_at
    states = {a: r["state"] for a, r in journal(tmp_path).items()}
    assert states[addr(killed_at)] == state  # a killed process could not say; Ctrl-C could
    assert all(states[addr(i)] == "pending" for i in range(killed_at + 1, n + 1))
    assert [states[addr(i)] for i in range(1, killed_at)] == ["sent"] * (killed_at - 1)

    code, out, err = leafgen_email(proj, tmp_path, "--recipients", str(recipients), "--send", capsys=capsys)
    assert code == 1  # one delivery needs a person to look at it
    assert (
        f"{n - killed_at} sent, 0 failed, {killed_at - 1} skipped (already sent), "
        "1 uncertain from an earlier run (not resent)"
    ) in out
    assert f"leafgen: uncertain: {recipients}:{killed_at + 1}:" in err
    assert_private(out + err, "Patient ")
    for i in range(1, n + 1):
        assert len(smtp.to(addr(i))) == 1, i  # exactly once, the interrupted one included
    assert journal(tmp_path)[addr(killed_at)]["state"] == "uncertain"

    code, out, _ = leafgen_email(proj, tmp_path, "--report", capsys=capsys)
    assert code == 1 and f"{recipients}:{killed_at + 1}: uncertain: " in out
    assert "at most once" in out and addr(killed_at) in out

    # A person who checked and wants it resent: same Message-ID, so the duplicate can be recognised.
    code, out, _ = leafgen_email(
        proj, tmp_path, "--recipients", str(recipients), "--send", "--retry-uncertain", capsys=capsys
    )
    assert code == 0 and f"1 sent (1 of them resent after being uncertain), 0 failed, {n - 1} skipped" in out
    first, second = smtp.to(addr(killed_at))
    assert first.message["Message-ID"] == second.message["Message-ID"]


def test_incomplete_translation_fails_that_row_and_is_not_sent_in_english(proj, smtp, tmp_path, capsys):
    recipients = write_csv(
        tmp_path / "recipients.csv",
        [
            f"{addr(1)},,en,{LEAFLET},handout",
            f"{addr(2)},,de,{LEAFLET},handout",
        ],
    )
    code, out, err = leafgen_email(proj, tmp_path, "--recipients", str(recipients), "--send", capsys=capsys)
    assert code == 1
    assert "1 sent, 1 failed" in out
    assert f"leafgen: failed: {recipients}:3: translation into 'de' incomplete" in err
    assert [r.rcpt_tos for r in smtp.received] == [(addr(1),)]
    row = journal(tmp_path)[addr(2)]
    assert row["state"] == "failed" and "untranslated" in row["error"] and row["attempts"] == 0


def test_rate_limits_messages_per_minute(proj, smtp, tmp_path, capsys):
    recipients = write_csv(tmp_path / "recipients.csv", [f"{addr(i)},,en,{LEAFLET},handout" for i in range(1, 4)])
    start_ = time.monotonic()
    code, out, err = leafgen_email(
        proj, tmp_path, "--recipients", str(recipients), "--send", "--rate", "600", capsys=capsys
    )
    assert code == 0, err
    assert len(smtp.received) == 3 and time.monotonic() - start_ >= 0.2  # 600 a minute: 0.1 s apart


def test_unreachable_server_stops_the_batch_and_keeps_it_pending(proj, tmp_path, monkeypatch, capsys):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    _clear_smtp_env(monkeypatch)
    monkeypatch.setenv("LEAFGEN_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("LEAFGEN_SMTP_PORT", str(port))
    monkeypatch.setenv("LEAFGEN_SMTP_SECURITY", "none")
    monkeypatch.setenv("LEAFGEN_SMTP_FROM", SENDER)
    recipients = write_csv(tmp_path / "recipients.csv", [f"{addr(i)},,en,{LEAFLET},handout" for i in (1, 2)])
    code, _, err = leafgen_email(
        proj, tmp_path, "--recipients", str(recipients), "--send", "--retries", "1", capsys=capsys
    )
    assert_one_line_errors(
        code, err, f"cannot connect to SMTP server 127.0.0.1:{port}", "gave up after 2 attempts", "stopped after 0 sent"
    )
    assert {r["state"] for r in journal(tmp_path).values()} == {"pending"}


def test_journal_in_use_refuses_a_second_sender(proj, smtp, tmp_path, capsys):
    held = Journal.open_for_send(tmp_path / "outbox" / "journal.sqlite")
    try:
        code, _, err = leafgen_email(
            proj, tmp_path, "--to", addr(1), "--leaflet", LEAFLET, "--lang", "en", "--send", capsys=capsys
        )
    finally:
        held.close()
    assert_one_line_errors(code, err, "journal is in use")
    assert smtp.received == []


# --- bad input: one-line errors, nothing sent ----------------------------------------------------------------


@pytest.mark.parametrize("brk", ["\r\n", "\n", "\r"])
def test_line_break_in_name_option_is_refused(proj, smtp, tmp_path, capsys, brk):
    code, out, err = leafgen_email(
        proj,
        tmp_path,
        "--to",
        addr(1),
        "--name",
        f"Ann{brk}Bcc: victim@example.net",
        "--leaflet",
        LEAFLET,
        "--lang",
        "en",
        "--send",
        capsys=capsys,
    )
    [line] = assert_one_line_errors(code, err, "--name contains a line break")
    assert "victim" not in out + err
    assert smtp.received == [] and smtp.mail_commands == 0
    assert not (tmp_path / "outbox").exists()


def test_malformed_to_address_is_refused_without_echoing_it(proj, smtp, tmp_path, capsys):
    code, out, err = leafgen_email(
        proj, tmp_path, "--to", "ann@@example.org", "--leaflet", LEAFLET, "--lang", "en", "--send", capsys=capsys
    )
    assert_one_line_errors(code, err, "--to: malformed email address")
    assert "ann@" not in err and smtp.received == []


def test_every_bad_row_is_reported_before_anything_is_sent(proj, smtp, tmp_path, capsys):
    recipients = write_csv(
        tmp_path / "recipients.csv",
        [
            f"{addr(1)},Good Row,en,{LEAFLET},handout",  # 2
            f",No Address,en,{LEAFLET},handout",  # 3
            f"{addr(4)},,xx,{LEAFLET},handout",  # 4
            f"{addr(5)},,en,no-such-leaflet,handout",  # 5
            f"not-an-address,,en,{LEAFLET},handout",  # 6
            f'{addr(7)},"Ann\r\nBcc: victim@example.net",en,{LEAFLET},handout',  # 7 (one row over two lines)
            f"{addr(8)},,en,{LEAFLET},brochure",  # 8
            f"{addr(9)},Too,Many,Cells,In,This,Row",  # 9
            f"{addr(1)},Good Row Again,en,{LEAFLET},handout",  # 10: the same delivery as row 2
            f"{addr(11)},,,,",  # 11
            f"{addr(12)},Ann \u202eBcc\u202c,en,{LEAFLET},handout",  # 12: an override would reorder the greeting
        ],
    )
    code, out, err = leafgen_email(proj, tmp_path, "--recipients", str(recipients), "--send", capsys=capsys)
    lines = assert_one_line_errors(code, err)
    expected = {
        3: "no email address",
        4: "unknown language 'xx'",
        5: "unknown leaflet 'no-such-leaflet'",
        6: "malformed email address",
        7: "name contains a line break (CR/LF)",
        8: "unknown kind 'brochure'",
        9: "row has 7 cells but the header names 5 columns",
        10: "same patient, leaflets, language and kinds as row 2",
        11: "no language in column 'lang'",
        12: "name contains an invisible formatting character that can reorder or hide text (U+202E)",
    }
    assert len(lines) == len(expected), err
    for line, (row, message) in zip(lines, expected.items(), strict=True):
        assert line.startswith(f"leafgen: error: {recipients}:{row}: "), line
        assert message in line, line
    assert_private(out + err, "victim", "Good Row", "No Address", "not-an-address")
    assert smtp.received == [] and smtp.mail_commands == 0
    assert not (tmp_path / "outbox").exists()  # no journal, no outbox: nothing happened


def test_line_break_smuggled_into_the_subject_by_a_catalog_fails_that_row(project, smtp, tmp_path, capsys):
    subject = "%(title)s: information from %(clinic)s"
    arabic = Catalog(locale=RTL)
    for msgid in expected_units(project):
        arabic.add(msgid, f"{MARK} {msgid}" + ("\nBcc: victim@example.net" if msgid == subject else ""))
    _write_catalog(i18n.catalog_path(project, RTL), arabic)
    code, out, err = leafgen_email(
        project,
        tmp_path,
        "--to",
        addr(1),
        "--leaflet",
        LEAFLET,
        "--lang",
        RTL,
        "--kind",
        "handout",
        "--send",
        capsys=capsys,
    )
    assert code == 1 and "0 sent, 1 failed" in out
    assert "the subject would span several lines" in err and "victim" not in out + err
    assert smtp.received == []


@pytest.mark.parametrize(
    ("content", "needle", "row"),
    [
        (b"email,name,leaflet\r\na@example.org,,x\r\n", "missing column(s) 'lang'", 1),
        (b"email,lang,leaflet,larg_print\r\n", "unknown column 'larg_print': did you mean 'large_print'?", 1),
        (b"ann@example.org,Ann,en,x\r\n", "the first row must name the columns", 1),  # no header: no cell echoed
        (b"email,lang,leaflet\r\n", "no recipients", 1),
        (b"email,name,lang,leaflet\r\na@example.org,Ren\xe9e,en,x\r\n", "not UTF-8", None),
    ],
)
def test_broken_csv_files(proj, smtp, tmp_path, capsys, content, needle, row):
    path = tmp_path / "recipients.csv"
    path.write_bytes(content)
    code, _, err = leafgen_email(proj, tmp_path, "--recipients", str(path), "--send", capsys=capsys)
    [line] = assert_one_line_errors(code, err, needle)
    assert line.startswith(f"leafgen: error: {path}:{row}: " if row else f"leafgen: error: {path}: "), line
    assert smtp.received == []


def test_semicolon_separated_list_with_several_kinds(proj, smtp, tmp_path, capsys):
    recipients = write_csv(
        tmp_path / "recipients.csv",
        [f"{addr(1)};Ann;en;{LEAFLET};checklist handout"],
        header="Email;Name;Lang;Leaflet;Kind",
    )
    code, out, err = leafgen_email(proj, tmp_path, "--recipients", str(recipients), "--send", capsys=capsys)
    assert code == 0, err
    [got] = smtp.received
    assert [a.get_filename() for a in got.message.iter_attachments()] == [f"{TITLE} – {CHECKLIST}.pdf", f"{TITLE}.pdf"]


# --- server settings and TLS ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, Path]:
    """A private CA (trustme) and a server certificate for 127.0.0.1 signed by it."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(ctx)
    ca_file = tmp_path_factory.mktemp("tls") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return ctx, ca_file


def test_starttls_verifies_the_certificate_and_never_shows_the_password(proj, tls, tmp_path, monkeypatch, capsys):
    server_ctx, ca_file = tls
    handler = Handler()
    controller = start(
        handler, tls_context=server_ctx, require_starttls=True, authenticator=authenticator("clinic", "s3cret-PW")
    )
    try:
        _clear_smtp_env(monkeypatch)
        monkeypatch.setenv("LEAFGEN_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("LEAFGEN_SMTP_PORT", str(controller.port))
        monkeypatch.setenv("LEAFGEN_SMTP_FROM", SENDER)  # security: starttls, the default
        monkeypatch.setenv("LEAFGEN_SMTP_USER", "clinic")
        monkeypatch.setenv("LEAFGEN_SMTP_PASSWORD", "s3cret-PW")
        args = ("--to", addr(1), "--leaflet", LEAFLET, "--lang", "en", "--kind", "handout", "--send")

        code, out, err = leafgen_email(proj, tmp_path, *args, capsys=capsys)  # a self-signed CA nobody trusts
        assert_one_line_errors(
            code, err, "TLS certificate of SMTP server 127.0.0.1", "not trusted", "LEAFGEN_SMTP_CAFILE"
        )
        assert handler.received == [] and journal(tmp_path)[addr(1)]["state"] == "pending"

        monkeypatch.setenv("LEAFGEN_SMTP_CAFILE", str(ca_file))
        monkeypatch.setenv("LEAFGEN_SMTP_PASSWORD", "wrong-PW-123")
        code, out, err = leafgen_email(proj, tmp_path, *args, capsys=capsys)
        assert_one_line_errors(code, err, "refused the login for user 'clinic'")
        assert "wrong-PW-123" not in out + err and handler.received == []

        monkeypatch.setenv("LEAFGEN_SMTP_PASSWORD", "s3cret-PW")
        code, out, err = leafgen_email(proj, tmp_path, *args, capsys=capsys)
        assert code == 0, err
        [got] = handler.received
        assert got.tls and got.login == "clinic"
        assert "s3cret-PW" not in out + err
        assert b"s3cret-PW" not in (tmp_path / "outbox" / "journal.sqlite").read_bytes()
    finally:
        controller.stop()


def test_implicit_tls_with_a_trusted_ca(proj, tls, tmp_path, monkeypatch, capsys):
    server_ctx, ca_file = tls
    handler = Handler()
    controller = start(handler, ssl_context=server_ctx)
    try:
        _clear_smtp_env(monkeypatch)
        config = tmp_path / "smtp.toml"  # the same settings from a config file
        config.write_text(
            f'host = "127.0.0.1"\nport = {controller.port}\nsecurity = "ssl"\nfrom = "{SENDER}"\ncafile = "{ca_file}"\n'
        )
        code, out, err = leafgen_email(
            proj,
            tmp_path,
            "--to",
            addr(1),
            "--leaflet",
            LEAFLET,
            "--lang",
            "en",
            "--kind",
            "handout",
            "--send",
            "--smtp-config",
            str(config),
            capsys=capsys,
        )
        assert code == 0, err
        [got] = handler.received
        assert got.tls
    finally:
        controller.stop()


def test_plain_smtp_to_a_remote_host_is_refused(proj, tmp_path, monkeypatch, capsys):
    _clear_smtp_env(monkeypatch)
    monkeypatch.setenv("LEAFGEN_SMTP_HOST", "smtp.example.org")
    monkeypatch.setenv("LEAFGEN_SMTP_SECURITY", "none")
    monkeypatch.setenv("LEAFGEN_SMTP_FROM", SENDER)
    code, _, err = leafgen_email(
        proj, tmp_path, "--to", addr(1), "--leaflet", LEAFLET, "--lang", "en", "--send", capsys=capsys
    )
    assert_one_line_errors(code, err, "LEAFGEN_SMTP_SECURITY", "only allowed for a loopback host")
    assert not (tmp_path / "outbox").exists()


def test_bad_config_file_names_itself(proj, tmp_path, monkeypatch, capsys):
    _clear_smtp_env(monkeypatch)
    config = tmp_path / "smtp.toml"
    config.write_text('host = "127.0.0.1"\npasword = "x"\n')
    code, _, err = leafgen_email(
        proj,
        tmp_path,
        "--to",
        addr(1),
        "--leaflet",
        LEAFLET,
        "--lang",
        "en",
        "--send",
        "--smtp-config",
        str(config),
        capsys=capsys,
    )
    assert_one_line_errors(code, err, f"{config}: unknown key 'pasword'")


def test_email_help_documents_the_settings(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["email", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for needle in (
        "usage: leafgen email",
        "--recipients FILE.csv",
        "--send",
        "LEAFGEN_SMTP_SECURITY",
        "LEAFGEN_SMTP_CAFILE",
        "--smtp-config",
        "uncertain",
    ):
        assert needle in out


# --- exactly once, whatever the folder, whenever the sender is killed ---------------------------------------


def test_rerun_from_another_folder_never_mails_a_patient_twice(project, smtp, tmp_path, monkeypatch, capsys):
    recipients = write_csv(tmp_path / "recipients.csv", [f"{addr(i)},,en,{LEAFLET},handout" for i in (1, 2)])
    args = ["email", "--project", str(project.root), "--recipients", str(recipients), "--send"]
    for folder in ("a", "b"):  # no --journal, no --outbox: the defaults, run from two folders
        (tmp_path / folder).mkdir()
        monkeypatch.chdir(tmp_path / folder)
        code = main(args)
        out, err = capsys.readouterr()
        assert code == 0, err
    assert "0 sent, 0 failed, 2 skipped (already sent)" in out
    for i in (1, 2):
        assert len(smtp.to(addr(i))) == 1, i
    journal_file = project.root / "out" / "outbox" / "journal.sqlite"  # the project's, as the README says
    assert f"journal: {journal_file}" in out
    assert journal_file.stat().st_mode & 0o777 == 0o600
    assert not list((tmp_path / "a").iterdir()) and not list((tmp_path / "b").iterdir())
    monkeypatch.chdir(tmp_path)
    code = main(["email", "--project", str(project.root), "--report"])
    assert code == 0 and "2 sent, 0 failed" in capsys.readouterr().out


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write any folder: no read-only project to test with")
def test_a_project_that_cannot_be_written_needs_an_explicit_journal(project, smtp, tmp_path, capsys):
    project.root.chmod(0o555)
    try:
        code = main(
            ["email", "--project", str(project.root), "--to", addr(1), "--leaflet", LEAFLET, "--lang", "en", "--send"]
        )
    finally:
        project.root.chmod(0o755)
    _, err = capsys.readouterr()
    assert_one_line_errors(code, err, "not writable", "--journal PATH")
    assert smtp.received == []


def _send_in_background(proj: Project, tmp_path: Path, recipients: Path) -> tuple[subprocess.Popen, object]:
    log = (tmp_path / "stderr.txt").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "leafgen",
            "email",
            "--project",
            str(proj.root),
            "--recipients",
            str(recipients),
            "--send",
            "--journal",
            str(tmp_path / "outbox" / "journal.sqlite"),
            "--retry-delay",
            "0.01",
        ],
        stdout=subprocess.DEVNULL,
        stderr=log,
        cwd=tmp_path,
    )
    return proc, log


def test_killed_before_the_final_dot_is_sent_by_the_next_run(proj, smtp, tmp_path, capsys):
    n, slow = 5, 3
    recipients = write_csv(tmp_path / "recipients.csv", [f"{addr(i)},,en,{LEAFLET},handout" for i in range(1, n + 1)])
    smtp.hold_rcpt = addr(slow)  # the server is slow to answer RCPT: nothing of the message has reached it
    proc, log = _send_in_background(proj, tmp_path, recipients)
    try:
        assert smtp.arrived.wait(60), (tmp_path / "stderr.txt").read_text()
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(20) == -signal.SIGKILL
    finally:
        proc.kill()
        proc.wait()
        log.close()
    smtp.hold_rcpt = None
    smtp.release.set()
    assert len(smtp.received) == slow - 1
    assert journal(tmp_path)[addr(slow)]["state"] == "trying"  # before the point of no return

    code, out, err = leafgen_email(proj, tmp_path, "--recipients", str(recipients), "--send", capsys=capsys)
    assert code == 0, err  # not stuck as uncertain: nothing for a person to do
    assert f"{n - slow + 1} sent, 0 failed, {slow - 1} skipped (already sent) in" in out
    for i in range(1, n + 1):
        assert len(smtp.to(addr(i))) == 1, i
    history = [r["outcome"] for r in _history(tmp_path, addr(slow))]
    assert history == ["pending", "sent"]  # the kill is on record, as "nothing reached the server"


def _history(tmp_path: Path, address: str) -> list[sqlite3.Row]:
    db = sqlite3.connect(tmp_path / "outbox" / "journal.sqlite")
    db.row_factory = sqlite3.Row
    try:
        return db.execute(
            "SELECT a.* FROM attempts a JOIN deliveries d USING (key) WHERE d.email = ? ORDER BY a.rowid", (address,)
        ).fetchall()
    finally:
        db.close()


# --- temporary failures: deferred, not failed, and never holding up the list ---------------------------------


def test_greylisted_mailbox_is_retried_after_the_rest_and_left_deferred(proj, smtp, tmp_path, capsys):
    n, grey = 10, 3
    smtp.greylist = {addr(grey): 99}
    recipients = write_csv(tmp_path / "recipients.csv", [f"{addr(i)},,en,{LEAFLET},handout" for i in range(1, n + 1)])
    code, out, err = leafgen_email(
        proj,
        tmp_path,
        "--recipients",
        str(recipients),
        "--send",
        "--retries",
        "2",
        "--retry-delay",
        "0.05",
        capsys=capsys,
    )
    assert code == 75  # EX_TEMPFAIL: only deferred rows left, a rerun later will send them
    assert smtp.rcpts == [addr(i) for i in range(1, n + 1)] + [addr(grey)] * 2  # the rest of the list first
    assert f"{n - 1} sent, 0 failed, 0 skipped (already sent), 1 deferred (temporarily refused: rerun later)" in out
    assert f"leafgen: deferred: {recipients}:{grey + 1}: SMTP 451 at RCPT TO" in err
    assert "rerun the same command after" in err and "UTC" in err
    assert "failed" not in err
    assert_private(out + err)
    row = journal(tmp_path)[addr(grey)]
    assert row["state"] == "deferred" and "451 4.7.1 Greylisted" in row["error"] and row["attempts"] == 3

    code, out, _ = leafgen_email(proj, tmp_path, "--report", capsys=capsys)
    assert code == 1 and f"{recipients}:{grey + 1}: deferred: temporarily refused: 451" in out
    assert "0 failed, 1 deferred" in out and "rerun the same send" in out

    smtp.greylist = {}  # greylisting over: the rerun sends it, and nothing else
    code, out, err = leafgen_email(proj, tmp_path, "--recipients", str(recipients), "--send", capsys=capsys)
    assert code == 0, err
    assert f"1 sent, 0 failed, {n - 1} skipped (already sent)" in out
    assert all(len(smtp.to(addr(i))) == 1 for i in range(1, n + 1))
    code, out, _ = leafgen_email(proj, tmp_path, "--report", capsys=capsys)
    assert code == 0 and f"{n} sent, 0 failed, 0 deferred, 0 uncertain, 0 pending" in out


@pytest.mark.parametrize("how", ["dropped", "421"])
def test_a_lost_connection_before_mail_reconnects_at_once(proj, smtp, tmp_path, capsys, how):
    if how == "dropped":
        smtp.drop_at_mail = 2
    else:
        smtp.close_at_mail = 2
    recipients = write_csv(tmp_path / "recipients.csv", [f"{addr(i)},,en,{LEAFLET},handout" for i in (1, 2, 3)])
    start_ = time.monotonic()
    code, out, err = leafgen_email(
        proj, tmp_path, "--recipients", str(recipients), "--send", "--retry-delay", "5", capsys=capsys
    )
    assert code == 0, err
    assert time.monotonic() - start_ < 4  # no 5 s wait before the first reconnection
    assert all(len(smtp.to(addr(i))) == 1 for i in (1, 2, 3))
    row = journal(tmp_path)[addr(2)]
    assert row["state"] == "sent" and row["attempts"] == 1  # the lost connection was not an attempt at the message
    [lost, sent] = _history(tmp_path, addr(2))
    assert lost["outcome"] == "pending" and (
        "421" in lost["detail"] if how == "421" else "connection lost" in lost["detail"]
    )
    assert sent["outcome"] == "sent" and sent["detail"].startswith("250")


def test_a_rejection_keeps_its_reason_through_a_later_outage(proj, smtp, tmp_path, monkeypatch, capsys):
    smtp.reject = {addr(1)}
    recipients = write_csv(tmp_path / "recipients.csv", [f"{addr(1)},,en,{LEAFLET},handout"])
    code, _, _ = leafgen_email(proj, tmp_path, "--recipients", str(recipients), "--send", capsys=capsys)
    assert code == 1 and journal(tmp_path)[addr(1)]["state"] == "failed"

    import socket

    with socket.socket() as s:  # the server is down for the rerun
        s.bind(("127.0.0.1", 0))
        monkeypatch.setenv("LEAFGEN_SMTP_PORT", str(s.getsockname()[1]))
    code, _, err = leafgen_email(
        proj, tmp_path, "--recipients", str(recipients), "--send", "--retries", "1", capsys=capsys
    )
    assert_one_line_errors(code, err, "cannot connect")
    row = journal(tmp_path)[addr(1)]
    assert row["state"] == "failed" and row["error"].startswith("550 5.1.1")

    code, out, _ = leafgen_email(proj, tmp_path, "--report", capsys=capsys)
    assert code == 1
    assert f"{recipients}:2: failed: 550 5.1.1 <{addr(1)}>: mailbox unavailable" in out  # the last meaningful reason
    assert "pending: cannot connect to SMTP server" in out  # and the outage, in the history below it


def test_unreachable_server_with_no_retries_says_1_attempt(proj, tmp_path, monkeypatch, capsys):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    _clear_smtp_env(monkeypatch)
    for key, value in (("HOST", "127.0.0.1"), ("PORT", str(port)), ("SECURITY", "none"), ("FROM", SENDER)):
        monkeypatch.setenv(f"LEAFGEN_SMTP_{key}", value)
    code, _, err = leafgen_email(
        proj, tmp_path, "--to", addr(1), "--leaflet", LEAFLET, "--lang", "en", "--send", "--retries", "0", capsys=capsys
    )
    assert_one_line_errors(code, err, "gave up after 1 attempt)")


# --- saying what happened ------------------------------------------------------------------------------------


def test_console_says_uncertain_deliveries_were_sent_or_resent(proj, smtp, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LEAFGEN_SMTP_TIMEOUT", "0.5")
    smtp.hold_at = 1  # the server takes the message and never answers: the sender times out
    args = ("--to", addr(1), "--leaflet", LEAFLET, "--lang", "en", "--kind", "handout", "--send")
    code, out, err = leafgen_email(proj, tmp_path, *args, capsys=capsys)
    assert code == 1
    assert "1 uncertain (sent, but the server did not confirm it)" in out and "not resent" not in out
    assert journal(tmp_path)[addr(1)]["state"] == "uncertain"

    code, out, err = leafgen_email(proj, tmp_path, *args, capsys=capsys)  # left alone: now it is "not resent"
    assert code == 1 and "1 uncertain from an earlier run (not resent)" in out and len(smtp.received) == 1

    smtp.hold_at = 2
    code, out, err = leafgen_email(proj, tmp_path, *args, "--retry-uncertain", capsys=capsys)
    assert code == 1
    assert "1 resent and uncertain again (the server did not confirm it)" in out and "not resent" not in out
    assert len(smtp.received) == 2


# --- names, addresses, attachments, columns ------------------------------------------------------------------


def test_a_name_holding_an_address_is_refused(proj, smtp, tmp_path, capsys):
    recipients = write_csv(
        tmp_path / "recipients.csv",
        [
            f'{addr(1)},"Wang ""Xiao"" 小明 <x@y.z>",en,{LEAFLET},handout',
            f"{addr(2)},Ann at ann@evil.example,en,{LEAFLET},handout",
            f"{addr(3)},Ann Lee,en,{LEAFLET},handout",
        ],
    )
    code, out, err = leafgen_email(proj, tmp_path, "--recipients", str(recipients), "--send", capsys=capsys)
    lines = assert_one_line_errors(code, err)
    assert len(lines) == 2, err
    for line, row in zip(lines, (2, 3), strict=True):
        assert line.startswith(f"leafgen: error: {recipients}:{row}: name contains '<', '>' or '@'"), line
    assert_private(out + err, "Wang", "小明", "x@y.z", "evil")
    assert smtp.received == []

    code, out, err = leafgen_email(
        proj,
        tmp_path,
        "--to",
        addr(1),
        "--name",
        "Ann <victim@example.net>",
        "--leaflet",
        LEAFLET,
        "--lang",
        "en",
        "--send",
        capsys=capsys,
    )
    assert_one_line_errors(code, err, "--name contains '<', '>' or '@'")
    assert "victim" not in err and smtp.received == []


@pytest.mark.parametrize(
    "address",
    ["ann lee@example.org", "ann@exa\u200bmple.org", "ann\u0301@example.org", "ann(b)@example.org", "ann@exam_ple.org"],
)
def test_a_malformed_address_error_echoes_none_of_it(proj, smtp, tmp_path, capsys, address):
    code, out, err = leafgen_email(
        proj, tmp_path, "--to", address, "--leaflet", LEAFLET, "--lang", "en", "--send", capsys=capsys
    )
    [line] = assert_one_line_errors(code, err, "--to: malformed email address")
    reason = line.split("malformed email address: ", 1)[1]
    assert not re.search(r"SPACE|ACCENT|[_()\u200b\u0301]", reason), reason  # no character, no Unicode name
    assert smtp.received == []


def test_attachments_carry_a_name_beside_filename_star(proj, smtp, tmp_path, capsys):
    code, _, err = leafgen_email(
        proj, tmp_path, "--to", addr(1), "--leaflet", LEAFLET, "--lang", RTL, "--send", capsys=capsys
    )
    assert code == 0, err
    [got] = smtp.received
    _, title, checklist_title = translated(proj, RTL)
    old_client = message_from_bytes(got.data)  # compat32: reads the parameters as they are written
    parts = [p for p in old_client.walk() if p.get_content_type() == "application/pdf"]
    assert [p.get_filename() for p in parts] == [
        attachment_filename(title),
        attachment_filename(f"{title} – {checklist_title}"),
    ]
    for part in parts:
        assert "filename*" in str(part["Content-Disposition"])  # RFC 2231, kept
        name = part.get_param("name")  # RFC 2047 encoded words, as the clients that read only name= expect
        assert isinstance(name, str) and name.startswith("=?utf-8?b?")
        assert str(make_header(decode_header(name))) == part.get_filename()
    assert all(len(line) <= 78 for line in got.data.split(b"\r\n"))


def test_extra_columns_from_a_patient_system_are_ignored_with_one_warning(proj, smtp, tmp_path, capsys):
    recipients = write_csv(
        tmp_path / "recipients.csv",
        [
            f"{addr(1)},Ann,en,{LEAFLET},handout,01234 999999,allergic to latex",
            f"{addr(2)},Bob,en,{LEAFLET},handout,,",
        ],
        header=f"{HEADER},Phone,Notes",
    )
    code, out, err = leafgen_email(proj, tmp_path, "--recipients", str(recipients), "--send", capsys=capsys)
    assert code == 0, err
    assert err.splitlines() == [
        f"leafgen: warning: {recipients}:1: ignoring column(s) not used by leafgen: 'Phone', 'Notes'"
    ]
    assert "999999" not in out + err and "latex" not in out + err
    assert len(smtp.received) == 2


# --- the engine, as the desk calls it ------------------------------------------------------------------------


def test_send_one_twice_at_once_sends_one_message(proj, smtp, tmp_path, capsys):
    settings = load_config(None, os.environ)
    r = single(proj, addr(1), "Ann Lee", [LEAFLET], "en", ["handout"], None, False)
    journal_file = tmp_path / "outbox" / "journal.sqlite"
    with ThreadPoolExecutor(2) as pool:  # a double click: two submits of the same form at the same moment
        outcomes = list(pool.map(lambda _: send_one(proj, r, settings, journal_file), range(2)))
    assert sorted(o.status for o in outcomes) == ["sent", "skipped"]
    assert len(smtp.received) == 1
    assert send_one(proj, r, settings, journal_file).status == "skipped"
    assert capsys.readouterr() == ("", "")  # the engine never prints

    dry = send_one(proj, r, None, tmp_path / "other.sqlite", outbox=tmp_path / "dry")  # no settings: a dry run
    assert dry.status == "written" and len(list((tmp_path / "dry").glob("*.eml"))) == 1
    assert len(smtp.received) == 1

    # The same through leafgen.api, the desk's way in.
    kwargs = {"name": "Bo", "kinds": ["handout"], "project": proj.root, "send": True, "journal": journal_file}
    assert api.email(addr(2), [LEAFLET], "en", **kwargs).status == "sent"
    assert api.email(addr(2), [LEAFLET], "en", **kwargs).status == "skipped"
    assert len(smtp.to(addr(2))) == 1


def test_a_journal_from_before_the_history_is_upgraded_and_still_skips(proj, smtp, tmp_path, capsys):
    r = single(proj, addr(1), "", [LEAFLET], "en", ["handout"], None, False)
    path = tmp_path / "outbox" / "journal.sqlite"
    path.parent.mkdir()
    db = sqlite3.connect(path)
    db.executescript(V1_SCHEMA)
    db.execute(
        "INSERT INTO deliveries VALUES (?, ?, '', 'en', ?, 'handout', 'a4', 0, '<m@x>', 'sent', 1, '', "
        "'command line', NULL, '2026-11-30', '2026-11-30', '2026-11-30')",
        (r.key, addr(1), LEAFLET),
    )
    db.commit()
    db.close()
    code, out, err = leafgen_email(
        proj,
        tmp_path,
        "--to",
        addr(1),
        "--leaflet",
        LEAFLET,
        "--lang",
        "en",
        "--kind",
        "handout",
        "--send",
        capsys=capsys,
    )
    assert code == 0 and "0 sent, 0 failed, 1 skipped (already sent)" in out, err
    assert smtp.received == []


V1_SCHEMA = """
CREATE TABLE deliveries (key TEXT PRIMARY KEY, email TEXT NOT NULL, name TEXT NOT NULL, lang TEXT NOT NULL,
    leaflets TEXT NOT NULL, kinds TEXT NOT NULL, paper TEXT NOT NULL, large_print INTEGER NOT NULL,
    message_id TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'sending', 'sent', 'failed', 'uncertain')),
    attempts INTEGER NOT NULL DEFAULT 0, error TEXT NOT NULL DEFAULT '', source TEXT NOT NULL, row INTEGER,
    created TEXT NOT NULL, updated TEXT NOT NULL, sent TEXT);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


# --- never the same leaflet twice: the journal counts leaflets (address x leaflet x language x kind) -----------

SECOND = "second-leaflet"
SECOND_TITLE = "A second leaflet for the same patient"


def with_second_leaflet(project: Project) -> Project:
    """The project with another leaflet (English only: a copy of the shipped one under a new id and title)."""
    text = project.leaflet_path(LEAFLET).read_text(encoding="utf-8")
    text = text.replace(f"id: {LEAFLET}", f"id: {SECOND}", 1).replace(f"title: {TITLE}", f"title: {SECOND_TITLE}", 1)
    (project.leaflet_path(LEAFLET).parent / f"{SECOND}.yaml").write_text(text, encoding="utf-8")
    return project


def attached(received) -> list[str]:
    return sorted(a.get_filename() for r in received for a in r.message.iter_attachments())


def test_a_leaflet_already_sent_is_not_attached_again(project, smtp, tmp_path, capsys):
    with_second_leaflet(project)
    code, out, err = leafgen_email(
        project, tmp_path, "--to", addr(1), "--leaflet", LEAFLET, "--lang", "en", "--send", capsys=capsys
    )
    assert code == 0 and "1 sent" in out, err
    first = smtp.to(addr(1))
    assert len(attached(first)) == 2  # handout and checklist

    recipients = write_csv(tmp_path / "recipients.csv", [f'{addr(1)},,en,"{LEAFLET};{SECOND}",'])
    code, out, err = leafgen_email(project, tmp_path, "--recipients", str(recipients), "--send", capsys=capsys)
    assert code == 0, err
    assert "1 sent, 0 failed, 0 skipped" in out
    later = smtp.to(addr(1))[1:]
    assert len(later) == 1
    assert attached(later) == sorted(
        [attachment_filename(SECOND_TITLE), attachment_filename(f"{SECOND_TITLE} – {CHECKLIST}")]
    ), "the leaflet sent before was attached again"
    assert SECOND_TITLE in later[0].message["Subject"] and TITLE not in later[0].message["Subject"]

    code, out, err = leafgen_email(project, tmp_path, "--recipients", str(recipients), "--send", capsys=capsys)
    assert code == 0 and "0 sent, 0 failed, 1 skipped (already sent)" in out, err
    assert len(smtp.to(addr(1))) == 2
    code, out, _ = leafgen_email(project, tmp_path, "--report", capsys=capsys)
    assert code == 0, out


@pytest.mark.parametrize("folders", [("a", "a"), ("a", "b")])
def test_a_desk_email_of_one_kind_then_a_list_of_both_sends_only_the_other(
    project, smtp, tmp_path, monkeypatch, capsys, folders
):
    """The desk emails the handout; the clinic's list later asks for handout and checklist: only the checklist goes,
    whatever folder either runs from (the project's own journal, no --journal)."""
    for folder in folders:
        (tmp_path / folder).mkdir(exist_ok=True)
    monkeypatch.chdir(tmp_path / folders[0])
    o = api.email(addr(1), [LEAFLET], "en", name="Ann Lee", kinds=["handout"], project=project.root, send=True)
    assert o.status == "sent"
    assert attached(smtp.to(addr(1))) == [attachment_filename(TITLE)]

    monkeypatch.chdir(tmp_path / folders[1])
    recipients = write_csv(tmp_path / "recipients.csv", [f"{addr(1)},Ann Lee,en,{LEAFLET},handout checklist"])
    args = ["email", "--project", str(project.root), "--recipients", str(recipients), "--send"]
    code = main(args)
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "1 sent, 0 failed, 0 skipped" in out
    later = smtp.to(addr(1))[1:]
    assert attached(later) == [attachment_filename(f"{TITLE} – {CHECKLIST}")], "the handout was emailed twice"

    assert main(args) == 0  # and once more: everything is there, nothing goes
    assert "0 sent, 0 failed, 1 skipped (already sent)" in capsys.readouterr().out
    o = api.email(addr(1), [LEAFLET], "en", kinds=["checklist"], project=project.root, send=True)
    assert o.status == "skipped"
    assert len(smtp.to(addr(1))) == 2
    assert main(["email", "--project", str(project.root), "--report"]) == 0, capsys.readouterr()


def test_a_leaflet_asked_for_again_in_another_language_is_sent(proj, smtp, tmp_path, capsys):
    """Another language is another leaflet for the patient (a relative reads it to them): it is sent."""
    base = ("--to", addr(1), "--leaflet", LEAFLET, "--kind", "handout", "--send")
    assert leafgen_email(proj, tmp_path, *base, "--lang", "en", capsys=capsys)[0] == 0
    code, out, err = leafgen_email(proj, tmp_path, *base, "--lang", RTL, capsys=capsys)
    assert code == 0 and "1 sent" in out, err
    assert len(smtp.to(addr(1))) == 2


def test_a_list_asking_twice_for_one_leaflet_is_refused_before_sending(proj, smtp, tmp_path, capsys):
    recipients = write_csv(
        tmp_path / "recipients.csv",
        [f"{addr(1)},,en,{LEAFLET},handout", f"{addr(2)},,en,{LEAFLET},", f"{addr(1).upper()},,en,{LEAFLET},"],
    )
    code, out, err = leafgen_email(proj, tmp_path, "--recipients", str(recipients), "--send", capsys=capsys)
    assert_one_line_errors(code, err, f"{recipients}:4:", "row 2", "handout")
    assert_private(out + err)
    assert smtp.received == []


def test_a_journal_from_the_previous_version_is_honoured_leaflet_by_leaflet(proj, smtp, tmp_path, capsys):
    """A version-2 journal (one row per message) that recorded the handout as sent: the checklist alone goes."""
    handout = single(proj, addr(1), "", [LEAFLET], "en", ["handout"], None, False)
    uncertain = single(proj, addr(2), "", [LEAFLET], "en", ["handout"], None, False)
    path = tmp_path / "outbox" / "journal.sqlite"
    path.parent.mkdir()
    db = sqlite3.connect(path)
    db.executescript(V2_SCHEMA)
    for r, state in ((handout, "sent"), (uncertain, "uncertain")):
        db.execute(
            "INSERT INTO deliveries VALUES (?, ?, '', 'en', ?, 'handout', 'a4', 0, '<m@x>', ?, 1, '', "
            "'command line', NULL, '2026-11-30', '2026-11-30', '2026-11-30')",
            (r.key, r.email, LEAFLET, state),
        )
    db.execute("PRAGMA user_version = 2")
    db.commit()
    db.close()
    recipients = write_csv(tmp_path / "recipients.csv", [f"{addr(i)},,en,{LEAFLET},handout;checklist" for i in (1, 2)])
    # A dry run reads the old journal as it is (read-only, not upgraded) and drafts what a send would send.
    code, out, err = leafgen_email(proj, tmp_path, "--recipients", str(recipients), capsys=capsys)
    assert "2 written, 0 failed, 0 skipped (already sent)" in out, err
    drafts = list((tmp_path / "outbox").glob("*.eml"))
    assert len(drafts) == 2
    for eml in drafts:
        draft = message_from_bytes(eml.read_bytes(), policy=policy.default)
        assert [a.get_filename() for a in draft.iter_attachments()] == [attachment_filename(f"{TITLE} – {CHECKLIST}")]
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == 2

    code, out, err = leafgen_email(proj, tmp_path, "--recipients", str(recipients), "--send", capsys=capsys)
    assert "2 sent, 0 failed, 0 skipped" in out, err
    for i in (1, 2):
        assert attached(smtp.to(addr(i))) == [attachment_filename(f"{TITLE} – {CHECKLIST}")], i
    code, out, err = leafgen_email(proj, tmp_path, "--recipients", str(recipients), "--send", capsys=capsys)
    assert "0 sent, 0 failed, 1 skipped (already sent)" in out and "1 uncertain from an earlier run" in out, err
    assert len(smtp.received) == 2


def test_a_message_refused_earlier_is_superseded_by_one_that_carried_its_leaflets(proj, smtp, tmp_path, capsys):
    """A handout refused for now (451), then a list sending handout and checklist: the refusal is no longer open."""
    smtp.greylist = {addr(1): 99}
    code, _, _ = leafgen_email(
        proj, tmp_path, "--to", addr(1), "--leaflet", LEAFLET, "--lang", "en", "--kind", "handout", "--send",
        "--retries", "0", capsys=capsys,
    )  # fmt: skip
    assert code == 75
    smtp.greylist = {}
    recipients = write_csv(tmp_path / "recipients.csv", [f"{addr(1)},,en,{LEAFLET},"])
    code, out, err = leafgen_email(proj, tmp_path, "--recipients", str(recipients), "--send", capsys=capsys)
    assert code == 0 and "1 sent" in out, err
    assert len(attached(smtp.to(addr(1)))) == 2
    code, out, _ = leafgen_email(proj, tmp_path, "--report", capsys=capsys)
    assert code == 0 and "0 deferred" in out and "1 superseded" in out, out


def test_dry_run_messages_are_readable_by_their_owner_only(proj, tmp_path, capsys):
    old = os.umask(0o022)
    try:
        code, _, err = leafgen_email(proj, tmp_path, "--to", addr(1), "--name", "Ann Lee", "--leaflet", LEAFLET,
                                     "--lang", "en", capsys=capsys)  # fmt: skip
    finally:
        os.umask(old)
    assert code == 0, err
    [eml] = (tmp_path / "outbox").glob("*.eml")
    assert "Ann Lee" in eml.read_text()
    assert eml.stat().st_mode & 0o777 == 0o600


V2_SCHEMA = """
CREATE TABLE deliveries (key TEXT PRIMARY KEY, email TEXT NOT NULL, name TEXT NOT NULL, lang TEXT NOT NULL,
    leaflets TEXT NOT NULL, kinds TEXT NOT NULL, paper TEXT NOT NULL, large_print INTEGER NOT NULL,
    message_id TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'trying', 'sending', 'sent', 'deferred', 'failed', 'uncertain')),
    attempts INTEGER NOT NULL DEFAULT 0, error TEXT NOT NULL DEFAULT '', source TEXT NOT NULL, row INTEGER,
    created TEXT NOT NULL, updated TEXT NOT NULL, sent TEXT);
CREATE TABLE attempts (key TEXT NOT NULL REFERENCES deliveries (key), at TEXT NOT NULL, outcome TEXT NOT NULL,
    detail TEXT NOT NULL);
CREATE INDEX attempts_key ON attempts (key);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def test_an_empty_journal_file_left_by_a_kill_is_no_journal(proj, tmp_path, capsys):
    """A sender killed between creating the journal file and its tables: a dry run still drafts, --report says so."""
    path = tmp_path / "outbox" / "journal.sqlite"
    path.parent.mkdir()
    path.touch(mode=0o600)
    code, out, err = leafgen_email(proj, tmp_path, "--to", addr(1), "--leaflet", LEAFLET, "--lang", "en", capsys=capsys)
    assert code == 0 and "1 written" in out, err
    code, out, err = leafgen_email(proj, tmp_path, "--report", capsys=capsys)
    assert_one_line_errors(code, err, "no send journal")
