"""The ``fashionrag`` command line: thin faces over the Python API.

Each sub-command lives in its own module exposing ``register(subparsers)``; the module sets
``func(args) -> object`` on its parser. A returned pydantic model / dict is printed as JSON with
``--json``; otherwise the command prints its own human-readable output and returns ``None``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
from typing import Any, Sequence

from ..core.errors import FashionRAGError
from ..core.images import CLI_MIN_SIDE, minimum_side

#: Modules under fashionrag.cli that register sub-commands, in help order.
COMMAND_MODULES = ["index", "search", "caption", "edit", "train", "eval", "demo", "serve"]


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="fashionrag",
        description="Retrieval-augmented fashion generation: index a catalog, search it, caption photos, edit garments.",
    )
    parser.add_argument("--version", action="version", version=f"fashionrag {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for mod_name in COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{mod_name}").register(sub)
    _add_common_options(parser)
    return parser


def _add_common_options(parser: argparse.ArgumentParser) -> None:
    """Options every sub-command accepts after its name too (``fashionrag search x --debug``), added here once
    rather than in each command module. SUPPRESS keeps a sub-command from resetting a value given before it."""
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        for sp in action.choices.values():
            if "--debug" not in sp._option_string_actions:
                sp.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                                help="show tracebacks and debug logs")
            if "--max-pixels" not in sp._option_string_actions:
                sp.add_argument("--max-pixels", type=int, default=argparse.SUPPRESS, metavar="N",
                                help="refuse images with more pixels than this (default 64,000,000; "
                                "also FASHIONRAG_MAX_PIXELS)")
            _add_common_options(sp)


def _stdout_gone() -> int:
    """The reader of our stdout went away (``fashionrag search ... | head -1``): stop quietly, as a killed-by-SIGPIPE
    tool would. Point stdout at /dev/null so the interpreter's final flush does not complain either."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
    return 141  # 128 + SIGPIPE


def add_json_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the result as JSON on stdout")


def emit_json(obj: Any) -> None:
    if hasattr(obj, "model_dump_json"):
        sys.stdout.write(obj.model_dump_json(indent=2) + "\n")
    else:
        sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    # Library loading bars ("Loading weights ...") are noise in a CLI; our own bars stay on.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    parser = build_parser()
    args = parser.parse_args(argv)
    args.debug = bool(getattr(args, "debug", False))
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if getattr(args, "max_pixels", None):
        os.environ["FASHIONRAG_MAX_PIXELS"] = str(args.max_pixels)  # read by every image load of this process
    try:
        with minimum_side(CLI_MIN_SIDE):  # a 1x1 or 8x8 "photo" is refused, not captioned with confidence
            result = args.func(args)
        if getattr(args, "json", False) and result is not None:
            emit_json(result)
        sys.stdout.flush()  # a closed pipe shows up here, not at exit
        return 0
    except BrokenPipeError:
        return _stdout_gone()
    except FashionRAGError as exc:
        if args.debug:
            raise
        print(f"fashionrag: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("fashionrag: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
