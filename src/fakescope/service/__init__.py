"""``fakescope serve``: the REST API, durable jobs, web UI and metrics around ``Scanner``.

Needs the ``[service]`` extra (FastAPI, uvicorn, SQLAlchemy, psycopg, fsspec,
prometheus-client, pydantic-settings). See docs/service.md.
"""

from fakescope.service.settings import ServiceSettings, load_settings


def create_app(*args, **kwargs):  # type: ignore[no-untyped-def]
    """See :func:`fakescope.service.app.create_app` (imported lazily: FastAPI is an extra)."""
    from fakescope.service.app import create_app as _create

    return _create(*args, **kwargs)


__all__ = ["ServiceSettings", "create_app", "load_settings"]
