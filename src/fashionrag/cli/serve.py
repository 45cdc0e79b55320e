"""`fashionrag serve`: the HTTP API and web page on one index (models load once, at start-up)."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os

from .. import writers
from ..core import config
from ..vision.detectors import available_detectors


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="serve the HTTP API and the web page",
                       description="Serve search, captions and edits over HTTP, with a web page at /. Binds "
                       "127.0.0.1 unless told otherwise; any other address needs an API key.")
    p.add_argument("--index", default=None, help=f"index directory (default: {config.default_index_dir()})")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1; others need --api-key)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=2,
                   help="threads running model work per route (the models are loaded once and shared; default 2)")
    p.add_argument("--queue", type=int, default=16, help="requests that may wait per route before 503 (default 16)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds of model work per request before 504")
    p.add_argument("--api-key", default=None,
                   help="require 'Authorization: Bearer KEY' (default: $FASHIONRAG_API_KEY); needed off loopback")
    p.add_argument("--cors", action="append", default=[], metavar="ORIGIN",
                   help="allow this browser origin (repeatable); CORS is off without it")
    p.add_argument("--max-upload-mb", type=float, default=10.0, help="largest image upload in MB (default 10)")
    p.add_argument("--max-pixels", type=int, default=25_000_000, help="largest image in pixels (default 25 M)")
    p.add_argument("--writer", default="template", choices=writers.available(), help="caption writer")
    p.add_argument("--base-url", default=None, help="openai writer: endpoint, e.g. http://127.0.0.1:11434/v1")
    p.add_argument("--model", default=None, help="openai writer: model name; transformers writer: model dir")
    p.add_argument("--api-key-env", default="OPENAI_API_KEY", help="openai writer: environment variable with its key")
    p.add_argument("--detector", default="pose", choices=available_detectors(), help="garment detector backend")
    p.add_argument("--edit-profile", default="lite", help="edit profile to load ('none' switches /v1/edit off)")
    p.add_argument("--graceful-timeout", type=float, default=30.0,
                   help="on SIGINT/SIGTERM, seconds to let in-flight requests finish (default 30)")
    p.add_argument("--quiet", action="store_true", help="no access log")
    p.set_defaults(func=cmd_serve)


def settings_from_args(args: argparse.Namespace):
    from ..serve.settings import API_KEY_ENV, ServeSettings
    from .caption import _writer_kwargs

    return ServeSettings(
        index_dir=args.index, host=args.host, port=args.port, workers=args.workers, queue=args.queue,
        timeout_s=args.timeout, api_key=args.api_key or os.environ.get(API_KEY_ENV) or None,
        cors_origins=args.cors, max_upload_bytes=int(args.max_upload_mb * 1024 * 1024), max_pixels=args.max_pixels,
        writer=args.writer, writer_kwargs=_writer_kwargs(args), detector=args.detector,
        edit_profile=None if args.edit_profile.lower() in ("none", "off", "") else args.edit_profile,
        log_requests=not args.quiet,
    ).check()


def cmd_serve(args: argparse.Namespace):
    import uvicorn

    from ..core import images
    from ..serve import Services, create_app

    settings = settings_from_args(args)  # refuses a non-loopback host without a key before loading anything
    logging.getLogger("fashionrag.serve").setLevel(logging.INFO)
    # The CLI refuses tiny *input* images process-wide; in a server that would also refuse the pipeline's own small
    # garment crops (a 119x17 shoe band) of a good upload, so the service runs with the library default.
    no_minimum = getattr(images, "minimum_side", None)
    with no_minimum(0) if no_minimum else contextlib.nullcontext():
        print(f"fashionrag serve: loading models for {settings.index_dir or config.default_index_dir()} ...",
              flush=True)
        services = Services.load(settings)  # a missing index or model is a one-line error here, before binding
        app = create_app(settings, services)
        # uvicorn's own SIGINT/SIGTERM handling stops accepting, lets in-flight requests finish, then shuts down
        try:
            uvicorn.run(app, host=settings.host, port=settings.port, log_level="info",
                        access_log=settings.log_requests, timeout_graceful_shutdown=args.graceful_timeout,
                        limit_concurrency=1024)
        finally:
            services.close()  # the work pools finish what they hold
    return None
