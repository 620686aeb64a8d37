"""The web application (FastAPI). Until the web issue lands: a health page and the status API."""
