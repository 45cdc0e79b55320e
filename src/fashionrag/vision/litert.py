"""Loading the MediaPipe ``.tflite`` models with LiteRT (``ai_edge_litert``).

The model files ship inside the ``mediapipe==0.10.21`` wheel, but mediapipe's own runtime pins
numpy<2, so we only *locate* its package folder (``importlib.util.find_spec`` does not import it)
and run the files with LiteRT, which works on numpy 2.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

import numpy as np

from ..core.errors import ModelUnavailableError

INSTALL_HINT = "pip install --no-deps mediapipe==0.10.21 ai-edge-litert"

log = logging.getLogger(__name__)


@contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Silence what LiteRT's C++ runtime writes straight to file descriptor 2 ("INFO: Created TensorFlow Lite
    XNNPACK delegate for CPU." on every run) unless debug logging is on (``--debug``). No environment variable
    or API controls that log, so fd 2 points at /dev/null for the few milliseconds of the load."""
    if log.isEnabledFor(logging.DEBUG):
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real stderr (embedded interpreter): nothing to silence
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)

#: Relative paths inside the mediapipe package of the models this package uses.
MODEL_FILES = {
    "pose_detection": "modules/pose_detection/pose_detection.tflite",
    "pose_landmark_heavy": "modules/pose_landmark/pose_landmark_heavy.tflite",
    "pose_landmark_full": "modules/pose_landmark/pose_landmark_full.tflite",
    "pose_landmark_lite": "modules/pose_landmark/pose_landmark_lite.tflite",
    "selfie_segmentation": "modules/selfie_segmentation/selfie_segmentation.tflite",
}


def mediapipe_dir() -> Optional[Path]:
    """Folder of the installed mediapipe package, without importing it (None when absent)."""
    override = os.environ.get("FASHIONRAG_MEDIAPIPE_DIR")
    if override:
        return Path(override)
    try:
        spec = importlib.util.find_spec("mediapipe")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def model_path(name: str) -> Path:
    """Path of one bundled model file; ModelUnavailableError (with the install hint) if missing."""
    if name not in MODEL_FILES:
        raise ModelUnavailableError(f"unknown vision model {name!r}; known: {', '.join(sorted(MODEL_FILES))}")
    base = mediapipe_dir()
    if base is None:
        raise ModelUnavailableError(f"the mediapipe model files are not installed: {INSTALL_HINT}")
    path = base / MODEL_FILES[name]
    if not path.is_file():
        raise ModelUnavailableError(f"{path} is missing (need mediapipe==0.10.21's model files): {INSTALL_HINT}")
    return path


def pose_landmark_path(preference: str = "full") -> Path:
    """The pose-landmark model of the wanted complexity, else any other one that is installed."""
    order = [preference] + [c for c in ("full", "heavy", "lite") if c != preference]
    for complexity in order:
        try:
            return model_path(f"pose_landmark_{complexity}")
        except ModelUnavailableError:
            continue
    raise ModelUnavailableError(f"no pose_landmark_*.tflite found in the mediapipe package: {INSTALL_HINT}")


class TFLiteModel:
    """One ``.tflite`` model: float32 NHWC input in, its outputs (in model order) out.

    LiteRT interpreters are not thread-safe, so calls are serialised with a lock.
    """

    def __init__(self, path: str | os.PathLike, num_threads: Optional[int] = None):
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as exc:
            raise ModelUnavailableError(f"ai-edge-litert is not installed: {INSTALL_HINT}") from exc
        self.path = Path(path)
        threads = num_threads or min(4, os.cpu_count() or 1)
        try:
            with quiet_native_stderr():
                self._interp = Interpreter(model_path=str(self.path), num_threads=threads)
                self._interp.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelUnavailableError(f"cannot load {self.path.name} ({exc}): reinstall with {INSTALL_HINT}") from exc
        self._input = self._interp.get_input_details()[0]
        self._outputs = self._interp.get_output_details()
        self._lock = threading.Lock()

    @property
    def input_hw(self) -> tuple[int, int]:
        shape = self._input["shape"]
        return int(shape[1]), int(shape[2])

    def __call__(self, batch: np.ndarray) -> list[np.ndarray]:
        data = np.ascontiguousarray(batch, dtype=np.float32)
        if data.ndim == 3:
            data = data[None]
        with self._lock:
            self._interp.set_tensor(self._input["index"], data)
            self._interp.invoke()
            return [self._interp.get_tensor(d["index"]).copy() for d in self._outputs]


_CACHE: dict[tuple[str, Optional[int]], TFLiteModel] = {}
_CACHE_LOCK = threading.Lock()


def load_model(path: str | os.PathLike, num_threads: Optional[int] = None) -> TFLiteModel:
    """Load (once per process) and return a model; the interpreters are reused across detectors."""
    key = (str(path), num_threads)
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE[key] = TFLiteModel(path, num_threads)
        return _CACHE[key]
