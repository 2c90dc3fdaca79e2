"""Report-conditioned chest-radiograph PHANTOMS. SYNTHETIC TEST DATA, NOT MEDICAL IMAGES.

A deterministic numpy renderer of grey-scale images that look *like* frontal (or lateral) chest
radiographs and whose visible content follows a study's CheXpert labels. They exist so that the
CPU demo and the tests have a world whose truth is known; they must never be presented as, or
mixed with, real radiographs.

Conventions
- Images are 8-bit grey ``"L"`` PIL images, square, ``size`` pixels; bright = dense (bone, metal).
- Radiological orientation: the PATIENT's right is on the IMAGE's left. ``laterality`` values
  ``"left"``/``"right"`` are the patient's side; ``"bilateral"`` draws both sides.
- Geometry is in normalised image coordinates ``x, y`` in [0, 1] (x to the image right, y down);
  the whole scene (anatomy and findings) is drawn in a jittered frame (shift, scale, rotation).
- Labels: dict CheXpert label -> ``present`` | ``uncertain`` | ``absent`` (unmentioned = absent).
  ``present`` draws the finding's signature clearly; ``uncertain`` draws it SUBTLE (about 40 %
  of the size/contrast, e.g. a borderline cardiothoracic ratio ~0.50, a thin pneumothorax rim,
  a blunted costophrenic angle only); ``absent`` draws nothing.
- Determinism: the same ``(labels, seed, size, view, laterality)`` gives identical pixels. Anatomy,
  exposure and noise depend on ``seed`` only, and each finding has its own random stream, so
  toggling one label changes only that finding's region (plus the anatomy it moves, e.g.
  atelectasis raises its hemidiaphragm).

Finding signatures (frontal): Cardiomegaly: heart width / thorax width (CTR) 0.55-0.66 vs
0.38-0.46; Enlarged Cardiomediastinum: upper mediastinum ~1.8x wider; Pleural Effusion: white
meniscus filling the costophrenic angle; Pneumothorax: apical-lateral black crescent without lung
markings bounded by a bright visceral pleural line; Lung Opacity: hazy patches; Pneumonia:
clustered patchy dense blobs; Consolidation: dense lobar fill with a sharp fissure edge and dark
air bronchograms; Atelectasis: plate-like dense band + raised hemidiaphragm + mediastinal shift;
Edema: bilateral perihilar haze + Kerley-B-like short horizontal lines; Lung Lesion: 1-2 round
nodules/masses; Fracture: 1-3 adjacent posterior ribs with a gap and a step; Support Devices:
1-3 of ET tube, NG tube, central line, pacemaker with leads, sternotomy wires; Pleural Other:
lateral pleural thickening band.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from cxreason.vocab import ABSENT, FINDING_LABELS, PRESENT, UNCERTAIN

#: Strength of a finding drawn for each status (1 = full signature).
STATUS_STRENGTH = {PRESENT: 1.0, UNCERTAIN: 0.4, ABSENT: 0.0}
#: Side of each lung in image coordinates: +1 = image right = patient LEFT.
SIDE_SIGN = {"right": -1, "left": +1}
LATERALISED = (
    "Lung Opacity",
    "Lung Lesion",
    "Consolidation",
    "Pneumonia",
    "Atelectasis",
    "Pneumothorax",
    "Pleural Effusion",
    "Pleural Other",
    "Fracture",
)
NORMAL_CTR = (0.38, 0.46)
ENLARGED_CTR = (0.55, 0.66)
_LUNG_AIR = 0.3  # density removed by lung air (before opacities fill it)


@dataclass
class Lung:
    """One lung field (SYNTHETIC): ellipse (cx, cy, rx, ry) cut by a diaphragm dome
    ``y = d0 + dk * ((x - cx) / rx) ** 2``; ``side`` is +1 (image right, patient left) or -1."""

    side: int
    cx: float
    cy: float
    rx: float
    ry: float
    d0: float
    dk: float

    @property
    def lateral_x(self) -> float:
        return self.cx + self.side * self.rx


@dataclass
class Anatomy:
    """Jittered normal anatomy of one phantom (SYNTHETIC TEST DATA); normalised coordinates."""

    mid: float
    lungs: dict[int, Lung]
    heart_cy: float
    heart_shift: float  # heart centre offset from midline toward the image right
    ctr: float  # cardiothoracic ratio: heart width / thorax width
    med_hw: float  # upper-mediastinum half width
    rib_y0: float
    rib_dy: float
    rib_curve: float
    rib_th: float
    angle_deg: float
    scale: float
    shift: tuple[float, float]
    contrast: float
    brightness: float
    gamma: float
    noise: float
    med_shift: float = 0.0  # heart + mediastinum shift (volume loss pulls them to that side)

    @property
    def thorax_width(self) -> float:
        return self.lungs[+1].lateral_x - self.lungs[-1].lateral_x

    @property
    def heart_hw(self) -> float:
        return self.ctr * self.thorax_width / 2

    @property
    def heart_hh(self) -> float:
        return 0.13 + 0.2 * self.heart_hw

    @property
    def heart_cx(self) -> float:
        return self.mid + self.med_shift + self.heart_shift * self.heart_hw


@dataclass
class Finding:
    """One finding to draw: label, strength in (0, 1], sides (+1/-1), its own random seed."""

    label: str
    strength: float
    sides: tuple[int, ...]
    seed: tuple[int, int]


@dataclass
class Scene:
    """Everything needed to draw one phantom (SYNTHETIC TEST DATA)."""

    anatomy: Anatomy
    findings: dict[str, Finding] = field(default_factory=dict)
    view: str = "frontal"
    seed: int = 0


# ------------------------------------------------------------------ scene sampling


def make_scene(
    labels: Mapping[str, str],
    seed: int,
    view: str = "frontal",
    laterality: Mapping[str, str] | None = None,
) -> Scene:
    """Sample the anatomy (from ``seed`` only) and the findings to draw. SYNTHETIC TEST DATA.

    ``seed`` is any integer (taken modulo 2**64). Unknown label names raise ``ValueError``;
    statuses must be present|uncertain|absent.
    """
    if view not in ("frontal", "lateral"):
        raise ValueError(f"view must be 'frontal' or 'lateral', got {view!r}")
    laterality = dict(laterality or {})
    for lb, st in labels.items():
        if lb not in FINDING_LABELS and lb != "No Finding":
            raise ValueError(f"unknown CheXpert label {lb!r}")
        if st not in STATUS_STRENGTH:
            raise ValueError(f"status of {lb!r} must be present|uncertain|absent, got {st!r}")
    seed = int(seed) % (1 << 64)  # any integer (negative, 64-bit hashes) is a valid seed
    anat = _sample_anatomy(np.random.default_rng([seed, 0]))
    findings: dict[str, Finding] = {}
    for k, lb in enumerate(FINDING_LABELS, 1):
        strength = STATUS_STRENGTH[labels.get(lb, ABSENT)]
        if strength <= 0:
            continue
        fseed = (seed, 100 + k)
        sides = _sides(lb, laterality.get(lb), np.random.default_rng([seed, 200 + k]))
        findings[lb] = Finding(lb, strength, sides, fseed)
    scene = Scene(anat, findings, view, seed)
    _apply_anatomy_changes(scene)
    return scene


def _sample_anatomy(rng: np.random.Generator) -> Anatomy:
    u = rng.uniform
    mid = 0.5 + u(-0.015, 0.015)
    half = u(0.33, 0.37)  # half thorax width
    cy, ry = u(0.46, 0.50), u(0.31, 0.35)
    lungs = {}
    for side in (-1, +1):
        rx = u(0.165, 0.185)
        cx = mid + side * (half - rx)
        d0 = cy + ry * u(0.52, 0.62) + (0.0 if side > 0 else -0.02)
        lungs[side] = Lung(side, cx, cy + u(-0.01, 0.01), rx, ry, d0, u(0.08, 0.12))
    return Anatomy(
        mid=mid,
        lungs=lungs,
        heart_cy=u(0.57, 0.61),
        heart_shift=u(0.15, 0.3),
        ctr=u(*NORMAL_CTR),
        med_hw=u(0.055, 0.068),
        rib_y0=u(0.1, 0.13),
        rib_dy=u(0.062, 0.07),
        rib_curve=u(0.1, 0.14),
        rib_th=u(0.022, 0.028),
        angle_deg=u(-4, 4),
        scale=u(0.94, 1.05),
        shift=(u(-0.03, 0.03), u(-0.03, 0.03)),
        contrast=u(0.85, 1.15),
        brightness=u(-0.05, 0.05),
        gamma=u(0.8, 1.25),
        noise=u(0.012, 0.03),
    )


def _sides(label: str, lat: str | None, rng: np.random.Generator) -> tuple[int, ...]:
    if label not in LATERALISED:
        return ()
    lat = (lat or "").strip().lower()
    if lat not in ("", "unknown", "unspecified"):
        if lat in ("bilateral", "both"):
            return (-1, +1)
        if lat not in SIDE_SIGN:
            raise ValueError(f"laterality of {label!r} must be left|right|bilateral, got {lat!r}")
        return (SIDE_SIGN[lat],)
    if label in ("Pleural Effusion", "Lung Opacity") and rng.random() < 0.25:
        return (-1, +1)
    return (int(rng.choice([-1, 1])),)


def _apply_anatomy_changes(scene: Scene) -> None:
    """Findings that move anatomy: heart size, mediastinal width, atelectatic volume loss."""
    a = scene.anatomy
    f = scene.findings
    if "Cardiomegaly" in f:
        rng = np.random.default_rng(f["Cardiomegaly"].seed)
        target = rng.uniform(*ENLARGED_CTR)
        a.ctr = a.ctr + f["Cardiomegaly"].strength * (target - a.ctr)
    if "Enlarged Cardiomediastinum" in f:
        rng = np.random.default_rng(f["Enlarged Cardiomediastinum"].seed)
        a.med_hw = a.med_hw * (1 + f["Enlarged Cardiomediastinum"].strength * rng.uniform(0.9, 1.2))
    if "Atelectasis" in f:
        fa = f["Atelectasis"]
        for s in fa.sides:
            lung = a.lungs[s]
            a.lungs[s] = replace(lung, d0=lung.d0 - 0.05 * fa.strength)
        if len(fa.sides) == 1:
            a.med_shift += 0.02 * fa.strength * fa.sides[0]


# ------------------------------------------------------------------ drawing helpers


def _soft(d: np.ndarray, w: float) -> np.ndarray:
    """Soft inside-mask of a signed distance ``d`` (negative inside), edge width ``w``."""
    return 0.5 - 0.5 * np.tanh(d / (2.0 * w))


def _ellipse_sd(x, y, cx, cy, rx, ry) -> np.ndarray:
    """Approximate signed distance to an ellipse (negative inside), normalised units."""
    r = np.sqrt(((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2)
    return (r - 1.0) * min(rx, ry)


def _polyline_dist(x, y, pts: Sequence[tuple[float, float]], reach: float = 0.05) -> np.ndarray:
    """Distance from each grid point to a polyline through ``pts`` (exact within ``reach`` of
    the polyline's bounding box, a large value farther away)."""
    p = np.asarray(pts, dtype=np.float32)
    sel = (x > p[:, 0].min() - reach) & (x < p[:, 0].max() + reach)
    sel &= (y > p[:, 1].min() - reach) & (y < p[:, 1].max() + reach)
    out = np.full(x.shape, 1.0, dtype=np.float32)
    xs, ys = x[sel], y[sel]
    best = np.full(xs.shape, np.inf, dtype=np.float32)
    for (x0, y0), (x1, y1) in zip(p[:-1], p[1:], strict=False):
        dx, dy = x1 - x0, y1 - y0
        t = np.clip(((xs - x0) * dx + (ys - y0) * dy) / max(dx * dx + dy * dy, 1e-12), 0, 1)
        np.minimum(best, np.hypot(xs - (x0 + t * dx), ys - (y0 + t * dy)), out=best)
    out[sel] = best
    return out


def _bezier(p0, p1, p2, n: int = 8) -> list[tuple[float, float]]:
    t = np.linspace(0, 1, n)
    pts = [(1 - t) ** 2 * p0[i] + 2 * (1 - t) * t * p1[i] + t**2 * p2[i] for i in (0, 1)]
    return list(zip(pts[0].tolist(), pts[1].tolist(), strict=True))


def _smooth_noise(rng: np.random.Generator, n: int, cells: int) -> np.ndarray:
    """Band-limited noise (about unit std) on an ``n x n`` grid, ``cells`` features across."""
    small = rng.standard_normal((cells, cells)).astype(np.float32)
    big = Image.fromarray(small, mode="F").resize((n, n), Image.BICUBIC)
    return np.asarray(big, dtype=np.float32)


def _grid(n: int, a: Anatomy) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates mapped into the jittered scene frame (rotation, scale, shift)."""
    c = (np.arange(n, dtype=np.float32) + 0.5) / n
    x, y = np.meshgrid(c, c)
    th = math.radians(a.angle_deg)
    xs, ys = x - 0.5 - a.shift[0], y - 0.5 - a.shift[1]
    xr = (math.cos(th) * xs + math.sin(th) * ys) / a.scale + 0.5
    yr = (-math.sin(th) * xs + math.cos(th) * ys) / a.scale + 0.5
    return xr.astype(np.float32), yr.astype(np.float32)


# ------------------------------------------------------------------ frontal view


@dataclass
class _Layers:
    """Working arrays while drawing a frontal phantom."""

    x: np.ndarray
    y: np.ndarray
    w: float  # soft-edge width (about half a pixel)
    lung: dict[int, np.ndarray]
    fill: np.ndarray  # 0..1 how much lung air is replaced by fluid/tissue
    extra: np.ndarray  # additive density (bone, metal, lines)
    markings_keep: np.ndarray  # 1 where lung markings are visible
    lucent: np.ndarray  # extra lucency (pneumothorax)


def _lung_mask(x, y, lung: Lung, w: float) -> np.ndarray:
    sd = _ellipse_sd(x, y, lung.cx, lung.cy, lung.rx, lung.ry)
    dome = lung.d0 + lung.dk * ((x - lung.cx) / lung.rx) ** 2
    return _soft(sd, w) * _soft(y - dome, w)


def _render_frontal(scene: Scene, n: int) -> np.ndarray:
    a = scene.anatomy
    x, y = _grid(n, a)
    w = 0.6 / n
    rng = np.random.default_rng([scene.seed, 1])
    lung = {s: _lung_mask(x, y, a.lungs[s], w) for s in (-1, 1)}
    z = np.zeros_like(x)
    lay = _Layers(x, y, w, lung, z.copy(), z.copy(), np.ones_like(x), z.copy())
    for label, f in scene.findings.items():
        _DRAW[label](lay, a, f)
    half = a.thorax_width / 2
    bx = half + 0.075
    body_sd = np.maximum((np.abs(x - a.mid) / bx) ** 4 + ((y - 0.66) / 0.58) ** 4 - 1, -1) * 0.1
    neck = _soft(np.abs(x - a.mid) - 0.1, w) * _soft(y - 0.2, w)
    body = np.maximum(_soft(body_sd, w), neck)
    thick = body * (0.55 + 0.45 * np.sqrt(np.clip(1 - ((x - a.mid) / bx) ** 2, 0, 1)))
    thorax = np.maximum(
        *(
            _soft(_ellipse_sd(x, y, lg.cx, lg.cy, lg.rx + 0.03, lg.ry + 0.02), w * 4)
            for lg in a.lungs.values()
        )
    )
    heart = _soft(_ellipse_sd(x, y, a.heart_cx, a.heart_cy, a.heart_hw, a.heart_hh), w)
    mx = a.mid + a.med_shift
    knob = _soft(_ellipse_sd(x, y, mx + a.med_hw * 0.9, 0.33, 0.035, 0.03), w)
    med = _soft(np.abs(x - mx) - a.med_hw, w) * _soft(y - a.heart_cy, w)
    soft_tissue = np.maximum(np.maximum(heart, med), knob)
    lungs = np.maximum(lung[-1], lung[1])
    air = lungs * (1 - soft_tissue) * (1 - np.clip(lay.fill, 0, 1))
    tex = _smooth_noise(rng, n, 10)
    markings = _markings(x, y, a, tex) * lungs * (1 - soft_tissue) * lay.markings_keep
    bones = _ribs(x, y, a, w, scene.findings.get("Fracture")) * thorax * (0.4 + 0.6 * lungs)
    bones += _clavicles(x, y, a, w) + _spine(x, y, a, w)
    dens = 0.03 + 0.5 * thick - _LUNG_AIR * air + 0.1 * markings * (1 - np.clip(lay.fill, 0, 1))
    dens += 0.085 * bones + lay.extra - 0.18 * lay.lucent * lungs
    dens += 0.02 * _smooth_noise(rng, n, 5) * body  # soft-tissue thickness variation
    return _expose(dens, a, rng, n)


def _markings(x, y, a: Anatomy, tex: np.ndarray) -> np.ndarray:
    """Vessel-like lines radiating from the hila, fading outward (0..1)."""
    out = np.zeros_like(x)
    for s in (-1, 1):
        hx, hy = a.mid + s * 0.1, 0.47
        r = np.hypot(x - hx, y - hy)
        th = np.arctan2(y - hy, (x - hx) * s)
        v = np.clip(np.cos(14 * th + 2.5 * tex + 9 * r), 0, 1) ** 4
        out = np.maximum(out, v * np.exp(-r / 0.22))
    return out


def _ribs(x, y, a: Anatomy, w: float, fracture: Finding | None) -> np.ndarray:
    """Posterior ribs: periodic bands in a curved coordinate, per side (0..1); fractured ribs
    get a lucent gap, a step and a brighter fusiform callus beside the gap."""
    out = np.zeros_like(x)
    half = a.thorax_width / 2
    nrib = 10
    for s in (-1, 1):
        t = (x - a.mid) * s / half
        u = y - (-0.03 * t + a.rib_curve * t**2)
        k = np.floor((u - a.rib_y0) / a.rib_dy)
        th, gain, gap = a.rib_th, 1.0, 0.0
        if fracture is not None and s in fracture.sides:
            u, gap, callus = _fracture_shift(t, u, k, fracture, a)
            th = a.rib_th * (1 + 0.9 * callus)
            gain = 1 + 1.2 * callus
        phase = (u - a.rib_y0) / a.rib_dy - k
        d = np.abs(phase - 0.5) * a.rib_dy - th / 2
        band = _soft(d, w) * (k >= 0) * (k < nrib) * gain
        out = np.maximum(out, band * _soft(np.abs(t - 0.58) - 0.5, w * 3) * (1 - gap))
    return out


def _fracture_shift(t, u, k, f: Finding, a: Anatomy):
    """(shifted u, gap mask, callus mask) for fractured ribs at lateral position ``tf``."""
    rng = np.random.default_rng(f.seed)
    tf = rng.uniform(0.5, 0.8)
    first = int(rng.integers(2, 5))
    count = int(rng.integers(2, 4)) if f.strength >= 1 else 1
    hit = (k >= first) & (k < first + count)
    u = u - 1.2 * a.rib_th * f.strength * (hit & (t > tf))
    gap_w = 0.14 * max(f.strength, 0.5)
    dt = np.abs(t - tf)
    gap = (hit & (dt < gap_w / 2)).astype(np.float32)
    callus = (hit & (dt >= gap_w / 2) & (dt < gap_w * 1.6)).astype(np.float32) * f.strength
    return u, gap, callus


def _clavicles(x, y, a: Anatomy, w: float) -> np.ndarray:
    out = np.zeros_like(x)
    for s in (-1, 1):
        pts = _bezier((a.mid + s * 0.05, 0.19), (a.mid + s * 0.2, 0.17), (a.mid + s * 0.38, 0.1), 6)
        out = np.maximum(out, _soft(_polyline_dist(x, y, pts) - 0.014, w))
    return 1.2 * out


def _spine(x, y, a: Anatomy, w: float) -> np.ndarray:
    col = _soft(np.abs(x - a.mid) - 0.035, w) * _soft(0.05 - y, w)
    vert = 0.7 + 0.3 * np.cos(2 * np.pi * (y - a.rib_y0) / a.rib_dy)
    return 0.6 * col * vert


def _expose(dens: np.ndarray, a: Anatomy, rng: np.random.Generator, n: int) -> np.ndarray:
    """Detector response: contrast, brightness, gamma, quantum noise -> 8-bit array."""
    img = np.clip((dens - 0.02) * 1.35 * a.contrast + a.brightness, 0, 1) ** a.gamma
    img = img + rng.normal(0, a.noise, img.shape).astype(np.float32)
    return np.clip(np.rint(img * 255), 0, 255).astype(np.uint8)


# ------------------------------------------------------------------ frontal findings


def _add_fill(lay: _Layers, m: np.ndarray) -> None:
    np.maximum(lay.fill, m, out=lay.fill)


def _lung_any(lay: _Layers, sides) -> np.ndarray:
    out = np.zeros_like(lay.x)
    for s in sides:
        out = np.maximum(out, lay.lung[s])
    return out


def _point_in_lung(rng: np.random.Generator, lung: Lung, zone: str = "any") -> tuple[float, float]:
    """A random point well inside the lung ellipse (``zone``: upper|lower|any)."""
    lo, hi = {"upper": (-0.75, -0.1), "lower": (0.1, 0.55), "any": (-0.7, 0.55)}[zone]
    for _ in range(50):
        px, py = rng.uniform(-0.75, 0.75), rng.uniform(lo, hi)
        if px * px + py * py < 0.6:
            break
    return lung.cx + px * lung.rx, lung.cy + py * lung.ry


def _visible_point(
    rng: np.random.Generator, a: Anatomy, lung: Lung, zone: str = "any", margin: float = 0.03
) -> tuple[float, float]:
    """A random lung point at least ``margin`` away from the heart, mediastinum and diaphragm,
    so that a focal finding drawn there is visible (deterministic given ``rng``)."""
    hh = a.heart_hh
    for _ in range(100):
        x, y = _point_in_lung(rng, lung, zone)
        in_heart = ((x - a.heart_cx) / (a.heart_hw + margin)) ** 2 + (
            (y - a.heart_cy) / (hh + margin)
        ) ** 2 < 1
        in_med = abs(x - a.mid - a.med_shift) < a.med_hw + margin
        below = y > lung.d0 + lung.dk * ((x - lung.cx) / lung.rx) ** 2 - margin
        if not (in_heart or in_med or below):
            return x, y
    return lung.cx + lung.side * 0.4 * lung.rx, lung.cy - 0.3 * lung.ry


def _draw_effusion(lay: _Layers, a: Anatomy, f: Finding) -> None:
    rng = np.random.default_rng(f.seed)
    for s in f.sides:
        lung = a.lungs[s]
        lat = np.clip((lay.x - lung.cx) * s / lung.rx, -1, 1)
        low = lung.d0 + lung.dk  # costophrenic angle level
        h = rng.uniform(0.14, 0.22) * f.strength + 0.015
        m = rng.uniform(0.08, 0.14) * f.strength
        level = low - h - m * ((lat + 1) / 2) ** 2
        eff = _soft(level - lay.y, lay.w * 2) * _soft(
            _ellipse_sd(lay.x, lay.y, lung.cx, lung.cy, lung.rx, lung.ry), lay.w
        )
        _add_fill(lay, eff)
        lay.extra += 0.03 * eff * lay.lung[s]


def _draw_pneumothorax(lay: _Layers, a: Anatomy, f: Finding) -> None:
    rng = np.random.default_rng(f.seed)
    for s in f.sides:
        lung = a.lungs[s]
        d = rng.uniform(0.065, 0.09) * f.strength + 0.01
        dx, dy = d * 0.8, d * 1.0
        inner = _ellipse_sd(  # visceral pleura: medial and basal edges pushed beyond the lung
            lay.x,
            lay.y,
            lung.cx - s * (dx + 0.01),
            lung.cy + dy + 0.01,
            lung.rx - dx + 0.01,
            lung.ry - dy + 0.02,
        )
        region = lay.lung[s] * (1 - _soft(inner, lay.w))
        lay.markings_keep *= 1 - region
        np.maximum(lay.lucent, region, out=lay.lucent)
        near = (lay.y < lung.cy + 0.6 * lung.ry) & ((lay.x - lung.cx) * s > -0.3 * lung.rx)
        line = _soft(np.abs(inner) - 0.005, lay.w) * lay.lung[s] * near
        lay.extra += 0.14 * line
        lay.fill += 0.2 * lay.lung[s] * _soft(inner, lay.w)  # collapsed lung denser


def _blobs(lay: _Layers, rng, centres, sig_range, amp, noise_cells: int = 14) -> np.ndarray:
    out = np.zeros_like(lay.x)
    for cx, cy in centres:
        sx, sy = rng.uniform(*sig_range), rng.uniform(*sig_range)
        g = np.exp(-(((lay.x - cx) / sx) ** 2 + ((lay.y - cy) / sy) ** 2) / 2)
        out = np.maximum(out, g)
    patch = np.clip(0.75 + 0.35 * _smooth_noise(rng, lay.x.shape[0], noise_cells), 0, 1)
    return np.clip(out * 1.3, 0, 1) * amp * patch


def _draw_opacity(lay: _Layers, a: Anatomy, f: Finding) -> None:
    rng = np.random.default_rng(f.seed)
    centres = []
    for s in f.sides:
        for _ in range(int(rng.integers(2, 4))):
            centres.append(_visible_point(rng, a, a.lungs[s]))
    m = _blobs(lay, rng, centres, (0.06, 0.1), 0.8 * f.strength, 10)  # hazy, soft-edged
    _add_fill(lay, m * _lung_any(lay, f.sides))


def _draw_pneumonia(lay: _Layers, a: Anatomy, f: Finding) -> None:
    """Patchy consolidation: a dense, irregular, sharply bounded cluster in one zone, mottled
    inside (unlike the faint haze of Lung Opacity and the fissure-bounded lobe of
    Consolidation)."""
    rng = np.random.default_rng(f.seed)
    field = np.zeros_like(lay.x)
    for s in f.sides:
        zx, zy = _visible_point(rng, a, a.lungs[s], str(rng.choice(["lower", "any"])), 0.06)
        for _ in range(int(rng.integers(6, 10))):
            cx, cy = zx + rng.normal(0, 0.04), zy + rng.normal(0, 0.04)
            r = rng.uniform(0.025, 0.045)
            field += np.exp(-(((lay.x - cx) ** 2 + (lay.y - cy) ** 2) / (2 * r * r)))
    mottle = 0.8 + 0.2 * _smooth_noise(rng, lay.x.shape[0], 24)
    dense = np.clip((field - 0.45) * 4.0, 0, 1) * np.clip(mottle, 0, 1)
    _add_fill(lay, dense * f.strength * _lung_any(lay, f.sides))


def _draw_consolidation(lay: _Layers, a: Anatomy, f: Finding) -> None:
    rng = np.random.default_rng(f.seed)
    for s in f.sides:
        lung = a.lungs[s]
        upper = s == -1 and rng.random() < 0.4  # right upper lobe above the minor fissure
        if upper:
            yf = lung.cy + rng.uniform(-0.08, 0.0)
            lobe = _soft(lay.y - yf, lay.w)
        else:  # lower lobe below an oblique fissure rising laterally
            yf = lung.cy + rng.uniform(0.05, 0.12)
            slope = rng.uniform(0.1, 0.3)
            lobe = _soft(yf - slope * (lay.x - lung.cx) * s - lay.y, lay.w)
        hx = a.mid + s * 0.09
        bron = np.zeros_like(lay.x)
        for _ in range(3):
            px, py = _point_in_lung(rng, lung, "upper" if upper else "lower")
            pts = _bezier((hx, 0.48), ((hx + px) / 2, (0.48 + py) / 2 + 0.02), (px, py), 5)
            bron = np.maximum(bron, _soft(_polyline_dist(lay.x, lay.y, pts) - 0.005, lay.w))
        m = lobe * lay.lung[s] * (0.9 - 0.55 * bron) * f.strength
        _add_fill(lay, m)


def _draw_atelectasis(lay: _Layers, a: Anatomy, f: Finding) -> None:
    rng = np.random.default_rng(f.seed)
    for s in f.sides:
        lung = a.lungs[s]
        yb = lung.d0 - rng.uniform(0.05, 0.1)
        x0, x1 = lung.cx - lung.rx * 0.7, lung.cx + lung.rx * 0.7
        tilt = rng.uniform(-0.04, 0.04)
        band = _polyline_dist(lay.x, lay.y, [(x0, yb - tilt), (x1, yb + tilt)])
        m = _soft(band - 0.012 * (0.5 + 0.5 * f.strength), lay.w) * 0.95 * f.strength
        base = _soft(lay.y - (lung.d0 - 0.02), lay.w * 8) * 0.3 * f.strength
        _add_fill(lay, np.maximum(m, base) * lay.lung[s])


def _draw_edema(lay: _Layers, a: Anatomy, f: Finding) -> None:
    rng = np.random.default_rng(f.seed)
    lungs = _lung_any(lay, (-1, 1))
    haze = np.zeros_like(lay.x)
    for s in (-1, 1):
        hx = a.mid + s * rng.uniform(0.1, 0.14)
        g = np.exp(-(((lay.x - hx) / 0.11) ** 2 + ((lay.y - 0.5) / 0.14) ** 2) / 2)
        haze = np.maximum(haze, g)
        lung = a.lungs[s]
        for i in range(int(rng.integers(4, 7))):
            yk = lung.d0 - 0.02 - i * rng.uniform(0.022, 0.03)
            xl = lung.lateral_x - s * 0.012
            seg = [(xl, yk), (xl - s * rng.uniform(0.035, 0.05), yk)]
            kb = _soft(_polyline_dist(lay.x, lay.y, seg) - 0.004, lay.w) * lay.lung[s]
            _add_fill(lay, 0.8 * f.strength * kb)
    _add_fill(lay, 0.6 * f.strength * haze * lungs)
    lay.markings_keep *= 1 - 0.5 * f.strength * haze


def _draw_lesion(lay: _Layers, a: Anatomy, f: Finding) -> None:
    rng = np.random.default_rng(f.seed)
    for s in f.sides:
        for _ in range(int(rng.integers(1, 3))):
            cx, cy = _visible_point(rng, a, a.lungs[s], "any", 0.04)
            r = rng.uniform(0.035, 0.065) * (0.5 + 0.5 * f.strength)
            m = _soft(np.hypot(lay.x - cx, lay.y - cy) - r, 0.006) * f.strength
            _add_fill(lay, m * lay.lung[s])
            lay.extra += 0.12 * m * lay.lung[s]  # a little denser than soft tissue


def _draw_fracture(lay: _Layers, a: Anatomy, f: Finding) -> None:
    """Drawn inside :func:`_ribs` (the gap and step belong to the rib pattern)."""


def _draw_devices(lay: _Layers, a: Anatomy, f: Finding) -> None:
    rng = np.random.default_rng(f.seed)
    kinds = ["et", "ng", "cvc", "pacer", "wires"]
    k = int(rng.integers(1, 4)) if f.strength >= 1 else 1
    chosen = list(rng.choice(kinds, size=k, replace=False))
    if f.strength >= 1 and not ({"pacer", "et", "ng"} & set(chosen)):
        chosen.append(str(rng.choice(["pacer", "et"])))
    amp = 0.75 * f.strength
    m, dist = a.mid, lambda pts: _polyline_dist(lay.x, lay.y, pts)
    for kind in chosen:
        if kind == "et":
            tip = rng.uniform(0.26, 0.34)
            d = dist([(m + 0.004, -0.05), (m + 0.004, tip)])
            lay.extra += amp * _soft(d - 0.007, lay.w)
        elif kind == "ng":
            pts = [(m - 0.012, -0.05), (m - 0.012, 0.55)]
            pts += _bezier((m - 0.012, 0.55), (m, 0.8), (m + 0.16, 0.84), 6)[1:]
            lay.extra += amp * _soft(dist(pts) - 0.005, lay.w)
        elif kind == "cvc":
            s = int(rng.choice([-1, 1]))
            pts = _bezier((m + s * 0.32, 0.17), (m + s * 0.1, 0.18), (m + s * 0.04, 0.3), 6)
            pts += [(m + s * 0.035, rng.uniform(0.38, 0.44))]
            lay.extra += amp * _soft(dist(pts) - 0.005, lay.w)
        elif kind == "pacer":
            s = int(rng.choice([-1, 1], p=[0.25, 0.75]))
            bx, by = m + s * rng.uniform(0.25, 0.3), rng.uniform(0.16, 0.22)
            box = np.maximum(np.abs(lay.x - bx) / 0.05, np.abs(lay.y - by) / 0.032)
            lay.extra += 1.1 * f.strength * _soft((box - 1) * 0.03, lay.w)
            lead = _bezier((bx, by), (m + s * 0.05, 0.2), (m + 0.02, 0.42), 7)
            lead += _bezier((m + 0.02, 0.42), (m + 0.03, 0.6), (m + 0.1, 0.64), 5)[1:]
            lay.extra += amp * _soft(dist(lead) - 0.005, lay.w)
        else:  # sternotomy wires: small bright loops on the midline
            for yw in np.linspace(0.34, 0.58, int(rng.integers(4, 7))):
                ring = np.abs(np.hypot((lay.x - m) / 0.018, (lay.y - yw) / 0.011) - 1)
                lay.extra += amp * _soft(ring * 0.012 - 0.004, lay.w)


def _draw_pleural_other(lay: _Layers, a: Anatomy, f: Finding) -> None:
    rng = np.random.default_rng(f.seed)
    for s in f.sides:
        lung = a.lungs[s]
        sd = _ellipse_sd(lay.x, lay.y, lung.cx, lung.cy, lung.rx, lung.ry)
        th = (rng.uniform(0.04, 0.06) * f.strength + 0.008) * (
            1 + 0.35 * _smooth_noise(rng, lay.x.shape[0], 8)
        )
        y0 = lung.cy - rng.uniform(0.15, 0.28)
        y1 = lung.cy + rng.uniform(0.1, 0.22)
        lateral = ((lay.x - lung.cx) * s > 0.1 * lung.rx) * _soft(y0 - lay.y, 0.01)
        lateral *= _soft(lay.y - y1, 0.01)
        band = (1 - _soft(sd + th, lay.w)) * lateral
        _add_fill(lay, 0.95 * f.strength * band * lay.lung[s])


def _draw_noop(lay: _Layers, a: Anatomy, f: Finding) -> None:
    """Findings rendered through the anatomy (heart size, mediastinal width)."""


_DRAW = {
    "Enlarged Cardiomediastinum": _draw_noop,
    "Cardiomegaly": _draw_noop,
    "Lung Opacity": _draw_opacity,
    "Lung Lesion": _draw_lesion,
    "Edema": _draw_edema,
    "Consolidation": _draw_consolidation,
    "Pneumonia": _draw_pneumonia,
    "Atelectasis": _draw_atelectasis,
    "Pneumothorax": _draw_pneumothorax,
    "Pleural Effusion": _draw_effusion,
    "Pleural Other": _draw_pleural_other,
    "Fracture": _draw_fracture,
    "Support Devices": _draw_devices,
}


# ------------------------------------------------------------------ lateral view


def _render_lateral(scene: Scene, n: int) -> np.ndarray:
    """A simple lateral projection (anterior = image left). Depicts heart size, effusion
    (posterior sulcus), opacities, nodules, devices and pleural thickening; pneumothorax and
    rib fractures are not depicted in this view."""
    a, f = scene.anatomy, scene.findings
    x, y = _grid(n, a)
    w = 0.6 / n
    rng = np.random.default_rng([scene.seed, 2])
    body = _soft(_ellipse_sd(x, y, 0.5, 0.6, 0.38, 0.55), w)
    lung = _soft(_ellipse_sd(x, y, 0.52, 0.47, 0.28, 0.33), w)
    dome = 0.7 + 0.14 * ((x - 0.45) / 0.3) ** 2
    lung *= _soft(y - dome, w)
    heart_r = 0.1 * (1 + 2.5 * (a.ctr - 0.42))
    heart = _soft(_ellipse_sd(x, y, 0.36, 0.6, heart_r, heart_r * 1.2), w)
    fill = np.zeros_like(x)
    extra = np.zeros_like(x)
    if "Enlarged Cardiomediastinum" in f:
        heart = np.maximum(heart, _soft(_ellipse_sd(x, y, 0.32, 0.45, a.med_hw + 0.05, 0.17), w))
    if "Pleural Effusion" in f:
        fe = f["Pleural Effusion"]
        h = np.random.default_rng(fe.seed).uniform(0.12, 0.2) * fe.strength + 0.01
        level = 0.84 - h - 0.08 * np.clip((x - 0.5) / 0.3, 0, 1) ** 2
        np.maximum(fill, _soft(level - y, w * 2) * (x > 0.45), out=fill)
    for label in ("Lung Opacity", "Pneumonia", "Consolidation", "Edema", "Atelectasis"):
        if label in f:
            r2 = np.random.default_rng(f[label].seed)
            cx, cy = r2.uniform(0.4, 0.65), r2.uniform(0.35, 0.6)
            g = np.exp(-(((x - cx) / 0.08) ** 2 + ((y - cy) / 0.07) ** 2) / 2)
            np.maximum(fill, 0.7 * f[label].strength * g, out=fill)
    if "Lung Lesion" in f:
        r2 = np.random.default_rng(f["Lung Lesion"].seed)
        cx, cy, r = r2.uniform(0.4, 0.65), r2.uniform(0.3, 0.6), r2.uniform(0.03, 0.05)
        np.maximum(
            fill, f["Lung Lesion"].strength * _soft(np.hypot(x - cx, y - cy) - r, 0.006), out=fill
        )
    if "Pleural Other" in f:
        sd = _ellipse_sd(x, y, 0.52, 0.47, 0.28, 0.33)
        np.maximum(fill, 0.8 * (1 - _soft(sd + 0.02, w)) * (x > 0.6), out=fill)
    if "Support Devices" in f:
        d = _polyline_dist(x, y, [(0.55, -0.05), (0.55, 0.3)])
        extra += 0.75 * f["Support Devices"].strength * _soft(d - 0.007, w)
    spine = np.zeros_like(x)
    for i in range(12):
        yc = 0.12 + i * 0.07
        spine = np.maximum(
            spine, _soft(_ellipse_sd(x, y, 0.74 - 0.02 * math.sin(i / 3), yc, 0.04, 0.026), w)
        )
    sternum = _soft(_polyline_dist(x, y, [(0.16, 0.22), (0.2, 0.62)]) - 0.012, w)
    air = lung * (1 - heart) * (1 - np.clip(fill, 0, 1))
    dens = 0.04 + 0.55 * body - _LUNG_AIR * 0.8 * air + 0.15 * spine + 0.1 * sternum + extra
    dens += 0.02 * _smooth_noise(rng, n, 5) * body
    return _expose(dens, a, rng, n)


# ------------------------------------------------------------------ public API


def render_study(
    labels: Mapping[str, str],
    seed: int,
    size: int = 128,
    view: str = "frontal",
    laterality: Mapping[str, str] | None = None,
) -> Image.Image:
    """Render one SYNTHETIC TEST DATA phantom (NOT A MEDICAL IMAGE) as a ``size``x``size`` "L"
    image whose content follows ``labels`` (CheXpert label -> present|uncertain|absent).

    ``laterality``: optional CheXpert label -> ``left|right|bilateral`` (patient side; the
    patient's left is the image right). Deterministic in all arguments.
    """
    if size < 16:
        raise ValueError(f"size must be >= 16 pixels, got {size}")
    scene = make_scene(labels, seed, view, laterality)
    return render_scene(scene, size)


def render_scene(scene: Scene, size: int = 128) -> Image.Image:
    """Draw a :class:`Scene` (SYNTHETIC TEST DATA, NOT A MEDICAL IMAGE) as an "L" image."""
    arr = _render_frontal(scene, size) if scene.view == "frontal" else _render_lateral(scene, size)
    return Image.fromarray(arr, mode="L")


def render_to_file(
    path: str | os.PathLike,
    labels: Mapping[str, str],
    seed: int,
    size: int = 128,
    view: str = "frontal",
    laterality: Mapping[str, str] | None = None,
) -> Path:
    """Render a SYNTHETIC TEST DATA phantom (NOT A MEDICAL IMAGE) and write it as PNG atomically;
    returns the path. Same arguments -> identical file bytes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    img = render_study(labels, seed, size=size, view=view, laterality=laterality)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        img.save(tmp, format="PNG", optimize=False)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def contact_sheet(
    examples: Sequence[tuple[str, Mapping[str, str], int]],
    size: int = 128,
    cols: int = 4,
    title: str = "synthetic phantoms (test data)",
) -> Image.Image:
    """A captioned grid of phantoms ``(caption, labels, seed)`` for documentation.
    SYNTHETIC TEST DATA, NOT MEDICAL IMAGES; the title says so on the image."""
    rows = math.ceil(len(examples) / cols)
    cap, head = 14, 20
    sheet = Image.new("L", (cols * size, head + rows * (size + cap)), 255)
    draw = ImageDraw.Draw(sheet)
    draw.text((4, 4), title, fill=0)
    for i, (caption, labels, seed) in enumerate(examples):
        r, c = divmod(i, cols)
        x0, y0 = c * size, head + r * (size + cap)
        sheet.paste(render_study(labels, seed, size=size), (x0, y0))
        draw.text((x0 + 2, y0 + size + 1), caption[: size // 6], fill=0)
    return sheet
