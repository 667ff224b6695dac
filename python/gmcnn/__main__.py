"""python3 -m gmcnn: a few of the gmcnn tool's commands from Python.

    python3 -m gmcnn group SPEC                  order, generators, abelian
    python3 -m gmcnn info MODEL                  parameters, input size, standardisation
    python3 -m gmcnn predict MODEL FILE.npy [--top K]
    python3 -m gmcnn train CONFIG [KEY=VALUE ...]
"""
import argparse
import json
import sys

import numpy as np

import gmcnn


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python3 -m gmcnn", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    g = sub.add_parser("group", help="describe a group spec")
    g.add_argument("spec")
    i = sub.add_parser("info", help="describe a saved model")
    i.add_argument("model")
    p = sub.add_parser("predict", help="classes of the images in a .npy file")
    p.add_argument("model")
    p.add_argument("images", help=".npy of (N, C, H, W), (N, H, W) or (N, |G|) images")
    p.add_argument("--top", type=int, default=3)
    t = sub.add_parser("train", help="train from a config")
    t.add_argument("config")
    t.add_argument("set", nargs="*", metavar="KEY=VALUE", help="overrides (VALUE is YAML)")
    a = ap.parse_args(argv)
    try:
        if a.command == "group":
            grp = gmcnn.Group(a.spec)
            gens = ", ".join(grp.element_name(x) for x in grp.generators)
            print(f"{grp.name}: order {grp.order}, generators {gens}, "
                  f"{'abelian' if grp.is_abelian else 'not abelian'}")
        elif a.command == "info":
            m = gmcnn.load(a.model)
            print(f"{a.model}: {m.parameters} parameters, input size {m.input_size}")
            if m.norm_mean is not None:
                print(f"standardised inputs: mean {m.norm_mean.tolist()}, "
                      f"std {m.norm_std.tolist()}")
        elif a.command == "predict":
            m = gmcnn.load(a.model)
            x = np.load(a.images)
            if x.dtype == np.uint8:
                x = x.astype(np.float32) / 255.0
            prob = m.predict(x, probabilities=True)
            for n, row in enumerate(prob):
                top = np.argsort(-row, kind="stable")[:a.top]
                print(f"{a.images}[{n}] " + "  ".join(f"{c}:{row[c]:.4f}" for c in top))
        elif a.command == "train":
            for s in a.set:
                if "=" not in s or s.startswith("="):
                    ap.error(f"override '{s}' is not KEY=VALUE")
            res = gmcnn.train(a.config, a.set, on_info=print,
                              on_epoch=lambda r: print(f"epoch {r['epoch']} val acc "
                                                       f"{r['val_accuracy']:.2f}%"))
            print(json.dumps(res, indent=1))
    except gmcnn.GmcnnError as e:
        print(f"gmcnn: {a.command}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
