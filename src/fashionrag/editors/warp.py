"""Keypoint-driven warps: a thin-plate spline through matched body points, or an affine map between boxes.

A warp is fitted *backwards* (destination pixel -> source pixel) so it is applied with one ``cv2.remap``; the
spline has an affine part, so with three points it is the least-squares affine map and with more it bends
smoothly through them (``smooth`` > 0 relaxes it towards that affine map when the points disagree).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import cv2
import numpy as np


def _u(r2: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = r2 * np.log(r2)
    out[~np.isfinite(out)] = 0.0
    return out


@dataclass
class ThinPlateSpline:
    """A 2-D thin-plate spline mapping ``src`` points onto ``dst`` points (fitted with :meth:`fit`)."""

    ctrl: np.ndarray  # (n, 2) control points (in the domain of the map)
    weights: np.ndarray  # (n + 3, 2)

    @classmethod
    def fit(cls, src: np.ndarray, dst: np.ndarray, smooth: float = 0.0) -> "ThinPlateSpline":
        src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
        n = len(src)
        if n < 3:
            raise ValueError("a thin-plate spline needs at least 3 points")
        scale = max(np.ptp(src, axis=0).max(), 1.0)
        k = _u(((src[:, None, :] - src[None, :, :]) ** 2).sum(-1) / scale**2) + smooth * np.eye(n)
        p = np.hstack([np.ones((n, 1)), src / scale])
        a = np.zeros((n + 3, n + 3))
        a[:n, :n], a[:n, n:], a[n:, :n] = k, p, p.T
        b = np.zeros((n + 3, 2))
        b[:n] = dst
        w = np.linalg.lstsq(a, b, rcond=None)[0]
        tps = cls(ctrl=src / scale, weights=w)
        tps._scale = scale  # type: ignore[attr-defined]
        return tps

    def __call__(self, pts: np.ndarray) -> np.ndarray:
        pts = np.asarray(pts, np.float64) / self._scale  # type: ignore[attr-defined]
        n = len(self.ctrl)
        u = _u(((pts[:, None, :] - self.ctrl[None, :, :]) ** 2).sum(-1))
        return u @ self.weights[:n] + np.hstack([np.ones((len(pts), 1)), pts]) @ self.weights[n:]


def fit_backward(dst_pts: np.ndarray, src_pts: np.ndarray, smooth: float = 0.02):
    """A callable mapping destination pixels to source pixels: TPS with >= 4 points, affine with 3, a
    similarity (scale + shift) with 2."""
    dst_pts, src_pts = np.asarray(dst_pts, np.float64), np.asarray(src_pts, np.float64)
    if len(dst_pts) >= 4:
        return ThinPlateSpline.fit(dst_pts, src_pts, smooth=smooth)
    if len(dst_pts) == 3:
        m = cv2.getAffineTransform(dst_pts.astype(np.float32), src_pts.astype(np.float32))
        return lambda p: np.hstack([np.asarray(p), np.ones((len(p), 1))]) @ m.T
    if len(dst_pts) == 2:
        d = np.linalg.norm(dst_pts[1] - dst_pts[0])
        s = np.linalg.norm(src_pts[1] - src_pts[0]) / max(d, 1e-6)
        c_d, c_s = dst_pts.mean(0), src_pts.mean(0)
        return lambda p: (np.asarray(p) - c_d) * s + c_s
    raise ValueError("a warp needs at least 2 matched points")


def box_backward(dst_box: tuple[float, float, float, float], src_box: tuple[float, float, float, float]):
    """Destination box -> source box (independent x and y scales)."""
    dx0, dy0, dx1, dy1 = dst_box
    sx0, sy0, sx1, sy1 = src_box
    fx, fy = (sx1 - sx0) / max(dx1 - dx0, 1e-6), (sy1 - sy0) / max(dy1 - dy0, 1e-6)
    return lambda p: np.stack([(np.asarray(p)[:, 0] - dx0) * fx + sx0, (np.asarray(p)[:, 1] - dy0) * fy + sy0], 1)


def backward_maps(backward, out_shape: tuple[int, int], step: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """cv2.remap maps for ``backward`` over ``out_shape`` (h, w), evaluated every ``step`` pixels and interpolated
    bilinearly in between (the warps are smooth, so this costs nothing visible and saves ~step² work)."""
    h, w = out_shape
    gh, gw = (h - 1) // step + 2, (w - 1) // step + 2
    ys, xs = np.mgrid[0:gh, 0:gw]
    pts = np.stack([xs.ravel() * step, ys.ravel() * step], 1).astype(np.float64)
    src = backward(pts).reshape(gh, gw, 2).astype(np.float32)
    if step == 1:
        return np.ascontiguousarray(src[:h, :w, 0]), np.ascontiguousarray(src[:h, :w, 1])
    # bilinear interpolation between grid nodes; node (i, j) sits exactly at pixel (j * step, i * step)
    fy = (np.arange(h) / step)[:, None]
    fx = (np.arange(w) / step)[None, :]
    i0, j0 = np.floor(fy).astype(int), np.floor(fx).astype(int)
    ty, tx = (fy - i0).astype(np.float32), (fx - j0).astype(np.float32)
    i1, j1 = np.minimum(i0 + 1, gh - 1), np.minimum(j0 + 1, gw - 1)
    out = []
    for c in range(2):
        g = src[..., c]
        top = g[i0, j0] * (1 - tx) + g[i0, j1] * tx
        bot = g[i1, j0] * (1 - tx) + g[i1, j1] * tx
        out.append((top * (1 - ty) + bot * ty).astype(np.float32))
    map_x, map_y = out
    return np.ascontiguousarray(map_x), np.ascontiguousarray(map_y)


def remap(image: np.ndarray, backward, out_shape: tuple[int, int], *, nearest: bool = False,
          maps: Optional[tuple[np.ndarray, np.ndarray]] = None) -> np.ndarray:
    """Sample ``image`` at ``backward(destination pixel)`` for every pixel of ``out_shape`` (h, w); pixels that
    fall outside the source are 0. Pass ``maps`` (from :func:`backward_maps`) to reuse one evaluation."""
    map_x, map_y = maps if maps is not None else backward_maps(backward, out_shape)
    interp = cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR
    return cv2.remap(image, map_x, map_y, interp, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
