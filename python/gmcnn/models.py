"""Saved models: prediction, evaluation and equivariance."""
import ctypes
import os
import threading

import numpy as np

from ._lib import Dataset, EquivReport, Metrics, Predictions, SavedModel, check, lib

__all__ = ["Model", "load"]


class Model:
    """A model file written by gmcnn (a run's best.safetensors or
    last.safetensors, or a file gmcnn.torch.save wrote), loaded with the
    standardisation of its inputs and, for forecasting models, its window
    protocol."""

    def __init__(self, path):
        self.path = os.fspath(path)
        self._ptr = ctypes.POINTER(SavedModel)()
        # a predictor kept between predict calls (its working memory is
        # reused); one thread at a time, the others take the one-off path
        self._predictor = ctypes.c_void_p()
        self._predictor_lock = threading.Lock()
        check(lib.gm_saved_model_open(self.path.encode(), ctypes.byref(self._ptr)))
        s = self._ptr.contents
        c = s.norm_channels
        self.norm_mean = np.ctypeslib.as_array(s.norm_mean, (c,)).copy() if c else None
        self.norm_std = np.ctypeslib.as_array(s.norm_std, (c,)).copy() if c else None

    def close(self):
        if getattr(self, "_predictor", None):
            lib.gm_predictor_free(self._predictor)
            self._predictor = None
        if getattr(self, "_ptr", None):
            lib.gm_saved_model_close(self._ptr)
            self._ptr = None

    def __del__(self):
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def parameters(self) -> int:
        """Trained parameters (running statistics not counted)."""
        return lib.gm_model_num_params(self._live().model)

    @property
    def input_size(self) -> int:
        """Values per input channel the model reads: |G| (or H * W)."""
        return lib.gm_model_input_size(self._live().model)

    def _live(self):
        if not self._ptr:
            raise ValueError(f"model '{self.path}' is closed")
        return self._ptr.contents

    def _dataset(self, x, normalize):
        """A dataset view of x: (N, C, H, W) or (N, |G|) float32, standardised
        into a new array when the model carries statistics."""
        x = np.asarray(x)
        if x.ndim == 2:
            x = x[:, None, None, :]
        elif x.ndim == 3:
            x = x[:, None, :, :]
        if x.ndim != 4:
            raise ValueError(f"inputs of shape {x.shape}: expected (N, C, H, W) or (N, |G|)")
        x = np.ascontiguousarray(x, dtype=np.float32)
        if normalize and self.norm_mean is not None:
            if x.shape[1] != len(self.norm_mean):
                raise ValueError(f"inputs have {x.shape[1]} channels but the model's "
                                 f"standardisation {len(self.norm_mean)}")
            std = np.where(self.norm_std > 0, self.norm_std, 1.0)
            x = ((x - self.norm_mean[None, :, None, None]) / std[None, :, None, None])
            x = np.ascontiguousarray(x, dtype=np.float32)
        if not np.all(np.isfinite(x)):
            raise ValueError("inputs hold non-finite values")
        d = Dataset(n=x.shape[0], channels=x.shape[1], height=x.shape[2], width=x.shape[3],
                    classes=0, x=x.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), y=None)
        return d, x  # x keeps the buffer alive while d is used

    def predict(self, x, normalize=True, batch=64, probabilities=False):
        """Logits (N, classes) float64 of a classifier for inputs x (float32
        (N, C, H, W), or (N, |G|) for a model on a group without an image
        layout), standardised first with the model's statistics unless
        normalize=False (inputs then as the model reads them). With
        probabilities=True, the softmax instead."""
        self._live()
        d, keep = self._dataset(x, normalize)
        p = Predictions()
        if self._predictor_lock.acquire(blocking=False):
            try:
                if not self._predictor:
                    check(lib.gm_predictor_new(self._ptr, ctypes.byref(self._predictor)))
                check(lib.gm_predictor_run(self._predictor, ctypes.byref(d), int(batch),
                                           ctypes.byref(p)))
            finally:
                self._predictor_lock.release()
        else:
            check(lib.gm_run_predict(self._ptr, ctypes.byref(d), int(batch), ctypes.byref(p)))
        try:
            src = p.prob if probabilities else p.logits
            return np.ctypeslib.as_array(src, (p.n, p.classes)).copy() if p.n else \
                np.zeros((0, p.classes))
        finally:
            lib.gm_predictions_free(ctypes.byref(p))
            del keep

    def equivariance(self, x, samples=8, normalize=True) -> dict:
        """The equivariance defect of every stage on the first `samples`
        inputs: {"stages": [(name, defect), ...], "end_to_end": defect}
        (relative; 0 up to rounding for exactly equivariant stages)."""
        d, keep = self._dataset(x, normalize)
        rep = EquivReport()
        check(lib.gm_run_equivariance(self._ptr, ctypes.byref(d), int(samples),
                                      ctypes.byref(rep)))
        del keep
        stages = [(rep.stages[i].name.decode(), rep.stages[i].defect)
                  for i in range(rep.nstages)]
        return {"stages": stages, "end_to_end": rep.end_to_end}

    def evaluate(self, images, labels, batch=256) -> dict:
        """Loss, accuracy (%) and confusion matrix on labelled files (IDX,
        plain or gzip, or .npy), read and standardised as in training."""
        m = Metrics()
        check(lib.gm_run_eval(self._ptr, os.fspath(images).encode(),
                              os.fspath(labels).encode(), int(batch), ctypes.byref(m)))
        try:
            confusion = np.ctypeslib.as_array(m.confusion, (m.classes, m.classes)).copy()
            return {"n": m.n, "loss": m.loss, "accuracy": m.accuracy, "confusion": confusion}
        finally:
            lib.gm_metrics_free(ctypes.byref(m))

    def __repr__(self):
        return f"gmcnn.Model({self.path!r}, parameters={self.parameters})"


def load(path) -> Model:
    """Loads a gmcnn model file (see Model)."""
    return Model(path)
