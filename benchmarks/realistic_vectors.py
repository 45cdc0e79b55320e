"""Vectors shaped like the real ones: a generative model fitted to the lite encoder's KAGL embeddings.

Uniform random 512-d vectors are HNSW's worst case (every neighbour is almost equally far) and say little about
a real catalog. The KAGL developer set has only 5,100 train photos, so a 1M-vector benchmark needs a *model* of
how real embeddings are spread, sampled as often as needed:

1. **Real embeddings.** The packaged ``lite`` encoder (256-d) embeds every KAGL *train* photo and its
   horizontal flip (the training augmentation that changes nothing about the product): 10,200 vectors.
   The *val* photos (889, never used to fit) are embedded the same way and serve as held-out queries and to
   choose the model's size.
2. **Model.** Mean + PCA to ``rank`` components (the smallest number explaining ``var_kept`` of the variance),
   a Gaussian mixture with full covariances in that space (the product types are clusters), and isotropic
   Gaussian noise with the measured residual variance in the other ``dim - rank`` directions. A sample is
   ``mean + z @ components + residual``, L2-normalised like a real embedding. The number of mixture components
   is chosen on val log-likelihood.
3. **Check.** :func:`realism_report` compares, for the real val queries, the cosine of the 1st and 10th
   nearest neighbour among the real train embeddings vs. among as many model samples: a model that is too
   clustered or too diffuse shows up as a gap.

    python benchmarks/realistic_vectors.py --check          # embed (cached), fit, print the realism check
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

DEFAULT_CATALOG = ROOT.parent / "shared" / "datasets" / "kagl"
DEFAULT_CACHE = Path("/tmp/fashionrag_bench_cache/kagl_lite_embeddings.npz")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def embed_kagl(catalog: Path = DEFAULT_CATALOG, cache: Path | None = DEFAULT_CACHE, encoder: str = "lite") -> dict:
    """Real embeddings ``{"train": (2*n_train, d), "val": (n_val, d), "val_flip": (n_val, d), ...}`` (cached)."""
    from fashionrag import encoders

    enc = encoders.create(encoder)
    fingerprint = str(getattr(enc, "fingerprint", encoder))
    if cache is not None and cache.is_file():
        data = dict(np.load(cache, allow_pickle=False))
        if str(data.get("fingerprint", "")) == fingerprint:
            return data
    rows = list(csv.DictReader(open(catalog / "styles.csv", newline="", encoding="utf-8")))
    out: dict = {"fingerprint": np.array(fingerprint)}
    for split in ("train", "val"):
        paths = [catalog / "images" / f"{r['id']}.jpg" for r in rows if r["split"] == split]
        paths = [p for p in paths if p.is_file()]
        log(f"embedding {len(paths)} {split} photos with {encoder} (+ horizontal flips)")
        arrays = enc.preprocess([str(p) for p in paths])
        plain = enc.encode_arrays(arrays)
        flipped = enc.encode_arrays(np.ascontiguousarray(arrays[..., ::-1]))
        if split == "train":
            out["train"] = np.concatenate([plain, flipped]).astype(np.float32)
        else:
            out["val"], out["val_flip"] = plain.astype(np.float32), flipped.astype(np.float32)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, **out)
    return out


@dataclass
class EmbeddingModel:
    """Mean + PCA subspace with a Gaussian mixture in it + isotropic residual noise; samples are unit vectors."""

    mean: np.ndarray
    components: np.ndarray  # (rank, dim), orthonormal rows
    residual_std: float  # per-dimension std of what the rank components leave out
    weights: np.ndarray  # (C,)
    means: np.ndarray  # (C, rank)
    chols: np.ndarray  # (C, rank, rank) Cholesky factors of the component covariances
    info: dict = field(default_factory=dict)

    @property
    def dim(self) -> int:
        return int(self.mean.shape[0])

    @property
    def rank(self) -> int:
        return int(self.components.shape[0])

    def sample(self, n: int, rng: np.random.Generator, chunk: int = 100_000) -> np.ndarray:
        out = np.empty((n, self.dim), dtype=np.float32)
        for lo in range(0, n, chunk):
            m = min(chunk, n - lo)
            comp = rng.choice(len(self.weights), size=m, p=self.weights)
            eps = rng.standard_normal((m, self.rank))
            z = self.means[comp] + np.einsum("nij,nj->ni", self.chols[comp], eps)
            x = self.mean + z @ self.components
            x += self.residual_std * rng.standard_normal((m, self.dim))
            out[lo : lo + m] = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
        return out

    def describe(self) -> str:
        i = self.info
        return (
            f"samples of a model fitted to the lite encoder's embeddings of the {i.get('n_fit')} KAGL train vectors "
            f"(5,100 photos + horizontal flips): mean + {self.rank} PCA components ({i.get('var_kept', 0):.1%} of "
            f"the variance), a {len(self.weights)}-component full-covariance Gaussian mixture in that subspace "
            f"(size chosen on val log-likelihood), isotropic residual noise (std {self.residual_std:.4f}) in the "
            f"other {self.dim - self.rank} dims, L2-normalised"
        )


def fit_model(train: np.ndarray, val: np.ndarray, *, var_kept: float = 0.99, components=(16, 32, 64, 128),
              seed: int = 0) -> EmbeddingModel:
    """Fit on ``train``; pick the mixture size with the best mean log-likelihood of ``val`` (in the PCA space)."""
    from sklearn.mixture import GaussianMixture

    mean = train.mean(axis=0)
    xc = train - mean
    _, s, vt = np.linalg.svd(xc, full_matrices=False)
    var = s**2 / (len(train) - 1)
    cum = np.cumsum(var) / var.sum()
    rank = int(np.searchsorted(cum, var_kept) + 1)
    comps = vt[:rank]
    residual_std = float(np.sqrt(var[rank:].sum() / (train.shape[1] - rank)))
    z_train, z_val = xc @ comps.T, (val - mean) @ comps.T
    scores = {}
    best = None
    for c in components:
        gm = GaussianMixture(c, covariance_type="full", reg_covar=1e-5, random_state=seed, max_iter=200)
        gm.fit(z_train)
        scores[c] = float(gm.score(z_val))
        log(f"GMM {c} components: val log-likelihood {scores[c]:.2f}")
        if best is None or scores[c] > scores[best[0]]:
            best = (c, gm)
    gm = best[1]
    chols = np.linalg.cholesky(gm.covariances_)
    info = {"n_fit": int(len(train)), "var_kept": float(cum[rank - 1]), "rank": rank, "gmm_components": best[0],
            "val_loglik_by_components": scores, "residual_std": residual_std}
    return EmbeddingModel(mean.astype(np.float64), comps.astype(np.float64), residual_std, gm.weights_ / gm.weights_.sum(),
                          gm.means_, chols, info)


def realism_report(model: EmbeddingModel, train: np.ndarray, val: np.ndarray, rng: np.random.Generator) -> dict:
    """Cosine of the 1st / 10th neighbour of the real val queries among real train vectors vs. model samples."""
    synth = model.sample(len(train), rng)

    def knn_cos(base: np.ndarray) -> dict:
        s = np.sort(val @ base.T, axis=1)[:, ::-1]
        return {"top1_mean": float(s[:, 0].mean()), "top10_mean": float(s[:, 9].mean()),
                "top1_minus_top10": float((s[:, 0] - s[:, 9]).mean()), "mean_cos": float(s.mean())}

    def spread(x: np.ndarray) -> float:  # mean pairwise cosine (how concentrated the cloud is)
        sub = x[rng.choice(len(x), min(2000, len(x)), replace=False)]
        g = sub @ sub.T
        return float((g.sum() - np.trace(g)) / (len(sub) * (len(sub) - 1)))

    return {
        "queries": "real KAGL val embeddings (889, never used to fit)",
        "base_size": int(len(train)),
        "real_train": {**knn_cos(train), "mean_pairwise_cos": spread(train)},
        "model_samples": {**knn_cos(synth), "mean_pairwise_cos": spread(synth)},
    }


def load_model(catalog: Path = DEFAULT_CATALOG, cache: Path | None = DEFAULT_CACHE, seed: int = 0) -> tuple[EmbeddingModel, dict]:
    """Real embeddings and the model fitted to them (the fit is cached beside the embeddings, keyed by the
    encoder fingerprint and the seed: the same inputs give the same model)."""
    data = embed_kagl(catalog, cache)
    key = f"{data['fingerprint']}-seed{seed}"
    fit_cache = None if cache is None else cache.with_name("kagl_lite_model.npz")
    if fit_cache is not None and fit_cache.is_file():
        m = dict(np.load(fit_cache, allow_pickle=False))
        if str(m.get("key", "")) == key:
            model = EmbeddingModel(m["mean"], m["components"], float(m["residual_std"]), m["weights"], m["means"],
                                   m["chols"], json.loads(str(m["info"])))
            return model, data
    model = fit_model(data["train"], data["val"], seed=seed)
    if fit_cache is not None:
        np.savez(fit_cache, key=np.array(key), mean=model.mean, components=model.components,
                 residual_std=np.array(model.residual_std), weights=model.weights, means=model.means,
                 chols=model.chols, info=np.array(json.dumps(model.info)))
    return model, data


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--catalog", type=Path, default=DEFAULT_CATALOG)
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    p.add_argument("--check", action="store_true", help="print the realism check (real vs model neighbours)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    model, data = load_model(args.catalog, args.cache, args.seed)
    print(model.describe())
    print(json.dumps(model.info, indent=2))
    if args.check:
        print(json.dumps(realism_report(model, data["train"], data["val"], np.random.default_rng(args.seed)), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
