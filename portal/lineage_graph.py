"""The column lineage of one report column as a small SVG for the 追溯 page: the same
``dagster/column_lineage`` that :mod:`kongchuo.lineage` declares and the asset policies attach to every asset
(the open-source Dagster UI stores it but does not draw it). Layered left to right: the report column, then the
derived columns it counts, then the staged columns those are computed from."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from kongchuo import lineage

MAX_DEPTH = 4
BOX_W, BOX_H, GAP_X, GAP_Y = 230, 26, 60, 10


@dataclass(frozen=True)
class Node:
    asset: str
    column: str

    @property
    def label(self) -> str:
        return f"{self.asset}.{self.column}"


def lineage_edges(report: str, column: str) -> tuple[Node | None, list[tuple[Node, Node]]]:
    """(the report column, [(upstream, downstream)]) walking ``COLUMN_LINEAGE`` up to :data:`MAX_DEPTH` hops."""
    start_key = {"R1": lineage.R1, "R2": lineage.R2}.get(report)
    if start_key is None or column not in lineage.COLUMN_LINEAGE.get(start_key, {}):
        return None, []
    start = Node(start_key, column)
    edges: list[tuple[Node, Node]] = []
    frontier, seen = [(start_key, column, start)], {start}
    for _ in range(MAX_DEPTH):
        nxt = []
        for key, col, node in frontier:
            for up_key, up_col in lineage.COLUMN_LINEAGE.get(key, {}).get(col, []):
                up = Node(up_key, up_col)
                edges.append((up, node))
                if up not in seen:
                    seen.add(up)
                    nxt.append((up_key, up_col, up))
        frontier = nxt
    return start, edges


def lineage_svg(report: str, column: str) -> str:
    """An inline SVG (empty when the report column declares no lineage)."""
    start, edges = lineage_edges(report, column)
    if start is None:
        return ""
    depth = {start: 0}
    for _ in range(MAX_DEPTH + 1):  # longest distance from the report column, so arrows always point right
        for up, down in edges:
            if down in depth and depth.get(up, -1) < depth[down] + 1:
                depth[up] = depth[down] + 1
    layers: dict[int, list[Node]] = {}
    for node, d in sorted(depth.items(), key=lambda kv: (kv[1], kv[0].label)):
        layers.setdefault(d, []).append(node)
    last = max(layers)
    pos = {node: ((last - d) * (BOX_W + GAP_X) + 5, i * (BOX_H + GAP_Y) + 5)
           for d, nodes in layers.items() for i, node in enumerate(nodes)}
    width = (last + 1) * (BOX_W + GAP_X)
    height = max(len(n) for n in layers.values()) * (BOX_H + GAP_Y) + 10
    parts = [f'<svg id="lineage" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'font-size="11" font-family="sans-serif" role="img" aria-label="列级血缘">']
    for up, down in sorted(set(edges), key=lambda e: (e[0].label, e[1].label)):
        (x1, y1), (x2, y2) = pos[up], pos[down]
        parts.append(f'<line x1="{x1 + BOX_W}" y1="{y1 + BOX_H / 2}" x2="{x2}" y2="{y2 + BOX_H / 2}" '
                     f'stroke="#999"/>')
    for node, (x, y) in pos.items():
        fill = "#fde9d9" if node == start else ("#e8f0fe" if node.asset.startswith("derived") else "#eef7ee")
        parts.append(f'<g class="node"><rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="4" fill="{fill}" '
                     f'stroke="#666"/><text x="{x + 6}" y="{y + 17}">{escape(node.label)}</text></g>')
    parts.append("</svg>")
    return "".join(parts)
