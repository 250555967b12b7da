"""trazo's JSON API: the app factory (``api.http.app``), one module per resource, the
schemas and the one place errors become ``application/problem+json`` (``errors``)."""
