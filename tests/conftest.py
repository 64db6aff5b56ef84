"""Shared fixtures: the shipped project, throwaway copies of it, and real-PDF text extraction."""

from __future__ import annotations

import io
import shutil
import unicodedata
from functools import lru_cache
from pathlib import Path

import pytest
from pypdf import PdfReader

from leafgen.project import Project
from leafgen.render.job import Job
from leafgen.render.pipeline import Rendered, render_job

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = Project(ROOT)
LEAFLET = "pins-and-needles-in-back"
DATA = Path(__file__).parent / "data"


def copy_project(dest: Path) -> Project:
    """A private copy of the shipped content that a test may break."""
    for name in ("leaflets", "templates", "translations"):
        shutil.copytree(ROOT / name, dest / name, ignore=shutil.ignore_patterns("*.mo", "*.pot"))
    shutil.copy(ROOT / "clinic.yaml", dest / "clinic.yaml")
    return Project(dest)


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return copy_project(tmp_path / "project")


@lru_cache(maxsize=256)
def rendered(job: Job) -> Rendered:
    """Each shipped PDF is rendered once per test session, however many tests read it."""
    return render_job(SHIPPED, job)


def normalise(text: str) -> str:
    """Compare text as a reader would: NFKC (Arabic presentation forms), whitespace folded."""
    return " ".join(unicodedata.normalize("NFKC", text).split())


def squash(text: str) -> str:
    """For Chinese (and as a fallback for RTL): no whitespace at all, since line breaks fall anywhere."""
    text = unicodedata.normalize("NFKC", text)
    return "".join(ch for ch in text if not ch.isspace() and unicodedata.category(ch) != "Cf")  # bidi marks


@lru_cache(maxsize=256)
def pdf_text(pdf: bytes) -> str:
    reader = PdfReader(io.BytesIO(pdf))
    return "\n".join(page.extract_text() or "" for page in reader.pages)


def pdf_reader(pdf: bytes) -> PdfReader:
    return PdfReader(io.BytesIO(pdf))


def edit_catalog(project: Project, lang: str, edit) -> Path:  # edit(catalog)
    """Change a copied project's catalog the way a translator's tool would: read, edit, write back."""
    from babel.messages.pofile import read_po, write_po

    po = project.translations_dir / lang / "LC_MESSAGES" / "messages.po"
    with po.open("rb") as f:
        catalog = read_po(f)
    edit(catalog)
    with po.open("wb") as f:
        write_po(f, catalog)
    return po


def require(tool: str) -> str:
    """External checkers are installed by .ci/run; missing one is a failure, not a skip."""
    path = shutil.which(tool)
    assert path, f"{tool} is not installed (apt-get install poppler-utils gettext qpdf)"
    return path
