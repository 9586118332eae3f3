#!/usr/bin/python3
"""tools/bench/pytorch_baseline.py - the PyTorch baseline of nnrt-bench.

Times the canonical suite of tools/nnrt-bench.c (same case labels, shapes,
params, float32, CPU) with PyTorch and writes nnrt-bench's JSON schema, with
one device named "pytorch", for `nnrt-bench --baseline FILE`:

    /usr/bin/python3 tools/bench/pytorch_baseline.py --json pt.json
    build/bin/nnrt-bench --baseline pt.json

Threads: torch.set_num_threads(OMP_NUM_THREADS, else the core count), the
count nnrt's OpenMP uses.  Outputs are preallocated (the `out=` overloads of
the aten ops) where PyTorch offers one, as nnrt-bench preallocates its
outputs (not batch_norm's: its out= overload has no CPU kernel in 1.13);
where PyTorch has several forms of an op, its fastest is timed.  The
backward of an activation is its aten *_backward op; the fwd+bwd cases run
autograd as a user would.  Run it with Debian's python3-torch (1.13); it
needs nothing else.  Limits: the canonical suite only (--suite full is
nnrt's own op list); bytes and flops are left null (the nnrt-bench run
that reads this file supplies them).
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

aten = torch.ops.aten


def threads():
    env = os.environ.get("OMP_NUM_THREADS", "")
    return int(env) if env.isdigit() and int(env) > 0 else (os.cpu_count() or 1)


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def memory_gib():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / (1024.0 * 1024.0)
    except OSError:
        pass
    return None


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return [float(v) for v in f.read().split()[:3]]
    except OSError:
        return [None, None, None]


# ---- the canonical suite: (label, group, op, mode, bound, make) where
# make(scale) returns a function running one iteration ----

def scaled(n, scale):
    return max(1, int(round(n * scale)))


def randn(*shape):
    return torch.randn(*shape, dtype=torch.float32)


def unary(fwd, bwd):
    """fwd(x, out), bwd(g, x, y, out): y is the forward output."""
    def make_fwd(scale):
        x = randn(scaled(4096, scale), 4096)
        y = torch.empty_like(x)
        return lambda: fwd(x, y)

    def make_bwd(scale):
        x = randn(scaled(4096, scale), 4096)
        g = randn(*x.shape)
        y = torch.empty_like(x)
        fwd(x, y)
        gx = torch.empty_like(x)
        return lambda: bwd(g, x, y, gx)

    return make_fwd, make_bwd


UNARY = [
    # relu as threshold(x, 0, 0): the same function (NaN passes), and
    # PyTorch's fastest form of it (aten.relu.out is ~6x slower in 1.13)
    ("relu", lambda x, o: torch.threshold(x, 0, 0, out=o),
     lambda g, x, y, o: aten.threshold_backward.grad_input(g, x, 0, grad_input=o)),
    ("sigmoid", lambda x, o: torch.sigmoid(x, out=o),
     lambda g, x, y, o: aten.sigmoid_backward.grad_input(g, y, grad_input=o)),
    ("tanh", lambda x, o: torch.tanh(x, out=o),
     lambda g, x, y, o: aten.tanh_backward.grad_input(g, y, grad_input=o)),
    ("elu", lambda x, o: torch._C._nn.elu(x, 1.0, 1, 1, out=o),
     lambda g, x, y, o: aten.elu_backward.grad_input(g, 1.0, 1, 1, False, x, grad_input=o)),
    ("softplus", lambda x, o: torch._C._nn.softplus(x, 1, 20, out=o),
     lambda g, x, y, o: aten.softplus_backward.grad_input(g, x, 1, 20, grad_input=o)),
    ("leaky_relu", lambda x, o: torch._C._nn.leaky_relu(x, 0.1, out=o),
     lambda g, x, y, o: aten.leaky_relu_backward.grad_input(g, x, 0.1, False, grad_input=o)),
    ("hardtanh", lambda x, o: torch._C._nn.hardtanh(x, -1, 1, out=o),
     lambda g, x, y, o: aten.hardtanh_backward.grad_input(g, x, -1, 1, grad_input=o)),
]


def softmax_case(log):
    def make(scale):
        x = randn(scaled(4096, scale), 1000)
        y = torch.empty_like(x)
        if log:
            return lambda: aten._log_softmax.out(x, 1, False, out=y)
        return lambda: aten._softmax.out(x, 1, False, out=y)
    return make


def cross_entropy_case(backward):
    def make(scale):
        n = scaled(4096, scale)
        x = randn(n, 1000)
        t = torch.randint(0, 1000, (n,))
        if not backward:
            return lambda: F.cross_entropy(x, t)
        x.requires_grad_(True)
        return lambda: torch.autograd.grad(F.cross_entropy(x, t), [x])
    return make


def batch_norm_case(training, backward):
    def make(scale):
        x = randn(scaled(32, scale), 64, 56, 56)
        w = torch.rand(64) + 0.5
        b = randn(64)
        rm = randn(64)
        rv = torch.rand(64) + 0.5
        if not backward:  # native_batch_norm.out has no CPU kernel in 1.13
            def run():
                with torch.no_grad():
                    F.batch_norm(x, rm, rv, w, b, training, 0.1, 1e-5)
            return run
        for p in (x, w, b):
            p.requires_grad_(True)
        g = randn(*x.shape)
        return lambda: torch.autograd.grad(F.batch_norm(x, rm, rv, w, b, training, 0.1, 1e-5),
                                           [x, w, b], g)
    return make


def rnn_case(kind, backward):
    def make(scale):
        cls = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[kind]
        kw = {"nonlinearity": "tanh"} if kind == "rnn" else {}
        m = cls(512, 512, num_layers=1, **kw)
        x = randn(scaled(50, scale), 64, 512)
        if not backward:
            def run():
                with torch.no_grad():
                    m(x)
            return run
        x.requires_grad_(True)
        params = [x] + list(m.parameters())
        g = randn(x.shape[0], 64, 512)
        return lambda: torch.autograd.grad(m(x)[0], params, g)
    return make


def upsample_case(mode):
    def make(scale):
        x = randn(scaled(16, scale), 64, 128, 128)
        y = torch.empty(x.shape[0], 64, 256, 256)
        if mode == "nearest":
            return lambda: torch._C._nn.upsample_nearest2d(x, [256, 256], 2.0, 2.0, out=y)
        return lambda: torch._C._nn.upsample_bilinear2d(x, [256, 256], True, None, None, out=y)
    return make


def pixel_shuffle_case(scale):
    # F.pixel_shuffle, allocating, beats aten.pixel_shuffle.out in 1.13
    x = randn(scaled(16, scale), 256, 64, 64)
    return lambda: F.pixel_shuffle(x, 2)


def canonical():
    cases = []
    for name, fwd, bwd in UNARY:
        mf, mb = unary(fwd, bwd)
        cases.append((name, "activation", name, "fwd", "memory", mf))
        cases.append((name + "_backward", "activation", name, "bwd", "memory", mb))
    cases += [
        ("softmax", "softmax", "softmax", "fwd", "memory", softmax_case(False)),
        ("log_softmax", "softmax", "log_softmax", "fwd", "memory", softmax_case(True)),
        ("cross_entropy", "loss", "cross_entropy", "fwd", "memory", cross_entropy_case(False)),
        ("cross_entropy fwd+bwd", "loss", "cross_entropy", "fwd+bwd", "memory", cross_entropy_case(True)),
        ("batch_norm train", "batch_norm", "batch_norm", "fwd", "memory", batch_norm_case(True, False)),
        ("batch_norm eval", "batch_norm", "batch_norm", "fwd", "memory", batch_norm_case(False, False)),
        ("batch_norm train fwd+bwd", "batch_norm", "batch_norm", "fwd+bwd", "memory",
         batch_norm_case(True, True)),
    ]
    for kind in ("lstm", "gru", "rnn"):
        cases.append((kind, "rnn", kind, "fwd", "gemm", rnn_case(kind, False)))
        cases.append((kind + " fwd+bwd", "rnn", kind, "fwd+bwd", "gemm", rnn_case(kind, True)))
    cases += [
        ("upsample_nearest2d", "vision", "upsample_nearest2d", "fwd", "memory", upsample_case("nearest")),
        ("upsample_bilinear2d", "vision", "upsample_bilinear2d", "fwd", "memory", upsample_case("bilinear")),
        ("pixel_shuffle", "vision", "pixel_shuffle", "fwd", "memory", pixel_shuffle_case),
    ]
    return cases


def time_case(run, reps, warmup):
    for _ in range(warmup):
        run()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3, min(times) * 1e3


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", help="write the results here (nnrt-bench --baseline reads it)")
    ap.add_argument("--op", action="append", default=[], help="fnmatch pattern on label or op; repeatable")
    ap.add_argument("--reps", type=int, default=None, help="timed runs per case (default 10)")
    ap.add_argument("--warmup", type=int, default=None, help="untimed runs first (default 2)")
    ap.add_argument("--scale", type=float, default=None, help="multiply each case's batch dimension")
    ap.add_argument("--quick", action="store_true", help="--scale 1/64 --reps 1 --warmup 1")
    ap.add_argument("--suite", default="canonical", choices=["canonical"],
                    help="only the canonical suite has a PyTorch baseline")
    a = ap.parse_args()
    reps = a.reps if a.reps is not None else (1 if a.quick else 10)
    warmup = a.warmup if a.warmup is not None else (1 if a.quick else 2)
    scale = a.scale if a.scale is not None else (1.0 / 64 if a.quick else 1.0)
    if reps < 1 or warmup < 0 or not scale > 0:
        ap.error("--reps must be >= 1, --warmup >= 0, --scale > 0")

    import fnmatch
    nt = threads()
    torch.set_num_threads(nt)
    torch.manual_seed(0)
    load_before = loadavg()
    results, cases_out = [], []
    print("pytorch_baseline: torch %s, %d thread(s), %d rep(s) after %d warm-up%s"
          % (torch.__version__, torch.get_num_threads(), reps, warmup, "" if scale == 1 else ", scaled"))
    for label, group, op, mode, bound, make in canonical():
        if a.op and not any(fnmatch.fnmatchcase(label, p) or fnmatch.fnmatchcase(op, p) for p in a.op):
            continue
        entry = {"label": label, "device": "pytorch", "status": "ok", "message": "",
                 "median_ms": None, "min_ms": None, "gbs": None, "gflops": None, "roofline": None,
                 "speedup_vs_ref": None, "fallbacks_per_iter": None, "native": True, "vs_pytorch": None}
        try:
            run = make(scale)
            entry["median_ms"], entry["min_ms"] = time_case(run, reps, warmup)
            del run
            print("  %-26s %10.3f ms" % (label, entry["median_ms"]))
        except Exception as e:  # an op this torch lacks: say so, keep going
            first_line = (str(e).strip().splitlines() or [""])[0]
            entry["status"], entry["message"] = "error", "%s: %s" % (type(e).__name__, first_line)
            print("  %-26s error: %s" % (label, entry["message"]))
        sys.stdout.flush()
        cases_out.append({"label": label, "group": group, "op": op, "mode": mode, "bound": bound,
                          "size": None, "specs": None, "params": None, "bytes": None, "flops": None,
                          "pytorch_ms": entry["median_ms"]})
        results.append(entry)
    doc = {
        "schema": "nnrt-bench/1", "tool": "pytorch_baseline", "suite": a.suite, "dtype": "f32",
        "scale": scale, "reps": reps, "warmup": warmup, "threads": nt,
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "memory_gib": memory_gib(),
                    "copy_gbs": None, "copy_mib": None, "copy_1gib_gbs": None, "sgemm_gflops": None,
                    "sgemm_n": None, "blas": torch.__config__.show().strip().splitlines()[0],
                    "loadavg_before": load_before, "loadavg_after": loadavg()},
        "devices": [{"name": "pytorch", "backend": "pytorch", "version": "torch " + torch.__version__,
                     "description": "PyTorch CPU, %d thread(s)" % torch.get_num_threads()}],
        "cases": cases_out,
        "results": results,
    }
    if a.json:
        with open(a.json, "w") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")
    return 0 if all(r["status"] == "ok" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
