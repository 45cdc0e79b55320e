"""The HTTP service (``fashionrag serve``): a thin FastAPI face over the search, caption and edit pipelines,
plus a static web page. See docs/serve.md."""

from .app import create_app
from .settings import ServeSettings
from .state import Services

__all__ = ["ServeSettings", "Services", "create_app"]
