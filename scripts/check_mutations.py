"""Mutation check of the evaluations: break one line at a time in a *copy* of src/, run the tests that guard it,
and expect them to fail (issue 15: a wrong metric must fail a test).

    .venv/bin/python scripts/check_mutations.py            # all mutations (about 5 minutes on 2 cores)
    .venv/bin/python scripts/check_mutations.py NAME ...   # only these

The work tree is never modified: each mutant is a fresh copy of src/ put first on PYTHONPATH. A mutation whose
line is no longer in the code is reported as 'line not found' (update the list when the code moves).
Exit status 1 when any mutant survives.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

MUTATIONS = json.loads(r"""
[
 {
  "name": "knn-least-similar (vote weights negated)",
  "file": "fashionrag/eval/metrics.py",
  "old": "weighted_vote(list(labs), list(ws), tau=tau",
  "new": "weighted_vote(list(labs), [-w for w in ws], tau=tau",
  "tests": [
   "tests/test_eval_exact.py"
  ]
 },
 {
  "name": "knn-least-similar (neighbours sorted ascending)",
  "file": "fashionrag/eval/retrieval.py",
  "old": "top = np.argsort(-sims, axis=1, kind=\"stable\")[:, :kk]",
  "new": "top = np.argsort(sims, axis=1, kind=\"stable\")[:, :kk]",
  "tests": [
   "tests/test_eval_exact.py"
  ]
 },
 {
  "name": "knn-least-similar (eval store hits reversed)",
  "file": "fashionrag/eval/retrieval.py",
  "old": "neighbours = [[h.metadata for h in row] for row in hits]\n    nscores = [[h.score for h in row] for row in hits]",
  "new": "hits = [[*row][::-1] for row in store.search(-g, k=min(k, len(store)))]\n    neighbours = [[h.metadata for h in row] for row in hits]\n    nscores = [[-h.score for h in row] for row in hits]",
  "tests": [
   "tests/test_eval_exact.py"
  ]
 },
 {
  "name": "t2i relevance with reversed titles",
  "file": "fashionrag/eval/retrieval.py",
  "old": "M.relevance_by_label(uniq, titles)",
  "new": "M.relevance_by_label(uniq, titles[::-1])",
  "tests": [
   "tests/test_eval_exact.py"
  ]
 },
 {
  "name": "prompt classification argmin",
  "file": "fashionrag/eval/retrieval.py",
  "old": "pred = (g[truth_idx] @ prompts.T).argmax(axis=1)",
  "new": "pred = (g[truth_idx] @ prompts.T).argmin(axis=1)",
  "tests": [
   "tests/test_eval_exact.py"
  ]
 },
 {
  "name": "retrieval leak guard: no hash drop",
  "file": "fashionrag/eval/retrieval.py",
  "old": "    if leak.dropped:\n        dropped = set(leak.dropped)",
  "new": "    if False:\n        dropped = set(leak.dropped)",
  "tests": [
   "tests/test_eval_exact.py"
  ]
 },
 {
  "name": "category_hit = subject only",
  "file": "fashionrag/eval/caption.py",
  "old": "\"category_hit\": any(g.article_type == p.article_type for g in raw.garments)",
  "new": "\"category_hit\": bool(g0 and g0.article_type == p.article_type)",
  "tests": [
   "tests/test_caption_eval.py"
  ]
 },
 {
  "name": "contradictions vs predicted pack",
  "file": "fashionrag/eval/caption.py",
  "old": "violations = check(truth_pack(p, ev), result.caption",
  "new": "violations = check(ev, result.caption",
  "tests": [
   "tests/test_caption_eval.py"
  ]
 },
 {
  "name": "contradiction kinds drop gender",
  "file": "fashionrag/eval/caption.py",
  "old": "if v.kind in (\"article\", \"colour\", \"gender\")})",
  "new": "if v.kind in (\"article\", \"colour\")})",
  "tests": [
   "tests/test_caption_eval.py"
  ]
 },
 {
  "name": "coverage counts any tag",
  "file": "fashionrag/eval/caption.py",
  "old": "lenient = sum(bool(mentions_value(kind, value, \"\", tags)) for kind, value in facets) / len(facets)",
  "new": "lenient = float(bool(tags))",
  "tests": [
   "tests/test_caption_eval.py"
  ]
 },
 {
  "name": "coverage_at uses > instead of >=",
  "file": "fashionrag/eval/caption.py",
  "old": "np.mean([c >= x - 1e-9 for c in cov])",
  "new": "np.mean([c > x + 1e-9 for c in cov])",
  "tests": [
   "tests/test_caption_eval.py"
  ]
 },
 {
  "name": "held-out subset returns everything",
  "file": "fashionrag/eval/caption.py",
  "old": "        return [p for p in products if p.id not in tuned], len(tuned)",
  "new": "        return list(products), len(tuned)",
  "tests": [
   "tests/test_caption_eval.py"
  ]
 },
 {
  "name": "caption: prebuilt index not guarded",
  "file": "fashionrag/eval/caption.py",
  "old": "leak = guard_reference(products, ref_rows, allow_overlap=allow_overlap, reference_name=f\"the index {index}\")",
  "new": "leak = guard_reference(products, [], allow_overlap=allow_overlap, reference_name=f\"the index {index}\")",
  "tests": [
   "tests/test_leak_guards.py"
  ]
 },
 {
  "name": "guard: id overlap not an error",
  "file": "fashionrag/eval/leaks.py",
  "old": "    if same_id and not allow_overlap:",
  "new": "    if False:",
  "tests": [
   "tests/test_leak_guards.py"
  ]
 },
 {
  "name": "guard: no content hash check",
  "file": "fashionrag/eval/leaks.py",
  "old": "        elif h in eval_hashes:",
  "new": "        elif False:",
  "tests": [
   "tests/test_leak_guards.py"
  ]
 },
 {
  "name": "strict coverage: plain substring",
  "file": "fashionrag/eval/caption.py",
  "old": "        if word != compound and word in compound:",
  "new": "        if False:",
  "tests": [
   "tests/test_caption_eval.py"
  ]
 },
 {
  "name": "train val kNN keeps train copies of val photos",
  "file": "fashionrag/train/encoder.py",
  "old": "    drop = set(leak.dropped) if leak else set()",
  "new": "    drop = set()",
  "tests": [
   "tests/test_train_encoder.py"
  ]
 }
]
""")


def run(mutation: dict, work: Path) -> str:
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(ROOT / "src", work)
    path = work / mutation["file"]
    text = path.read_text()
    if text.count(mutation["old"]) != 1:
        return "line not found"
    path.write_text(text.replace(mutation["old"], mutation["new"]))
    env = dict(os.environ, PYTHONPATH=str(work))
    where = subprocess.run([sys.executable, "-c", "import fashionrag; print(fashionrag.__file__)"], env=env,
                           cwd=ROOT, capture_output=True, text=True).stdout.strip()
    if not where.startswith(str(work)):
        return f"not run: the mutant copy is not the imported package ({where})"
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *mutation["tests"]],
                          env=env, cwd=ROOT, capture_output=True, text=True)
    failed = [line for line in proc.stdout.splitlines() if line.startswith("FAILED")]
    return f"caught by {failed[0][7:].split(' - ')[0]}" if proc.returncode else "SURVIVED"


def main() -> int:
    wanted = set(sys.argv[1:])
    survived = 0
    with tempfile.TemporaryDirectory() as tmp:
        for m in MUTATIONS:
            if wanted and m["name"] not in wanted:
                continue
            verdict = run(m, Path(tmp) / "src")
            survived += verdict == "SURVIVED"
            print(f"{m['name']}: {verdict}", flush=True)
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
