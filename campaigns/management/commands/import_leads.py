"""``manage.py import_leads``: import a CSV file of leads from the command line."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from django.core.management.base import CommandError

from campaigns.imports import sniffing, writing
from campaigns.imports.importer import BATCH_SIZE, CsvImporter
from campaigns.imports.mapping import TARGET_CHOICES, MappingError, guess_mapping, validate_mapping
from campaigns.management.base import ExamplesCommand
from campaigns.models import Campaign, LeadList


class Command(ExamplesCommand):
    help = """Import leads from a CSV file into a campaign, through the same checks as the API and the admin.

The encoding (UTF-8 with or without BOM, UTF-16, Windows-1252) and the delimiter
(comma, semicolon, tab, pipe) are detected. Columns are mapped from their
headers ("Phone", "Mobile", "First Name", "surname", "E-mail", "Zip", ...);
columns it does not recognise are kept in each lead's metadata. With --list the
mapping last used for that list is reused, and remembered after the import.

Every row ends in one of: accepted, duplicate_in_file, duplicate (the campaign
already has the number), dnc, invalid_phone, missing_field, invalid_field,
ragged_row. Rejected rows are written to PATH.errors.csv (or --errors) exactly
as they were in the file, plus error_code and error_message columns. Rows are
committed in batches: if the command stops, what was imported stays, and
running it again on the same file adds nothing twice.

Examples:
  manage.py import_leads leads.csv --campaign solar-us --dry-run
  manage.py import_leads leads.csv --campaign solar-us --list "October web"
  manage.py import_leads leads.csv --campaign solar-us --mapping mapping.json

A mapping file is a JSON object from header to lead field, e.g.
  {"Cell": "phone", "Given": "first_name", "Notes": "metadata", "Internal": "ignore"}
Targets: %s.
""" % ", ".join(t for t, _ in TARGET_CHOICES)

    def add_arguments(self, parser):
        parser.add_argument("path", help="The CSV file to import.")
        parser.add_argument("--campaign", required=True, help="Slug of the campaign the leads go to.")
        parser.add_argument("--list", dest="list_name", help="Name of the lead list (created if it does not exist).")
        parser.add_argument("--mapping", help="JSON file mapping headers to lead fields (default: guessed).")
        parser.add_argument("--errors", help="Where to write rejected rows (default: PATH.errors.csv).")
        parser.add_argument("--dry-run", action="store_true",
                            help="Check every row and print the counts; write nothing to the database.")
        parser.add_argument("--batch-size", type=int, default=BATCH_SIZE, help="Rows per transaction.")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar (for logs and cron).")

    def handle(self, path, campaign, list_name=None, mapping=None, errors=None, dry_run=False, batch_size=None,
               no_progress=False, **options):
        source = Path(path)
        if not source.is_file():
            raise CommandError(f"No such file: {path}")
        try:
            campaign_obj = Campaign.objects.get(slug=campaign)
        except Campaign.DoesNotExist:
            known = ", ".join(Campaign.objects.values_list("slug", flat=True)[:20]) or "none yet"
            raise CommandError(f"No campaign with slug {campaign!r}. Known campaigns: {known}.")
        lead_list = None
        if list_name:
            if dry_run:
                lead_list = LeadList.objects.filter(campaign=campaign_obj, name=list_name).first()
            else:
                lead_list, _ = LeadList.objects.get_or_create(campaign=campaign_obj, name=list_name)
        with source.open("rb") as binary:
            try:
                sniffed = sniffing.sniff(binary)
            except sniffing.ImportFileError as exc:
                raise CommandError(exc.message)
            if mapping:
                try:
                    given = json.loads(Path(mapping).read_text(encoding="utf-8"))
                except (OSError, ValueError) as exc:
                    raise CommandError(f"Cannot read the mapping file {mapping}: {exc}")
                if not isinstance(given, dict):
                    raise CommandError("The mapping file must hold a JSON object: {\"header\": \"field\", ...}.")
                column_map = guess_mapping(sniffed.header, given)
            else:
                column_map = guess_mapping(sniffed.header, lead_list.import_mapping if lead_list else None)
            try:
                column_map = validate_mapping(sniffed.header, column_map)
            except MappingError as exc:
                raise CommandError(f"{exc} Pass --mapping FILE to say which column holds the phone number.")
            self.stdout.write(
                f"{source.name}: {sniffed.encoding}, {sniffed.delimiter_name}-separated, "
                f"about {sniffed.estimated_rows:,} rows.\nMapping: "
                + ", ".join(f"{h} → {t}" for h, t in column_map.items())
            )
            errors_path = errors or f"{source}.errors.csv"
            sink = writing.ErrorSink(errors_path, sniffed.header, sniffed.delimiter)
            importer = CsvImporter(
                campaign=campaign_obj, lead_list=lead_list, mapping=column_map, encoding=sniffed.encoding,
                delimiter=sniffed.delimiter, source=(lead_list.source if lead_list else "") or f"csv:{source.name}",
                dry_run=dry_run, batch_size=batch_size, errors=sink,
            )
            bar = None
            if not no_progress:
                from tqdm import tqdm

                bar = tqdm(total=sniffed.estimated_rows, unit="rows", file=sys.stderr, dynamic_ncols=True)
            done = [0]

            def on_batch(progress):
                if bar is not None:
                    bar.update(progress.processed - done[0])
                done[0] = progress.processed

            try:
                importer.run(binary, on_batch=on_batch)
            except sniffing.ImportFileError as exc:
                raise CommandError(f"{exc.message} {importer.counts.get('accepted', 0):,} lead(s) were imported "
                                   "before that and stay imported; re-running adds nothing twice.")
            finally:
                sink.close()
                if bar is not None:
                    bar.close()
        if lead_list and not dry_run:
            LeadList.objects.filter(pk=lead_list.pk).update(import_mapping=column_map)
        counts = importer.counts
        rejected = writing.rejected_rows(counts)
        verb = "would be imported" if dry_run else "imported"
        self.stdout.write(self.style.SUCCESS(
            f"{'Dry run: ' if dry_run else ''}{counts.get('accepted', 0):,} of {importer.processed:,} rows {verb}; "
            f"{rejected:,} rejected."))
        for code, label in writing.OUTCOMES:
            if counts.get(code):
                self.stdout.write(f"  {label:<32} {code:<18} {counts[code]:>10,}")
        if rejected:
            self.stdout.write(f"Rejected rows: {errors_path}")
        else:
            os.unlink(errors_path)
