"""Loading libgmcnn and the C structures the package shares with it.

The library is found, in order, at $GMCNN_LIBRARY, next to this package
(an installed copy), in the build directory of a source checkout
(../../build/libgmcnn.so), and by the system's library search
(ctypes.util.find_library). Every structure mirrored here is checked
against the library's own sizeof (gm_run_sizeof) when it is loaded, so a
package and a library of different layouts refuse to work together rather
than corrupt memory.
"""
import ctypes
import ctypes.util
import os
import signal

__all__ = ["lib", "GmcnnError", "check"]

c_int64, c_double, c_bool = ctypes.c_int64, ctypes.c_double, ctypes.c_bool
c_char_p, c_void_p, c_int32 = ctypes.c_char_p, ctypes.c_void_p, ctypes.c_int32
P = ctypes.POINTER


class GmcnnError(RuntimeError):
    """A gmcnn call failed: `status` is the C status name (e.g. "GM_ERR_IO"),
    the message the library's one-line detail naming the thing and the place."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


class EpochRecord(ctypes.Structure):
    _fields_ = [("epoch", c_int64), ("lr", c_double), ("train_loss", c_double),
                ("train_accuracy", c_double), ("val_loss", c_double),
                ("val_accuracy", c_double), ("seconds", c_double),
                ("samples_per_second", c_double), ("best", c_bool)]


INFO_FN = ctypes.CFUNCTYPE(None, c_char_p, c_void_p)
EPOCH_FN = ctypes.CFUNCTYPE(ctypes.c_int, P(EpochRecord), c_void_p)
STEP_FN = ctypes.CFUNCTYPE(None, c_int64, c_int64, c_int64, c_double, c_void_p)


class RunHooks(ctypes.Structure):
    _fields_ = [("on_info", INFO_FN), ("on_epoch", EPOCH_FN), ("on_step", STEP_FN),
                ("progress_every", c_int64), ("user", c_void_p)]


class RunOptions(ctypes.Structure):
    _fields_ = [("config_path", c_char_p), ("config_changed", c_bool), ("resume", c_char_p),
                ("model_from_data", c_bool), ("data_dir", c_char_p), ("hooks", RunHooks),
                ("stop", P(ctypes.c_int))]


class RunResult(ctypes.Structure):
    _fields_ = [("forecast", c_bool), ("parameters", c_int64), ("n_train", c_int64),
                ("n_val", c_int64), ("n_test", c_int64), ("epochs", c_int64),
                ("epochs_run", c_int64), ("best_epoch", c_int64), ("stopped_early", c_bool),
                ("train_seconds", c_double), ("best_val_loss", c_double),
                ("best_val_accuracy", c_double), ("test_loss", c_double),
                ("test_accuracy", c_double), ("test_loss_last", c_double),
                ("test_accuracy_last", c_double), ("rmse_future", c_double),
                ("rmse_domain", c_double), ("rmse_future_last", c_double),
                ("rmse_domain_last", c_double), ("n_future", c_int64), ("n_domain", c_int64),
                ("eval_steps", c_int64)]


class Dataset(ctypes.Structure):
    _fields_ = [("n", c_int64), ("channels", c_int64), ("height", c_int64),
                ("width", c_int64), ("classes", c_int64), ("x", P(ctypes.c_float)),
                ("y", P(c_int32))]


class Metrics(ctypes.Structure):
    _fields_ = [("n", c_int64), ("classes", c_int64), ("loss", c_double),
                ("accuracy", c_double), ("confusion", P(c_int64))]


class Predictions(ctypes.Structure):
    _fields_ = [("n", c_int64), ("classes", c_int64), ("logits", P(c_double)),
                ("prob", P(c_double))]


class ForecastRange(ctypes.Structure):
    _fields_ = [("begin", c_int64), ("end", c_int64)]


class ForecastProtocol(ctypes.Structure):
    _fields_ = [("input_frames", c_int64), ("input_offset", c_int64),
                ("rollout_steps", c_int64), ("eval_steps", c_int64), ("train", ForecastRange),
                ("val", ForecastRange), ("future", ForecastRange), ("domain", ForecastRange),
                ("train_stride", c_int64), ("eval_stride", c_int64)]


class SavedModel(ctypes.Structure):
    _fields_ = [("model", c_void_p), ("norm_channels", c_int64), ("norm_mean", P(c_double)),
                ("norm_std", P(c_double)), ("has_forecast", c_bool),
                ("forecast", ForecastProtocol)]


class EquivStage(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char * 48), ("invariant", c_bool), ("defect", c_double)]


class EquivReport(ctypes.Structure):
    _fields_ = [("nstages", c_int64), ("stages", EquivStage * 64), ("end_to_end", c_double)]


_MIRRORS = {"gm_run_options": RunOptions, "gm_run_hooks": RunHooks, "gm_run_result": RunResult,
            "gm_epoch_record": EpochRecord, "gm_dataset": Dataset, "gm_metrics": Metrics,
            "gm_predictions": Predictions, "gm_saved_model": SavedModel,
            "gm_forecast_protocol": ForecastProtocol, "gm_equiv_report": EquivReport}

# name: (restype, argtypes); restype "status" is a gm_status checked by check().
_FUNCTIONS = {
    "gm_strerror": (c_char_p, [ctypes.c_int]),
    "gm_error_detail": (c_char_p, []),
    "gm_build_info": (c_char_p, []),
    "gm_set_threads": (None, [ctypes.c_int]),
    "gm_free": (None, [c_void_p]),
    "gm_run_sizeof": (ctypes.c_size_t, [c_char_p]),
    # groups and group matrices
    "gm_group_from_spec": ("status", [c_char_p, P(c_void_p)]),
    "gm_group_free": (None, [c_void_p]),
    "gm_group_order": (c_int64, [c_void_p]),
    "gm_group_name": (c_char_p, [c_void_p]),
    "gm_group_ngens": (c_int64, [c_void_p]),
    "gm_group_gens": (P(c_int32), [c_void_p]),
    "gm_group_inv": (c_int32, [c_void_p, c_int32]),
    "gm_group_is_abelian": (c_bool, [c_void_p]),
    "gm_group_element_name": (ctypes.c_int, [c_void_p, c_int32, c_char_p, ctypes.c_size_t]),
    "gm_group_cayley_table": (None, [c_void_p, P(c_int32)]),
    "gm_gmat_dense": (None, [c_void_p, P(c_double), P(c_double)]),
    "gm_gmat_displacement_rank_eps": ("status", [c_void_p, P(c_double), c_double, c_double,
                                                 P(c_int64), P(c_double)]),
    "gm_nbhd_reference_new": ("status", [c_void_p, c_int64, P(c_void_p)]),
    "gm_nbhd_free": (None, [c_void_p]),
    "gm_gmat_plan_new": ("status", [c_void_p, c_void_p, P(c_void_p)]),
    "gm_gmat_plan_free": (None, [c_void_p]),
    "gm_gmat_plan_support_size": (c_int64, [c_void_p]),
    "gm_gmat_plan_order": (c_int64, [c_void_p]),
    "gm_gmat_plan_table": (P(c_int32), [c_void_p]),
    # saved models
    "gm_saved_model_open": ("status", [c_char_p, P(P(SavedModel))]),
    "gm_saved_model_close": (None, [P(SavedModel)]),
    "gm_model_num_params": (c_int64, [c_void_p]),
    "gm_model_input_size": (c_int64, [c_void_p]),
    "gm_run_predict": ("status", [P(SavedModel), P(Dataset), c_int64, P(Predictions)]),
    "gm_predictions_free": (None, [P(Predictions)]),
    "gm_predictor_new": ("status", [P(SavedModel), P(c_void_p)]),
    "gm_predictor_run": ("status", [c_void_p, P(Dataset), c_int64, P(Predictions)]),
    "gm_predictor_free": (None, [c_void_p]),
    "gm_run_equivariance": ("status", [P(SavedModel), P(Dataset), c_int64, P(EquivReport)]),
    "gm_run_eval": ("status", [P(SavedModel), c_char_p, c_char_p, c_int64, P(Metrics)]),
    "gm_metrics_free": (None, [P(Metrics)]),
    # configs and runs
    "gm_config_load": ("status", [c_char_p, P(c_void_p)]),
    "gm_config_parse": ("status", [c_char_p, c_char_p, P(c_void_p)]),
    "gm_config_set_all": ("status", [c_void_p, c_int64, P(c_char_p)]),
    "gm_config_to_string": ("status", [c_void_p, P(c_void_p)]),
    "gm_config_output_dir": (c_char_p, [c_void_p]),
    "gm_config_free": (None, [c_void_p]),
    "gm_run_train": ("status", [c_void_p, P(RunOptions), P(RunResult)]),
}


def _candidates():
    env = os.environ.get("GMCNN_LIBRARY")
    if env:
        yield env
    here = os.path.dirname(os.path.abspath(__file__))
    yield os.path.join(here, "libgmcnn.so")
    yield os.path.join(here, "..", "..", "build", "libgmcnn.so")
    found = ctypes.util.find_library("gmcnn")
    if found:
        yield found


def _load():
    tried = []
    for path in _candidates():
        if path and (os.path.exists(path) or "/" not in path):
            try:
                return ctypes.CDLL(path)
            except OSError as e:  # a broken or foreign file: try the next one
                tried.append(f"{path} ({e})")
        else:
            tried.append(f"{path} (missing)")
    raise ImportError("gmcnn: libgmcnn.so not found; build it (make build) or set "
                      "GMCNN_LIBRARY; tried: " + "; ".join(tried))


lib = _load()
_STATUS_NAMES = {0: "GM_OK", -1: "GM_ERR_NOMEM", -2: "GM_ERR_INVALID_ARG",
                 -3: "GM_ERR_GROUP_SPEC", -4: "GM_ERR_GROUP_AXIOM", -5: "GM_ERR_TOO_LARGE",
                 -6: "GM_ERR_IO", -7: "GM_ERR_FORMAT", -8: "GM_ERR_SHAPE", -9: "GM_ERR_NUMERIC",
                 -10: "GM_ERR_NOT_FOUND", -11: "GM_ERR_UNSUPPORTED", -12: "GM_ERR_BUSY",
                 -13: "GM_ERR_INTERRUPTED"}

for _name, _sig in _FUNCTIONS.items():
    _f = getattr(lib, _name)
    _f.restype = ctypes.c_int if _sig[0] == "status" else _sig[0]
    _f.argtypes = _sig[1]

for _cname, _mirror in _MIRRORS.items():
    _size = lib.gm_run_sizeof(_cname.encode())
    if _size != ctypes.sizeof(_mirror):
        raise ImportError(f"gmcnn: the library's {_cname} has {_size} bytes, this package's "
                          f"{ctypes.sizeof(_mirror)}: package and library do not match")


def check(status):
    """Raises GmcnnError for a failed status, with the library's detail."""
    if status == 0:
        return
    detail = (lib.gm_error_detail() or b"").decode(errors="replace")
    if not detail:
        detail = lib.gm_strerror(status).decode()
    raise GmcnnError(_STATUS_NAMES.get(status, str(status)), detail)


class StopFlag:
    """A C int the library reads before every training step; SIGINT sets it
    while a run is in progress, so Ctrl-C stops training cleanly, the last
    checkpoint intact (a second Ctrl-C interrupts as usual)."""

    def __init__(self):
        self.value = ctypes.c_int(0)
        self.interrupted = False
        self._old = None

    def __enter__(self):
        try:
            self._old = signal.signal(signal.SIGINT, self._handler)
        except ValueError:  # not the main thread: no signal handling
            self._old = None
        return self

    def _handler(self, signum, frame):
        self.value.value = 1
        self.interrupted = True
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
        return False
