"""CSV import and export of leads.

Import, in the order the admin and ``import_leads`` use it:

- :mod:`.sniffing`: is the upload a CSV we can read (size, binary, empty, line
  length)? Its encoding, delimiter and header.
- :mod:`.mapping`: which column fills which lead field (guessed from the header,
  remembered per lead list, checked).
- :mod:`.importer`: the file through intake in batches, top to bottom:
  :mod:`.reading` (records in batches), :mod:`.cleaning` (validation and phone
  parsing), then the database half of intake and :mod:`.writing` (outcomes, the
  error file). :mod:`.parallel` overlaps the same steps for large files
  (``IMPORT_PARALLEL``).
- :mod:`.jobs`: an :class:`~campaigns.models.ImportJob` from the uploaded file to
  the finished job: claim, run or resume, progress, failure, clean-up.

Export: :mod:`.export` streams rows as CSV with the formula rules of :mod:`.formulas`.
"""
