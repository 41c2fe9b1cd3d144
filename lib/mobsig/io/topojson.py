"""TopoJSON decoding (https://github.com/topojson/topojson-specification), driver side.

A topology stores shared boundaries once as *arcs*; geometries reference arcs by index
(``~i`` = arc ``i`` reversed). With a ``transform``, arc positions are quantized and
delta-encoded: position k of an arc is the running sum of its deltas, then
``x = x_q * scale_x + translate_x`` (same for y). Points are quantized but not
delta-encoded.

The arcs are decoded at once with numpy (one flat array, a per-arc running sum, one affine
step); rings are assembled from index arrays. No CRS is defined by the format: the caller
supplies one (mobsig.io.units).

    feats = decode(json.loads(text), "county")   # [(properties, shapely geometry), ...]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import shapely


class TopologyError(ValueError):
    """The document is not a TopoJSON topology this module can decode."""


def objects(doc: dict[str, Any]) -> list[str]:
    """Names of the topology's objects."""
    if not isinstance(doc, dict) or doc.get("type") != "Topology":
        raise TopologyError("not a TopoJSON Topology (type != 'Topology')")
    objs = doc.get("objects")
    if not isinstance(objs, dict) or not objs:
        raise TopologyError("topology has no objects")
    return list(objs)


def decode_arcs(doc: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """All arcs as absolute x/y: ``(coords (N, 2) float, offsets (n_arcs + 1,) int)``;
    arc ``i`` is ``coords[offsets[i]:offsets[i + 1]]``."""
    arcs = doc.get("arcs") or []
    if not isinstance(arcs, list):
        raise TopologyError("'arcs' is not a list")
    if not arcs:
        return np.empty((0, 2)), np.zeros(1, dtype=np.int64)
    try:
        parts = [np.asarray(a, dtype=float).reshape(len(a), -1)[:, :2] for a in arcs]
    except (TypeError, ValueError) as exc:
        raise TopologyError(f"malformed arc positions: {exc}") from None
    lengths = np.fromiter((len(p) for p in parts), dtype=np.int64, count=len(parts))
    if (lengths < 2).any():
        raise TopologyError(f"arc {int(np.argmax(lengths < 2))} has fewer than 2 positions")
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    flat = np.concatenate(parts)
    transform = doc.get("transform")
    if transform:
        # delta decoding: running sum within each arc (a global cumsum minus the sum
        # carried over from the previous arcs), in exact integer arithmetic
        q = np.rint(flat).astype(np.int64)
        total = np.cumsum(q, axis=0)
        carried = total[offsets[:-1]] - q[offsets[:-1]]
        absolute = total - np.repeat(carried, lengths, axis=0)
        flat = _affine(absolute, transform)
    return flat, offsets


def _affine(q: np.ndarray, transform: dict[str, Any]) -> np.ndarray:
    try:
        scale = np.asarray(transform["scale"], dtype=float)[:2]
        translate = np.asarray(transform["translate"], dtype=float)[:2]
    except (KeyError, TypeError, ValueError):
        raise TopologyError("transform needs 'scale' and 'translate' pairs") from None
    return q * scale + translate


class _Arcs:
    def __init__(self, coords: np.ndarray, offsets: np.ndarray) -> None:
        self.coords = coords
        self.offsets = offsets
        self.n = len(offsets) - 1

    def line(self, refs: Sequence[int]) -> np.ndarray:
        """Coordinates of a chain of arc references (shared end points once)."""
        idx = []
        for k, ref in enumerate(refs):
            i = ~ref if ref < 0 else ref
            if not 0 <= i < self.n:
                raise TopologyError(f"arc index {ref} out of range (0..{self.n - 1})")
            a, b = self.offsets[i], self.offsets[i + 1]
            seq = np.arange(a, b) if ref >= 0 else np.arange(b - 1, a - 1, -1)
            idx.append(seq if k == 0 else seq[1:])
        if not idx:
            return np.empty((0, 2))
        return self.coords[np.concatenate(idx)]

    def ring(self, refs: Sequence[int]) -> np.ndarray:
        xy = self.line(refs)
        if len(xy) and not np.array_equal(xy[0], xy[-1]):
            xy = np.vstack([xy, xy[:1]])
        return xy


def _polygon(arcs: _Arcs, rings: Sequence[Sequence[int]]) -> shapely.Polygon:
    parts = [arcs.ring(r) for r in rings]
    parts = [p for p in parts if len(p) >= 4]
    if not parts:
        return shapely.Polygon()
    return shapely.Polygon(parts[0], parts[1:])


def _geometry(g: dict[str, Any], arcs: _Arcs, transform: dict[str, Any] | None):
    kind = g.get("type")
    if kind is None:
        return None

    def pos(p: Sequence[float]) -> np.ndarray:
        xy = np.asarray(p, dtype=float).reshape(-1)[:2]
        return _affine(xy, transform) if transform else xy

    if kind == "Polygon":
        return _polygon(arcs, g["arcs"])
    if kind == "MultiPolygon":
        return shapely.MultiPolygon([_polygon(arcs, p) for p in g["arcs"]])
    if kind == "LineString":
        return shapely.LineString(arcs.line(g["arcs"]))
    if kind == "MultiLineString":
        return shapely.MultiLineString([arcs.line(refs) for refs in g["arcs"]])
    if kind == "Point":
        return shapely.Point(pos(g["coordinates"]))
    if kind == "MultiPoint":
        return shapely.MultiPoint([pos(p) for p in g["coordinates"]])
    if kind == "GeometryCollection":
        return shapely.GeometryCollection(
            [x for x in (_geometry(c, arcs, transform) for c in g.get("geometries", []))
             if x is not None])
    raise TopologyError(f"unknown geometry type {kind!r}")


def decode(doc: dict[str, Any], object_name: str | None = None
           ) -> list[tuple[dict[str, Any], shapely.Geometry | None]]:
    """The features of one object: ``[(properties, geometry or None), ...]``.

    ``object_name`` = None takes the only object (an error naming them when there are
    several). A top-level GeometryCollection object yields one feature per member; its
    members' ``properties`` (plus ``id`` when given) are the feature's properties.
    """
    names = objects(doc)
    if object_name is None:
        if len(names) != 1:
            raise TopologyError(f"topology has several objects {names}; name one")
        object_name = names[0]
    if object_name not in names:
        raise TopologyError(f"topology has no object {object_name!r} (has {names})")
    coords, offsets = decode_arcs(doc)
    arcs = _Arcs(coords, offsets)
    transform = doc.get("transform")
    obj = doc["objects"][object_name]
    members = obj.get("geometries", []) if obj.get("type") == "GeometryCollection" else [obj]
    out = []
    for g in members:
        props = dict(g.get("properties") or {})
        if "id" in g and "id" not in props:
            props["id"] = g["id"]
        try:
            geom = _geometry(g, arcs, transform)
        except (KeyError, TypeError, ValueError) as exc:
            raise TopologyError(f"object {object_name!r}: bad geometry {props}: {exc}") from None
        out.append((props, geom))
    return out
