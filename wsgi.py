"""WSGI entry point: ``gunicorn wsgi:app`` (configure with TRAZO_* environment variables)."""

from api import create_app

app = create_app()
