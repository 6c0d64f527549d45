"""Day summaries ("Day N Reflections"): built from the timeline, rendered three ways."""

from .model import build_day_summary, day_title
from .render import FORMATS, render

__all__ = ["FORMATS", "build_day_summary", "day_title", "render"]
