"""Build one patient's email: translated subject and bodies, PDFs attached under readable names."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from leafgen.content.profile import clinic
from leafgen.content.schema import load_leaflet
from leafgen.errors import LeafgenError, MailError
from leafgen.i18n.catalogs import translator
from leafgen.i18n.locales import bcp47
from leafgen.mail.addresses import CONTROL
from leafgen.mail.recipients import Recipient
from leafgen.project import Project
from leafgen.render.job import Job
from leafgen.render.pipeline import render_job
from leafgen.render.templating import render_template
from leafgen.text.scripts import script_for

# Lines of CRLF as SMTP wants them, and 7-bit bodies (quoted-printable or base64, whichever is shorter) so the
# message never depends on the server's 8BITMIME; non-ASCII headers become RFC 2047 encoded words.
POLICY = policy.SMTP.clone(cte_type="7bit")
DRY_RUN_SENDER = "no-reply@leafgen.invalid"
UNSAFE_FILENAME = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]+')


# --- building messages ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attachment:
    leaflet_title: str
    title: str  # as listed in the message body
    filename: str
    pdf: bytes


def attachment_filename(title: str) -> str:
    """A file name in the patient's own script, without characters that file systems or mail clients refuse."""
    name = " ".join(UNSAFE_FILENAME.sub(" ", title).split()).strip(" .")[:120].strip()
    return f"{name or 'leaflet'}.pdf"


class Composer:
    """Renders each distinct PDF once per run and builds one message per recipient."""

    def __init__(self, project: Project, sender: Address):
        self.project, self.sender = project, sender
        self._renders: dict[Any, Any] = {}

    def jobs(self, r: Recipient) -> list[Any]:
        """The PDFs this message carries: those asked for, less any the patient already has (Recipient.parts)."""
        return [
            Job(leaflet, r.lang, kind, r.paper, r.large_print, fillable=kind == "checklist")
            for leaflet, kind in r.parts
        ]

    def _render(self, job: Any) -> Any:
        if job not in self._renders:
            try:
                self._renders[job] = render_job(self.project, job)  # never a fallback: gaps are refused
            except LeafgenError as e:
                self._renders[job] = e
        found = self._renders[job]
        if isinstance(found, LeafgenError):
            raise found
        return found

    def attachments(self, r: Recipient) -> list[Attachment]:
        out: list[Attachment] = []
        tr = translator(self.project, r.lang)
        for job in self.jobs(r):
            rendered = self._render(job)
            title = rendered.title
            if job.kind == "checklist":
                leaflet, _ = load_leaflet(self.project.leaflet_path(job.leaflet))
                title = f"{rendered.title} – {tr(leaflet.checklist.title, job.leaflet)}"
            filename = attachment_filename(title)
            taken = {a.filename for a in out}
            n = 2
            while filename in taken:
                filename = attachment_filename(f"{title} {n}")
                n += 1
            out.append(Attachment(rendered.title, title, filename, rendered.pdf))
        return out

    def message(self, r: Recipient, message_id: str) -> EmailMessage:
        """The whole message, or a LeafgenError (an untranslated string, a broken template) and nothing sent."""
        attachments = self.attachments(r)
        tr = translator(self.project, r.lang)
        context: dict[str, Any] = {
            "title": ", ".join(dict.fromkeys(a.leaflet_title for a in attachments)),
            "clinic": clinic(self.project),
            "name": r.name,
            "attachments": [a.title for a in attachments],
            "fillable": any(kind == "checklist" for _, kind in r.parts),
            "lang_tag": bcp47(r.lang),
            "direction": "rtl" if script_for(r.lang).rtl else "ltr",
        }
        tdir = self.project.templates_dir
        subject = render_template(tdir, "email_subject.txt.j2", context, tr).strip()
        context["subject"] = subject
        text = render_template(tdir, "email_body.txt.j2", context, tr)
        html = render_template(tdir, "email_body.html.j2", context, tr)
        tr.gate("email", allow_fallback=False)  # the same gate as builds: no silent English
        if CONTROL.search(subject):
            raise MailError(
                "the subject would span several lines: check the leaflet title and the translation of the subject line",
                tdir / "email_subject.txt.j2",
            )

        msg = EmailMessage(policy=POLICY)
        msg["Date"] = formatdate(localtime=True)
        msg["Message-ID"] = message_id
        msg["From"] = self.sender
        msg["To"] = Address(display_name=r.name, addr_spec=r.email)
        msg["Subject"] = subject
        msg.set_content(text)
        msg.add_alternative(html, subtype="html")
        for a in attachments:
            msg.add_attachment(a.pdf, maintype="application", subtype="pdf", filename=a.filename)
            _name_fallback(list(msg.iter_attachments())[-1], a.filename)
        # Last: set_content() and add_attachment() move Content-* headers down into the parts they create.
        msg["Content-Language"] = bcp47(r.lang)
        return msg


class _Prefolded(str):
    """A header written exactly as given: the email package would rewrite an encoded word in a parameter as RFC 2231.

    It has the `name` and `fold()` that email.policy.EmailPolicy looks for in a header object, and is a str so
    the message's own get_param() and get_content_type() still read it.
    """

    name: str
    lines: tuple[str, ...]

    def __new__(cls, name: str, lines: list[str]) -> _Prefolded:
        obj = super().__new__(cls, " ".join(lines))
        obj.name, obj.lines = name, tuple(lines)
        return obj

    def fold(self, *, policy: policy.Policy) -> str:
        return f"{self.name}: " + f"{policy.linesep} ".join(self.lines) + policy.linesep


def _name_fallback(part: EmailMessage, filename: str) -> None:
    """Content-Type's `name` beside Content-Disposition's RFC 2231 `filename*`: some clients read only one.

    A non-ASCII name goes as RFC 2047 encoded words in quotes, the form the common clients write and read there;
    each word is at most 75 characters and folded on its own line, so the header never passes 78 columns.
    """
    if filename.isascii():
        part.set_param("name", filename)
        return
    words, chunk = [], ""
    for ch in filename:
        if len((chunk + ch).encode()) > 42:  # 42 bytes → 56 base64 characters, 68 with =?utf-8?b? ?= and quotes
            words.append(chunk)
            chunk = ""
        chunk += ch
    words.append(chunk)
    encoded = [f"=?utf-8?b?{base64.b64encode(w.encode()).decode()}?=" for w in words]
    encoded[0], encoded[-1] = '"' + encoded[0], encoded[-1] + '"'
    lines = [f"{part.get_content_type()};", "name=" + encoded[0], *encoded[1:]]
    part.replace_header("Content-Type", _Prefolded("Content-Type", lines))


def new_message_id(sender: Address) -> str:
    return make_msgid(domain=sender.domain or "leafgen.invalid")
