"""The desk's web application: routes from search to print or email, with the page's security rules.

Patient details (name, start date, note, address) arrive only in POST bodies, go to one worker process for one
PDF or message, and are then dropped: they are never in a URL, a log line, the record or any file of the desk's.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import logging
import secrets
import threading
import time
import unicodedata
from collections import OrderedDict
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask, Response, abort, g, redirect, render_template, request, session, url_for
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException
from wtforms import DateField, HiddenField, PasswordField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from leafgen import api
from leafgen.desk.record import Record
from leafgen.desk.staff import RateLimit, check_login, load_accounts
from leafgen.desk.worker import Choice, Document, Emailed, Failure, Pool, email, page_png, render
from leafgen.errors import LeafgenError

log = logging.getLogger("leafgen.desk")

KINDS, PAPERS = api.KINDS, api.PAPERS
NOTE_MAX = 600
NAME_MAX = 120
PAGE_RATIO = {"a4": 297 / 210, "letter": 11 / 8.5}  # height / width, so the page holds its place while loading
PREVIEW_WIDTH = 720  # pixels: sharp at the page's display width, small enough to send in a few ms
FORM_LIMIT = 64 * 1024  # bytes in one request body: every form here is far smaller
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
RESULT_TTL = 3600  # seconds an email's result page can be shown again (refresh, Back, Forward)
RESULTS_KEPT = 500


@dataclass
class Settings:
    project: Path
    data_dir: Path
    outbox: Path | None  # None: the project's, as for leafgen email
    journal: Path | None
    host: str = "127.0.0.1"
    allowed_hosts: tuple[str, ...] = ()
    workers: int = 2
    email_wait: float = 120  # seconds a page waits for the mail server (the worker goes on: see send_email)
    accounts: dict[str, str] = field(default_factory=dict)


# --- forms (Flask-WTF: every POST carries a CSRF token tied to the session) --------------------------------------


class ChoiceForm(FlaskForm):
    """The leaflet and options, carried as hidden fields by the forms that print or email."""

    leaflet = HiddenField(validators=[DataRequired()])
    lang = HiddenField(validators=[DataRequired()])
    kind = HiddenField(validators=[DataRequired()])
    paper = HiddenField(validators=[DataRequired()])
    large_print = HiddenField()
    fillable = HiddenField()
    fallback = HiddenField()


class PrintForm(ChoiceForm):
    patient_name = StringField("Patient name", validators=[Optional(), Length(max=NAME_MAX)])
    start_date = DateField("Start date", validators=[Optional()])
    note = TextAreaField("Note from the clinician", validators=[Optional()])  # too long: said on the page


class EmailForm(ChoiceForm):
    address = StringField("Patient's email address", validators=[DataRequired(), Length(max=254)])
    name = StringField("Patient's name (for the greeting)", validators=[Optional(), Length(max=NAME_MAX)])


class LoginForm(FlaskForm):
    username = StringField("Staff name", validators=[DataRequired(), Length(max=64)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])


class LogoutForm(FlaskForm):
    pass


# --- search ---------------------------------------------------------------------------------------------------


def fold(text: str) -> str:
    """Text as search compares it: case, accents and Arabic vowel marks ignored ("tê" finds "te", "الوخز" "وخز")."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")


def list_order(lang: api.LanguageInfo) -> tuple[bool, str]:
    """Where a language sits in the list: the source language first, then by its own name as shown (accents and
    case aside), so each script's names come together ("Español" … "Türkçe", "Русский", "العربية" … "한국어")
    rather than in the order of the codes behind them."""
    return (not lang.source, fold(lang.name))


@dataclass(frozen=True)
class Hit:
    leaflet: api.LeafletInfo
    langs: tuple[str, ...]  # languages whose text matched, English first

    @property
    def best(self) -> str:
        """The language to open the leaflet in: the one the staff member searched in, unless English matched."""
        return "en" if not self.langs or "en" in self.langs else self.langs[0]


def search(catalogue: list[api.LeafletInfo], query: str) -> list[Hit]:
    """Leaflets whose title, summary or headings contain every word of the query, in any one language."""
    words = fold(query).split()
    hits = []
    for info in catalogue:
        langs = tuple(lang for lang, text in info.text.items() if all(w in fold(text) for w in words))
        if langs or not words:
            hits.append(Hit(info, langs))
    return hits


# api.email names the command line's options in its messages; the desk's fields have labels instead.
OPTION_WORDS = (("--to: ", ""), ("--name ", "the patient's name "))


def _staff_words(failure: Failure) -> Failure:
    """A failure as the desk says it: "malformed email address: …", not "--to: malformed email address: …"."""
    lines = []
    for line in failure.lines:
        for option, words in OPTION_WORDS:
            if line.startswith(option):
                line = words + line.removeprefix(option)
        lines.append(line)
    return Failure(failure.kind, tuple(lines))


# --- the application ------------------------------------------------------------------------------------------


class Desk:
    """What the routes share: settings, the worker pool, caches of unpersonalised output, the record."""

    def __init__(self, settings: Settings, pool: Pool):
        self.settings, self.pool = settings, pool
        self.record = Record(settings.data_dir)
        self.limiter = RateLimit()
        self.mail_lock = threading.Lock()  # one send at a time: the journal is for one sender
        self._lock = threading.Lock()
        self._docs: OrderedDict[tuple, Any] = OrderedDict()  # unpersonalised PDFs only: no patient data cached
        self._pngs: OrderedDict[tuple, Future] = OrderedDict()
        self._meta: tuple[str, list[api.LeafletInfo], list[api.LanguageInfo]] | None = None
        self._emailed: OrderedDict[str, tuple[float, Choice, Emailed]] = OrderedDict()

    def keep_emailed(self, c: Choice, result: Emailed) -> str:
        """Keep an email's outcome (in memory, no patient in it) under a random token, for the page that shows it."""
        token = secrets.token_urlsafe(16)
        now = time.monotonic()
        with self._lock:
            self._emailed[token] = (now, c, result)
            while self._emailed and (
                len(self._emailed) > RESULTS_KEPT or next(iter(self._emailed.values()))[0] < now - RESULT_TTL
            ):
                self._emailed.popitem(last=False)
        return token

    def emailed(self, token: str) -> tuple[Choice, Emailed] | None:
        with self._lock:
            kept = self._emailed.get(token)
        if kept is None or kept[0] < time.monotonic() - RESULT_TTL:
            return None
        return kept[1], kept[2]

    def signature(self) -> str:
        """Changes whenever a leaflet, template, catalog or the clinic profile does: a long-running desk never
        shows yesterday's text."""
        root = self.settings.project
        h = hashlib.sha256()
        for pattern in ("leaflets/*.yaml", "templates/*", "translations/*/LC_MESSAGES/*.po", "clinic.yaml"):
            for p in sorted(root.glob(pattern)):
                st = p.stat()
                h.update(f"{p}\0{st.st_mtime_ns}\0{st.st_size}\n".encode())
        return h.hexdigest()

    def meta(self) -> tuple[str, list[api.LeafletInfo], list[api.LanguageInfo]]:
        sig = self.signature()
        with self._lock:
            if self._meta is None or self._meta[0] != sig:
                project = self.settings.project
                self._meta = (sig, api.catalogue(project), sorted(api.languages(project), key=list_order))
            return self._meta

    def document(self, c: Choice) -> Document | Failure:
        key = (self.signature(), c)
        with self._lock:
            if key in self._docs:
                self._docs.move_to_end(key)
                return self._docs[key]
        result = self.pool.run(render, self.settings.project, c)
        with self._lock:
            self._docs[key] = result
            while len(self._docs) > 64:
                self._docs.popitem(last=False)
        return result

    def png(self, pdf: bytes, index: int) -> bytes:
        """A page image of an unpersonalised PDF, drawn once (or already on its way: see prefetch)."""
        key = (hashlib.sha256(pdf).digest(), index)
        with self._lock:
            hit = self._pngs.get(key)
            if hit is None:
                hit = self._pngs[key] = self.pool.submit(page_png, pdf, index, PREVIEW_WIDTH)
            self._pngs.move_to_end(key)
            while len(self._pngs) > 256:
                self._pngs.popitem(last=False)
        try:
            return hit.result(timeout=120)
        except Exception:
            with self._lock:  # not cached: the next request tries again
                if self._pngs.get(key) is hit:
                    del self._pngs[key]
            raise

    def prefetch(self, pdf: bytes) -> None:
        """Start drawing page 1 while the page that shows it is still being sent: the browser asks for it next."""
        key = (hashlib.sha256(pdf).digest(), 0)
        with self._lock:
            if key not in self._pngs:
                self._pngs[key] = self.pool.submit(page_png, pdf, 0, PREVIEW_WIDTH)


def create_app(settings: Settings, pool: Pool) -> Flask:
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=secrets.token_bytes(32),  # new each start: a restart signs everyone out, nothing to leak
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_NAME="leafgen_desk",
        MAX_CONTENT_LENGTH=FORM_LIMIT,
        MAX_FORM_MEMORY_SIZE=FORM_LIMIT,
        WTF_CSRF_TIME_LIMIT=8 * 3600,  # a working day: a form left open over lunch still prints
        WTF_CSRF_SSL_STRICT=False,
    )
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
    desk = Desk(settings, pool)
    desk.meta()  # read the catalogue now: the first visitor should not wait for it
    app.extensions["leafgen_desk"] = desk
    # 0.0.0.0 and :: are where the desk listens, never a name a browser asks for.
    bound = () if settings.host in ("0.0.0.0", "::", "") else (settings.host,)
    allowed = {h.lower().strip("[]") for h in (*LOOPBACK_NAMES, *bound, *settings.allowed_hosts) if h}
    login_required = bool(settings.accounts)

    @app.before_request
    def guard() -> Any:
        g.started = time.perf_counter()
        # DNS rebinding: a web page a staff member visits can point its own name at 127.0.0.1, but its requests
        # still say that name in Host, so only the names this desk is served under are answered.
        host = request.host.lower()
        name = host[1:].split("]")[0] if host.startswith("[") else host.rsplit(":", 1)[0]
        if name not in allowed:
            abort(400, description="This desk does not answer to that host name (see leafgen serve --allow-host).")
        if login_required and request.endpoint not in ("login", "static"):
            user = session.get("staff")
            if user is None or user not in load_accounts(settings.data_dir):
                session.pop("staff", None)  # an account removed while signed in: signed out now
                if request.method == "GET" and request.endpoint not in ("logout", "preview"):
                    # Where to go after signing in: kept in the session, not a ?next= that a link could aim elsewhere.
                    session["after_login"] = request.full_path.rstrip("?")
                return redirect(url_for("login"))
        return None

    CSRFProtect(app)  # after guard(): a foreign Host is refused before anything else looks at the request

    @app.after_request
    def headers(resp: Response) -> Response:
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Referrer-Policy"] = "no-referrer"
        resp.headers["X-Frame-Options"] = "DENY"
        resp.headers.setdefault("Cache-Control", "no-store")
        if resp.mimetype == "text/html":
            resp.headers["Content-Security-Policy"] = CSP
        # The path only: no query string (search words) and never a body (patient details).
        ms = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
        log.info("%s %s %s %.0f ms", request.method, request.path, resp.status_code, ms)
        return resp

    @app.errorhandler(CSRFError)
    def csrf_error(e: CSRFError) -> tuple[str, int]:
        return _error(
            400, "This form has expired or did not come from this desk. Go back, reload the page and try again."
        )

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException) -> tuple[str, int]:
        if e.code == 413:
            return _error(413, f"That form was too large. A note can have at most {NOTE_MAX} characters.")
        return _error(e.code or 400, e.description or "That request could not be handled.")

    @app.errorhandler(Exception)
    def crash(e: Exception) -> tuple[str, int]:
        # The type only: an exception's text could quote the patient's details.
        log.error("%s %s: internal error %s", request.method, request.path, type(e).__name__)
        if request.path == "/email":  # the worker may have got as far as the mail server
            return _error(
                500,
                "Something went wrong on the desk while emailing. Please try again: if the message went, the desk "
                "says “Already sent” (a patient is never emailed the same leaflet twice).",
            )
        return _error(500, "Something went wrong on the desk. Nothing was printed or sent. Please try again.")

    def _error(code: int, message: str) -> tuple[str, int]:
        return render_template("error.html", code=code, message=message, **_common()), code

    def _common() -> dict[str, Any]:
        try:
            profile = api.clinic_profile(settings.project)
        except LeafgenError:
            profile = {"name": "Your clinic"}
        return {
            "clinic": profile,
            "staff": session.get("staff"),
            "login_required": login_required,
        }

    # --- pages ---

    @app.get("/")
    def index() -> str:
        _sig, catalogue, languages = desk.meta()
        query = request.args.get("q", "")[:200]
        hits = search(catalogue, query)
        langs = {lang.code: lang for lang in languages}
        return render_template("index.html", query=query, hits=hits, langs=langs, **_common())

    def _choice(values: Any, leaflet: str | None = None) -> Choice:
        """The choice in a query string or form; unknown values are the user's error, not a crash."""
        _sig, catalogue, languages = desk.meta()
        leaflet = leaflet or values.get("leaflet", "")
        if leaflet not in {i.id for i in catalogue}:
            abort(404, description=f"There is no leaflet called {leaflet!r}.")
        lang = values.get("lang") or "en"
        if lang not in {x.code for x in languages}:
            abort(404, description=f"There is no translation into {lang!r}.")
        kind = values.get("kind") or "handout"
        paper = values.get("paper") or _default_paper()
        if problem := api.choice_problem("kind", kind, KINDS) or api.choice_problem("paper", paper, PAPERS):
            abort(400, description=problem)
        flag = {"1", "on", "yes", "true", "y"}
        large = values.get("large_print", "") in flag
        fillable = kind == "checklist" and values.get("fillable", "") in flag
        fallback = values.get("fallback", "") in flag
        return Choice(leaflet, lang, kind, paper, large, fillable, fallback)

    def _default_paper() -> str:
        try:
            return api.clinic_profile(settings.project)["default_paper"]
        except LeafgenError:
            return "a4"

    def _page(c: Choice, *, status: int = 200, **extra: Any) -> tuple[str, int]:
        _sig, catalogue, languages = desk.meta()
        info = next(i for i in catalogue if i.id == c.leaflet)
        lang = next(x for x in languages if x.code == c.lang)
        doc = desk.document(c)
        refused = isinstance(doc, Failure) and doc.kind == "refused"
        if isinstance(doc, Document) and "personal_preview" not in extra:
            desk.prefetch(doc.pdf)
        # An incomplete translation offers the English fallback; the gaps decide, not the language's overall status.
        print_form = extra.pop("print_form", None) or PrintForm(formdata=None, data=_hidden(c))
        email_form = extra.pop("email_form", None) or EmailForm(formdata=None, data=_hidden(c))
        html = render_template(
            "leaflet.html",
            c=c,
            info=info,
            lang=lang,
            languages=languages,
            doc=doc,
            refused=refused,
            print_form=print_form,
            email_form=email_form,
            dry_run=api.email_is_dry_run(),
            outbox=settings.outbox or settings.project / "out" / "outbox",
            kinds=KINDS,
            papers=PAPERS,
            preview_height=round(PREVIEW_WIDTH * PAGE_RATIO[c.paper]),
            **extra,
            **_common(),
        )
        return html, status

    def _hidden(c: Choice) -> dict[str, str]:
        return {
            "leaflet": c.leaflet,
            "lang": c.lang,
            "kind": c.kind,
            "paper": c.paper,
            "large_print": "1" if c.large_print else "",
            "fillable": "1" if c.fillable else "",
            "fallback": "1" if c.fallback else "",
        }

    @app.get("/leaflet/<leaflet>")
    def leaflet(leaflet: str) -> tuple[str, int]:
        # preview=1: the page answers Show preview, so focus goes to the preview (not to the top of the page).
        return _page(_choice(request.args, leaflet), focus_preview=request.args.get("preview") == "1")

    @app.get("/preview/<leaflet>/<lang>/<kind>/<paper>/page-<int:page>.png")
    def preview(leaflet: str, lang: str, kind: str, paper: str, page: int) -> Response:
        """A page image of the unpersonalised PDF (no patient data here, so it may be cached). Its address names
        the choice, not the text, so the browser revalidates every time (the ETag is the PDF's own digest): a
        translation fixed a minute ago is never shown from an old copy, and an unchanged page costs a 304."""
        values = {**request.args.to_dict(), "lang": lang, "kind": kind, "paper": paper}
        c = _choice(values, leaflet)
        doc = desk.document(c)
        if isinstance(doc, Failure):
            abort(409, description="This leaflet cannot be made with these choices (see the leaflet page).")
        if not 1 <= page <= doc.pages:
            abort(404, description=f"This PDF has {doc.pages} page(s), not {page}.")
        etag = f"{hashlib.sha256(doc.pdf).hexdigest()[:32]}-{page}"
        if request.if_none_match.contains(etag):
            resp = Response(status=304)
        else:
            resp = Response(desk.png(doc.pdf, page - 1), mimetype="image/png")
        resp.set_etag(etag)
        resp.headers["Cache-Control"] = "private, no-cache"
        return resp

    def _posted(form: ChoiceForm) -> Choice:
        if not form.validate():
            problems = [f"{getattr(form, k).label.text}: {' '.join(v)}" for k, v in form.errors.items()]
            abort(400, description="The form is incomplete or wrong. " + " ".join(problems))
        return _choice(request.form)

    def _personal(form: PrintForm, c: Choice) -> tuple[str, dt.date | None, str]:
        """Only what the chosen kind prints: a name on a handout would be taken but never shown."""
        if c.kind == "checklist":
            return (form.patient_name.data or "").strip(), form.start_date.data, ""
        # A line break counts once, as the receptionist sees it (browsers send it as CR LF).
        return "", None, (form.note.data or "").replace("\r\n", "\n").strip()

    def _unprintable(name: str, note: str) -> Failure | None:
        """A control or reordering character in the details, refused before a worker is asked: the library's rule
        (every caller of leafgen.api gets it), named as leafgen names one in a leaflet."""
        try:
            api.check_personal_text(name, note)
        except api.PersonalDataError as e:
            return Failure("personal", (e.message,))
        return None

    @app.post("/leaflet/<leaflet>/preview")
    def preview_personal(leaflet: str) -> tuple[str, int]:
        """The leaflet page again, its preview drawn from the personalised PDF (images inline: no URL holds it)."""
        form = PrintForm()
        c = _posted(form)
        name, start, note = _personal(form, c)
        result = _unprintable(name, note) or desk.pool.run(render, settings.project, c, name, start, note)
        if isinstance(result, Failure):
            return _page(c, status=422, print_form=form, print_failure=result)
        images = [
            "data:image/png;base64," + base64.b64encode(desk.pool.run(page_png, result.pdf, i, PREVIEW_WIDTH)).decode()
            for i in range(result.pages)
        ]
        return _page(c, print_form=form, personal_preview=images)

    @app.post("/pdf")
    def pdf() -> Any:
        form = PrintForm()
        c = _posted(form)
        name, start, note = _personal(form, c)
        personalised = bool(name or start or note)
        result = _unprintable(name, note) or (
            desk.pool.run(render, settings.project, c, name, start, note) if personalised else desk.document(c)
        )
        if isinstance(result, Failure):
            return _page(c, status=422, print_form=form, print_failure=result)
        download = request.form.get("action") == "download"
        _record(
            c,
            "download" if download else "print",
            fillable=c.fillable,
            english_fallback=result.fallback,
            personalised=personalised,
        )
        suffix = ("-large" if c.large_print else "") + ("-fillable" if c.fillable else "")
        filename = f"{c.leaflet}-{c.lang}-{c.kind}-{c.paper}{suffix}.pdf"  # never the patient's name
        resp = Response(result.pdf, mimetype="application/pdf")
        resp.headers["Content-Disposition"] = f'{"attachment" if download else "inline"}; filename="{filename}"'
        resp.headers["Cache-Control"] = "no-store"
        return resp

    def _record(c: Choice, action: str, **values: object) -> None:
        """One row of what was handed out: the leaflet's version as printed, who (never the patient), what."""
        _sig, catalogue, _langs = desk.meta()
        version = next(i for i in catalogue if i.id == c.leaflet).version
        staff = session.get("staff") or "(local desk, no login)"
        desk.record.add(staff=staff, action=action, leaflet=c.leaflet, version=version, lang=c.lang, kind=c.kind,
                        paper=c.paper, large_print=c.large_print, **values)  # fmt: skip

    @app.post("/email")
    def send_email() -> Any:
        """Send (or write to the outbox), then redirect to the result: a refresh, Back or Forward shows the result
        again instead of posting the form again (a browser's "Confirm form resubmission", a second record row)."""
        form = EmailForm()
        c = _posted(form)
        address = (form.address.data or "").strip()
        name = (form.name.data or "").strip()
        send = not api.email_is_dry_run()
        with desk.mail_lock:  # a double click waits here, then finds the journal says "sent"
            try:
                result = desk.pool.run(
                    email,
                    settings.project,
                    settings.outbox,
                    settings.journal,
                    address,
                    name,
                    c,
                    send,
                    timeout=settings.email_wait,
                )
            except TimeoutError:  # the page stops waiting; the worker goes on and the journal records what happens
                result = Emailed("sending", "", not send)
        if isinstance(result, Failure):
            return _page(c, status=422, email_form=form, email_failure=_staff_words(result))
        if result.status in ("sent", "written", "failed", "uncertain", "sending"):
            _record(
                c,
                "email (dry run)" if result.dry_run else "email",
                fillable=c.kind == "checklist",  # the emailed checklist is the fillable one
                english_fallback=False,
                personalised=False,
                email_state=result.status,
            )
        return redirect(url_for("email_result", token=desk.keep_emailed(c, result)), 303)

    @app.get("/email/<token>")
    def email_result(token: str) -> tuple[str, int]:
        kept = desk.emailed(token)
        if kept is None:
            abort(
                404,
                description="This email's result is no longer shown (results are kept for an hour, and until the desk "
                "restarts). Nothing was sent again; the record of handouts lists every email.",
            )
        c, result = kept
        _sig, catalogue, languages = desk.meta()
        info = next((i for i in catalogue if i.id == c.leaflet), None)
        if info is None:
            abort(404, description=f"There is no leaflet called {c.leaflet!r} any more.")
        lang = next((x for x in languages if x.code == c.lang), None)
        status = 200 if result.status in ("sent", "written", "skipped") else 502
        outbox = settings.outbox or settings.project / "out" / "outbox"
        html = render_template(
            "email_result.html", c=c, info=info, lang=lang, result=result, outbox=outbox, **_common()
        )
        return html, status

    @app.get("/record")
    def record() -> str:
        _sig, _catalogue, languages = desk.meta()
        names = {x.code: x.english_name for x in languages}  # "tl", "ht", "zh_Hant" mean little to an auditor
        return render_template("record.html", rows=desk.record.rows(limit=500), names=names, **_common())

    @app.get("/record.csv")
    def record_csv() -> Response:
        resp = Response(desk.record.csv(), mimetype="text/csv")
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M")
        resp.headers["Content-Disposition"] = f'attachment; filename="leafgen-handouts-{stamp}.csv"'
        return resp

    @app.route("/login", methods=["GET", "POST"])
    def login() -> Any:
        form = LoginForm()
        error, status = "", 200
        if request.method == "POST":
            client = f"ip:{request.remote_addr}"
            who = f"user:{(form.username.data or '').lower()}"
            wait = desk.limiter.wait(client, who)
            if wait > 0:
                minutes = max(1, round(wait / 60))
                error, status = f"Too many failed attempts. Try again in about {minutes} minute(s).", 429
            elif form.validate() and check_login(
                load_accounts(settings.data_dir), form.username.data, form.password.data
            ):
                desk.limiter.succeeded(who)
                after = session.get("after_login", "")
                session.clear()
                session["staff"] = form.username.data
                # Only a path on this desk: "/..." but not "//host" (which a browser would take for another site).
                local = isinstance(after, str) and after.startswith("/") and not after.startswith(("//", "/\\"))
                return redirect(after if local else url_for("index"))
            else:
                if form.errors.get("csrf_token"):
                    return _error(400, "This form has expired. Reload the page and try again.")
                desk.limiter.failed(client, who)
                error, status = "That staff name and password do not match.", 401
        return render_template("login.html", form=form, error=error, **_common()), status

    @app.post("/logout")
    def logout() -> Any:
        if not LogoutForm().validate():
            abort(400, description="This form has expired. Reload the page and try again.")
        session.clear()
        return redirect(url_for("login") if login_required else url_for("index"))

    return app
