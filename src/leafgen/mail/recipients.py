"""Who gets which leaflets by email: one patient from the command line, or a CSV list, checked row by row.

Everything here is data supplied by people, never trusted: addresses must be well formed, names must not carry
line breaks (which would let a name write mail headers), and every problem in a list is reported with its row
number before anything is sent. Error messages name the file and row, never the patient's address or name.
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import io
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from leafgen.content.profile import clinic
from leafgen.errors import ErrorList, LeafgenError, MailError
from leafgen.mail.addresses import check_address, check_name
from leafgen.project import KINDS, PAPERS, Project
from leafgen.render.job import choice_problem

COLUMNS = ("email", "name", "lang", "leaflet", "kind", "paper", "large_print")
REQUIRED = ("email", "lang", "leaflet")
LIST_SPLIT = re.compile(r"[;,\s]+")
TRUE = {"1", "yes", "y", "true", "x"}
FALSE = {"", "0", "no", "n", "false"}


Unit = tuple[str, str]  # (leaflet, kind): one PDF. With the address and language, what the journal counts.


def message_key(email: str, lang: str, units: Iterable[Unit]) -> str:
    """Journal key of the message carrying `units` to `email` in `lang`.

    Every leaflet in every kind (the usual message) keeps the key of the journals written before leafgen counted
    leaflets one by one, so their rows are still found; any other selection of PDFs gets a key of its own.
    """
    chosen = set(units)
    leaflets, kinds = sorted({u[0] for u in chosen}), sorted({u[1] for u in chosen})
    if chosen == {(lf, k) for lf in leaflets for k in kinds}:
        parts = [email.lower(), ",".join(leaflets), lang, ",".join(kinds)]
    else:
        parts = [email.lower(), lang, "units", ",".join(f"{lf}/{k}" for lf, k in sorted(chosen))]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


@dataclass(frozen=True)
class Recipient:
    """One patient's request: all their leaflets and kinds, in one message (less what they already have)."""

    email: str  # normalised, ASCII (an internationalised domain is in punycode)
    name: str
    lang: str
    leaflets: tuple[str, ...]
    kinds: tuple[str, ...]
    paper: str
    large_print: bool = False
    source: str = "command line"  # the CSV file, for the report
    row: int | None = None  # its row as a spreadsheet numbers it (header = row 1)
    attach: tuple[Unit, ...] | None = None  # the PDFs the message carries, when not all of `units` (see send.plan)

    @property
    def units(self) -> tuple[Unit, ...]:
        """Every PDF asked for: each leaflet in each kind, in that order."""
        return tuple((lf, kind) for lf in self.leaflets for kind in self.kinds)

    @property
    def parts(self) -> tuple[Unit, ...]:
        """The PDFs its message attaches."""
        return self.units if self.attach is None else self.attach

    @property
    def key(self) -> str:
        """The request: the same patient, leaflets, language and kinds are the same request (and, all of them still
        to send, the journal key of its message).

        Paper and print size are left out on purpose: they change how the same information looks, not what it
        says, so fixing a paper size in the list and rerunning it must not mail the patient again.
        """
        return message_key(self.email, self.lang, self.units)

    @property
    def where(self) -> str:
        return f"{self.source}:{self.row}" if self.row else self.source


def split_list(value: str) -> list[str]:
    """Leaflet ids or kinds separated by ';', ',' or spaces; duplicates dropped, order kept."""
    return list(dict.fromkeys(v for v in LIST_SPLIT.split(value.strip()) if v))


@dataclass(frozen=True)
class Choices:
    """What a project offers, read once per list rather than once per row."""

    leaflets: tuple[str, ...]
    languages: tuple[str, ...]

    @classmethod
    def of(cls, project: Project) -> Choices:
        return cls(tuple(p.stem for p in project.leaflet_paths()), tuple(project.languages()))


def _check_choices(choices: Choices, leaflets: Iterable[str], lang: str, kinds: Iterable[str], paper: str) -> None:
    problems: list[str] = []
    for lf in leaflets:
        if lf not in choices.leaflets:
            problems.append(f"unknown leaflet {lf!r} (known: {', '.join(choices.leaflets) or 'none'})")
    problems.append(choice_problem("language", lang, choices.languages))
    problems += [choice_problem("kind", kind, KINDS) for kind in kinds]
    problems.append(choice_problem("paper", paper, PAPERS))
    problems = [p for p in problems if p]
    if problems:
        raise MailError("; ".join(problems))


def single(
    project: Project,
    to: str,
    name: str | None,
    leaflets: list[str],
    lang: str | None,
    kinds: list[str] | None,
    paper: str | None,
    large_print: bool,
) -> Recipient:
    """The recipient given with --to; every problem is a one-line error naming the option at fault."""
    if not leaflets or not lang:
        raise MailError("--to needs --leaflet ID and --lang LANG")
    try:
        email = check_address(to)
    except MailError as e:
        raise MailError(f"--to: {e.message}") from None
    clean_name = check_name(name or "", "--name")
    kinds = list(dict.fromkeys(kinds or KINDS))
    paper = paper or clinic(project)["default_paper"]
    _check_choices(Choices.of(project), leaflets, lang, kinds, paper)
    return Recipient(email, clean_name, lang, tuple(leaflets), tuple(kinds), paper, large_print)


def read_csv(
    project: Project,
    path: Path,
    kinds: list[str] | None = None,
    paper: str | None = None,
    large_print: bool = False,
    warn: Callable[[LeafgenError], None] | None = None,
) -> list[Recipient]:
    """Every row of a recipients list, or an ErrorList naming every bad row (file:row: problem).

    Columns: email, lang, leaflet (required); name, kind, paper, large_print (optional); other columns are
    ignored, with one warning through `warn`. The command-line --kind, --paper and --large-print give the
    defaults for rows that leave those cells empty.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")  # Excel writes a byte-order mark
    except FileNotFoundError:
        raise MailError("recipients file not found", path) from None
    except UnicodeDecodeError as e:
        raise MailError(f"not UTF-8 text (byte {e.start}): save the list as 'CSV UTF-8'", path) from None
    except OSError as e:
        raise MailError(f"cannot read recipients file: {e.strerror}", path) from None
    if "\x00" in text:
        raise MailError("not a CSV text file (contains NUL bytes)", path)

    first_line = text.split("\n", 1)[0]
    # Spreadsheets in some locales save ';'-separated "CSV": take whichever separator the header uses most.
    delimiter = max(",;\t", key=lambda d: (first_line.count(d), d == ","))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    errors: list[LeafgenError] = []
    try:
        header = next(reader, None)
    except csv.Error as e:
        raise MailError(f"broken CSV header: {e}", path, 1) from None
    if not header or not any(h.strip() for h in header):
        raise MailError(f"empty recipients list: the first row must name the columns ({', '.join(COLUMNS)})", path, 1)
    columns = [h.strip().lower().replace(" ", "_").replace("-", "_") for h in header]
    missing = [col for col in REQUIRED if col not in columns]
    if missing:
        # Without its required columns the first row is probably a patient, not a header: name none of its cells.
        raise MailError(
            f"missing column(s) {', '.join(map(repr, missing))}: the first row must name the columns "
            f"(required: {', '.join(REQUIRED)}; optional: {', '.join(c for c in COLUMNS if c not in REQUIRED)})",
            path,
            1,
        )
    extra: list[str] = []
    for i, col in enumerate(columns):
        if col in COLUMNS:
            if columns.index(col) != i:
                errors.append(MailError(f"column {col!r} appears twice", path, 1))
            continue
        # A misspelt column of ours would silently change what a patient gets (no name, standard print instead
        # of large): refuse it. Anything else (phone, notes, ... as a patient system exports them) is not ours.
        near = difflib.get_close_matches(col, [c for c in COLUMNS if c not in columns], n=1, cutoff=0.75)
        if near:
            errors.append(MailError(f"unknown column {header[i].strip()!r}: did you mean {near[0]!r}?", path, 1))
        elif header[i].strip():
            extra.append(header[i].strip())
    if errors:
        raise ErrorList(errors)
    if extra and warn is not None:
        warn(MailError(f"ignoring column(s) not used by leafgen: {', '.join(map(repr, extra))}", path, 1))

    recipients: list[Recipient] = []
    seen: dict[str, int] = {}
    asked: dict[tuple[str, str, Unit], int] = {}
    default_paper = paper or clinic(project)["default_paper"]
    choices = Choices.of(project)
    # Rows are numbered as a spreadsheet shows them (header = row 1), so a quoted cell that spans
    # lines still counts as one row.
    row = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            errors.append(MailError(f"broken CSV row: {e}", path, row + 1))
            break
        row += 1
        if not any(c.strip() for c in cells):
            continue  # a blank line or a row of empty cells is not a patient
        if len(cells) > len(columns):
            errors.append(
                MailError(
                    f"row has {len(cells)} cells but the header names {len(columns)} columns "
                    "(a comma in a name needs quotes)",
                    path,
                    row,
                )
            )
            continue
        data = dict(zip(columns, [c.strip() for c in cells] + [""] * (len(columns) - len(cells)), strict=True))
        try:
            recipients.append(_row(choices, path, row, data, kinds, default_paper, large_print))
        except MailError as e:
            errors.append(MailError(e.message, path, row))
            continue
        r = recipients[-1]
        first = seen.setdefault(r.key, row)
        if first != row:
            errors.append(
                MailError(
                    f"same patient, leaflets, language and kinds as row {first}: delete one of the two rows", path, row
                )
            )
            continue
        # One PDF asked for twice for the same patient: which row should carry it? The list is wrong; say where.
        for unit in r.units:
            earlier = asked.setdefault((r.email.lower(), r.lang, unit), row)
            if earlier != row:
                errors.append(
                    MailError(
                        f"row {earlier} already asks for leaflet {unit[0]!r} ({unit[1]}) for the same patient and "
                        "language: keep it in one row",
                        path,
                        row,
                    )
                )
                break
    if errors:
        raise ErrorList(errors)
    if not recipients:
        raise MailError("no recipients: the list has a header but no rows", path, 1)
    return recipients


def _row(
    choices: Choices, path: Path, row: int, data: dict[str, str], kinds: list[str] | None, paper: str, large: bool
) -> Recipient:
    problems: list[str] = []

    def attempt(fn, *args):
        try:
            return fn(*args)
        except MailError as e:
            problems.append(e.message)
            return None

    email = attempt(check_address, data.get("email", ""))
    name = attempt(check_name, data.get("name", ""))
    lang = data.get("lang", "")
    leaflets = split_list(data.get("leaflet", ""))
    row_kinds = split_list(data.get("kind", "")) or list(kinds or KINDS)
    row_paper = data.get("paper", "").lower() or paper
    large_cell = data.get("large_print", "").lower()
    if not lang:
        problems.append("no language in column 'lang'")
    if not leaflets:
        problems.append("no leaflet in column 'leaflet'")
    if large_cell not in TRUE | FALSE:
        problems.append(f"large_print must be yes or no, not {data['large_print']!r}")
    if lang and leaflets:
        attempt(_check_choices, choices, leaflets, lang, row_kinds, row_paper)
    if problems:
        raise MailError("; ".join(problems))
    return Recipient(
        email,
        name,
        lang,
        tuple(leaflets),
        tuple(row_kinds),
        row_paper,
        large_cell in TRUE if large_cell else large,
        str(path),
        row,
    )
