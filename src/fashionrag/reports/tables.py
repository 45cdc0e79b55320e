"""Plain-text result tables for terminals."""

from __future__ import annotations


def format_table(result) -> str:
    rows = [("#", "score", "id", "type", "colour", "gender", "title")]
    for h in result.hits:
        pr = h.product
        rows.append((str(h.rank), f"{h.score:.3f}", pr.id, pr.article_type or "", pr.colour or "", pr.gender or "", pr.title[:60]))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    lines = []
    for r in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(r[:-1], widths)) + "  " + r[-1])
    return "\n".join(lines)
