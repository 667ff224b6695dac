"""Training runs from a config."""
import ctypes
import math
import os

from ._lib import INFO_FN, EPOCH_FN, STEP_FN, RunHooks, RunOptions, RunResult, StopFlag, check, lib

__all__ = ["train"]


def _yaml_value(v):
    """A Python value as the YAML text of an override."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_yaml_value(e) for e in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {_yaml_value(e)}" for k, e in v.items()) + "}"
    if v is None:
        return "null"
    raise TypeError(f"override value {v!r} of type {type(v).__name__}")


def train(config, overrides=None, *, resume=None, data_dir=None, on_epoch=None, on_info=None,
          on_step=None) -> dict:
    """Performs the run a config describes (gm_run_train): `config` is a YAML
    file path or a dict of the same schema (configs/, `gmcnn config keys`);
    `overrides` a dict of dotted keys ({"trainer.max_epochs": 3}), or a list
    of "KEY=VALUE" strings with YAML values, applied as `gmcnn train --set`
    applies them. Progress: on_info(line),
    on_epoch(record dict), on_step(epoch, step, steps, loss); an exception
    raised in one of them stops the run and is raised again here, and
    on_epoch returning False stops it with GmcnnError (GM_ERR_INTERRUPTED). Returns the run's numbers as a dict. Ctrl-C stops training
    before the next step with KeyboardInterrupt, the files as after the
    last finished epoch (resume=<dir>/last.safetensors continues)."""
    cfg = ctypes.c_void_p()
    path = None
    if isinstance(config, dict):
        check(lib.gm_config_parse(_yaml_value(config).encode(), b"<dict>", ctypes.byref(cfg)))
    else:
        path = os.fspath(config)
        check(lib.gm_config_load(path.encode(), ctypes.byref(cfg)))
    try:
        if overrides:
            sets = list(overrides) if isinstance(overrides, (list, tuple)) else \
                [f"{k}={_yaml_value(v)}" for k, v in overrides.items()]
            arr = (ctypes.c_char_p * len(sets))(*[s.encode() for s in sets])
            check(lib.gm_config_set_all(cfg, len(sets), arr))
        return _run(cfg, path, bool(overrides), resume, data_dir, on_epoch, on_info, on_step)
    finally:
        lib.gm_config_free(cfg)


def _run(cfg, path, changed, resume, data_dir, on_epoch, on_info, on_step):
    errors = []

    def info_cb(line, user):
        if on_info:
            try:
                on_info(line.decode(errors="replace"))
            except BaseException as e:  # noqa: BLE001 - reported after the call
                errors.append(e)

    def epoch_cb(rec, user):
        if errors:
            return -13
        r = rec.contents
        record = {name: getattr(r, name) for name, _ in r._fields_}
        if on_epoch:
            try:
                if on_epoch(record) is False:
                    return -13
            except BaseException as e:  # noqa: BLE001
                errors.append(e)
                return -13
        return 0

    def step_cb(epoch, step, steps, loss, user):
        # Entering Python here also lets a pending SIGINT handler run.
        if on_step and not errors:
            try:
                on_step(epoch, step, steps, loss)
            except BaseException as e:  # noqa: BLE001
                errors.append(e)
                stop.value.value = 1

    keep = (INFO_FN(info_cb), EPOCH_FN(epoch_cb), STEP_FN(step_cb))
    with StopFlag() as stop:
        opts = RunOptions(config_path=path.encode() if path else None, config_changed=changed,
                          resume=os.fspath(resume).encode() if resume else None,
                          model_from_data=False,
                          data_dir=os.fspath(data_dir).encode() if data_dir else None,
                          hooks=RunHooks(on_info=keep[0], on_epoch=keep[1], on_step=keep[2],
                                         progress_every=1, user=None),
                          stop=ctypes.pointer(stop.value))
        res = RunResult()
        status = lib.gm_run_train(cfg, ctypes.byref(opts), ctypes.byref(res))
    if errors:
        raise errors[0]
    if status == -13 and stop.interrupted:
        raise KeyboardInterrupt((lib.gm_error_detail() or b"").decode(errors="replace"))
    check(status)
    out = {name: getattr(res, name) for name, _ in res._fields_}
    for k, v in list(out.items()):
        if isinstance(v, float) and math.isnan(v):
            out[k] = None
    out["output_dir"] = lib.gm_config_output_dir(cfg).decode()
    return out
