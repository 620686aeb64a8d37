"""Follow-up letters: the PDF (one A4 page per patient, read back with pypdf), its QR codes
(decoded from the printed page with zxing-cpp, an independent decoder) and the print batch
(``spinetrack followup letters``) on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pypdf
import pytest
import segno
import zxingcpp
from pypdf.generic import ContentStream
from sqlalchemy import Engine, select, update
from typer.testing import CliRunner

from spinetrack import followup
from spinetrack.cli import app
from spinetrack.followup.letters import LetterItem, letters_pdf, print_letters, qr_matrix
from spinetrack.followup.links import SHORT_CODE_LENGTH, hash_link_token
from spinetrack.store.repositories import Store
from spinetrack.store.tables import OutboxRow, PatientIdentityRow, PatientLinkRow
from tests.followup.cohort import add_episodes, add_site, rows
from tests.followup.test_messages import CLINICAL_WORDS

BASE = "https://clinic.example.org"
# An index date 100 days back: the 3-month window (days 64–136) is open today.
NOW = dt.datetime(2026, 6, 1, 9, 0)
INDEX = NOW.date() - dt.timedelta(days=100)
A4 = (595, 842)  # points, ±1


def _item(i: int, **overrides: Any) -> LetterItem:
    values: dict[str, Any] = {
        "patient_name": f"Alex Example {i}", "postal_address": f"{i} Test Street\nSampletown\nAB1 2CD",
        "clinic_name": "North Spine Clinic", "clinic_phone": "+44 20 7946 0000",
        "clinic_email": "followup@north.example.org", "kind": "invitation", "timepoint_label": "3 months",
        "opens_on": dt.date(2026, 5, 1), "closes_on": dt.date(2026, 7, 12),
        "link": f"{BASE}/p/h/ABCDEFGHJK{i:02d}", "opt_out_link": f"{BASE}/p/h/ABCDEFGHJK{i:02d}/stop"}
    values.update(overrides)
    return LetterItem(**values)


def _decoded(page: pypdf.PageObject) -> list[str]:
    """The QR codes in the images this page draws (WeasyPrint shares one resource dictionary
    among the pages, so the images are those its content stream paints with ``Do``)."""
    drawn = {str(operands[0]).lstrip("/") for operands, op in ContentStream(page.get_contents(), page.pdf).operations
             if op == b"Do"}
    return [code.text for image in page.images if Path(image.name).stem in drawn
            for code in zxingcpp.read_barcodes(image.image)]


def _squash(text: str) -> str:
    return "".join(text.split())  # pypdf breaks long lines where the PDF wraps them


def test_one_a4_page_per_patient_with_a_qr_code_that_reads_back(tmp_path: Path) -> None:
    items = [_item(i) for i in range(3)] + [_item(3, kind="new_link", opens_on=None, closes_on=None,
                                                  timepoint_label=None)]
    out = tmp_path / "letters.pdf"
    assert letters_pdf(items, out, printed_on=dt.date(2026, 6, 1)) == 4
    reader = pypdf.PdfReader(out)
    assert len(reader.pages) == 4
    for page, item in zip(reader.pages, items, strict=True):
        width, height = float(page.mediabox.width), float(page.mediabox.height)
        assert abs(width - A4[0]) <= 1 and abs(height - A4[1]) <= 1
        text = " ".join(page.extract_text().split())
        for expected in (item.patient_name, "Test Street", "AB1 2CD", "North Spine Clinic", "+44 20 7946 0000",
                         "followup@north.example.org", item.link, item.opt_out_link, "1 June 2026"):
            assert _squash(expected) in _squash(text), expected
        assert _decoded(page) == [item.link]
        lowered = text.replace(item.clinic_name, "").lower()  # the clinic's own name may say "spine"
        assert not [w for w in CLINICAL_WORDS if f" {w}" in lowered]
    first = " ".join(reader.pages[0].extract_text().split())
    assert "between 1 May 2026 and 12 July 2026" in first and "(3 months)" in first
    assert "new link" in " ".join(reader.pages[3].extract_text().split())


def test_the_qr_code_is_segnos_encoding_of_the_link() -> None:
    link = f"{BASE}/p/h/0123456789AB"
    matrix = qr_matrix(link)
    reference = segno.make(link, error="m", micro=False)
    assert matrix == tuple(tuple(bool(m) for m in row) for row in reference.matrix)
    assert len(matrix) == 17 + 4 * reference.version  # ISO/IEC 18004: 4 modules more per version


def test_values_are_escaped(tmp_path: Path) -> None:
    out = tmp_path / "l.pdf"
    letters_pdf([_item(1, patient_name="<b>Bold</b> & Co", clinic_name="A&B <Clinic>")], out)
    text = pypdf.PdfReader(out).pages[0].extract_text()
    assert "<b>Bold</b> & Co" in text and "A&B <Clinic>" in text


def _letter_cohort(engine: Engine, n_with_address: int, n_without: int) -> tuple[int, list[int]]:
    site = add_site(engine)
    episodes = add_episodes(engine, site, n_with_address + n_without, index_date=INDEX, email=False, phone=False)
    with engine.begin() as c:
        for i in range(n_with_address):
            c.execute(update(PatientIdentityRow).where(PatientIdentityRow.full_name == f"Patient {i}")
                      .values(postal_address=f"{i} Test Street\nSampletown\nAB{i} 2CD"))
    return site, episodes


def test_the_print_batch_prints_the_queued_letters_once(engine: Engine, tmp_path: Path) -> None:
    store = Store(engine)
    _letter_cohort(engine, 2, 1)
    report = followup.run(store, now=NOW, channels=None, link_base=BASE)
    assert report.invitations_created == 3
    letters = rows(engine, select(OutboxRow.id, OutboxRow.status).where(OutboxRow.channel == "letter"))
    assert len(letters) == 3 and {r.status for r in letters} == {"queued"}

    out = tmp_path / "batch.pdf"
    batch = print_letters(store, now=NOW, link_base=BASE, out=out)
    assert (batch.letters, batch.pages, batch.cancelled) == (2, 2, 1)
    assert batch.reasons == {"no postal address on file": 1}
    statuses = sorted(r.status for r in rows(engine, select(OutboxRow.status).where(OutboxRow.channel == "letter")))
    assert statuses == ["cancelled", "sent", "sent"]

    reader = pypdf.PdfReader(out)
    assert len(reader.pages) == 2
    links = rows(engine, select(PatientLinkRow).where(PatientLinkRow.purpose == "letter"))
    assert len(links) == 2
    for page in reader.pages:
        [url] = _decoded(page)
        assert url.startswith(f"{BASE}/p/h/")
        code = url.rsplit("/", 1)[1]
        assert len(code) == SHORT_CODE_LENGTH and url in _squash(page.extract_text())
        assert hash_link_token(code) in {link.token_hash for link in links}

    again = print_letters(store, now=NOW + dt.timedelta(hours=1), link_base=BASE, out=tmp_path / "again.pdf")
    assert (again.letters, again.path) == (0, None) and not (tmp_path / "again.pdf").exists()


def test_a_failed_print_puts_the_letters_back_in_the_queue(engine: Engine, tmp_path: Path) -> None:
    store = Store(engine)
    _letter_cohort(engine, 1, 0)
    followup.run(store, now=NOW, channels=None, link_base=BASE)
    with pytest.raises(OSError):
        print_letters(store, now=NOW, link_base=BASE, out=tmp_path / "missing-dir" / "x.pdf")
    [letter] = rows(engine, select(OutboxRow).where(OutboxRow.channel == "letter"))
    assert letter.status == "queued" and letter.claimed_by is None
    assert [link.revoked for link in rows(engine, select(PatientLinkRow).where(PatientLinkRow.purpose == "letter"))] \
        == [True]
    assert print_letters(store, now=NOW, link_base=BASE, out=tmp_path / "x.pdf").letters == 1


def test_the_cli_prints_the_batch(engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(engine)
    _letter_cohort(engine, 1, 0)
    # at midnight, so that the letter is due whatever the time of day the command runs at (it takes today's
    # date from SPINETRACK_TODAY and the time from the clock)
    followup.run(store, now=dt.datetime.combine(INDEX + dt.timedelta(days=100), dt.time(0)), channels=None,
                 link_base=BASE)
    monkeypatch.setenv("SPINETRACK_TODAY", (INDEX + dt.timedelta(days=100)).isoformat())
    monkeypatch.setenv("SPINETRACK_PUBLIC_URL", BASE)
    out = tmp_path / "cli.pdf"
    result = CliRunner().invoke(app, ["followup", "letters", "--out", str(out), "--json",
                                      "--database-url", engine.url.render_as_string(hide_password=False)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"path": str(out), "letters": 1, "pages": 1, "cancelled": 0, "reasons": {}}
    [url] = _decoded(pypdf.PdfReader(out).pages[0])
    assert url.startswith(f"{BASE}/p/h/")
