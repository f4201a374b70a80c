"""The table: one row per scenario config, cells of several lines where needed, aligned."""

from __future__ import annotations

from grading_pipeline_tests.torture.common import Row

# (header lines, width; 0: the last column, not padded)
COLUMNS = (
    (("scenario",), 16), (("config",), 36), (("runs",), 4), (("ok",), 3), (("failed", "(by message)"), 40),
    (("dups",), 4), (("partial/", "unequal"), 8), (("stale", "kept"), 7), (("extra figures",), 0),
)
EXTRA_WIDTH = 84


def _figure(value) -> str:
    return "-" if value is None else str(value)


def _wrap(text: str, width: int) -> list[str]:
    if not width or len(text) <= width:
        return [text]
    lines, line = [], ""
    for word in text.split(" "):
        while len(word) > width - 2:  # a long path or id: cut it
            if line:
                lines.append(line)
            lines.append(("  " if lines else "") + word[: width - 2])
            word, line = word[width - 2:], ""
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = "  " + word
        else:
            line = f"{line} {word}" if line else ("  " + word if lines else word)
    return lines + ([line] if line.strip() else [])


def cells(row: Row) -> list[list[str]]:
    failed = [f"{n}x {message}" for message, n in row.failed.most_common()] or ["-"]
    mark = "" if row.gating else " *"
    return [
        [row.scenario], _wrap(row.config + mark, COLUMNS[1][1]), [str(row.runs)], [str(row.ok)],
        [line for f in failed for line in _wrap(f, COLUMNS[4][1])],
        [_figure(row.duplicates)], [_figure(row.unequal)], [_figure(row.stale_commits)],
        [line for e in (row.extra or ["-"]) for line in _wrap(e, EXTRA_WIDTH)],
    ]


def render(rows: list[Row]) -> str:
    widths = [max(w, *(len(h) for h in header)) if w else 0 for header, w in COLUMNS]

    def line(values: list[str]) -> str:
        return "  ".join(v.ljust(w) if w else v for v, w in zip(values, widths)).rstrip()

    depth = max(len(header) for header, _ in COLUMNS)
    out = [line([header[i - depth + len(header)] if i >= depth - len(header) else "" for header, _ in COLUMNS])
           for i in range(depth)]
    out.append(line(["-" * (w or EXTRA_WIDTH) for w in widths]))
    for row in rows:
        columns = cells(row)
        for i in range(max(len(c) for c in columns)):
            out.append(line([c[i] if i < len(c) else "" for c in columns]))
    return "\n".join(out)
