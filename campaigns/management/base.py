"""What LeadHub's management commands share."""
from argparse import RawDescriptionHelpFormatter

from django.core.management.base import BaseCommand


class ExamplesCommand(BaseCommand):
    """A command whose ``help`` holds paragraphs and example lines: ``--help`` keeps its line breaks
    (argparse would re-wrap them into one paragraph)."""

    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.formatter_class = RawDescriptionHelpFormatter
        return parser
