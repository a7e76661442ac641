"""Large imports parse phone numbers ahead in a process pool; the outcome must not change."""
import io

import pytest

from campaigns import phones
from campaigns.imports.importer import CsvImporter
from campaigns.imports.mapping import guess_mapping
from campaigns.imports.sniffing import sniff
from campaigns.models import DNC, Lead


def _file(n: int) -> bytes:
    lines = ["Phone,First Name"]
    for i in range(n):
        number = f"(415) 555-{1000 + i % 40:04d}" if i % 5 else f"not-a-number-{i}"  # repeats and invalids
        lines.append(f"{number},Row{i}")
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.parametrize("workers", [0, 2])
def test_pooled_and_inline_parsing_give_the_same_outcome_and_resume_points(run_csv, workers, settings, campaign):
    settings.IMPORT_PARALLEL, settings.IMPORT_PARSE_WORKERS = bool(workers), workers
    phones._memo.clear()  # nothing parsed before: the pool must do it
    DNC.objects.create(phone="+14155551003")
    progress = []
    sniffed = sniff(io.BytesIO(_file(60)))
    importer = CsvImporter(campaign=campaign, mapping=guess_mapping(sniffed.header),
                                   encoding=sniffed.encoding, delimiter=sniffed.delimiter, batch_size=7)
    importer.run(io.BytesIO(_file(60)), on_batch=lambda p: progress.append((p.processed, dict(p.counts))))
    assert dict(importer.counts) == {"accepted": 31, "invalid_phone": 12, "duplicate_in_file": 16, "dnc": 1}
    assert Lead.objects.count() == 31
    # each committed batch reports the rows it covered, never rows still in the pipeline
    assert [p for p, _ in progress] == [7, 14, 21, 28, 35, 42, 49, 56, 60]
    assert sum(progress[-1][1].values()) == 60
