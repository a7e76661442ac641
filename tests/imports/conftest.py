import io

import pytest

from campaigns.imports.importer import BATCH_SIZE, CsvImporter
from campaigns.imports.mapping import guess_mapping
from campaigns.imports.sniffing import sniff
from campaigns.imports.writing import ErrorSink


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def run_csv(campaign, tmp_path):
    """Import bytes through CsvImporter; returns (importer, error CSV text)."""
    def run(data: bytes, *, mapping=None, batch_size=BATCH_SIZE, dry_run=False, lead_list=None,
            target=None):
        sniffed = sniff(io.BytesIO(data))
        mapping = mapping or guess_mapping(sniffed.header)
        path = tmp_path / "errors.csv"
        if path.exists():
            path.unlink()
        sink = ErrorSink(str(path), sniffed.header, sniffed.delimiter)
        importer = CsvImporter(campaign=target or campaign, mapping=mapping, encoding=sniffed.encoding,
                                       delimiter=sniffed.delimiter, batch_size=batch_size, dry_run=dry_run,
                                       lead_list=lead_list, errors=sink)
        importer.run(io.BytesIO(data))
        sink.close()
        return importer, path.read_text(encoding="utf-8-sig")
    return run
