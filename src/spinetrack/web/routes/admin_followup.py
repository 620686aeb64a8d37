"""Admin pages of follow-up (being written)."""

from fastapi import APIRouter

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
