"""E.164 phone numbers as plain text in the models.

Numbers are normalised once, by ``campaigns.phones``, where they enter LeadHub
(intake, admin forms, search). django-phonenumber-field's model field parses the
number again on every assignment, save, lookup and read, which would make parsing most of
a CSV import's work. So the models keep the E.164 text, and the one normaliser does the parsing — with the campaign's region, which a model
field cannot know.
"""
from django import forms
from django.core.exceptions import ValidationError
from django.db import models

from .phones import PhoneError, normalize_phone


class PhoneFormField(forms.CharField):
    """A form field that accepts any format the normaliser accepts and cleans to E.164."""

    def __init__(self, *args, region: str | None = None, **kwargs):
        kwargs.pop("max_length", None)
        super().__init__(*args, max_length=64, **kwargs)
        self.region = region

    def clean(self, value):
        value = super().clean(value)
        if value in self.empty_values:
            return ""
        try:
            return normalize_phone(value, self.region)
        except PhoneError as exc:
            raise ValidationError(exc.message, code=exc.code) from None


class E164Field(models.CharField):
    description = "Phone number (E.164 text)"

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_length", 16)  # "+" and at most 15 digits
        super().__init__(*args, **kwargs)

    def get_prep_value(self, value):
        return "" if value is None else str(value)

    def formfield(self, **kwargs):
        return super().formfield(**{"form_class": PhoneFormField, **kwargs})
