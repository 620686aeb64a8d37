"""Routers: ``auth`` (sign-in/out), ``api`` (REST under /api/v1), ``patient`` (invitation pages
under /p), ``clinic`` (clinician and overview pages), ``admin`` (users, sites, audit log)."""
