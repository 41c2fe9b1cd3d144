"""Static choropleth maps for the monthly report (matplotlib + geopandas, no tiles, no
network): one figure of several panels (e.g. county, township, H3 grid), each with its
colour legend and unit, a north arrow and a scale bar; withheld (suppressed) units are
drawn hatched in grey, never as zero; units without a value are drawn empty with the
reason in the legend.

Pure functions: GeoDataFrames in (EPSG:4490 lon/lat), PNG bytes out. Labels are plain
ASCII (the fonts of a server may lack CJK glyphs); the report around the images carries
the Chinese terms.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

SUPPRESSED_FACE = "#d0d0d0"
SUPPRESSED_HATCH = "////"
EMPTY_FACE = "#ffffff"
EDGE = "#7a7a7a"
OUTLINE = "#303030"
NICE_KM = (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)


@dataclass
class Panel:
    """One map: ``gdf`` (geometry, EPSG:4490) with a float ``value`` column (NaN where
    there is none), a boolean ``suppressed`` column, and optionally ``empty_reason``
    (text for units without a value that are not suppressed: the legend names it).

    ``scale``: ``"sequential"`` (quantile classes of a sequential colour map) or
    ``"diverging"`` (a diverging map centred on ``center``, e.g. 1 for a ratio).
    ``outline``: boundaries drawn on top for orientation (e.g. counties over the grid).
    """

    gdf: Any
    title: str
    label: str
    scale: str = "sequential"
    center: float = 1.0
    outline: Any = None
    cmap: str | None = None
    notes: list[str] = field(default_factory=list)


def quantile_bounds(values: np.ndarray, classes: int = 5) -> np.ndarray:
    """Class bounds for a sequential map, strictly increasing, the first at or below the
    smallest value and the last at or above the largest: quantiles of the positive
    values rounded to 2 significant digits (the lowest bound rounded down, the highest
    up), and a class of its own for zeros when there are zeros and positive values. With
    one distinct value: that value and a bound just above it."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if not len(v):
        return np.array([0.0, 1.0])
    lo, hi = float(v.min()), float(v.max())
    if hi <= lo:
        return np.array([lo, lo + max(abs(lo) * 0.1, 1.0)])
    pos = v[v > 0] if lo >= 0 else v
    classes = max(1, min(classes, len(np.unique(pos))))
    qs = np.quantile(pos, np.linspace(0, 1, classes + 1))
    inner = [_round_sig(q) for q in qs[1:-1]]
    first = _round_sig(float(pos.min()), how="floor")
    last = _round_sig(float(pos.max()), how="ceil")
    bounds = [0.0] if (lo >= 0 and lo < first) else []
    for b in [first, *inner, last]:
        if not bounds or b > bounds[-1]:
            bounds.append(b)
    if bounds[-1] == first:  # one positive value: a class of its own above the zeros
        bounds.append(first + max(abs(first) * 0.1, 1e-9))
    if bounds[-1] < hi:
        bounds.append(hi)
    if len(bounds) < 2:
        bounds.append(hi + 1.0)
    return np.array(bounds, dtype=float)


def _round_sig(x: float, digits: int = 2, how: str = "round") -> float:
    if x == 0 or not math.isfinite(x):
        return float(x)
    scale = 10.0 ** (int(math.floor(math.log10(abs(x)))) - digits + 1)
    f = {"round": round, "floor": math.floor, "ceil": math.ceil}[how]
    return float(f(x / scale) * scale)


def nice_scale_km(width_km: float) -> float:
    """A round scale-bar length of about a fifth of the map width (km)."""
    target = max(width_km / 5.0, 1e-6)
    return max((k for k in NICE_KM if k <= target), default=NICE_KM[0])


def km_per_degree_lon(lat: float) -> float:
    return 111.320 * math.cos(math.radians(lat))


def draw_north_arrow(ax) -> None:
    """A north arrow in the upper right corner (the maps are lon/lat: north is up)."""
    ax.annotate("N", xy=(0.94, 0.97), xytext=(0.94, 0.84), xycoords="axes fraction",
                textcoords="axes fraction", ha="center", va="center", fontsize=10,
                fontweight="bold",
                arrowprops={"facecolor": "black", "edgecolor": "black", "width": 2.5,
                            "headwidth": 8, "headlength": 8})


def draw_scale_bar(ax) -> float:
    """A scale bar in the lower left corner (length from the map's middle latitude);
    returns its length in km."""
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    lat = (y0 + y1) / 2
    kmdeg = km_per_degree_lon(lat)
    km = nice_scale_km((x1 - x0) * kmdeg)
    length = km / kmdeg
    bx, by = x0 + (x1 - x0) * 0.05, y0 + (y1 - y0) * 0.05
    ax.plot([bx, bx + length], [by, by], color="black", linewidth=3, solid_capstyle="butt")
    ax.plot([bx, bx], [by - (y1 - y0) * 0.008, by + (y1 - y0) * 0.008], color="black",
            linewidth=1)
    ax.plot([bx + length] * 2, [by - (y1 - y0) * 0.008, by + (y1 - y0) * 0.008],
            color="black", linewidth=1)
    text = f"{km:g} km"
    ax.text(bx + length / 2, by + (y1 - y0) * 0.02, text, ha="center", va="bottom",
            fontsize=8)
    return km


def _norm_and_cmap(panel: Panel, values: np.ndarray):
    import matplotlib as mpl
    from matplotlib.colors import BoundaryNorm, ListedColormap, TwoSlopeNorm

    finite = values[np.isfinite(values)]
    if panel.scale == "diverging":
        cmap = mpl.colormaps[panel.cmap or "RdBu_r"]
        lo = float(finite.min()) if len(finite) else panel.center - 1
        hi = float(finite.max()) if len(finite) else panel.center + 1
        span = max(panel.center - lo, hi - panel.center, 1e-9)
        return TwoSlopeNorm(vcenter=panel.center, vmin=panel.center - span,
                            vmax=panel.center + span), cmap
    base = mpl.colormaps[panel.cmap or "YlOrRd"]
    bounds = quantile_bounds(finite)
    n = len(bounds) - 1
    # one colour per class, from light (the smallest values, zeros) to dark
    colors = base(np.linspace(0.08, 0.95, n)) if n > 1 else base([0.08])
    return BoundaryNorm(bounds, n), ListedColormap(colors)


def draw_panel(fig, ax, panel: Panel) -> dict[str, int]:
    """Draw one choropleth with its colour bar, north arrow and scale bar; returns how
    many units were drawn as published, suppressed and empty."""
    gdf = panel.gdf
    values = gdf["value"].to_numpy(dtype=float)
    suppressed = gdf["suppressed"].fillna(False).to_numpy(dtype=bool)
    published = np.isfinite(values) & ~suppressed
    empty = ~published & ~suppressed
    norm, cmap = _norm_and_cmap(panel, values[published])
    counts = {"published": int(published.sum()), "suppressed": int(suppressed.sum()),
              "empty": int(empty.sum())}
    if empty.any():
        gdf[empty].plot(ax=ax, facecolor=EMPTY_FACE, edgecolor=EDGE, linewidth=0.4)
    if published.any():
        gdf[published].plot(ax=ax, column="value", cmap=cmap, norm=norm, edgecolor=EDGE,
                            linewidth=0.4)
    if suppressed.any():
        gdf[suppressed].plot(ax=ax, facecolor=SUPPRESSED_FACE, edgecolor="#555555",
                             hatch=SUPPRESSED_HATCH, linewidth=0.4)
    if panel.outline is not None and len(panel.outline):
        panel.outline.boundary.plot(ax=ax, color=OUTLINE, linewidth=0.9)
    if len(gdf):
        x0, y0, x1, y1 = gdf.total_bounds
        if panel.outline is not None and len(panel.outline):
            ox0, oy0, ox1, oy1 = panel.outline.total_bounds
            x0, y0, x1, y1 = min(x0, ox0), min(y0, oy0), max(x1, ox1), max(y1, oy1)
        pad_x, pad_y = (x1 - x0) * 0.04 + 1e-4, (y1 - y0) * 0.1 + 1e-4
        ax.set_xlim(x0 - pad_x, x1 + pad_x)
        ax.set_ylim(y0 - pad_y, y1 + pad_y)
    total = len(gdf)
    ax.set_title(f"{panel.title} ({counts['published']} of {total} published)"
                 if total else f"{panel.title} (no units)", fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("")
    ax.set_ylabel("")
    for side in ax.spines.values():
        side.set_color("#999999")
    import matplotlib as mpl

    shown = np.unique(values[published])
    if len(shown) == 0:  # nothing to colour: say so where the colour bar would be
        ax.text(0.5, -0.06, "no published value: " + panel.label, transform=ax.transAxes,
                ha="center", va="top", fontsize=8, color="#555555")
    else:
        sm = mpl.cm.ScalarMappable(norm=norm, cmap=cmap)
        cb = fig.colorbar(sm, ax=ax, orientation="horizontal", fraction=0.05, pad=0.03,
                          aspect=30, shrink=0.85)
        cb.set_label(panel.label, fontsize=8)
        cb.ax.tick_params(labelsize=7)
        if panel.scale != "diverging" and len(shown) == 1:
            mid = (norm.boundaries[0] + norm.boundaries[-1]) / 2
            cb.set_ticks([mid])
            cb.set_ticklabels([f"all {shown[0]:,.4g}"])
        elif panel.scale != "diverging":
            cb.set_ticks(norm.boundaries)
            cb.set_ticklabels([f"{b:,.4g}" for b in norm.boundaries])
    draw_north_arrow(ax)
    draw_scale_bar(ax)
    return counts


def quiet_canvas(fig):
    """An Agg canvas for ``fig`` that draws only when asked (savefig, ``draw()``):
    geopandas asks the canvas to redraw after every layer it plots, and on Agg each such
    request renders the whole figure (7 extra renders of a 3-panel map, ~80 % of its
    time)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    class _Quiet(FigureCanvasAgg):
        def draw_idle(self, *args, **kwargs) -> None:
            pass

    return _Quiet(fig)


def render_figure(panels: list[Panel], title: str = "", *, width_in: float = 15.0,
                  height_in: float = 5.6, dpi: int = 90,
                  empty_label: str = "no value") -> tuple[bytes, list[dict[str, int]]]:
    """The panels side by side in one PNG, with a shared legend for withheld (hatched)
    and empty units. Returns the PNG bytes and each panel's counts."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    fig = Figure(figsize=(width_in, height_in), dpi=dpi)
    quiet_canvas(fig)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    counts = [draw_panel(fig, ax, p) for ax, p in zip(axes, panels, strict=True)]
    reasons = sorted({str(r) for p in panels if "empty_reason" in p.gdf
                      for r in p.gdf.loc[p.gdf["value"].isna() & ~p.gdf["suppressed"]
                                         .fillna(False).astype(bool), "empty_reason"]
                      .dropna()})
    handles = [Patch(facecolor=SUPPRESSED_FACE, edgecolor="#555555", hatch=SUPPRESSED_HATCH,
                     label="withheld (suppressed: < k cards, or complementary)")]
    if any(c["empty"] for c in counts):
        label = empty_label + (f" ({', '.join(reasons)})" if reasons else "")
        handles.append(Patch(facecolor=EMPTY_FACE, edgecolor=EDGE, label=label))
    if any(p.outline is not None for p in panels):
        handles.append(Patch(facecolor="none", edgecolor=OUTLINE, label="county boundary"))
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8,
               frameon=False)
    if title:
        fig.suptitle(title, fontsize=12)
    fig.subplots_adjust(left=0.02, right=0.98, top=0.88 if title else 0.94, bottom=0.1,
                        wspace=0.08)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue(), counts
