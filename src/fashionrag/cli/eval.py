"""`fashionrag eval retrieval|caption|edit`.

Each evaluation registers its own sub-sub-command through a ``register_<task>(eval_subparsers)`` function
listed in :data:`EVAL_COMMANDS`, so other modules can add theirs without touching this one's code.
"""

from __future__ import annotations

import argparse

from ..core import config
from . import add_json_flag
from .eval_flags import add_allow_overlap_flag

#: Functions that add one ``eval <task>`` sub-command each.
EVAL_COMMANDS: list = []


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="measure retrieval, caption or edit quality on a catalog")
    esub = p.add_subparsers(dest="eval_command", metavar="TASK")
    esub.required = True
    for add in EVAL_COMMANDS:
        add(esub)


def register_retrieval(esub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    r = esub.add_parser(
        "retrieval",
        help="text->image, category/colour->product, prompt classification, kNN attributes, throughput",
        description="Evaluate an encoder on EVAL_DIR with kNN neighbours drawn from an index of REF_DIR. When both "
        "are the same catalog, the reference side uses the other split(s), never the evaluated rows.",
    )
    r.add_argument("--catalog", required=True, help="catalog to evaluate (its images are the gallery)")
    r.add_argument("--index-catalog", required=True, help="reference catalog for the kNN index")
    r.add_argument("--split", default=None, help="evaluate only this split (default: val when both catalogs are the same)")
    r.add_argument("--encoder", default=None, help=f"encoder name (default: {config.default_encoder()})")
    r.add_argument("--k", type=int, default=20, help="neighbours in the kNN vote")
    r.add_argument("--batch-size", type=int, default=64)
    add_allow_overlap_flag(r)
    r.add_argument("--quiet", action="store_true", help="no progress bars")
    add_json_flag(r)
    r.set_defaults(func=cmd_retrieval)
    return r


EVAL_COMMANDS.append(register_retrieval)


def cmd_retrieval(args: argparse.Namespace):
    from ..eval.retrieval import run_retrieval_eval

    res = run_retrieval_eval(
        args.catalog,
        args.index_catalog,
        split=args.split,
        encoder=args.encoder or config.default_encoder(),
        k=args.k,
        batch_size=args.batch_size,
        allow_overlap=args.allow_overlap,
        progress=not (args.quiet or args.json),
    )
    if args.json:
        return res
    g = res.gallery_size
    print(f"encoder        {res.encoder}")
    print(f"eval           {res.eval_catalog} split={res.eval_split}: gallery {g} images")
    print(f"reference      {res.reference_catalog} split={res.reference_split}: {res.reference_size} images")
    t, s = res.t2i, res.t2i_strict
    print(f"text->image    R@1 {t['r1']:.3f}  R@10 {t['r10']:.3f}  MRR {t['mrr']:.3f}  "
          f"({int(t['queries'])} title queries, gallery {g})")
    print(f"  strict       R@1 {s['r1']:.3f}  R@10 {s['r10']:.3f}  MRR {s['mrr']:.3f}  ({int(s['queries'])} item queries)")
    print(f"category->prod P@1 {res.category_p1:.3f}  P@10 {res.category_p10:.3f}  ({res.queries['category']} queries)")
    print(f"colour->prod   P@1 {res.color_p1:.3f}  P@10 {res.color_p10:.3f}  ({res.queries['color']} queries)")
    print(f"prompt type    acc {res.prompt_articleType_acc:.3f}  weighted F1 {res.prompt_articleType_wf1:.3f}  "
          f"({res.queries['prompt_labels']} labels; not zero-shot for lite)")
    knn = "  ".join(f"{k} {v:.3f}" for k, v in res.knn_accuracy.items())
    print(f"kNN@{res.k}         {knn}")
    print(f"throughput     {res.images_per_s:.0f} images/s (files -> embeddings; {res.machine.get('cpus')} CPUs, "
          f"load average {res.machine.get('load_average_before')} -> {res.machine.get('load_average_after')})")
    for note in res.notes:
        print(f"note: {note}")
    return None


# Evaluations of the other systems register themselves here.
from .eval_edit import register_edit_eval  # noqa: E402
from .eval_caption import register_eval_caption  # noqa: E402

EVAL_COMMANDS.extend([register_eval_caption, register_edit_eval])
