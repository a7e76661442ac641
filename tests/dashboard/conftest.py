from ..pipeline.conftest import aktify, open_campaign  # noqa: F401 (fixtures shared with the pipeline tests)
