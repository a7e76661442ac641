"""Admin pages of the CSV import: upload → mapping → preview → confirm → progress → result.

Mounted by ``LeadAdmin.get_urls`` under /admin/campaigns/lead/import/. Every
view needs the ``campaigns.add_lead`` permission.
"""
from __future__ import annotations

import os

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse

from .imports import importer, jobs, sniffing, writing
from .imports.mapping import METADATA, TARGET_CHOICES, MappingError, guess_mapping, validate_mapping
from .models import Campaign, ImportJob, LeadList


class UploadForm(forms.Form):
    campaign = forms.ModelChoiceField(queryset=Campaign.objects.exclude(status=Campaign.Status.ARCHIVED))
    lead_list = forms.ModelChoiceField(
        queryset=LeadList.objects.select_related("campaign"), required=False,
        help_text="Optional. The column mapping is remembered per list and offered next time.",
    )
    new_list = forms.CharField(required=False, max_length=200, label="…or a new list named",
                               help_text="Creates the list in the chosen campaign.")
    file = forms.FileField(help_text="CSV with a header row; UTF-8, UTF-16 or Windows-1252; "
                                     "comma, semicolon, tab or pipe between columns.")

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > settings.IMPORT_MAX_FILE_BYTES:
            raise forms.ValidationError(
                f"The file is {sniffing.format_bytes(upload.size)}; the limit is {sniffing.size_limit_text()}. "
                "Split it into smaller files.")
        try:
            self.sniffed = sniffing.sniff(upload.file)
        except sniffing.ImportFileError as exc:
            raise forms.ValidationError(exc.message)
        return upload

    def clean(self):
        data = super().clean()
        campaign, lead_list = data.get("campaign"), data.get("lead_list")
        if campaign and lead_list and lead_list.campaign_id != campaign.pk:
            self.add_error("lead_list", f"{lead_list} belongs to another campaign.")
        if lead_list and data.get("new_list"):
            self.add_error("new_list", "Choose an existing list or name a new one, not both.")
        return data


def mapping_form_class(header: list[str]):
    fields = {
        f"col_{i}": forms.ChoiceField(choices=TARGET_CHOICES, label=name)
        for i, name in enumerate(header)
    }
    return type("MappingForm", (forms.Form,), fields)


class ImportViews:
    def __init__(self, model_admin):
        self.model_admin = model_admin
        self.admin_site = model_admin.admin_site

    def _check(self, request):
        if not request.user.has_perm("campaigns.add_lead"):
            raise PermissionDenied

    def _context(self, request, title, **extra):
        return {**self.admin_site.each_context(request), "title": title, "opts": self.model_admin.model._meta, **extra}

    def _job(self, request, job_id) -> ImportJob:
        self._check(request)
        return get_object_or_404(ImportJob.objects.select_related("campaign", "lead_list"), pk=job_id)

    # -- 1. upload
    def upload(self, request):
        self._check(request)
        if request.method == "POST":
            form = UploadForm(request.POST, request.FILES)
            if form.is_valid():
                data = form.cleaned_data
                lead_list = data["lead_list"]
                if data["new_list"]:
                    lead_list, _ = LeadList.objects.get_or_create(campaign=data["campaign"], name=data["new_list"])
                sniffed = form.sniffed
                job = ImportJob(
                    campaign=data["campaign"], lead_list=lead_list, original_name=data["file"].name[:255],
                    encoding=sniffed.encoding, delimiter=sniffed.delimiter, created_by=request.user,
                    total_rows=None,
                    mapping=guess_mapping(sniffed.header, lead_list.import_mapping if lead_list else None),
                )
                data["file"].seek(0)
                job.file.save(os.path.basename(data["file"].name), data["file"], save=False)
                job.save()
                return redirect("admin:campaigns_lead_import_map", job.pk)
        else:
            initial = {}
            if request.GET.get("lead_list"):
                lead_list = LeadList.objects.filter(pk=request.GET["lead_list"]).first()
                if lead_list:
                    initial = {"lead_list": lead_list.pk, "campaign": lead_list.campaign_id}
            elif request.GET.get("campaign"):
                initial = {"campaign": request.GET["campaign"]}
            form = UploadForm(initial=initial)
        unfinished = (ImportJob.objects.filter(status=ImportJob.Status.UPLOADED, created_by=request.user)
                      .select_related("campaign").order_by("-created_at")[:10])
        return TemplateResponse(request, "admin/campaigns/import/upload.html", self._context(
            request, "Import leads from CSV", form=form, step=1,
            size_limit=sniffing.size_limit_text(), unfinished=unfinished,
            abandoned_hours=settings.IMPORT_ABANDONED_HOURS,
        ))

    def _sniffed(self, job):
        with job.file.open("rb") as binary:
            return sniffing.sniff(binary, max_bytes=1 << 62)

    # -- 2. mapping
    def mapping(self, request, job_id):
        job = self._job(request, job_id)
        if job.status != ImportJob.Status.UPLOADED:
            return redirect("admin:campaigns_lead_import_progress", job.pk)
        try:
            sniffed = self._sniffed(job)
        except sniffing.ImportFileError as exc:  # uploaded before a check that now refuses it at upload
            messages.error(request, f"{job.original_name}: {exc.message}")
            return redirect("admin:campaigns_lead_import")
        Form = mapping_form_class(sniffed.header)
        if request.method == "POST":
            form = Form(request.POST)
            if form.is_valid():
                mapping = {name: form.cleaned_data[f"col_{i}"] for i, name in enumerate(sniffed.header)}
                try:
                    job.mapping = validate_mapping(sniffed.header, mapping)
                except MappingError as exc:
                    form.add_error(None, str(exc))
                else:
                    job.save(update_fields=["mapping"])
                    return redirect("admin:campaigns_lead_import_preview", job.pk)
        else:
            form = Form(initial={f"col_{i}": job.mapping.get(name, METADATA)
                                 for i, name in enumerate(sniffed.header)})
        columns = [
            {"field": form[f"col_{i}"], "name": name,
             "samples": [r[i] for r in sniffed.sample_rows[:3] if i < len(r)]}
            for i, name in enumerate(sniffed.header)
        ]
        return TemplateResponse(request, "admin/campaigns/import/mapping.html", self._context(
            request, f"Map the columns of {job.original_name}", job=job, step=2, form=form, columns=columns,
            sniffed=sniffed, remembered=bool(job.lead_list and job.lead_list.import_mapping),
        ))

    # -- 3. preview + confirm
    def preview(self, request, job_id):
        job = self._job(request, job_id)
        if job.status != ImportJob.Status.UPLOADED:
            return redirect("admin:campaigns_lead_import_progress", job.pk)
        if request.method == "POST":
            job.status = ImportJob.Status.QUEUED
            job.save(update_fields=["status"])
            if job.lead_list_id:
                LeadList.objects.filter(pk=job.lead_list_id).update(import_mapping=job.mapping)
            from .tasks import enqueue_import

            enqueue_import(job.pk)
            return redirect("admin:campaigns_lead_import_progress", job.pk)
        try:
            with job.file.open("rb") as binary:
                header, rows = importer.preview(binary, campaign=job.campaign, mapping=job.mapping,
                                               encoding=job.encoding, delimiter=job.delimiter,
                                               lead_list=job.lead_list)
        except (sniffing.ImportFileError, MappingError) as exc:
            messages.error(request, getattr(exc, "message", str(exc)))
            return redirect("admin:campaigns_lead_import_map", job.pk)
        return TemplateResponse(request, "admin/campaigns/import/preview.html", self._context(
            request, f"Preview of {job.original_name}", job=job, step=3, header=header, rows=rows,
            accepted=sum(1 for r in rows if r.get("accepted")),
        ))

    # -- 4. progress / result
    def progress(self, request, job_id):
        job = self._job(request, job_id)
        if job.status == ImportJob.Status.UPLOADED:  # not started: continue where it was left
            return redirect("admin:campaigns_lead_import_map", job.pk)
        labels = dict(writing.OUTCOMES)
        counts = [(labels.get(k, k), (job.counts or {}).get(k, 0), k) for k, _ in writing.OUTCOMES
                  if (job.counts or {}).get(k) or k == "accepted"]
        return TemplateResponse(request, "admin/campaigns/import/progress.html", self._context(
            request, f"Import of {job.original_name}", job=job, step=4, progress=jobs.job_progress(job), counts=counts,
            status_url=reverse("admin:campaigns_lead_import_status", args=[job.pk]),
            finished=job.status in (ImportJob.Status.DONE, ImportJob.Status.FAILED),
        ))

    def status(self, request, job_id):
        job = self._job(request, job_id)
        if job.status == ImportJob.Status.RUNNING and job.heartbeat_at:
            jobs.resume_stalled_jobs()
        return JsonResponse(jobs.job_progress(job))

    def errors(self, request, job_id):
        job = self._job(request, job_id)
        if not job.error_file:
            raise Http404("This import has no rejected rows.")
        base = os.path.splitext(job.original_name)[0]
        return FileResponse(job.error_file.open("rb"), as_attachment=True, filename=f"{base}-errors.csv",
                            content_type="text/csv")
