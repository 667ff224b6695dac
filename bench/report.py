"""Merges the JSON results of scripts/bench.sh (gmcnn and its PyTorch peer)
into one report: the machine, the ceilings, every kernel and model benchmark
with its ratios, and the performance targets with pass/fail.

    /usr/bin/python3 bench/report.py RESULTS_DIR [--json FILE] [--markdown FILE]

Standard library only. Ratios: "x gather" = peer time / gmcnn time (how many
times faster gmcnn is); "sgemm eff" = sgemm time / gmcnn's gather-path time for
the same GEMMs (1 = no gather overhead; where the full form runs by FFT, the
gather path is timed separately as "gmcnn-gather"); "vs conv2d" = gmcnn time /
PyTorch conv2d time (below 1 = gmcnn faster). GFLOP/s count the direct
algorithm's multiply-adds, so on the FFT path they are effective rates.
"""
import argparse
import glob
import json
import math
import os
import sys

TARGET_TRAIN_SPEEDUP = 30.0
TARGET_SGEMM_EFF = 0.60
TARGET_CONV2D = 1.5
TARGET_LATENCY_S = 1e-3
TARGET_MEMORY = 0.25


def load(directory):
    recs = []
    for path in sorted(glob.glob(os.path.join(directory, "*.json"))):
        if os.path.basename(path) == "report.json":
            continue
        with open(path) as f:
            data = json.load(f)
        for r in data if isinstance(data, list) else [data]:
            r["_file"] = os.path.basename(path)
            recs.append(r)
    return recs


def fmt(v, spec, dash="-"):
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return dash
    return format(v, spec)


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def kernel_index(recs):
    """{(key, impl): {"fwd": rec, "bwd": rec}}"""
    idx = {}
    for r in recs:
        if r.get("suite") != "kernels":
            continue
        idx.setdefault((r["key"], r["impl"]), {})[r["pass"]] = r
    return idx


def fb_time(entry):
    """forward + backward time, or None when missing or skipped."""
    if not entry or "fwd" not in entry or "bwd" not in entry:
        return None
    f, b = entry["fwd"].get("time_s"), entry["bwd"].get("time_s")
    if f is None or b is None:
        return None
    return f + b


def skipped(entry):
    if entry and "fwd" in entry and "skipped" in entry["fwd"]:
        return entry["fwd"]["skipped"]
    return None


def machine(recs, out):
    gm = next((r for r in recs if r.get("suite") == "machine" and r.get("impl") == "gmcnn"), None)
    pt = next((r for r in recs if r.get("suite") == "machine" and r.get("impl") == "torch"), None)
    out.append("== machine")
    if gm:
        out.append(f"cpu: {gm['cpu']}, threads: {gm['threads']}, load average at start "
                   f"{fmt(gm.get('loadavg1'), '.2f')}")
        out.extend(gm["build"].splitlines())
    if pt:
        out.append(f"peer: torch {pt['torch']} (python {pt['python']}), BLAS {pt['blas']}, "
                   f"mkldnn {pt['mkldnn']}, {pt['threads']} threads")
    ce = next((r for r in recs if r.get("suite") == "ceilings"), None)
    if ce:
        out.append(f"ceilings: sgemm {ce['sgemm_n']}^3 {ce['sgemm_gflops']:.1f} GFLOP/s; "
                   f"triad {ce['triad_gbps_1']:.1f} GB/s (1 thread), {ce['triad_gbps']:.1f} "
                   f"GB/s (all threads)")
    return {"machine": gm, "peer": pt, "ceilings": ce}


def kernels(recs, out, summary):
    idx = kernel_index(recs)
    keys = []
    for r in recs:
        if r.get("suite") == "kernels" and r["impl"] == "gmcnn" and r["key"] not in keys:
            keys.append(r["key"])
    out.append("")
    out.append("== kernels (times in ms; f+b = forward + backward)")
    head = (f"{'op':14s} {'group':8s} {'t':>2s} {'I->O':>8s} {'B':>3s} | {'fwd':>9s} {'bwd':>9s} "
            f"{'GFLOP/s':>8s} | {'sgemm eff':>9s} | {'gather f+b':>10s} {'x gather':>8s} | "
            f"{'conv2d f+b':>10s} {'vs conv2d':>9s}")
    out.append(head)
    out.append("-" * len(head))
    rows = []
    for key in keys:
        g = idx.get((key, "gmcnn"), {})
        if "fwd" not in g:
            continue
        f0 = g["fwd"]
        tg = fb_time(g)
        flops = (f0.get("flops") or 0) * 3
        rate = flops / tg * 1e-9 if flops and tg else None
        if f0["op"] == "gmpool_max":
            rate_s = fmt(f0.get("gbps"), ".1f") + "GB"
        else:
            rate_s = fmt(rate, ".1f")
        ts = fb_time(idx.get((key, "sgemm")))
        tgp = fb_time(idx.get((key, "gmcnn-gather")))
        tga = fb_time(idx.get((key, "torch-gather")))
        tc = fb_time(idx.get((key, "torch-conv2d")))
        row = {"key": key, "op": f0["op"], "group": f0["group"], "batch": f0["batch"],
               "gmcnn_fwd_s": f0["time_s"], "gmcnn_bwd_s": g["bwd"]["time_s"],
               "path": "fft" if tgp else "gather", "gather_path_fb_s": tgp or tg,
               "gmcnn_gflops": rate, "sgemm_eff": ratio(ts, tgp or tg), "gather_fb_s": tga,
               "x_gather": ratio(tga, tg), "conv2d_fb_s": tc, "vs_conv2d": ratio(tg, tc),
               "gather_skipped": skipped(idx.get((key, "torch-gather")))}
        rows.append(row)
        sk = skipped(idx.get((key, "torch-gather")))
        gather_s = "skipped" if sk else fmt(tga and tga * 1e3, ".1f")
        io = f"{f0['cin']}->{f0['cout']}"
        op_s = f0["op"] + ("*" if tgp else "")
        out.append(
            f"{op_s:14s} {f0['group']:8s} {f0['t']:2d} {io:>8s} {f0['batch']:3d} | "
            f"{f0['time_s'] * 1e3:9.3f} {g['bwd']['time_s'] * 1e3:9.3f} {rate_s:>8s} | "
            f"{fmt(row['sgemm_eff'], '.2f'):>9s} | {gather_s:>10s} "
            f"{fmt(row['x_gather'], '.1f'):>8s} | {fmt(tc and tc * 1e3, '.2f'):>10s} "
            f"{fmt(row['vs_conv2d'], '.2f'):>9s}")
    if any(r["path"] == "fft" for r in rows):
        out.append("  (* = FFT path; sgemm eff is that of its gather path, timed separately)")
    skips = {skipped(idx.get((k, "torch-gather"))) for k in keys} - {None}
    for s in sorted(skips):
        out.append(f"  (gather peer skipped where {s})")
    summary["kernels"] = rows
    return rows


def model_order(directory):
    """The configurations in SPEC order (tables/models.json), if present."""
    path = os.path.join(directory, "tables", "models.json")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [m["name"] for m in json.load(f)]


def models(recs, out, summary, order):
    by = {}
    for r in recs:
        if r.get("suite") in ("models", "models-memory"):
            impl = r["impl"] + ("-memory" if r["suite"] == "models-memory" else "")
            by.setdefault(r["key"], {})[impl] = r
    out.append("")
    out.append("== models (training: AdamW steps on random data; img/s; memory: peak RSS of "
               "training at B=128)")
    head = (f"{'model':13s} {'group':8s} {'t':>2s} | {'train':>8s} {'gather':>7s} {'x':>6s} "
            f"{'conv2d':>7s} {'x':>5s} | {'lat B=1 ms':>10s} {'1 thr':>6s} {'gather':>8s} {'conv2d':>7s} | "
            f"{'infer':>8s} {'gather':>7s} {'conv2d':>7s} | {'MiB':>6s} {'gather':>7s} "
            f"{'ratio':>5s}")
    out.append(head)
    out.append("-" * len(head))
    rows = []
    names = [m for m in order if m in by] + sorted(m for m in by if m not in order)
    for name in names:
        d = by[name]
        g = d.get("gmcnn")
        if not g:
            continue
        ga, cv, gm_mem = d.get("torch-gather"), d.get("torch-conv2d"), d.get("torch-gather-memory")
        row = {"model": name, "group": g["group"], "t": g["t"],
               "train_img_s": g["train_img_s"], "train_batch": g["train_batch"],
               "gather_train_img_s": ga and ga["train_img_s"],
               "gather_train_batch": ga and ga["train_batch"],
               "conv2d_train_img_s": cv and cv["train_img_s"],
               "x_gather_train": ratio(g["train_img_s"], ga and ga["train_img_s"]),
               "x_conv2d_train": ratio(g["train_img_s"], cv and cv["train_img_s"]),
               "infer_b1_s": g["infer_b1_s"], "infer_b1_1thread_s": g.get("infer_b1_1thread_s"),
               "gather_infer_b1_s": ga and ga["infer_b1_s"],
               "conv2d_infer_b1_s": cv and cv["infer_b1_s"],
               "infer_img_s": g["infer_img_s"], "gather_infer_img_s": ga and ga["infer_img_s"],
               "gather_infer_batch": ga and ga["infer_batch"],
               "conv2d_infer_img_s": cv and cv["infer_img_s"],
               "peak_train_mib": g["peak_train_mib"],
               "gather_peak_train_mib": gm_mem and gm_mem["peak_train_mib"],
               "gather_base_mib": gm_mem and gm_mem["base_mib"],
               "gather_memory_from": gm_mem and gm_mem.get("extrapolated_from"),
               "memory_ratio": ratio(g["peak_train_mib"], gm_mem and gm_mem["peak_train_mib"])}
        rows.append(row)
        ms = lambda v: fmt(v and v * 1e3, ".3f")  # noqa: E731
        out.append(
            f"{name:13s} {g['group']:8s} {g['t']:2d} | {g['train_img_s']:8.1f} "
            f"{fmt(row['gather_train_img_s'], '.2f'):>7s} {fmt(row['x_gather_train'], '.1f'):>6s} "
            f"{fmt(row['conv2d_train_img_s'], '.1f'):>7s} {fmt(row['x_conv2d_train'], '.2f'):>5s} | "
            f"{ms(g['infer_b1_s']):>10s} {ms(row['infer_b1_1thread_s']):>6s} "
            f"{ms(row['gather_infer_b1_s']):>8s} "
            f"{ms(row['conv2d_infer_b1_s']):>7s} | {g['infer_img_s']:8.1f} "
            f"{fmt(row['gather_infer_img_s'], '.1f'):>7s} "
            f"{fmt(row['conv2d_infer_img_s'], '.1f'):>7s} | {g['peak_train_mib']:6.0f} "
            f"{fmt(row['gather_peak_train_mib'], '.0f'):>7s} "
            f"{fmt(row['memory_ratio'], '.2f'):>5s}")
    if rows:
        r0 = rows[0]
        out.append(f"  batches: gmcnn trains at B={r0['train_batch']} and infers at B=128; the "
                   f"gather peer at B={r0['gather_train_batch']} (train) and "
                   f"B={r0['gather_infer_batch']} (infer); conv2d peer at B=128")
        out.append("  peer memory: one step at B=128 with the default allocator; it includes "
                   f"the PyTorch runtime (~{fmt(r0['gather_base_mib'], '.0f')} MiB before the "
                   "model)")
        ex = [(r["model"], r["gather_memory_from"]) for r in rows if r["gather_memory_from"]]
        for name, fr in ex:
            out.append(f"  {name}: peer memory extrapolated from steps at B={fr[0]} and {fr[1]}")
    summary["models"] = rows
    return rows


def short(key):
    """'gmconv_full|C28xC28|t3|I120|O120|B16' -> 'gmconv_full C28xC28 t3 B16'"""
    k = key.split("|")
    return f"{k[0]} {k[1]} {k[2]} B{k[-1][1:]}"


def targets(krows, mrows, out, summary):
    res = []

    def add(name, value_s, ok, detail):
        res.append({"target": name, "value": value_s, "pass": ok, "detail": detail})

    sp = [(r["x_gather_train"], r["model"]) for r in mrows if r["x_gather_train"] is not None]
    if sp:
        worst = min(sp)
        add(f"training throughput >= {TARGET_TRAIN_SPEEDUP:.0f}x the gather+einsum peer, "
            "every config", f"min {worst[0]:.1f}x ({worst[1]})",
            worst[0] >= TARGET_TRAIN_SPEEDUP,
            ", ".join(f"{m} {v:.1f}x" for v, m in sp))
    eff = [(r["sgemm_eff"], r["key"]) for r in krows
           if r["op"] == "gmconv_full" and r["sgemm_eff"] is not None]
    if eff:
        worst = min(eff)
        add(f"full GMConv fwd+bwd >= {TARGET_SGEMM_EFF:.0%} of the sgemm rate of the same "
            "GEMMs", f"min {worst[0]:.0%} ({short(worst[1])})", worst[0] >= TARGET_SGEMM_EFF,
            ", ".join(f"{k.split('|')[1]} t{k.split('|')[2][1:]} B{k.split('|')[-1][1:]} "
                      f"{v:.0%}" for v, k in eff))
    for op in ("gmconv_full", "gmconv_shared"):
        cv = [(r["vs_conv2d"], r["key"]) for r in krows
              if r["op"] == op and r["vs_conv2d"] is not None]
        if cv:
            worst = max(cv)
            add(f"C_n x C_n {op} fwd+bwd within {TARGET_CONV2D}x of PyTorch conv2d (circular)",
                f"max {worst[0]:.2f}x ({short(worst[1])})", worst[0] <= TARGET_CONV2D,
                ", ".join(f"{k.split('|')[1]} B{k.split('|')[-1][1:]} {v:.2f}x" for v, k in cv))
    mn = next((r for r in mrows if r["model"] == "mnist-noise"), None)
    if mn:
        one = mn.get("infer_b1_1thread_s")
        add("mnist-noise inference latency, one 28x28 image, < 1 ms",
            f"{mn['infer_b1_s'] * 1e3:.3f} ms", mn["infer_b1_s"] < TARGET_LATENCY_S,
            f"on one thread: {one * 1e3:.3f} ms" if one else "")
    mem = [(r["memory_ratio"], r["model"]) for r in mrows if r["memory_ratio"] is not None]
    if mem:
        worst = max(mem)
        add(f"peak training memory at B=128 <= {TARGET_MEMORY:.2f} of the peer's",
            f"max {worst[0]:.2f} ({worst[1]})", worst[0] <= TARGET_MEMORY,
            ", ".join(f"{m} {v:.2f}" for v, m in mem))
    out.append("")
    out.append("== targets")
    for t in res:
        out.append(f"[{'PASS' if t['pass'] else 'FAIL'}] {t['target']}: {t['value']}")
        if t["detail"]:
            out.append(f"       {t['detail']}")
    summary["targets"] = res


def markdown(summary):
    """The tables of the report in Markdown, for docs/performance.md."""
    md = []
    gm, pt, ce = summary.get("machine"), summary.get("peer"), summary.get("ceilings")
    if gm:
        md.append(f"- CPU: {gm['cpu']}, {gm['threads']} threads; load average at the start "
                  f"{fmt(gm.get('loadavg1'), '.2f')}")
        for line in gm["build"].splitlines():
            md.append(f"- {line}")
    if pt:
        md.append(f"- peer: torch {pt['torch']}, BLAS `{pt['blas']}`, mkldnn {pt['mkldnn']}")
    if ce:
        md.append(f"- ceilings: sgemm {ce['sgemm_n']}^3 **{ce['sgemm_gflops']:.1f} GFLOP/s**; "
                  f"triad **{ce['triad_gbps']:.1f} GB/s** ({ce['triad_gbps_1']:.1f} GB/s on one "
                  "thread)")
    md.append("")
    md.append("| op | group | t | I→O | B | path | fwd ms | bwd ms | GFLOP/s | gather-path f+b ms | "
              "sgemm eff | peer gather f+b ms | × gather | conv2d f+b ms | vs conv2d |")
    md.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in summary.get("kernels", []):
        k = r["key"].split("|")
        gather = fmt(r["gather_fb_s"] and r["gather_fb_s"] * 1e3, ".1f")
        if r.get("gather_skipped"):
            gather = "skipped"
        conv = fmt(r["conv2d_fb_s"] and r["conv2d_fb_s"] * 1e3, ".2f")
        rate = fmt(r["gmcnn_gflops"], ".1f") if r["op"] != "gmpool_max" else "-"
        gpath = fmt(r["gather_path_fb_s"] * 1e3, ".2f") if r["op"] != "gmpool_max" else "-"
        md.append(f"| {r['op']} | {r['group']} | {k[2][1:]} | {k[3][1:]}→{k[4][1:]} | "
                  f"{r['batch']} | {r['path']} | {r['gmcnn_fwd_s'] * 1e3:.3f} | "
                  f"{r['gmcnn_bwd_s'] * 1e3:.3f} | {rate} | {gpath} | "
                  f"{fmt(r['sgemm_eff'], '.2f')} | {gather} | "
                  f"{fmt(r['x_gather'], '.1f')} | {conv} | {fmt(r['vs_conv2d'], '.2f')} |")
    md.append("")
    md.append("| model | group | t | train img/s | gather | × | conv2d | × | latency B=1 ms | "
              "1 thread | gather | conv2d | infer img/s | gather | conv2d | peak MiB | "
              "gather | ratio |")
    md.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in summary.get("models", []):
        def ms(v):
            return fmt(v and v * 1e3, ".3f")
        md.append(f"| {r['model']} | {r['group']} | {r['t']} | {r['train_img_s']:.1f} | "
                  f"{fmt(r['gather_train_img_s'], '.2f')} | {fmt(r['x_gather_train'], '.1f')} | "
                  f"{fmt(r['conv2d_train_img_s'], '.1f')} | {fmt(r['x_conv2d_train'], '.2f')} | "
                  f"{ms(r['infer_b1_s'])} | {ms(r['infer_b1_1thread_s'])} | "
                  f"{ms(r['gather_infer_b1_s'])} | {ms(r['conv2d_infer_b1_s'])} | "
                  f"{r['infer_img_s']:.1f} | {fmt(r['gather_infer_img_s'], '.1f')} | "
                  f"{fmt(r['conv2d_infer_img_s'], '.1f')} | {r['peak_train_mib']:.0f} | "
                  f"{fmt(r['gather_peak_train_mib'], '.0f')} | "
                  f"{fmt(r['memory_ratio'], '.2f')} |")
    md.append("")
    md.append("| target | measured | result |")
    md.append("|---|---|---|")
    for t in summary.get("targets", []):
        md.append(f"| {t['target']} | {t['value']} | **{'pass' if t['pass'] else 'FAIL'}** |")
    return "\n".join(md) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results")
    ap.add_argument("--json")
    ap.add_argument("--markdown")
    a = ap.parse_args()
    recs = load(a.results)
    out, summary = [], {}
    summary.update(machine(recs, out))
    krows = kernels(recs, out, summary)
    mrows = models(recs, out, summary, model_order(a.results))
    targets(krows, mrows, out, summary)
    end = os.path.join(a.results, "load-end.txt")
    if os.path.exists(end):
        with open(end) as f:
            out.append("")
            out.append(f.read().strip())
    print("\n".join(out))
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(markdown(summary))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(summary, f, indent=1)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
