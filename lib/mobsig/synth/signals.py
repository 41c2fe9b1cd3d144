"""Signaling events from itineraries, vectorised over a batch of cards with numpy.

Per card: activity events (Poisson, thinned by time of day, with data bursts), handovers
while travelling, an attach/detach where the holder appears/leaves, hourly periodic
updates filling idle gaps, phone-off nights for a few people. Each event is served by one
of the nearest sites (a stay keeps a dominant site) and the sector facing the holder.

High-speed-rail riders (timeline.is_hsr_traveller) are served along the line by the HSR
cells (the sector facing them at the nearest track-side site; some events by the nearest
public cell), with a handover every ~30 s, from their own random stream
``rng([seed, 8, card_idx])``. Their batch's stream is still drawn from their highway plan
(then their rows are replaced), so every other card's events stay the same.

Injected faults, each labelled in the truth (`label` column):
- ``pingpong``: a brief hop to a neighbouring site and back within the window (A->B->A);
- ``drift``: a single record at a far site between two close records;
- ``duplicate``: an exact second copy of a row;
- ``malformed:<reason>``: unparseable_time, time_outside_day, empty_user_id,
  oversized_user_id, unknown_cell (the reason ingest must give).
Everything else is ``normal``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from mobsig.synth.config import SynthConfig
from mobsig.synth.timeline import DAY, PLACE_WORK, H, Places, is_hsr_traveller, itinerary

BIG = 1 << 32  # key = card * BIG + seconds; periods are far shorter than 2^32 s
PERIODIC_S = 3600.0
MALFORMED_REASONS = ("unparseable_time", "time_outside_day", "empty_user_id",
                     "oversized_user_id", "unknown_cell")
BAD_TIMES = np.array(["2026-06-31 12:00:00", "not-a-time", "2026/06/01 25:61:00", "1e99",
                      "12:00"])
UNKNOWN_CELL = "460-00-999999-9"
HSR_HANDOVERS_PER_H = 120.0  # on a 300 km/h train a handover every ~30 s on average
HSR_PUBLIC_SHARE = 0.1       # share of a rider's events served by a public cell by the track

EVENT_COLUMNS = ["user_id", "event_time", "cell_id", "event_type", "imei_tac", "home_region",
                 "dt", "label", "true_lon", "true_lat", "is_stay"]


@dataclass
class Network:
    """Sites and cells valid per epoch, for serving-cell lookups."""
    epochs: np.ndarray             # start day of each epoch
    trees: list[cKDTree]           # per epoch, over valid sites
    tree_sites: list[np.ndarray]   # per epoch, site index of each tree point
    site_cells: list[np.ndarray]   # per epoch, (n_sites, 3) cell row index or -1
    site_az: list[np.ndarray]      # per epoch, (n_sites, 3) azimuth (nan = omni)
    site_xy: np.ndarray            # (n_sites, 2)
    cell_ids: np.ndarray           # cell_id per cell row
    hsr: Network | None = None     # the high-speed-rail cells, for riders only


def build_network(cells: pd.DataFrame, sites: pd.DataFrame, epochs: list[int],
                  start: dt.date) -> Network:
    """The public network over ``sites``; cells flagged ``is_hsr`` form a separate network
    (``.hsr``) that serves only HSR riders."""
    from mobsig.synth.city import valid_mask

    hsr = (cells["is_hsr"].fillna(False).to_numpy(bool) if "is_hsr" in cells
           else np.zeros(len(cells), bool))
    hsr_net = None
    if hsr.any():
        hc = cells[hsr].reset_index(drop=True)
        codes, first = np.unique(hc["site_idx"].to_numpy(), return_index=True)
        hsites = pd.DataFrame({"site_idx": np.arange(len(codes)),
                               "x": hc["x"].to_numpy()[first], "y": hc["y"].to_numpy()[first]})
        hc["site_idx"] = np.searchsorted(codes, hc["site_idx"].to_numpy())
        hsr_net = build_network(hc.drop(columns="is_hsr"), hsites, [0], start)
    n_sites = len(sites)
    trees, tree_sites, site_cells, site_az = [], [], [], []
    for e in epochs:
        ok = valid_mask(cells, pd.Timestamp(start + dt.timedelta(days=int(e)))) & ~hsr
        sc = np.full((n_sites, 3), -1, dtype=np.int64)
        az = np.full((n_sites, 3), np.nan)
        fill = np.zeros(n_sites, dtype=np.int64)
        for i in np.flatnonzero(ok):
            s = int(cells["site_idx"].iat[i])
            k = fill[s]
            if k < 3:
                sc[s, k] = i
                az[s, k] = cells["azimuth"].iat[i]
                fill[s] += 1
        live = np.flatnonzero(fill > 0)
        trees.append(cKDTree(sites[["x", "y"]].to_numpy()[live]))
        tree_sites.append(live)
        site_cells.append(sc)
        site_az.append(az)
    return Network(np.asarray(epochs), trees, tree_sites, site_cells, site_az,
                   sites[["x", "y"]].to_numpy(), cells["cell_id"].to_numpy(), hsr_net)


def _serving_cells(net: Network, x: np.ndarray, y: np.ndarray, day: np.ndarray,
                   rank: np.ndarray) -> np.ndarray:
    """Cell row index serving each (x, y) on `day`: site of the given nearest-rank, then
    the sector facing the point."""
    out = np.empty(len(x), dtype=np.int64)
    ep = np.searchsorted(net.epochs, day, side="right") - 1
    for e in np.unique(ep):
        m = np.flatnonzero(ep == e)
        _, nn = net.trees[e].query(np.column_stack([x[m], y[m]]), k=3)
        site = net.tree_sites[e][nn[np.arange(len(m)), np.clip(rank[m], 0, 2)]]
        dx = x[m] - net.site_xy[site, 0]
        dy = y[m] - net.site_xy[site, 1]
        bearing = np.degrees(np.arctan2(dx, dy)) % 360
        az = net.site_az[e][site]
        cand = net.site_cells[e][site]
        diff = np.abs((bearing[:, None] - az + 180) % 360 - 180)
        diff = np.where(np.isnan(az), 0.0, diff)
        diff = np.where(cand < 0, 1e9, diff)
        out[m] = cand[np.arange(len(m)), np.argmin(diff, axis=1)]
    return out


def _far_site_cells(net: Network, x: np.ndarray, y: np.ndarray, day: np.ndarray,
                    rng: np.random.Generator, min_m: float = 12_000) -> np.ndarray:
    out = np.empty(len(x), dtype=np.int64)
    ep = np.searchsorted(net.epochs, day, side="right") - 1
    for i in range(len(x)):
        live = net.tree_sites[ep[i]]
        d = np.hypot(net.site_xy[live, 0] - x[i], net.site_xy[live, 1] - y[i])
        far = live[d >= min_m]
        if len(far) == 0:
            far = live[np.argsort(d)[-10:]]
        s = rng.choice(far)
        c = net.site_cells[ep[i]][s]
        out[i] = c[c >= 0][0]
    return out


def _segments_frame(cards: pd.DataFrame, seed: int, day_types: list[str],
                    weekdays: list[int], places: Places, n_days: int,
                    hsr: bool = True) -> pd.DataFrame:
    rows = []
    for local, card in enumerate(cards.to_dict("records")):
        for s in itinerary(card, seed, day_types, weekdays, places, n_days, hsr=hsr):
            rows.append((local, *s))
    return pd.DataFrame(rows, columns=["card", "t0", "t1", "x0", "y0", "x1", "y1", "is_stay",
                                       "place"])


def truth_stays(cards: pd.DataFrame, seed: int, day_types: list[str], weekdays: list[int],
                places: Places, n_days: int, to_lonlat,
                satellite_places: Places | None = None) -> pd.DataFrame:
    """Ground-truth stays (every stationary segment, any duration) of a batch of cards.
    Cards with ``is_satellite`` true (the satellite city's) follow ``satellite_places``."""
    if satellite_places is not None and "is_satellite" in cards:
        sat = cards["is_satellite"].to_numpy(bool)
        if sat.any():
            parts = [truth_stays(cards[m].reset_index(drop=True), seed, day_types, weekdays,
                                 p, n_days, to_lonlat)
                     for m, p in ((~sat, places), (sat, satellite_places)) if m.any()]
            return pd.concat(parts, ignore_index=True)
    seg = _segments_frame(cards, seed, day_types, weekdays, places, n_days)
    seg = seg[seg["is_stay"]]
    lon, lat = to_lonlat(seg["x0"].to_numpy(), seg["y0"].to_numpy())
    from mobsig.synth.timeline import PLACE_NAMES

    return pd.DataFrame({
        "user_id": cards["user_id"].to_numpy()[seg["card"].to_numpy()],
        "t0_s": seg["t0"].to_numpy(), "t1_s": seg["t1"].to_numpy(),
        "lon": lon, "lat": lat,
        "place": [PLACE_NAMES.get(int(p), "other") for p in seg["place"]],
    })


def _events_for_batch(cards: pd.DataFrame, cfg: SynthConfig, net: Network, places: Places,
                      day_types: list[str], weekdays: list[int], to_lonlat) -> pd.DataFrame:
    n_days = cfg.days
    # HSR riders take their highway plan here; their rows are replaced at the end
    seg = _segments_frame(cards, cfg.seed, day_types, weekdays, places, n_days, hsr=False)
    if seg.empty:
        return pd.DataFrame(columns=EVENT_COLUMNS)
    # one rng per batch, seeded by its first card: deterministic for a given batching
    rng = np.random.default_rng([cfg.seed, 5, int(cards["card_idx"].iloc[0]), len(cards)])
    card_rate = cards["rate"].to_numpy()
    kind = cards["kind"].to_numpy()
    human = cards["is_human"].to_numpy().astype(bool)
    sc = seg["card"].to_numpy()
    t0, t1 = seg["t0"].to_numpy(), seg["t1"].to_numpy()
    is_stay = seg["is_stay"].to_numpy().astype(bool)
    dur = t1 - t0
    times, etype, segi = [], [], []

    # -- humans: activity events thinned by time of day, bursts, handovers, attach/detach
    hs = np.flatnonzero(human[sc])
    lam = 4.0 * card_rate[sc[hs]] * dur[hs] / H
    n = rng.poisson(lam)
    idx = np.repeat(hs, n)
    t = t0[idx] + rng.random(idx.size) * dur[idx]
    hour = (t % DAY) / H
    keep = rng.random(t.size) < np.where((hour >= 7) & (hour < 23), 1.0, 0.08)
    idx, t = idx[keep], t[keep]
    times.append(t)
    segi.append(idx)
    etype.append(rng.choice(np.array(["data", "data", "data", "call", "sms"]), t.size))
    burst = rng.random(t.size) < 0.25
    k = np.where(burst, rng.integers(1, 4, t.size), 0)
    bidx = np.repeat(idx, k)
    bt = np.repeat(t, k) + rng.uniform(5, 90, bidx.size) * (1 + _ranks(k))
    ok = bt < t1[bidx]
    times.append(bt[ok])
    segi.append(bidx[ok])
    etype.append(np.full(ok.sum(), "data"))
    tr = hs[~is_stay[hs]]
    n = rng.poisson(12.0 * dur[tr] / H)
    idx = np.repeat(tr, n)
    times.append(t0[idx] + rng.random(idx.size) * dur[idx])
    segi.append(idx)
    etype.append(np.full(idx.size, "handover"))
    # presence windows: contiguous runs of segments per card
    new_win = np.ones(len(seg), bool)
    new_win[1:] = (sc[1:] != sc[:-1]) | (t0[1:] > t1[:-1] + 1)
    win = np.cumsum(new_win) - 1
    starts = np.flatnonzero(new_win)
    ends = np.r_[starts[1:], len(seg)] - 1
    hw = human[sc[starts]]
    times.append(t0[starts[hw]] + 1)
    segi.append(starts[hw])
    etype.append(np.full(hw.sum(), "attach"))
    end_t = np.minimum(t1[ends[hw]] - 1, n_days * DAY - 1)
    times.append(end_t)
    segi.append(ends[hw])
    etype.append(np.full(hw.sum(), "detach"))

    # -- machines: regular cadence (meters, trackers) or an impossible rate (heavy)
    for c in np.flatnonzero(~human):
        cs = np.flatnonzero(sc == c)
        a, b = t0[cs].min(), t1[cs].max()
        if kind[c] == "heavy":
            m = int(cfg.heavy_events_per_day * (b - a) / DAY)
            tt = np.sort(a + rng.random(m) * (b - a))
        else:
            period = 300.0 if kind[c] == "iot_tracker" else float(
                rng.choice([300.0, 600.0, 900.0, 1800.0]))
            tt = a + rng.uniform(0, period) + np.arange(0, (b - a) / period) * period
            tt = tt[tt < b] + rng.uniform(-1, 1, (tt < b).sum())
        j = np.clip(np.searchsorted(t0[cs], tt, side="right") - 1, 0, len(cs) - 1)
        times.append(tt)
        segi.append(cs[j])
        etype.append(np.full(tt.size, "data"))

    t = np.concatenate(times)
    si = np.concatenate(segi)
    et = np.concatenate(etype)
    order = np.lexsort((t, sc[si]))
    t, si, et = t[order], si[order], et[order]

    # -- periodic updates filling idle gaps inside a window (humans)
    same = (win[si][1:] == win[si][:-1]) & human[sc[si]][1:]
    gap = np.diff(t)
    nfill = np.where(same, np.floor((gap - 120) / PERIODIC_S), 0).astype(np.int64)
    nfill = np.clip(nfill, 0, None)
    if nfill.sum():
        base = np.repeat(t[:-1], nfill)
        kk = 1 + _ranks(nfill)
        ft = base + kk * PERIODIC_S + rng.uniform(-60, 60, base.size)
        fcard = np.repeat(sc[si][:-1], nfill)
        # the segment at each fill time
        seg_key = sc.astype(np.int64) * BIG + t0.astype(np.int64)
        fs = np.searchsorted(seg_key, fcard.astype(np.int64) * BIG + ft.astype(np.int64),
                             side="right") - 1
        t = np.concatenate([t, ft])
        si = np.concatenate([si, fs])
        et = np.concatenate([et, np.full(ft.size, "periodic_update")])
        order = np.lexsort((t, sc[si]))
        t, si, et = t[order], si[order], et[order]

    # -- phone off at night for a few people: switched off in bed, not at work (a night-shift
    # worker's phone stays on through the shift; nobody else is at work in these hours)
    off = cards["phone_off_nights"].to_numpy().astype(bool)[sc[si]]
    tod = t % DAY
    at_work = seg["place"].to_numpy()[si] == PLACE_WORK
    drop = off & (tod >= 0.5 * H) & (tod < 6.5 * H) & ~at_work
    t, si, et = t[~drop], si[~drop], et[~drop]
    region_rng = None
    if "card_mode" in cards:  # the region profile: sleeping phones, second cards' timing
        from mobsig.synth import region

        region_rng = np.random.default_rng([cfg.seed, region.REGION_STREAM, 5,
                                            int(cards["card_idx"].iloc[0]), len(cards)])
        keep = region.keep_events(cards, sc[si], t, seg["place"].to_numpy()[si], region_rng)
        t, si, et = t[keep], si[keep], region.data_only(cards, sc[si[keep]], et[keep])

    # -- true position of each event
    card = sc[si]
    frac = np.where(dur[si] > 0, np.clip((t - t0[si]) / np.maximum(dur[si], 1e-9), 0, 1), 0)
    x = seg["x0"].to_numpy()[si] + frac * (seg["x1"].to_numpy()[si] - seg["x0"].to_numpy()[si])
    y = seg["y0"].to_numpy()[si] + frac * (seg["y1"].to_numpy()[si] - seg["y0"].to_numpy()[si])
    stay_ev = is_stay[si]
    jit = np.where(stay_ev & human[card], 15.0, 0.0)
    x = x + rng.normal(0, 1, x.size) * jit
    y = y + rng.normal(0, 1, y.size) * jit
    day = np.clip((t // DAY).astype(np.int64), 0, n_days - 1)
    # serving-site rank: a stay keeps a dominant site, with occasional neighbours
    dom = np.where(rng.random(len(seg)) < 0.8, 0, 1)
    rank = np.where(stay_ev, dom[si], 0)
    flip = rng.random(t.size) < np.where(stay_ev, 0.1, 0.15)
    rank = np.where(flip & human[card], rng.integers(0, 3, t.size), rank)
    rank = np.where(human[card], rank, 0)
    cell = _serving_cells(net, x, y, day, rank)
    if region_rng is not None:  # stay events hopping between the sectors of their mast
        cell = region.sector_flips(net, cell, day, stay_ev & human[card], region_rng)
    label = np.full(t.size, "normal", dtype=object)

    # -- injected ping-pong: A -> B -> A within the window
    pp = np.flatnonzero(stay_ev & human[card] & (rng.random(t.size) < cfg.pingpong_rate))
    if pp.size:
        d1 = rng.uniform(5, 60, pp.size)
        d2 = rng.uniform(5, 90, pp.size)
        alt_rank = np.where(rank[pp] == 0, 1, 0)
        b_cell = _serving_cells(net, x[pp], y[pp], day[pp], alt_rank)
        t = np.concatenate([t, t[pp] + d1, t[pp] + d1 + d2])
        cell = np.concatenate([cell, b_cell, cell[pp]])
        si = np.concatenate([si, si[pp], si[pp]])
        x = np.concatenate([x, x[pp], x[pp]])
        y = np.concatenate([y, y[pp], y[pp]])
        et = np.concatenate([et, np.full(pp.size, "handover"), np.full(pp.size, "handover")])
        label = np.concatenate([label, np.full(pp.size, "pingpong", dtype=object),
                                np.full(pp.size, "normal", dtype=object)])
    # -- injected drift: one far record between two close records
    stay_ev = is_stay[si]
    card = sc[si]
    dr = np.flatnonzero(stay_ev & human[card] & (label == "normal")
                        & (rng.random(t.size) < cfg.drift_per_day / 100.0))
    if dr.size:
        day_dr = np.clip((t[dr] // DAY).astype(np.int64), 0, n_days - 1)
        d1 = rng.uniform(10, 30, dr.size)
        d2 = rng.uniform(10, 30, dr.size)
        far = _far_site_cells(net, x[dr], y[dr], day_dr, rng)
        t = np.concatenate([t, t[dr] + d1, t[dr] + d1 + d2])
        cell = np.concatenate([cell, far, cell[dr]])
        si = np.concatenate([si, si[dr], si[dr]])
        x = np.concatenate([x, x[dr], x[dr]])
        y = np.concatenate([y, y[dr], y[dr]])
        et = np.concatenate([et, np.full(dr.size, "data"), np.full(dr.size, "data")])
        label = np.concatenate([label, np.full(dr.size, "drift", dtype=object),
                                np.full(dr.size, "normal", dtype=object)])
    card = sc[si]
    keep = (t >= 0) & (t < n_days * DAY)  # jittered machine events stay in the period
    t, si, x, y, et, label, cell, card = (a[keep] for a in (t, si, x, y, et, label, cell, card))
    order = np.lexsort((t, card))
    t, si, x, y, et, label, cell, card = (a[order] for a in (t, si, x, y, et, label, cell, card))

    # -- rows
    with_ms = rng.random(t.size) < 0.2
    ev_time = _time_text(t, with_ms, cfg.start_date)
    day = (t // DAY).astype(np.int64)
    days_str = _day_texts(cfg.start_date, n_days)
    folder = days_str[day].astype(object)
    lon, lat = to_lonlat(x, y)
    df = pd.DataFrame({
        "user_id": cards["user_id"].to_numpy()[card],
        "event_time": ev_time,
        "cell_id": net.cell_ids[cell],
        "event_type": et.astype(object),
        "imei_tac": cards["tac"].to_numpy()[card],
        "home_region": cards["home_region"].to_numpy()[card],
        "dt": folder, "label": label, "true_lon": lon, "true_lat": lat,
        "is_stay": is_stay[si],
    })
    # -- malformed rows (replace the row's content; the true event is lost)
    bad = np.flatnonzero(rng.random(len(df)) < cfg.malformed_share)
    bad = bad[df["label"].to_numpy()[bad] == "normal"]
    if bad.size:
        reason = np.array(MALFORMED_REASONS)[rng.integers(0, len(MALFORMED_REASONS), bad.size)]
        if n_days < 2:
            reason[reason == "time_outside_day"] = "unparseable_time"
        col = df.columns.get_loc
        for r in MALFORMED_REASONS:
            rows = bad[reason == r]
            if not rows.size:
                continue
            if r == "unparseable_time":
                df.iloc[rows, col("event_time")] = BAD_TIMES[rng.integers(0, len(BAD_TIMES),
                                                                          rows.size)]
            elif r == "time_outside_day":
                cur = np.searchsorted(days_str, df["dt"].to_numpy()[rows].astype(str))
                other = np.where(cur + 1 < n_days, cur + 1, cur - 1)
                df.iloc[rows, col("dt")] = days_str[other]
            elif r == "empty_user_id":
                df.iloc[rows, col("user_id")] = ""
            elif r == "oversized_user_id":
                df.iloc[rows, col("user_id")] = [str(u) * 3 for u in
                                                  df["user_id"].to_numpy()[rows]]
            elif r == "unknown_cell":
                df.iloc[rows, col("cell_id")] = UNKNOWN_CELL
            df.iloc[rows, col("label")] = "malformed:" + r
    # -- exact duplicates
    dup = (rng.random(len(df)) < cfg.duplicate_share) & (df["label"].to_numpy() == "normal")
    dups = df[dup].copy()
    dups["label"] = "duplicate"
    df = pd.concat([df, dups], ignore_index=True)
    riders = np.array([is_hsr_traveller(cfg.seed, c) for c in cards.to_dict("records")], bool)
    if riders.any():
        df = df[~df["user_id"].isin(cards["user_id"].to_numpy()[riders])]
        df = pd.concat([df, _hsr_ride_events(cards[riders], cfg, net, places, day_types,
                                             weekdays, to_lonlat)], ignore_index=True)
    return df


def _time_text(t: np.ndarray, with_ms: np.ndarray, start_date: dt.date) -> np.ndarray:
    """``yyyy-MM-dd HH:mm:ss[.SSS]`` of seconds since the first day's midnight."""
    start = np.datetime64(start_date.isoformat(), "ms")
    stamp = start + (t * 1000).astype("int64").astype("timedelta64[ms]")
    s_sec = np.datetime_as_string(stamp, unit="s")
    s_ms = np.datetime_as_string(stamp, unit="ms")
    return np.char.replace(np.where(with_ms, s_ms, s_sec), "T", " ").astype(object)


def _day_texts(start_date: dt.date, n_days: int) -> np.ndarray:
    return np.array([(start_date + dt.timedelta(days=int(i))).isoformat()
                     for i in range(n_days)])


def _hsr_ride_events(cards: pd.DataFrame, cfg: SynthConfig, net: Network, places: Places,
                     day_types: list[str], weekdays: list[int], to_lonlat) -> pd.DataFrame:
    """Events of HSR riders along their ride: attach where they enter the area, handovers
    (~HSR_HANDOVERS_PER_H) and a few activity events on the way, detach where they leave;
    served by the HSR cell facing them (or, HSR_PUBLIC_SHARE of them, the nearest public
    cell). Labelled ``normal``; one random stream per card."""
    assert net.hsr is not None, "HSR riders need the HSR cells in the network"
    frames = []
    days_str = _day_texts(cfg.start_date, cfg.days)
    for card in cards.to_dict("records"):
        rng = np.random.default_rng([cfg.seed, 8, int(card["card_idx"])])
        for t0, t1, x0, y0, x1, y1, _, _ in itinerary(card, cfg.seed, day_types, weekdays,
                                                       places, cfg.days):
            dur = t1 - t0
            n_ho = int(rng.poisson(HSR_HANDOVERS_PER_H * dur / H))
            n_act = int(rng.poisson(4.0 * card["rate"] * dur / H))
            t = np.concatenate([[t0 + 1.0], t0 + rng.random(n_ho + n_act) * dur, [t1 - 1.0]])
            et = np.concatenate([["attach"], np.full(n_ho, "handover"),
                                 rng.choice(np.array(["data", "data", "call", "sms"]), n_act),
                                 ["detach"]]).astype(object)
            order = np.argsort(t, kind="stable")
            t, et = t[order], et[order]
            frac = (t - t0) / dur
            x, y = x0 + frac * (x1 - x0), y0 + frac * (y1 - y0)
            day = np.clip((t // DAY).astype(np.int64), 0, cfg.days - 1)
            first = np.zeros(t.size, np.int64)
            hsr_cell = net.hsr.cell_ids[_serving_cells(net.hsr, x, y, day, first)]
            public_cell = net.cell_ids[_serving_cells(net, x, y, day, first)]
            public = rng.random(t.size) < HSR_PUBLIC_SHARE
            lon, lat = to_lonlat(x, y)
            frames.append(pd.DataFrame({
                "user_id": card["user_id"],
                "event_time": _time_text(t, rng.random(t.size) < 0.2, cfg.start_date),
                "cell_id": np.where(public, public_cell, hsr_cell),
                "event_type": et, "imei_tac": card["tac"], "home_region": card["home_region"],
                "dt": days_str[day].astype(object), "label": "normal",
                "true_lon": lon, "true_lat": lat, "is_stay": False,
            }))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=EVENT_COLUMNS)


CHUNK = 64  # cards per generation chunk: chunk = card_idx // CHUNK


def events_for_cards(cards: pd.DataFrame, cfg: SynthConfig, net: Network, places: Places,
                     day_types: list[str], weekdays: list[int], to_lonlat,
                     satellite: tuple[Network, Places] | None = None):
    """Yield the events of a set of cards chunk by chunk (bounded memory).

    Chunks are fixed by card index (``card_idx // CHUNK``), and each chunk's random
    stream is seeded by its first card, so the output does not depend on how the cards
    are split over Spark partitions (as long as a chunk stays in one partition).
    ``satellite``: the network and places of the satellite city's cards (``is_satellite``
    true; they start a chunk of their own, so no other chunk changes).
    """
    cards = cards.sort_values("card_idx")
    for _, part in cards.groupby(cards["card_idx"].to_numpy() // CHUNK, sort=True):
        use_net, use_places = net, places
        if satellite is not None and "is_satellite" in part:
            sat = part["is_satellite"].to_numpy(bool)
            assert sat.all() or not sat.any(), "a chunk mixes satellite and main cards"
            if sat.all():
                use_net, use_places = satellite
        yield _events_for_batch(part.reset_index(drop=True), cfg, use_net, use_places,
                                day_types, weekdays, to_lonlat)


def _ranks(k: np.ndarray) -> np.ndarray:
    """For counts k, the rank 0..k_i-1 of each element of np.repeat(..., k)."""
    k = np.asarray(k, dtype=np.int64)
    total = int(k.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    return np.arange(total) - np.repeat(np.cumsum(k) - k, k)
