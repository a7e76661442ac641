"""The life of an :class:`~campaigns.models.ImportJob`: from the uploaded file to the finished job.

:func:`run_job` is the whole import read top to bottom (the django-q2 task calls
it). A job that stops part way (crash, deploy, lost worker) is *resumed*, not
restarted: ``processed_rows`` is committed with each batch, so the next run skips
exactly the rows already handled and truncates the error file back to
``error_bytes``. A job whose heartbeat is older than ``IMPORT_STALE_SECONDS`` is
picked up again by :func:`resume_stalled_jobs` (called by the progress endpoint
and schedulable as a task); after ``MAX_RESUMES`` attempts it is marked failed
with the counts so far.
"""
from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.db.models import Q
from django.utils import timezone as djtz

from .. import audit
from ..models import ImportJob, LeadList
from .importer import BATCH_SIZE, BatchProgress, CsvImporter
from .reading import read_header
from .sniffing import ImportFileError, count_lines
from .writing import ErrorSink, rejected_rows

log = logging.getLogger(__name__)

MAX_RESUMES = 3


def error_file_name(job: ImportJob) -> str:
    return f"imports/errors/job-{job.pk}-errors.csv"


def _stale_after() -> dt.timedelta:
    return dt.timedelta(seconds=settings.IMPORT_STALE_SECONDS)


def claim(job_id: int) -> ImportJob | None:
    """Take a queued job, or a running one whose runner stopped (heartbeat too old)."""
    now = djtz.now()
    stale = now - _stale_after()
    claimed = (
        ImportJob.objects.filter(pk=job_id)
        .filter(Q(status=ImportJob.Status.QUEUED) | Q(status=ImportJob.Status.RUNNING, heartbeat_at__lt=stale)
                | Q(status=ImportJob.Status.RUNNING, heartbeat_at__isnull=True))
        .update(status=ImportJob.Status.RUNNING, heartbeat_at=now)
    )
    if not claimed:
        return None
    job = ImportJob.objects.select_related("campaign", "lead_list").get(pk=job_id)
    if job.started_at is None:
        job.started_at = now
        job.save(update_fields=["started_at"])
    return job


def run_job(job_id: int, *, deadline: float | None = None, batch_size: int = BATCH_SIZE) -> str:
    """Run (or resume) one import job; returns its status afterwards.

    Returns "continue" when ``deadline`` came first; the caller re-enqueues it.
    Never raises for a bad file or a bad row: the job ends failed with a message
    saying how far it got.
    """
    prior = ImportJob.objects.filter(pk=job_id).values_list("status", flat=True).first()
    job = claim(job_id)
    if job is None:
        return ImportJob.objects.filter(pk=job_id).values_list("status", flat=True).first() or "missing"
    if prior == ImportJob.Status.RUNNING:  # its last runner died part way: resume, but not forever
        job.counts = dict(job.counts or {}, resumes=(job.counts or {}).get("resumes", 0) + 1)
        ImportJob.objects.filter(pk=job.pk).update(counts=job.counts)
        if job.counts["resumes"] > MAX_RESUMES:
            return _fail(job, f"The import was interrupted {MAX_RESUMES} times (worker stopped mid-file).")
    if not job.error_file:
        job.error_file.name = error_file_name(job)
        job.save(update_fields=["error_file"])
    sink = None
    try:
        with job.file.open("rb") as binary:
            if job.total_rows is None:
                job.total_rows = max(count_lines(binary) - 1, 0)
                job.save(update_fields=["total_rows"])
            importer = CsvImporter(
                campaign=job.campaign, lead_list=job.lead_list, mapping=job.mapping,
                encoding=job.encoding or "utf-8", delimiter=job.delimiter or ",",
                source=(job.lead_list.source if job.lead_list else "") or f"csv:{job.original_name}"[:200],
                batch_size=batch_size,
            )
            importer.counts.update({k: v for k, v in (job.counts or {}).items() if k != "resumes"})
            header = read_header(binary, importer.encoding, importer.delimiter)
            sink = importer.errors = ErrorSink(job.error_file.path, header, importer.delimiter,
                                               resume_at=job.error_bytes)

            def save_progress(progress: BatchProgress) -> None:
                counts = dict(progress.counts)
                if "resumes" in (job.counts or {}):
                    counts["resumes"] = job.counts["resumes"]
                ImportJob.objects.filter(pk=job.pk).update(
                    processed_rows=progress.processed, counts=counts, error_bytes=progress.error_bytes,
                    heartbeat_at=djtz.now(),
                )

            finished = importer.run(binary, skip=job.processed_rows, on_batch=save_progress, deadline=deadline)
    except ImportFileError as exc:
        return _fail(job, exc.message)
    except Exception as exc:  # noqa: BLE001 - reported on the job, never a half state
        return _fail(job, f"{type(exc).__name__}: {exc}")
    finally:
        if sink is not None:
            sink.close()
    if not finished:  # time slice used up: hand over to the next run
        ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.QUEUED)
        return "continue"
    job.refresh_from_db()
    counts = {k: v for k, v in job.counts.items() if k != "resumes"}
    rejected = rejected_rows(counts)
    job.status = ImportJob.Status.DONE
    job.total_rows = job.processed_rows
    job.finished_at = djtz.now()
    job.message = f"Imported {counts.get('accepted', 0):,} of {job.processed_rows:,} rows; {rejected:,} rejected."
    if not rejected:
        job.error_file.delete(save=False) if job.error_file else None
        job.error_file = ""
    job.save()
    if job.lead_list_id:
        LeadList.objects.filter(pk=job.lead_list_id).update(import_mapping=job.mapping)
    _audit_import(job)
    return job.status


def _audit_import(job: ImportJob) -> None:
    """The audit log's entry for a finished import, in the name of whoever uploaded it."""
    message = f"Import of {job.original_name} into {job.campaign.slug} finished: {job.message}"
    if job.created_by_id:
        with audit.acting_as(f"staff:{job.created_by.get_username()}", job.created_by):
            audit.record([job], message)
    else:
        audit.record([job], message)


def _fail(job: ImportJob, reason: str) -> str:
    job.refresh_from_db()
    counts = job.counts or {}
    accepted = counts.get("accepted", 0)
    job.status = ImportJob.Status.FAILED
    job.finished_at = djtz.now()
    job.message = (
        f"{reason} The import stopped after {job.processed_rows:,} rows; {accepted:,} lead(s) were imported "
        "and stay imported. Fix the problem and import the same file again: rows already imported come back "
        "as duplicates, nothing is added twice."
    )
    job.save(update_fields=["status", "finished_at", "message"])
    return job.status


def resume_stalled_jobs() -> list[int]:
    """Re-enqueue running jobs whose heartbeat stopped (a worker died); returns their ids."""
    from django_q.tasks import async_task

    stale = djtz.now() - _stale_after()
    ids = list(ImportJob.objects.filter(status=ImportJob.Status.RUNNING, heartbeat_at__lt=stale)
               .values_list("pk", flat=True))
    for job_id in ids:
        async_task("campaigns.tasks.run_import", job_id, task_name=f"import-{job_id}-resume")
    return ids


def abandoned_uploads():
    """Uploads left at the mapping step for ``IMPORT_ABANDONED_HOURS``: nothing was imported."""
    cutoff = djtz.now() - dt.timedelta(hours=settings.IMPORT_ABANDONED_HOURS)
    return ImportJob.objects.filter(status=ImportJob.Status.UPLOADED, created_at__lt=cutoff)


def delete_abandoned_uploads() -> int:
    """Delete abandoned uploads (see :func:`abandoned_uploads`) and their files; returns how many.

    A job is deleted only while it is still at the mapping step (someone may confirm it
    meanwhile), and its file after the row is gone.
    """
    deleted = 0
    for job in abandoned_uploads().only("pk", "file"):
        if ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.UPLOADED).delete()[0]:
            if job.file:
                job.file.delete(save=False)
            deleted += 1
    if deleted:
        log.info("import: deleted %d upload(s) abandoned at the mapping step", deleted)
    return deleted


def job_progress(job: ImportJob) -> dict:
    total = job.total_rows or 0
    if job.status == ImportJob.Status.DONE:
        percent = 100
    elif total:
        percent = min(99, int(job.processed_rows * 100 / total))
    else:
        percent = 0
    return {
        "id": job.pk, "status": job.status, "processed_rows": job.processed_rows, "total_rows": job.total_rows,
        "percent": percent, "counts": {k: v for k, v in (job.counts or {}).items() if k != "resumes"},
        "message": job.message, "finished": job.status in (ImportJob.Status.DONE, ImportJob.Status.FAILED),
    }
