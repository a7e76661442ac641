"""The error file and the export of representative inputs, byte for byte.

``golden/in`` holds the uploads (semicolons, ragged rows, a UTF-8 BOM, Windows-1252,
formulas, phone extensions, tabs and a metadata JSON column); ``golden/out`` what the
importer wrote for them before it became a package. Any change to a byte of an error
file or an export is a change users see in their spreadsheets: it must be deliberate.
"""
import io
from pathlib import Path

import pytest
from django.core.files.base import ContentFile

from campaigns.imports.export import LEAD_EXPORT_COLUMNS, csv_lines, lead_export_rows
from campaigns.imports.importer import BATCH_SIZE
from campaigns.imports.jobs import run_job
from campaigns.imports.mapping import guess_mapping
from campaigns.imports.sniffing import sniff
from campaigns.models import DNC, ImportJob, Lead

GOLDEN = Path(__file__).parent / "golden"
CASES = sorted(p.name for p in (GOLDEN / "in").glob("*.csv"))


def golden_outputs(name: str, campaign, batch_size: int, existing: Lead) -> dict[str, bytes]:
    """Import ``golden/in/<name>`` as a job; its error file and the export of its leads."""
    data = (GOLDEN / "in" / name).read_bytes()
    sniffed = sniff(io.BytesIO(data))
    job = ImportJob(campaign=campaign, original_name=name, encoding=sniffed.encoding, delimiter=sniffed.delimiter,
                    mapping=guess_mapping(sniffed.header), status=ImportJob.Status.QUEUED)
    job.file.save(name, ContentFile(data), save=False)
    job.save()
    assert run_job(job.pk, batch_size=batch_size) == "done"
    job.refresh_from_db()
    errors = job.error_file.read() if job.error_file else b""
    errors = errors.replace(f"(lead {existing.pk})".encode(), b"(lead ID)")  # ids differ between databases
    # the lead's id and creation time differ from run to run
    rows = ([0, *row[1:-1], "created"] for row in
            lead_export_rows(Lead.objects.filter(campaign=campaign, channel=Lead.Channel.CSV)))
    export = "".join(csv_lines(LEAD_EXPORT_COLUMNS, rows)).encode()
    stem = name.removesuffix(".csv")
    return {f"{stem}.errors.csv": errors, f"{stem}.export.csv": export}


def _setup(campaign, make_lead) -> Lead:
    DNC.objects.create(phone="+13105550123")             # makes a "dnc" outcome
    return make_lead(campaign, phone="+12125550147")     # makes a "duplicate" outcome


@pytest.mark.parametrize("parallel", [False, True])
@pytest.mark.parametrize("batch_size", [2, BATCH_SIZE])
@pytest.mark.parametrize("name", CASES)
def test_error_file_and_export_are_byte_for_byte_the_golden_ones(name, batch_size, parallel, campaign, make_lead,
                                                                  settings):
    settings.IMPORT_PARALLEL = parallel
    existing = _setup(campaign, make_lead)
    for out_name, data in golden_outputs(name, campaign, batch_size, existing).items():
        assert data == (GOLDEN / "out" / out_name).read_bytes(), out_name
