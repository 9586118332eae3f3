#!/usr/bin/python3
"""tools/golden/gen.py - golden fixtures from PyTorch 1.13 for every op of
include/nnrt/ops.def, checked by tests/test_golden.c.

Run (Debian's python3-torch; the python3 earlier on PATH may lack torch):

    /usr/bin/python3 tools/golden/gen.py [--out tests/golden] [--check]

It rewrites OUT/manifest.txt and OUT/*.npy (removing .npy files no case
uses any more), and warns about ops of ops.def that have no case, and about
cases where PyTorch's own float32 result misses the float32 tolerance
test_golden.c applies (F32_TOL; such a case needs a tol= of its own).  The
output is deterministic: a rerun gives the same bytes (--check regenerates
into a temporary folder and fails if anything differs from OUT).

Manifest format (one case per line; '#' starts a comment line):

    CASE_ID OP [param=value ...] [in:NAME=FILE ...] [upd:NAME=FILE ...]
            [out:NAME=FILE ...] [tol:f32=RTOL,ATOL] [tol:f64=RTOL,ATOL]
            [skip:f32] [skip:f64]

  CASE_ID   unique, [A-Za-z0-9_.+-], "<op>.<tag>" by convention.
  OP        an op name of ops.def.
  param     a param of the op, formatted for nnrt_params_set(): numbers,
            true/false, enum choice names (reduction=mean), inf/-inf.
            Params not listed keep their ops.def default.
  in:NAME   an input of the op's signature; optional inputs not listed are
            NULL.  Float arrays are stored in float64 (values chosen to be
            exactly representable in float32, so a float32 run reads the
            same inputs); index inputs are int64.
  out:NAME  the expected value of an output; outputs not listed are passed
            as NULL (they must be optional), except that with inplace=true
            the expected `output` is read back from input 0.  Float outputs
            are stored in float64; index outputs (batch_sizes, lengths ...)
            are int64 and compared exactly.
  upd:NAME  for an output flagged NNRT_ARG_UPDATE: the value the tensor
            holds before the call (the momentum buffer, the accumulated
            gradient); the matching out:NAME is its value after the call.
            Gradients that accumulate start from zeros unless the case is
            about accumulation.
  tol:DT    overrides the test's tolerance for dtype f32 or f64:
            |got - expected| <= ATOL + RTOL * |expected|.
  skip:DT   the case is not run in that dtype.

All files live next to the manifest.  Identical files are written once and
shared by the cases of an op and its backward (zeros by every case).

Adding cases for a new op family: write one function decorated with
@family, calling the helpers of the Golden object it receives:

    @family
    def my_losses(g):
        x = g.randn((4, 3))                  # float64, f32-representable
        t = g.randn((4, 3))
        for red in ('none', 'mean', 'sum'):
            g.forward_backward('mse_loss', red, {'reduction': red},
                               lambda p, input, target: F.mse_loss(input, target, reduction=p['reduction']),
                               input=x, target=t)

forward_backward() writes the forward case "<op>.<tag>" and, when ops.def
has "<op>_backward", the backward case "<op>_backward.<tag>", taking the
gradients from autograd and mapping names by convention: the backward's
inputs `grad_output` (random), `output` (the forward's output) and any
forward input of the same name; its outputs `grad_<x>` are the gradients
of forward input x (UPDATE outputs start from zeros).  Anything that does
not fit the convention (saved statistics, several steps of an optimizer)
calls g.case() directly with explicit arrays.  Each family draws its random
numbers from its own generator (seeded from the family's name), so adding
cases to one family leaves the files of the others unchanged.
"""

import argparse
import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zlib

import numpy as np
import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ARG_OPTIONAL, ARG_INDEX, ARG_UPDATE = 1, 2, 4
# test_golden.c's default float32 tolerance (rtol, atol), for _check_f32
F32_TOL = (1e-5, 1e-6)
ID_RE = re.compile(r'^[A-Za-z0-9_.+-]+$')


# ---------------------------------------------------------------------------
# ops.def, read through the C preprocessor so that helper macros such as
# NNRT_UNARY_PAIR expand exactly as the C code sees them.

class Sig:
    def __init__(self, name, params, inputs, outputs):
        self.name = name
        self.params = params    # [(name, kind, default, choices)]
        self.inputs = inputs    # [(name, flags)]
        self.outputs = outputs  # [(name, flags)]

    def param(self, n):
        return next((p for p in self.params if p[0] == n), None)

    def input_flags(self, n):
        return next((f for a, f in self.inputs if a == n), None)

    def output_flags(self, n):
        return next((f for a, f in self.outputs if a == n), None)

    def defaults(self):
        d = {}
        for n, kind, dflt, choices in self.params:
            if kind == 'PE':
                d[n] = choices[int(dflt)]
            elif kind == 'PB':
                d[n] = dflt not in ('0', 'false')
            elif kind == 'PI':
                d[n] = int(dflt)
            elif kind == 'PF':
                d[n] = float(dflt)
        return d


def _flags(text):
    f = 0
    for tok in re.split(r'[\s|()]+', text):
        f |= {'NNRT_ARG_OPTIONAL': ARG_OPTIONAL, 'NNRT_ARG_INDEX': ARG_INDEX,
              'NNRT_ARG_UPDATE': ARG_UPDATE}.get(tok, 0)
    return f


def read_ops_def(root):
    src = ('#define NNRT_OP(name, rule, params, inputs, outputs) '
           '@OP name ;; params ;; inputs ;; outputs @END\n#include "nnrt/ops.def"\n')
    cc = os.environ.get('CC', 'cc')
    out = subprocess.run([cc, '-E', '-P', '-x', 'c', '-I', os.path.join(root, 'include'), '-'],
                         input=src, capture_output=True, text=True, check=True).stdout
    ops = {}
    for m in re.finditer(r'@OP\s+(\w+)\s*;;(.*?);;(.*?);;(.*?)@END', out, re.S):
        name, ptxt, itxt, otxt = m.groups()
        params = []
        for pm in re.finditer(r'\b(PF|PI|PB|PE|PIA|PFA)\(\s*(\w+)\s*,\s*([^,)]*)\s*(?:,\s*"([^"]*)")?\)', ptxt):
            kind, pn, dflt, ch = pm.groups()
            params.append((pn, kind, dflt.strip(), ch.split('|') if ch else None))
        args = lambda t, k: [(a, _flags(f)) for a, f in re.findall(k + r'\(\s*(\w+)\s*,([^()]*(?:\([^()]*\))?[^()]*)\)', t)]
        ops[name] = Sig(name, params, args(itxt, 'TI'), args(otxt, 'TO'))
    if not ops:
        sys.exit('gen.py: no NNRT_OP found in include/nnrt/ops.def')
    return ops


# ---------------------------------------------------------------------------
# the writer

def fmt_value(v):
    if isinstance(v, bool):
        return 'true' if v else 'false'
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        v = float(v)
        if v != v:
            return 'none'
        if v in (float('inf'), float('-inf')):
            return 'inf' if v > 0 else '-inf'
        return repr(v)
    return str(v)


def npy_bytes(a):
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=False)
    return buf.getvalue()


def to_numpy(v, index):
    if isinstance(v, torch.Tensor):
        v = v.detach().cpu().numpy()
    a = np.array(v, order="C")  # (ascontiguousarray would turn 0-d into 1-d)
    if index:
        if a.dtype.kind not in 'iub':
            raise TypeError('index array must be integer, got %s' % a.dtype)
        return a.astype('<i8')
    if a.dtype.kind not in 'fiub':
        raise TypeError('unsupported array dtype %s' % a.dtype)
    return a.astype('<f8')


class Golden:
    def __init__(self, ops, out_dir):
        self.ops = ops
        self.out = out_dir
        self.lines = []
        self.ids = set()
        self.files = {}      # (op group, content digest) -> file name
        self.written = set()
        self.covered = set()
        self.skipped_ops = set()
        self.family = None
        self.rng = None

    # -- random inputs: float64 holding float32-exact values, so the float32
    #    run reads exactly the inputs the expected values were computed from
    def f32(self, a):
        return np.asarray(a, dtype=np.float64).astype(np.float32).astype(np.float64)

    def randn(self, shape, scale=1.0):
        return self.f32(self.rng.standard_normal(shape) * scale)

    def rand(self, shape, lo=0.0, hi=1.0):
        return self.f32(self.rng.uniform(lo, hi, shape))

    def randint(self, lo, hi, shape):
        return self.rng.integers(lo, hi, shape, dtype=np.int64)

    def avoid(self, x, points, margin=0.05):
        """x with every element closer than margin to one of points pushed
        to distance margin (kinks of piecewise functions)."""
        x = np.array(x, dtype=np.float64)
        for k in points:
            d = x - k
            near = np.abs(d) < margin
            x[near] = k + np.where(d[near] >= 0, margin, -margin)
        return self.f32(x)

    # -- one case
    def _file(self, name, arr):
        data = npy_bytes(arr)
        zeros = not arr.any() and not np.signbit(arr).any()
        # identical files are shared between an op and its backward (so a
        # name always tells where the data comes from); zeros everywhere
        group = '' if zeros else re.sub(r'_backward$', '', name.split('.')[0])
        key = (group, hashlib.sha256(data).hexdigest())
        if key not in self.files:
            fname = name + '.npy'
            if zeros:
                fname = 'zeros.%s.%s.npy' % (arr.dtype.str[1:], 'x'.join(map(str, arr.shape)) or 'scalar')
            if fname in self.written:
                raise ValueError('file name %s used twice' % fname)
            with open(os.path.join(self.out, fname), 'wb') as f:
                f.write(data)
            self.files[key] = fname
            self.written.add(fname)
        return self.files[key]

    def case(self, cid, op, params=None, inputs=None, outputs=None, updates=None, tol=None, skip=()):
        """Writes one case.  params: {name: value}; inputs: {name: array or
        None}; outputs: {name: expected array}; updates: {name: array the
        UPDATE output holds before the call}; tol: {'f32': (rtol, atol)};
        skip: dtypes not to run ('f32', 'f64')."""
        params, inputs, outputs, updates = params or {}, inputs or {}, outputs or {}, updates or {}
        if not ID_RE.match(cid):
            raise ValueError('%s: case id may only use [A-Za-z0-9_.+-]' % cid)
        if cid in self.ids:
            raise ValueError('%s: duplicate case id' % cid)
        sig = self.ops.get(op)
        if sig is None:
            if op not in self.skipped_ops:
                print('gen.py: warning: op %s is not in ops.def; its cases are left out' % op, file=sys.stderr)
            self.skipped_ops.add(op)
            return
        self.ids.add(cid)
        self.covered.add(op)
        toks = [cid, op]
        for pn, kind, _, choices in sig.params:
            if pn not in params:
                continue
            v = params[pn]
            if kind == 'PE' and v not in choices:
                raise ValueError('%s: %s=%r is not one of %s' % (cid, pn, v, choices))
            toks.append('%s=%s' % (pn, fmt_value(v)))
        for pn in params:
            if not sig.param(pn):
                raise ValueError('%s: op %s has no param %s' % (cid, op, pn))
        for an, fl in sig.inputs:
            v = inputs.get(an)
            if v is None:
                if not fl & ARG_OPTIONAL:
                    raise ValueError('%s: required input %s missing' % (cid, an))
                continue
            toks.append('in:%s=%s' % (an, self._file('%s.%s' % (cid, an), to_numpy(v, fl & ARG_INDEX))))
        for n in inputs:
            if sig.input_flags(n) is None:
                raise ValueError('%s: op %s has no input %s' % (cid, op, n))
        for an, fl in sig.outputs:
            if an in updates:
                if not fl & ARG_UPDATE:
                    raise ValueError('%s: output %s is not NNRT_ARG_UPDATE' % (cid, an))
                if an not in outputs:
                    raise ValueError('%s: upd:%s needs an out:%s' % (cid, an, an))
                toks.append('upd:%s=%s' % (an, self._file('%s.%s.before' % (cid, an), to_numpy(updates[an], False))))
        inplace = bool(params.get('inplace'))
        for i, (an, fl) in enumerate(sig.outputs):
            if an not in outputs:
                if not fl & ARG_OPTIONAL and not (inplace and i == 0):
                    raise ValueError('%s: required output %s has no expected value' % (cid, an))
                continue
            if fl & ARG_UPDATE and an not in updates:
                raise ValueError('%s: UPDATE output %s needs upd:%s (zeros for a fresh gradient)' % (cid, an, an))
            toks.append('out:%s=%s' % (an, self._file('%s.%s' % (cid, an), to_numpy(outputs[an], fl & ARG_INDEX))))
        for n in list(outputs) + list(updates):
            if sig.output_flags(n) is None:
                raise ValueError('%s: op %s has no output %s' % (cid, op, n))
        for dt, (rt, at) in sorted((tol or {}).items()):
            toks.append('tol:%s=%s,%s' % (dt, fmt_value(float(rt)), fmt_value(float(at))))
        for dt in sorted(skip):
            toks.append('skip:%s' % dt)
        self.lines.append(' '.join(toks))

    # -- forward and backward from autograd
    def forward_backward(self, op, tag, params, fn, grad_output=None, accumulate=False, omit=(),
                         tol=None, tol_backward=None, skip=(), skip_backward=None, backward=True, **inputs):
        """Forward case "<op>.<tag>" and backward case "<op>_backward.<tag>".

        fn(p, **tensors) computes the forward in torch; p holds every param
        of the op (defaults of ops.def filled in).  inputs are arrays (None
        for an optional input left out).  grad_output: array for the
        backward's grad_output (default: random of the output's shape).
        accumulate: UPDATE gradients start from random values instead of
        zeros.  omit: backward outputs passed as NULL.  tol applies to both
        cases unless tol_backward is given; skip likewise unless
        skip_backward is given."""
        sig = self.ops.get(op)
        if sig is None:
            self.case('%s.%s' % (op, tag), op)  # warns once
            return
        full = sig.defaults()
        full.update(params)
        bsig = self.ops.get(op + '_backward') if backward else None
        want_grad = {o[5:] for o, _ in (bsig.outputs if bsig else []) if o.startswith('grad_')}
        fid, bid = '%s.%s' % (op, tag), '%s_backward.%s' % (op, tag)
        tens = self._tensors(fid, sig, inputs, want_grad, torch.float64)
        y = fn(full, **tens)
        outs = y if isinstance(y, dict) else {sig.outputs[0][0]: y}
        fwd_out = {k: v.detach() for k, v in outs.items()}
        self.case(fid, op, params, inputs, fwd_out, tol=tol, skip=skip)
        # the same in float32, only to check that PyTorch's own float32
        # meets the tolerance the test will apply to ours
        t32 = self._tensors(fid, sig, inputs, want_grad, torch.float32)
        y32 = fn(full, **t32)
        outs32 = y32 if isinstance(y32, dict) else {sig.outputs[0][0]: y32}
        self._check_f32(fid, fwd_out, outs32, tol, skip)
        if not bsig:
            return
        if len(outs) != 1:
            raise ValueError('%s: forward_backward handles one differentiable output' % fid)
        (yname, yt), = outs.items()
        g = self.f32(self.rng.standard_normal(tuple(yt.shape))) if grad_output is None else np.asarray(grad_output, dtype=np.float64)
        diff = [n for n in want_grad if tens.get(n) is not None and tens[n].requires_grad]
        grads = torch.autograd.grad(yt, [tens[n] for n in diff], torch.tensor(g), allow_unused=True) if diff else []
        gmap = {n: (gr if gr is not None else torch.zeros_like(tens[n])) for n, gr in zip(diff, grads)}
        grads32 = (torch.autograd.grad(outs32[yname], [t32[n] for n in diff], torch.tensor(g, dtype=torch.float32),
                                       allow_unused=True) if diff else [])
        bin_ = {}
        for an, _ in bsig.inputs:
            if an == 'grad_output':
                bin_[an] = g
            elif an == yname:
                bin_[an] = yt.detach()
            elif an in inputs:
                bin_[an] = inputs[an]
        bout, bupd, want32, got32 = {}, {}, {}, {}
        for an, fl in bsig.outputs:
            x = an[5:] if an.startswith('grad_') else None
            if x not in gmap or an in omit:
                continue
            gr = gmap[x].detach().numpy()
            want32[an] = gr
            g32 = grads32[diff.index(x)]
            got32[an] = g32 if g32 is not None else torch.zeros(gr.shape)
            if fl & ARG_UPDATE:
                start = self.randn(gr.shape) if accumulate else np.zeros(gr.shape)
                bupd[an] = start
                gr = start + gr
            bout[an] = gr
        bparams = {k: v for k, v in params.items() if bsig.param(k)}
        btol = tol if tol_backward is None else tol_backward
        bskip = skip if skip_backward is None else skip_backward
        self.case(bid, op + '_backward', bparams, bin_, bout, bupd, tol=btol, skip=bskip)
        self._check_f32(bid, want32, got32, btol, bskip)

    @staticmethod
    def _tensors(cid, sig, inputs, want_grad, dtype):
        tens = {}
        for n, v in inputs.items():
            if v is None:
                tens[n] = None
                continue
            fl = sig.input_flags(n)
            if fl is None:
                raise ValueError('%s: op %s has no input %s' % (cid, sig.name, n))
            if fl & ARG_INDEX:
                tens[n] = torch.as_tensor(np.asarray(v, dtype=np.int64))
            else:
                tens[n] = torch.tensor(np.asarray(v, dtype=np.float64), dtype=dtype, requires_grad=n in want_grad)
        return tens

    def _check_f32(self, cid, want, got, tol, skip):
        """Warns when PyTorch's float32 result misses the float32 tolerance
        of test_golden.c (then ours may be fine and the case needs tol=)."""
        if 'f32' in skip or cid not in self.ids:
            return
        rtol, atol = (tol or {}).get('f32', F32_TOL)
        for name, w in want.items():
            w = np.asarray(w.detach().numpy() if isinstance(w, torch.Tensor) else w, dtype=np.float64)
            g = got[name].detach().double().numpy()
            with np.errstate(invalid='ignore'):
                same = (np.isnan(w) & np.isnan(g)) | (np.isinf(w) & (g == w))
                score = np.where(same, 0.0, np.abs(g - w) / (atol + rtol * np.abs(w)))
            score = np.where(np.isnan(score), np.inf, score)
            if score.size and score.max() > 1:
                i = np.unravel_index(np.argmax(score), score.shape)
                print('gen.py: warning: %s: PyTorch float32 misses the f32 tolerance on %s at %s: %r vs %r' %
                      (cid, name, list(i), float(g[i]), float(w[i])), file=sys.stderr)

    def write_manifest(self):
        head = ['# tests/golden/manifest.txt - generated by tools/golden/gen.py from PyTorch %s;' % torch.__version__,
                '# do not edit: change gen.py and rerun it.  Format: see tests/golden/README.md.',
                '# CASE_ID OP [param=value ...] [in:NAME=FILE ...] [upd:NAME=FILE ...] [out:NAME=FILE ...]',
                '#         [tol:f32|f64=RTOL,ATOL] [skip:f32|f64]']
        with open(os.path.join(self.out, 'manifest.txt'), 'w') as f:
            f.write('\n'.join(head + self.lines) + '\n')


FAMILIES = []


def family(fn):
    """Registers a case family: fn(g) writes cases through g."""
    FAMILIES.append(fn)
    return fn


# ---------------------------------------------------------------------------
# families

# name -> (torch forward fn(x, p), kinks(p), param variants)
UNARY = {
    'relu': (lambda x, p: F.relu(x), lambda p: [0.0], [{}]),
    'relu6': (lambda x, p: F.relu6(x), lambda p: [0.0, 6.0], [{}]),
    'elu': (lambda x, p: F.elu(x, p['alpha']), lambda p: [0.0], [{}, {'alpha': 0.5}, {'alpha': 2.0}]),
    'leaky_relu': (lambda x, p: F.leaky_relu(x, p['negative_slope']), lambda p: [0.0],
                   [{}, {'negative_slope': 0.2}, {'negative_slope': -0.5}]),
    'threshold': (lambda x, p: F.threshold(x, p['threshold'], p['value']), lambda p: [p['threshold']],
                  [{'threshold': 0.125, 'value': 20.0}, {'threshold': -0.5, 'value': -2.0}]),
    'hardtanh': (lambda x, p: F.hardtanh(x, p['min_val'], p['max_val']), lambda p: [p['min_val'], p['max_val']],
                 [{}, {'min_val': -2.0, 'max_val': 0.5}]),
    'sigmoid': (lambda x, p: torch.sigmoid(x), lambda p: [], [{}]),
    'tanh': (lambda x, p: torch.tanh(x), lambda p: [], [{}]),
    'logsigmoid': (lambda x, p: F.logsigmoid(x), lambda p: [], [{}]),
    'softplus': (lambda x, p: F.softplus(x, p['beta'], p['threshold']), lambda p: [p['threshold'] / p['beta']],
                 [{}, {'beta': 2.0, 'threshold': 5.0}, {'beta': 0.5, 'threshold': 1.0}]),
    'softshrink': (lambda x, p: F.softshrink(x, p['lambd']), lambda p: [-p['lambd'], p['lambd']],
                   [{}, {'lambd': 1.5}, {'lambd': 0.0}]),
    'softsign': (lambda x, p: F.softsign(x), lambda p: [], [{}]),
    'tanhshrink': (lambda x, p: F.tanhshrink(x), lambda p: [], [{}]),
    'gelu': (lambda x, p: F.gelu(x, approximate=p['approximate']), lambda p: [],
             [{'approximate': 'none'}, {'approximate': 'tanh'}]),
    'silu': (lambda x, p: F.silu(x), lambda p: [], [{}]),
    'mish': (lambda x, p: F.mish(x), lambda p: [], [{}]),
    'hardswish': (lambda x, p: F.hardswish(x), lambda p: [-3.0, 3.0], [{}]),
    'hardsigmoid': (lambda x, p: F.hardsigmoid(x), lambda p: [-3.0, 3.0], [{}]),
    'selu': (lambda x, p: F.selu(x), lambda p: [0.0], [{}]),
    'celu': (lambda x, p: F.celu(x, p['alpha']), lambda p: [0.0], [{}, {'alpha': 2.0}, {'alpha': 0.5}]),
    'hardshrink': (lambda x, p: F.hardshrink(x, p['lambd']), lambda p: [-p['lambd'], p['lambd']],
                   [{}, {'lambd': 1.5}]),
}

# Large magnitudes: exp overflow and saturation in every formula.
EXTREME = [-1e4, -1e3, -100.0, -50.0, -30.0, -20.5, -5.0, -2.5, 2.5, 5.0, 20.5, 30.0, 50.0, 100.0, 1e3, 1e4]
# A spread of ordinary to large values, away from the kinks at 0, +-0.5,
# +-1, +-1.5, +-3, 6 and softplus' 20.
WIDE = [-60.0, -35.25, -19.75, -10.5, -5.25, -2.75, -1.25, -0.75, -0.375, -0.125,
        0.125, 0.375, 0.75, 1.25, 2.75, 5.25, 10.5, 19.75, 35.25, 60.0]


def _tag(p):
    return '_'.join('%s_%s' % (k, fmt_value(v)) for k, v in sorted(p.items())) or 'default'


def _vector_loop(fn):
    """call(p, input) for forward_backward from a UNARY fn(x, p), run so
    that every element of input goes through PyTorch's vectorized loop.

    PyTorch 1.13's elementwise CPU kernels (cpu_kernel_vec) have a vector
    body, run on whole chunks of 2 vector widths, and a scalar body, run on
    the last elements of a tensor that fill no chunk; at a NaN input the
    two disagree for the backward of relu6, elu, hardtanh, softshrink,
    hardshrink, hardswish, selu and celu (the vector body gives 0 or NaN
    where the scalar one passes g), and hardswish_backward at x = 3 gives g
    in the vector body, 1.5 g in the scalar one.  The vector body is what a
    tensor of any size gets nearly everywhere, on every CPU (the non-SIMD
    build runs the same vector code on plain arrays), so it is the
    reference: the input is flattened and followed by 64 ordinary values
    (more than any chunk), and the result cut back."""
    def call(p, input):
        flat = input.reshape(-1)
        y = fn(torch.cat([flat, torch.full((64,), 0.5, dtype=input.dtype)]), p)
        return y[:flat.numel()].reshape(input.shape)
    return call


@family
def activations(g):
    for op, (fn, kinks, variants) in UNARY.items():
        call = _vector_loop(fn)
        # PyTorch 1.13's hardsigmoid_backward multiplies by one_sixth =
        # 1.0f / 6.0f, a float constant even in float64: its gradients are
        # 3e-8 (relative) off g/6, so the float64 check is loosened to that.
        btol = {'f64': (1e-7, 1e-12)} if op == 'hardsigmoid' else None
        has_inplace = g.ops[op].param('inplace') is not None if op in g.ops else False
        for v in variants:
            full = g.ops[op].defaults() if op in g.ops else {}
            full.update(v)
            k = kinks(full)
            t = _tag(v)
            x = g.avoid(g.randn((2, 3, 4), 4.0), k)
            g.forward_backward(op, t, v, call, tol_backward=btol, input=x)
            if k:
                # PyTorch's convention exactly at the kinks, and just beside
                pts = sorted({p + d for p in k for d in (-0.25, 0.0, 0.25)} | {0.0})
                g.forward_backward(op, t + '.kink', v, call, tol_backward=btol, input=g.f32(pts))
        g.forward_backward(op, 'wide', {}, call, tol_backward=btol, input=g.f32(np.array(WIDE).reshape(4, 5)))
        g.forward_backward(op, 'extreme', {}, call, tol_backward=btol, input=g.f32(np.array(EXTREME).reshape(2, 8)))
        if has_inplace:
            # inplace=true: the result is read back from the input tensor
            x = g.avoid(g.randn((3, 4), 3.0), kinks(g.ops[op].defaults()))
            g.case('%s.inplace' % op, op, {'inplace': True}, {'input': x},
                   {'output': fn(torch.tensor(x), g.ops[op].defaults())})
    # shapes: 0-d, 1-d, empty, 5-d
    for tag, x in (('scalar', g.f32(0.75)), ('empty', np.zeros((0, 3))),
                   ('d5', g.randn((2, 1, 2, 3, 2), 2.0))):
        for op in ('sigmoid', 'relu', 'gelu'):
            g.forward_backward(op, tag, {}, _vector_loop(UNARY[op][0]), input=x)
    # softplus with large beta*x in both regimes
    g.forward_backward('softplus', 'extreme.beta_2', {'beta': 2.0, 'threshold': 5.0}, _vector_loop(UNARY['softplus'][0]),
                       input=g.f32(np.array(EXTREME).reshape(2, 8)))


@family
def prelu(g):
    fn = lambda p, input, weight: F.prelu(input, weight)
    shapes = (('w1_2d', (4, 3), 1), ('wC_2d', (4, 3), 3), ('wC_3d', (2, 3, 4), 3), ('w1_3d', (2, 3, 4), 1),
              ('wC_4d', (2, 3, 2, 2), 3), ('w1_4d', (2, 3, 2, 2), 1), ('w1_1d', (5,), 1))
    for tag, shape, nw in shapes:
        x = g.avoid(g.randn(shape, 2.0), [0.0])
        w = g.rand((nw,), -0.5, 1.5)
        g.forward_backward('prelu', tag, {}, fn, input=x, weight=w)
    x = g.f32(np.array([[-1.0, 0.0, 1.0], [0.0, -0.0, 2.0], [-3.0, 0.5, 0.0]]))
    w = g.f32([0.25, -0.5, 2.0])
    g.forward_backward('prelu', 'kink', {}, fn, input=x, weight=w)
    x, w = g.avoid(g.randn((2, 3, 4), 2.0), [0.0]), g.rand((3,), 0.0, 1.0)
    g.forward_backward('prelu', 'accumulate', {}, fn, accumulate=True, input=x, weight=w)
    g.forward_backward('prelu', 'only_grad_weight', {}, fn, omit=('grad_input',), input=x, weight=w)
    g.forward_backward('prelu', 'only_grad_input', {}, fn, omit=('grad_weight',), input=x, weight=w)


@family
def softmax(g):
    fns = {'softmax': lambda p, input: F.softmax(input, p['dim']),
           'softmin': lambda p, input: F.softmin(input, p['dim']),
           'log_softmax': lambda p, input: F.log_softmax(input, p['dim'])}
    inf = float('inf')
    for op, fn in fns.items():
        x = g.randn((2, 3, 4), 2.0)
        for d in (0, 1, 2, -1, -2):
            g.forward_backward(op, 'd3_dim_%d' % d, {'dim': d}, fn, input=x)
        g.forward_backward(op, 'd2_default', {}, fn, input=g.randn((3, 5), 2.0))
        g.forward_backward(op, 'd1', {'dim': 0}, fn, input=g.randn((5,), 2.0))
        g.forward_backward(op, 'd1_dim_-1', {'dim': -1}, fn, input=g.randn((5,), 2.0))
        g.forward_backward(op, 'd4_dim_1', {'dim': 1}, fn, input=g.randn((2, 3, 2, 2), 2.0))
        g.forward_backward(op, 'single', {'dim': 1}, fn, input=g.randn((3, 1), 2.0))
        sign = -1.0 if op == 'softmin' else 1.0
        ext = sign * np.array([[1e4, 9999.0, 9998.5, -1e4], [-1e4, -1e4, -9999.0, -9999.5],
                               [0.0, 1e4, -1e4, 5.0], [1e3, -1e3, 500.0, -500.0]])
        g.forward_backward(op, 'extreme', {'dim': 1}, fn, input=g.f32(ext))
        g.forward_backward(op, 'extreme_dim_0', {'dim': 0}, fn, input=g.f32(ext))
        # -inf entries (softmin: +inf) get probability 0, log -inf
        part = sign * np.array([[0.0, -inf, 1.0, 2.0], [-inf, 3.0, -inf, -1.0]])
        g.forward_backward(op, 'neg_inf', {'dim': 1}, fn, input=part)
        # a line of nothing but -inf: NaN, as PyTorch gives
        allinf = sign * np.array([[-inf, -inf, -inf], [0.5, -inf, 1.0]])
        g.forward_backward(op, 'all_neg_inf', {'dim': 1}, fn, backward=False, input=allinf)


@family
def linear(g):
    fn = lambda p, input, weight, bias=None: F.linear(input, weight, bias)
    for tag, xs, (o, i), bias in (('d2_bias', (4, 3), (5, 3), True), ('d2_nobias', (4, 3), (5, 3), False),
                                  ('d3_bias', (2, 3, 4), (5, 4), True), ('d3_nobias', (2, 3, 4), (2, 4), False),
                                  ('d1_bias', (3,), (2, 3), True), ('d4_bias', (2, 2, 2, 3), (4, 3), True),
                                  ('out1', (3, 4), (1, 4), True)):
        x, w = g.randn(xs), g.rand((o, i), -0.5, 0.5)
        b = g.rand((o,), -0.5, 0.5) if bias else None
        g.forward_backward('linear', tag, {}, fn, input=x, weight=w, bias=b)
    x, w, b = g.randn((3, 4)), g.rand((2, 4), -0.5, 0.5), g.rand((2,), -0.5, 0.5)
    g.forward_backward('linear', 'accumulate', {}, fn, accumulate=True, input=x, weight=w, bias=b)
    g.forward_backward('linear', 'only_grad_input', {}, fn, omit=('grad_weight', 'grad_bias'), input=x, weight=w, bias=b)
    g.forward_backward('linear', 'only_param_grads', {}, fn, omit=('grad_input',), input=x, weight=w, bias=b)
    g.forward_backward('linear', 'only_grad_weight', {}, fn, omit=('grad_input', 'grad_bias'), input=x, weight=w, bias=b)


@family
def cross_entropy(g):
    def fn(p, input, target, weight=None):
        return F.cross_entropy(input, target, weight, ignore_index=p['ignore_index'],
                               reduction=p['reduction'], label_smoothing=p['label_smoothing'])

    def run(tag, x, t, w=None, tol=None, **p):
        for red in ('none', 'mean', 'sum'):
            q = dict(p, reduction=red)
            gy = g.f32(0.75) if red != 'none' else None
            g.forward_backward('cross_entropy', '%s.%s' % (tag, red), q, fn, grad_output=gy, tol=tol,
                               input=x, target=t, weight=w)

    N, C = 5, 4
    x, t, w = g.randn((N, C), 2.0), g.randint(0, C, (N,)), g.rand((C,), 0.2, 2.0)
    run('plain', x, t)
    run('weight', x, t, w)
    ti = t.copy()
    ti[[1, 3]] = -100
    run('ignore', x, ti)
    run('ignore.weight', x, ti, w)
    tc = t.copy()
    tc[[0, 2]] = 1
    run('ignore_class_1', x, tc, w, ignore_index=1)
    run('ls', x, t, label_smoothing=0.1)
    run('ls.weight', x, t, w, label_smoothing=0.2)
    run('ls.ignore', x, ti, label_smoothing=0.3)
    run('ls.ignore.weight', x, ti, w, label_smoothing=0.15)
    run('ls_1', x, t, w, label_smoothing=1.0)
    # (N, C, d1, d2) input, (N, d1, d2) target
    xk, tk, wk = g.randn((2, 3, 2, 2), 2.0), g.randint(0, 3, (2, 2, 2)), g.rand((3,), 0.2, 2.0)
    run('kdim', xk, tk)
    tki = tk.copy()
    tki[0, 1, 0] = tki[1, 0, 1] = -100
    run('kdim.ignore.weight', xk, tki, wk)
    run('kdim.ls.ignore.weight', xk, tki, wk, label_smoothing=0.1)
    xk1, tk1 = g.randn((2, 4, 3), 2.0), g.randint(0, 4, (2, 3))
    run('kdim1.weight', xk1, tk1, g.rand((4,), 0.2, 2.0))
    # (C) input with a 0-d target
    run('unbatched', g.randn((C,), 2.0), np.array(2, dtype=np.int64))
    run('unbatched.ls.weight', g.randn((C,), 2.0), np.array(0, dtype=np.int64), w, label_smoothing=0.1)
    # every target ignored: mean is 0/0 = NaN, sum 0, gradients 0
    ta = np.full((N,), -100, dtype=np.int64)
    run('all_ignored', x, ta)
    run('all_ignored.weight', x, ta, w)
    run('all_ignored.ls', x, ta, label_smoothing=0.1)
    # logits of magnitude 1e4
    xe = g.f32(np.array([[1e4, -1e4, 0.0, 9999.0], [-1e4, -1e4, -1e4, -9999.5], [1e4, 1e4, -1e4, 1e4],
                         [0.0, 0.5, -1e3, 1e3], [-5e3, 5e3, 2.0, -2.0]]))
    te = np.array([1, 3, 2, 2, 0], dtype=np.int64)
    run('extreme', xe, te)
    run('extreme.ls.weight', xe, te, w, label_smoothing=0.1)


@family
def nonfinite(g):
    """NaN, +inf and -inf through every activation, the softmax family,
    prelu and cross_entropy, forward and backward: where PyTorch 1.13 sends
    them (float64, elementwise ops in its vectorized loop: _vector_loop) is
    the reference.  Each unary op and param variant gets two cases:
    non-finite inputs with finite gradients (`nonfinite`), and finite
    inputs away from the kinks with NaN and infinite gradients
    (`nonfinite_grad`: a backward that selects g differs there from one
    that multiplies it)."""
    nan, inf = float('nan'), float('inf')
    # the same values in other places in each row, so that a vectorized
    # loop meets them in several lane positions
    xs = np.array([[nan, inf, -inf, 0.5, -0.5, nan],
                   [-inf, nan, inf, -2.75, 2.75, inf],
                   [1.25, -inf, nan, inf, -1.25, -inf]])
    gy = np.array([[nan, 1.5, -inf, inf, -0.75, nan],
                   [inf, nan, 0.5, -inf, nan, -1.25],
                   [-inf, 2.0, inf, nan, -inf, 0.25]])
    # finite inputs for the non-finite gradients: both sides of every kink
    # and the saturated ends
    spread = np.array([[-6.5, -3.75, -2.75, -1.75, -1.25, -0.625], [-0.375, -0.125, 0.125, 0.375, 0.75, 1.25],
                       [1.75, 2.75, 3.75, 6.5, 0.625, -0.75]])
    # Backward cases whose PyTorch values are artefacts of its autograd
    # graph, not of a formula for the derivative (the forward cases run):
    #  - softsign is x / (1 + |x|) differentiated piece by piece,
    #    g/(1+|x|) - g x sgn(x)/(1+|x|)^2: at x = +-inf that is
    #    0 - inf/inf = NaN where the derivative tends to 0, and any
    #    infinite g gives inf - inf = NaN; ours is g / (1+|x|)^2.
    #  - tanhshrink is x - tanh(x) likewise: an infinite g gives
    #    g - g (1 - tanh^2) = inf - inf = NaN; ours is g tanh^2.
    # (The infinite gradients sit where no derivative underflows in
    # float32: there an infinite g would meet 0, NaN in float32 only.)
    artefact = {'softsign_backward.nonfinite.default': ('f32', 'f64'),
                'softsign_backward.nonfinite_grad.default': ('f32', 'f64'),
                'tanhshrink_backward.nonfinite_grad.default': ('f32', 'f64')}
    for op, (fn, kinks, variants) in UNARY.items():
        btol = {'f64': (1e-7, 1e-12)} if op == 'hardsigmoid' else None
        for v in variants:
            full = g.ops[op].defaults() if op in g.ops else {}
            full.update(v)
            t = _tag(v)
            g.forward_backward(op, 'nonfinite.' + t, v, _vector_loop(fn), tol_backward=btol,
                               skip_backward=artefact.get('%s_backward.nonfinite.%s' % (op, t), ()), input=xs)
            x = g.avoid(spread, kinks(full) + [0.0])
            g.forward_backward(op, 'nonfinite_grad.' + t, v, _vector_loop(fn), grad_output=gy, tol_backward=btol,
                               skip_backward=artefact.get('%s_backward.nonfinite_grad.%s' % (op, t), ()), input=x)
        if '%s_backward.nonfinite.default' % op in artefact:
            # NaN alone, which the artefact above does not touch
            xn = np.where(np.isinf(xs), 1.75, xs)
            g.forward_backward(op, 'nan', {}, _vector_loop(fn), tol_backward=btol, input=xn)

    fns = {'softmax': lambda p, input: F.softmax(input, p['dim']),
           'softmin': lambda p, input: F.softmin(input, p['dim']),
           'log_softmax': lambda p, input: F.log_softmax(input, p['dim'])}
    for op, fn in fns.items():
        sign = -1.0 if op == 'softmin' else 1.0
        # rows: a NaN; one +inf (softmin: -inf); two of them; +inf beside
        # -inf; NaN beside +inf
        x = np.array([[0.5, nan, 1.0, -2.0], [sign * inf, 0.0, 1.0, -1.0], [sign * inf, sign * inf, 0.0, 1.0],
                      [-sign * inf, sign * inf, 0.25, 1.0], [nan, sign * inf, -sign * inf, 0.0]])
        g.forward_backward(op, 'nonfinite', {'dim': 1}, fn, input=x)
        g.forward_backward(op, 'nonfinite_dim_0', {'dim': 0}, fn, input=np.ascontiguousarray(x.T))

    pfn = lambda p, input, weight: F.prelu(input, weight)
    x = np.array([[nan, inf, -inf], [-inf, nan, inf], [-1.5, 2.0, -0.5], [inf, -inf, nan]])
    g.forward_backward('prelu', 'nonfinite.wC', {}, pfn, input=x, weight=g.f32([0.25, -0.5, 2.0]))
    g.forward_backward('prelu', 'nonfinite.w1', {}, pfn, input=x, weight=g.f32([0.25]))
    x = g.avoid(g.randn((2, 3, 2), 2.0), [0.0])
    g.forward_backward('prelu', 'nonfinite_grad', {}, pfn, input=x, weight=g.f32([0.25, -0.5, 2.0]),
                       grad_output=np.array([[[nan, 1.0], [inf, -inf], [0.5, 2.0]], [[1.0, -1.0], [0.25, nan], [inf, 3.0]]]))
    # prelu with a non-finite weight
    g.forward_backward('prelu', 'nonfinite_weight', {}, pfn, input=g.f32([[-1.0, 2.0, -3.0], [0.5, -0.5, 1.5]]),
                       weight=np.array([inf, nan, -inf]))

    def cefn(p, input, target, weight=None):
        return F.cross_entropy(input, target, weight, ignore_index=p['ignore_index'],
                               reduction=p['reduction'], label_smoothing=p['label_smoothing'])
    # rows: +inf logit at the target, +inf elsewhere, -inf at the target,
    # -inf elsewhere, a NaN; the last row is ordinary
    x = np.array([[inf, 0.5, -1.0, 2.0], [0.5, inf, -1.0, 2.0], [-inf, 0.5, -1.0, 2.0], [0.5, -inf, -1.0, 2.0],
                  [0.5, 1.0, nan, 2.0], [0.25, -0.5, 1.0, 2.0]])
    t = np.array([0, 0, 0, 0, 1, 3], dtype=np.int64)
    for red in ('none', 'mean', 'sum'):
        gy = g.f32(0.75) if red != 'none' else None
        for tag, p in (('', {}), ('.ls', {'label_smoothing': 0.1})):
            g.forward_backward('cross_entropy', 'nonfinite%s.%s' % (tag, red), dict(p, reduction=red), cefn,
                               grad_output=gy, input=x, target=t)
    # only the ordinary row and the -inf-elsewhere row: finite in PyTorch
    for red in ('none', 'mean', 'sum'):
        gy = g.f32(0.75) if red != 'none' else None
        g.forward_backward('cross_entropy', 'neg_inf_elsewhere.%s' % red, {'reduction': red}, cefn,
                           grad_output=gy, input=x[[3, 5]], target=t[[3, 5]])


@family
def sgd(g):
    """torch.optim.SGD run for three steps; the cases are its first step and
    its third (from the state after two)."""
    shape = (3, 4)
    configs = (('plain', dict(lr=0.1)),
               ('weight_decay', dict(lr=0.05, weight_decay=0.01)),
               ('momentum', dict(lr=0.1, momentum=0.9)),
               ('momentum.dampening', dict(lr=0.1, momentum=0.9, dampening=0.3)),
               ('momentum.dampening.weight_decay', dict(lr=0.02, momentum=0.5, dampening=0.5, weight_decay=0.1)),
               ('nesterov', dict(lr=0.1, momentum=0.9, nesterov=True)),
               ('nesterov.weight_decay', dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.01)),
               ('lr_0', dict(lr=0.0, momentum=0.9)))
    for tag, cfg in configs:
        p0 = g.randn(shape)
        grads = [g.randn(shape) for _ in range(3)]
        garbage = g.randn(shape, 10.0)  # the first step must not read the buffer
        param = torch.tensor(p0, requires_grad=True)
        opt = torch.optim.SGD([param], **cfg)
        params = dict(cfg)
        hist = []
        for gr in grads:
            before_p = param.detach().clone().numpy()
            st = opt.state[param].get('momentum_buffer')
            before_b = st.clone().numpy() if st is not None else None
            param.grad = torch.tensor(gr)
            opt.step()
            after_b = opt.state[param].get('momentum_buffer')
            hist.append((before_p, before_b, gr, param.detach().clone().numpy(),
                         after_b.clone().numpy() if after_b is not None else None))
        mom = cfg.get('momentum', 0.0) != 0.0
        for step, name in ((0, 'first'), (2, 'later')):
            bp, bb, gr, ap, ab = hist[step]
            q = dict(params, first_step=step == 0)
            if not mom and step == 0:
                q.pop('first_step')  # without momentum the flag changes nothing
            upd, out = {'param': bp}, {'param': ap}
            if mom:
                upd['momentum_buffer'] = garbage if step == 0 else bb
                out['momentum_buffer'] = ab
            g.case('sgd_step.%s.%s' % (tag, name), 'sgd_step', q, {'grad': gr}, out, upd)


@family
def adam(g):
    """torch.optim.Adam run for five steps; the cases are steps 1, 2 and 5.
    After each step the parameter and state are rounded to float32 in
    place, so every case starts from float32-exact values (the expected
    values are PyTorch's float64 results before that rounding).  The
    amsgrad runs let the gradients shrink, so that max_exp_avg_sq keeps an
    earlier, larger exp_avg_sq; tiny_grad makes eps matter."""
    shape = (3, 4)
    flat, shrink = (1.0,) * 5, (3.0, 1.0, 0.3, 0.1, 0.03)
    configs = (('default', {}, flat),
               ('weight_decay', dict(lr=0.01, weight_decay=0.1), flat),
               ('amsgrad', dict(lr=0.01, amsgrad=True), shrink),
               ('amsgrad.weight_decay', dict(lr=0.005, betas=(0.8, 0.99), weight_decay=0.05, amsgrad=True), shrink),
               ('betas.eps', dict(lr=0.1, betas=(0.5, 0.9), eps=1e-3), flat),
               ('maximize', dict(lr=0.01, weight_decay=0.01, maximize=True), flat),
               ('tiny_grad', dict(lr=0.01), (1e-7,) * 5))
    for tag, cfg, scales in configs:
        param = torch.tensor(g.randn(shape), requires_grad=True)
        opt = torch.optim.Adam([param], **cfg)
        q = {k: v for k, v in cfg.items() if k != 'betas'}
        if 'betas' in cfg:
            q['beta1'], q['beta2'] = cfg['betas']
        names = ['exp_avg', 'exp_avg_sq'] + (['max_exp_avg_sq'] if cfg.get('amsgrad') else [])
        for step, scale in enumerate(scales, 1):
            gr = g.randn(shape, scale)
            st = opt.state[param]
            upd = {'param': param.detach().clone().numpy()}
            upd.update({n: st[n].clone().numpy() if n in st else np.zeros(shape) for n in names})
            param.grad = torch.tensor(gr)
            opt.step()
            out = {'param': param.detach().clone().numpy()}
            out.update({n: st[n].clone().numpy() for n in names})
            if step in (1, 2, 5):
                g.case('adam_step.%s.step%d' % (tag, step), 'adam_step', dict(q, step=step), {'grad': gr}, out, upd)
            if tag == 'default' and step == 2:
                # without amsgrad a given max_exp_avg_sq is left alone
                junk = g.randn(shape, 10.0)
                g.case('adam_step.default.unused_max.step2', 'adam_step', dict(q, step=step), {'grad': gr},
                       dict(out, max_exp_avg_sq=junk), dict(upd, max_exp_avg_sq=junk))
            with torch.no_grad():
                for t in [param] + [st[n] for n in names]:
                    t.copy_(torch.tensor(g.f32(t.detach().numpy())))


PADDING_IDX_NONE = -(1 << 62)  # NNRT_PADDING_IDX_NONE: embedding's padding_idx=None


def _named_file(g, name, arr):
    """A fixture file outside the manifest, for the module tests in C
    (tests/test_batchnorm.c, tests/test_vision.c): name.npy exactly."""
    fname = g._file(name, to_numpy(arr, np.asarray(arr).dtype.kind in 'iu'))
    if fname != name + '.npy':
        raise ValueError('%s: same contents as %s; give it other values' % (name, fname))


@family
def batch_norm(g):
    """The op in every mode: training with and without running statistics
    (their update checked through upd/out), eval with them, affine on and
    off, inputs of rank 2 to 5.  In eval the op hands back the running mean
    and 1/sqrt(running_var + eps) as save_mean/save_invstd."""
    shapes = {2: (6, 3), 3: (4, 3, 5), 4: (2, 3, 3, 4), 5: (2, 3, 2, 3, 2)}
    for nd, shape in shapes.items():
        C = shape[1]
        for training in (True, False):
            for affine in (True, False):
                for track in ((True, False) if training else (True,)):
                    tag = 'd%d.%s%s%s' % (nd, 'train' if training else 'eval', '.affine' if affine else '',
                                          '.track' if track else '')
                    x = g.randn(shape, 2.0) + g.f32(g.rng.uniform(-3, 3, (1, C) + (1,) * (nd - 2)))
                    x = g.f32(x)
                    w = g.rand((C,), 0.5, 1.5) if affine else None
                    b = g.rand((C,), -0.5, 0.5) if affine else None
                    rm0 = g.randn((C,), 0.5) if track else None
                    rv0 = g.rand((C,), 0.5, 2.0) if track else None
                    momentum, eps = (0.1, 1e-5) if nd != 3 else (0.3, 1e-3)
                    params = {'training': training, 'momentum': momentum, 'eps': eps}
                    xt = torch.tensor(x, requires_grad=True)
                    wt = torch.tensor(w, requires_grad=True) if affine else None
                    bt = torch.tensor(b, requires_grad=True) if affine else None
                    rm = torch.tensor(rm0) if track else None
                    rv = torch.tensor(rv0) if track else None
                    y = F.batch_norm(xt, rm, rv, wt, bt, training, momentum, eps)
                    if training:
                        red = [0] + list(range(2, nd))
                        mean = x.mean(axis=tuple(red))
                        invstd = 1.0 / np.sqrt(x.var(axis=tuple(red)) + eps)
                    else:
                        mean, invstd = rm0, 1.0 / np.sqrt(rv0 + eps)
                    outs = {'output': y.detach(), 'save_mean': mean, 'save_invstd': invstd}
                    upd = {}
                    if track:
                        upd = {'running_mean': rm0, 'running_var': rv0}
                        outs['running_mean'], outs['running_var'] = rm, rv
                    g.case('batch_norm.' + tag, 'batch_norm', params, {'input': x, 'weight': w, 'bias': b}, outs, upd)
                    gy = g.randn(shape)
                    diff = [t for t in (xt, wt, bt) if t is not None]
                    grads = torch.autograd.grad(y, diff, torch.tensor(gy))
                    bout = {'grad_input': grads[0]}
                    bupd = {}
                    if affine:
                        bout['grad_weight'], bout['grad_bias'] = grads[1], grads[2]
                        bupd = {'grad_weight': np.zeros(C), 'grad_bias': np.zeros(C)}
                    g.case('batch_norm_backward.' + tag, 'batch_norm_backward', {'training': training},
                           {'grad_output': gy, 'input': x, 'weight': w, 'save_mean': mean, 'save_invstd': invstd},
                           bout, bupd)
    # parameter gradients accumulate onto what they held
    x, w, b = g.randn((5, 2, 3)), g.rand((2,), 0.5, 1.5), g.rand((2,), -0.5, 0.5)
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    y = F.batch_norm(xt, None, None, wt, bt, True)
    gy = g.randn((5, 2, 3))
    gx, gw, gb = torch.autograd.grad(y, (xt, wt, bt), torch.tensor(gy))
    gw0, gb0 = g.randn((2,)), g.randn((2,))
    g.case('batch_norm_backward.accumulate', 'batch_norm_backward', {'training': True},
           {'grad_output': gy, 'input': x, 'weight': w, 'save_mean': x.mean(axis=(0, 2)),
            'save_invstd': 1.0 / np.sqrt(x.var(axis=(0, 2)) + 1e-5)},
           {'grad_input': gx, 'grad_weight': gw0 + gw.numpy(), 'grad_bias': gb0 + gb.numpy()},
           {'grad_weight': gw0, 'grad_bias': gb0})
    # a large mean (1e4, std 1): the statistics must not cancel
    x = g.f32(1e4 + g.rng.standard_normal((64, 2)))
    rm0, rv0 = np.zeros(2), np.ones(2)
    rm, rv = torch.tensor(rm0), torch.tensor(rv0)
    y = F.batch_norm(torch.tensor(x), rm, rv, None, None, True, 0.1, 1e-5)
    g.case('batch_norm.large_mean', 'batch_norm', {'training': True}, {'input': x},
           {'output': y, 'save_mean': x.mean(0), 'save_invstd': 1.0 / np.sqrt(x.var(0) + 1e-5),
            'running_mean': rm, 'running_var': rv}, {'running_mean': rm0, 'running_var': rv0},
           tol={'f32': (1e-4, 1e-4)})

    # Modules over three training steps and an eval step, for
    # tests/test_batchnorm.c: BatchNorm2d(3) with momentum 0.1 and
    # BatchNorm1d(4) with momentum None (cumulative average).
    for name, mod, shape in (('bn2d', torch.nn.BatchNorm2d(3), (2, 3, 2, 3)),
                             ('bn1d_cma', torch.nn.BatchNorm1d(4, momentum=None), (5, 4, 3))):
        mod = mod.double()
        for step in range(1, 4):
            x = g.f32(g.randn(shape, 1.5) + step)
            gy = g.randn(shape)
            xt = torch.tensor(x, requires_grad=True)
            y = mod(xt)
            y.backward(torch.tensor(gy))
            _named_file(g, 'module.%s.step%d.input' % (name, step), x)
            _named_file(g, 'module.%s.step%d.grad_output' % (name, step), gy)
            _named_file(g, 'module.%s.step%d.output' % (name, step), y.detach())
            _named_file(g, 'module.%s.step%d.grad_input' % (name, step), xt.grad)
            _named_file(g, 'module.%s.step%d.running_mean' % (name, step), mod.running_mean)
            _named_file(g, 'module.%s.step%d.running_var' % (name, step), mod.running_var)
        # weight.grad and bias.grad summed over the three steps
        _named_file(g, 'module.%s.weight_grad' % name, mod.weight.grad)
        _named_file(g, 'module.%s.bias_grad' % name, mod.bias.grad)
        mod.eval()
        x = g.f32(g.randn(shape, 1.5) + 2)
        _named_file(g, 'module.%s.eval.input' % name, x)
        _named_file(g, 'module.%s.eval.output' % name, mod(torch.tensor(x)).detach())


@family
def vision(g):
    # pixel_shuffle / pixel_unshuffle, batch dims included
    fn = lambda p, input: F.pixel_shuffle(input, p['upscale_factor'])
    for tag, shape, r in (('r2', (1, 8, 2, 3), 2), ('r3', (2, 9, 2, 2), 3), ('r1', (2, 3, 2, 2), 1),
                          ('d3', (8, 2, 3), 2), ('d5', (2, 2, 4, 3, 2), 2)):
        g.forward_backward('pixel_shuffle', tag, {'upscale_factor': r}, fn, input=g.randn(shape))
    fn = lambda p, input: F.pixel_unshuffle(input, p['downscale_factor'])
    for tag, shape, r in (('r2', (1, 2, 4, 6), 2), ('r3', (2, 1, 6, 3), 3), ('d3', (2, 4, 2), 2),
                          ('d5', (2, 1, 3, 4, 2), 2)):
        g.forward_backward('pixel_unshuffle', tag, {'downscale_factor': r}, fn, input=g.randn(shape))

    def up(op, mode, tag, x, size=None, scale=None, align=None, backward=True):
        p = {}
        if size is not None:
            p['size'] = '%d,%d' % tuple(size)
        else:
            p['scale_factor'] = '%r,%r' % tuple(float(s) for s in scale)
        kw = {}
        if align is not None:
            p['align_corners'] = align
            kw['align_corners'] = align
        fn = lambda q, input: F.interpolate(input, size=None if size is None else tuple(size),
                                            scale_factor=None if scale is None else tuple(scale), mode=mode, **kw)
        g.forward_backward(op, tag, p, fn, backward=backward, input=x)

    x22 = g.f32(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]))
    for op, mode, align in (('upsample_nearest2d', 'nearest', None), ('upsample_bilinear2d', 'bilinear', True)):
        up(op, mode, 'seed_2x2_size', x22, size=(4, 4), align=align)
        up(op, mode, 'seed_2x2_scale', x22, scale=(2, 2), align=align)
        x = g.randn((2, 3, 3, 4))
        up(op, mode, 'size', x, size=(5, 7), align=align)
        up(op, mode, 'size_down', x, size=(2, 3), align=align)
        up(op, mode, 'size_same', x, size=(3, 4), align=align)
        up(op, mode, 'size_1', x, size=(1, 1), align=align)
        up(op, mode, 'scale_int', x, scale=(2, 3), align=align)
        up(op, mode, 'scale_frac', x, scale=(1.7, 2.6), align=align)
        up(op, mode, 'scale_down', g.randn((1, 2, 6, 7)), scale=(0.5, 0.75), align=align)
        up(op, mode, 'scale_odd', g.randn((1, 1, 10, 9)), scale=(1.3, 0.9), align=align)
    # PyTorch 1.13's nearest forward for C > 1 has no out == 2 in shortcut
    # (4 * 2.1 -> 8 maps 6 to 2, not 3); its backward has one and so is not
    # the forward's gradient: only the forward is checked (see upsample.c)
    up('upsample_nearest2d', 'nearest', 'scale_2x_quirk', g.randn((1, 2, 3, 4)), scale=(1.1, 2.1), backward=False)
    # F.interpolate's default for bilinear
    x = g.randn((2, 2, 3, 4))
    for tag, size, scale in (('size', (5, 7), None), ('size_down', (2, 3), None), ('scale_int', None, (2, 2)),
                             ('scale_frac', None, (1.7, 2.1)), ('scale_down', None, (0.5, 0.75))):
        up('upsample_bilinear2d', 'bilinear', 'align_false.' + tag, x, size=size, scale=scale, align=False)


@family
def dropout_embedding_distance(g):
    # dropout where PyTorch's RNG plays no part: eval, p = 0, p = 1
    fns = {'dropout': F.dropout, 'dropout2d': F.dropout2d, 'dropout3d': F.dropout3d}
    shapes = {'dropout': (3, 4), 'dropout2d': (2, 3, 2, 2), 'dropout3d': (2, 2, 2, 1, 2)}
    for op, f in fns.items():
        fn = lambda p, input, f=f: f(input, p['p'], p['training'])
        x = g.randn(shapes[op])
        g.forward_backward(op, 'eval', {'p': 0.5, 'training': False}, fn, input=x)
        g.forward_backward(op, 'p0', {'p': 0.0}, fn, input=x)
        g.forward_backward(op, 'p1', {'p': 1.0}, fn, input=x)

    def emb(p, input, weight):
        pad = p['padding_idx']
        return F.embedding(input, weight, padding_idx=None if pad == PADDING_IDX_NONE else pad)

    w = g.randn((6, 4))
    idx = np.array([[0, 2, 2, 5], [5, 1, 2, 0], [3, 3, 3, 3]], dtype=np.int64)
    g.forward_backward('embedding', 'plain', {}, emb, input=idx, weight=w)
    g.forward_backward('embedding', 'pad_2', {'padding_idx': 2}, emb, input=idx, weight=w)
    g.forward_backward('embedding', 'pad_-1', {'padding_idx': -1}, emb, input=idx, weight=w)
    g.forward_backward('embedding', 'pad_0.accumulate', {'padding_idx': 0}, emb, accumulate=True, input=idx, weight=w)
    g.forward_backward('embedding', 'd1', {}, emb, input=np.array([4, 4, 1], dtype=np.int64), weight=w)
    g.forward_backward('embedding', 'scalar', {}, emb, input=np.array(3, dtype=np.int64), weight=w)
    g.forward_backward('embedding', 'd3', {}, emb, input=g.randint(0, 6, (2, 3, 2)), weight=w)

    def pd(p, x1, x2):
        return F.pairwise_distance(x1, x2, p['p'], p['eps'], p['keepdim'])

    x1, x2 = g.randn((4, 5)), g.randn((4, 5))
    for p in (2.0, 1.0, 3.0, 0.5, 1.5, float('inf')):
        for keepdim in (False, True):
            tag = 'p_%s%s' % (fmt_value(p), '.keepdim' if keepdim else '')
            g.forward_backward('pairwise_distance', tag, {'p': p, 'keepdim': keepdim}, pd, x1=x1, x2=x2)
    g.forward_backward('pairwise_distance', 'd1', {}, pd, x1=g.randn((5,)), x2=g.randn((5,)))
    g.forward_backward('pairwise_distance', 'd1.keepdim', {'keepdim': True}, pd, x1=g.randn((5,)), x2=g.randn((5,)))
    g.forward_backward('pairwise_distance', 'd3.eps', {'eps': 0.01}, pd, x1=g.randn((2, 3, 4)), x2=g.randn((2, 3, 4)))
    # x1 = x2 - eps: the distance is 0, the gradient 0 (PyTorch's mask)
    xs = g.randn((2, 3))
    g.forward_backward('pairwise_distance', 'zero', {'eps': 0.0}, pd, x1=xs, x2=xs)

    def cs(p, x1, x2):
        return F.cosine_similarity(x1, x2, p['dim'], p['eps'])

    x1, x2 = g.randn((4, 5)), g.randn((4, 5))
    g.forward_backward('cosine_similarity', 'd2', {}, cs, x1=x1, x2=x2)
    g.forward_backward('cosine_similarity', 'd2_dim_0', {'dim': 0}, cs, x1=x1, x2=x2)
    x1, x2 = g.randn((2, 3, 4)), g.randn((2, 3, 4))
    for d in (0, 1, 2, -1):
        g.forward_backward('cosine_similarity', 'd3_dim_%d' % d, {'dim': d}, cs, x1=x1, x2=x2)
    g.forward_backward('cosine_similarity', 'd1', {'dim': 0}, cs, x1=g.randn((5,)), x2=g.randn((5,)))
    # norms below eps are clamped one by one (PyTorch 1.13), a zero row too
    tiny = g.f32(np.array([[1e-9, -2e-9, 0.0], [0.0, 0.0, 0.0], [3.0, 4.0, 0.0]]))
    other = g.f32(np.array([[1e-9, 3e-9, 1e-9], [1.0, 2.0, 3.0], [2e-9, 0.0, 1e-9]]))
    g.forward_backward('cosine_similarity', 'tiny', {'eps': 1e-8}, cs, x1=tiny, x2=other)
    g.forward_backward('cosine_similarity', 'eps_big', {'eps': 0.5}, cs, x1=g.randn((3, 4), 0.1), x2=g.randn((3, 4)))


@family
def losses(g):
    """Every loss but cross_entropy (its own family): each reduction, and
    each option that changes a formula.  Inputs keep away from the kinks of
    the piecewise losses so that float32 and float64 take the same branch."""
    REDS = ('none', 'mean', 'sum')

    def run(op, tag, fn, params=None, reds=REDS, **inputs):
        for red in reds:
            g.forward_backward(op, '%s.%s' % (tag, red), dict(params or {}, reduction=red), fn, **inputs)

    def signs(shape):
        return g.f32(np.where(g.rng.uniform(size=shape) < 0.5, -1.0, 1.0))

    # -- elementwise, (input, target)
    x, t = g.randn((3, 4)), g.randn((3, 4))
    run('l1_loss', 'd2', lambda p, input, target: F.l1_loss(input, target, reduction=p['reduction']),
        input=x, target=t)
    run('mse_loss', 'd2', lambda p, input, target: F.mse_loss(input, target, reduction=p['reduction']),
        input=x, target=t)
    x3 = g.randn((2, 3, 4))
    run('l1_loss', 'd3', lambda p, input, target: F.l1_loss(input, target, reduction=p['reduction']),
        input=x3, target=g.randn((2, 3, 4)))
    run('mse_loss', 'scalar', lambda p, input, target: F.mse_loss(input, target, reduction=p['reduction']),
        input=g.f32(0.75), target=g.f32(-0.5))
    # mean over no element: NaN; sum: 0
    run('mse_loss', 'empty', lambda p, input, target: F.mse_loss(input, target, reduction=p['reduction']),
        input=np.zeros((0, 3)), target=np.zeros((0, 3)))
    for beta in (1.0, 0.5, 0.0):
        d = g.avoid(g.randn((3, 4), 2.0), [-beta, 0.0, beta])
        run('smooth_l1_loss', 'beta_%s' % fmt_value(beta),
            lambda p, input, target: F.smooth_l1_loss(input, target, reduction=p['reduction'], beta=p['beta']),
            {'beta': beta}, input=x, target=g.f32(x - d))
    s = signs((3, 4))
    run('soft_margin_loss', 'd2', lambda p, input, target: F.soft_margin_loss(input, target, reduction=p['reduction']),
        input=g.randn((3, 4), 2.0), target=s)
    for margin in (1.0, 0.5):
        run('hinge_embedding_loss', 'margin_%s' % fmt_value(margin),
            lambda p, input, target: F.hinge_embedding_loss(input, target, margin=p['margin'], reduction=p['reduction']),
            {'margin': margin}, input=g.avoid(g.randn((3, 4), 2.0), [margin]), target=s)

    # -- kl_div: log_target and batchmean
    lp = g.f32(torch.log_softmax(torch.tensor(g.randn((3, 5))), 1).numpy())
    prob = g.rand((3, 5), 0.0, 1.0)
    prob[0, 1] = prob[2, 3] = 0.0  # target 0 contributes 0
    logt = g.randn((3, 5))
    import warnings
    with warnings.catch_warnings():  # PyTorch 1.13 warns that kl_div's 'mean' is not 'batchmean'
        warnings.simplefilter('ignore', UserWarning)
        for lt, tgt in ((False, prob), (True, logt)):
            run('kl_div', 'log_target_%s' % fmt_value(lt),
                lambda p, input, target: F.kl_div(input, target, reduction=p['reduction'], log_target=p['log_target']),
                {'log_target': lt}, reds=REDS + ('batchmean',), input=lp, target=tgt)

    # -- bce_loss: weights; inputs exactly 0 and 1 (logs clamped at -100)
    bfn = lambda p, input, target, weight=None: F.binary_cross_entropy(input, target, weight, reduction=p['reduction'])
    pr, tr = g.rand((3, 4), 0.05, 0.95), g.rand((3, 4))
    run('bce_loss', 'plain', bfn, input=pr, target=tr)
    run('bce_loss', 'weight_last_dim', bfn, input=pr, target=tr, weight=g.rand((4,), 0.2, 2.0))
    run('bce_loss', 'weight_full', bfn, input=pr, target=tr, weight=g.rand((3, 4), 0.2, 2.0))
    p01 = g.f32([[0.0, 1.0, 0.0, 1.0], [0.0, 1.0, 0.5, 1e-3]])
    t01 = g.f32([[0.25, 0.75, 0.0, 1.0], [1.0, 0.0, 1.0, 0.5]])
    run('bce_loss', 'clamp', bfn, input=p01, target=t01)

    # -- bce_with_logits: weight, pos_weight, |x| up to 1e4
    lfn = lambda p, input, target, weight=None, pos_weight=None: F.binary_cross_entropy_with_logits(
        input, target, weight, reduction=p['reduction'], pos_weight=pos_weight)
    xl = g.randn((3, 4), 3.0)
    run('bce_with_logits', 'plain', lfn, input=xl, target=tr)
    run('bce_with_logits', 'weight', lfn, input=xl, target=tr, weight=g.rand((4,), 0.2, 2.0))
    run('bce_with_logits', 'pos_weight', lfn, input=xl, target=tr, pos_weight=g.rand((4,), 0.2, 3.0))
    run('bce_with_logits', 'weight.pos_weight', lfn, input=xl, target=tr, weight=g.rand((3, 4), 0.2, 2.0),
        pos_weight=g.rand((4,), 0.2, 3.0))
    xe = g.f32([[1e4, -1e4, 1e4, -1e4], [1e3, -1e3, 50.0, -50.0]])
    te = g.f32([[0.0, 1.0, 0.25, 0.75], [1.0, 0.0, 0.5, 0.5]])
    run('bce_with_logits', 'extreme', lfn, input=xe, target=te)
    run('bce_with_logits', 'extreme.pos_weight', lfn, input=xe, target=te, pos_weight=g.f32([0.5, 2.0, 3.0, 1.0]))

    # -- margin_ranking: (input1, input2, target), kinks at target*(x1-x2) = margin
    for margin in (0.0, 0.5):
        x1, y = g.randn((6,)), signs((6,))
        d = g.avoid(g.randn((6,)), [-margin, margin])
        run('margin_ranking_loss', 'margin_%s' % fmt_value(margin),
            lambda p, input1, input2, target: F.margin_ranking_loss(input1, input2, target, margin=p['margin'],
                                                                    reduction=p['reduction']),
            {'margin': margin}, input1=x1, input2=g.f32(x1 - d), target=y)

    # -- multilabel_soft_margin: weight, (..., C) inputs
    mfn = lambda p, input, target, weight=None: F.multilabel_soft_margin_loss(input, target, weight,
                                                                              reduction=p['reduction'])
    tb = g.f32(g.rng.integers(0, 2, (3, 5)))
    run('multilabel_soft_margin_loss', 'plain', mfn, input=g.randn((3, 5), 2.0), target=tb)
    run('multilabel_soft_margin_loss', 'weight', mfn, input=g.randn((3, 5), 2.0), target=tb,
        weight=g.rand((5,), 0.2, 2.0))
    run('multilabel_soft_margin_loss', 'd3.soft', mfn, input=g.randn((2, 3, 4), 2.0), target=g.rand((2, 3, 4)))
    run('multilabel_soft_margin_loss', 'd1', mfn, input=g.randn((5,), 2.0), target=tb[0])

    # -- cosine_embedding: margins, (N, D) and (D)
    cfn = lambda p, input1, input2, target: F.cosine_embedding_loss(input1, input2, target, margin=p['margin'],
                                                                    reduction=p['reduction'])
    c1, c2 = g.randn((6, 4)), g.randn((6, 4))
    cy = g.f32([1.0, -1.0, 1.0, -1.0, -1.0, 1.0])
    for margin in (0.0, 0.3, -0.5):
        run('cosine_embedding_loss', 'margin_%s' % fmt_value(margin), cfn, {'margin': margin},
            input1=c1, input2=c2, target=cy)
    run('cosine_embedding_loss', 'd1', cfn, {'margin': -0.5}, input1=c1[0], input2=c2[0], target=g.f32(-1.0))

    # -- multi_margin: p 1 and 2, margin, weight, (C) input
    def mmfn(p, input, target, weight=None):
        return F.multi_margin_loss(input, target, p=p['p'], margin=p['margin'], weight=weight, reduction=p['reduction'])
    xm, tm, wm = g.randn((5, 4)), g.randint(0, 4, (5,)), g.rand((4,), 0.2, 2.0)
    for pp in (1, 2):
        for margin in (1.0, 0.5):
            run('multi_margin_loss', 'p_%d.margin_%s' % (pp, fmt_value(margin)), mmfn, {'p': pp, 'margin': margin},
                input=xm, target=tm)
        run('multi_margin_loss', 'p_%d.weight' % pp, mmfn, {'p': pp}, input=xm, target=tm, weight=wm)
        run('multi_margin_loss', 'p_%d.d1' % pp, mmfn, {'p': pp}, input=xm[0], target=np.array(2, dtype=np.int64))

    # -- multilabel_margin: lists ended by the first -1 (what follows is ignored)
    mlfn = lambda p, input, target: F.multilabel_margin_loss(input, target, reduction=p['reduction'])
    xml = g.randn((5, 4))
    tml = np.array([[3, 0, -1, 1],    # ended early; the 1 after -1 is not a target
                    [2, -1, -1, -1],
                    [-1, 2, 3, 0],    # empty list
                    [0, 1, 2, 3],     # every class: no non-target
                    [1, 1, -1, 2]],   # a repeat counts twice
                   dtype=np.int64)
    run('multilabel_margin_loss', 'd2', mlfn, input=xml, target=tml)
    run('multilabel_margin_loss', 'd1', mlfn, input=xml[0], target=tml[4])

    # -- nll_loss: weight, ignore_index, (C), (N, C, d1), (N, C, H, W) = NLLLoss2d
    def nfn(p, input, target, weight=None):
        return F.nll_loss(input, target, weight, ignore_index=p['ignore_index'], reduction=p['reduction'])
    N, C = 5, 4
    xn = g.f32(torch.log_softmax(torch.tensor(g.randn((N, C), 2.0)), 1).numpy())
    tn, wn = g.randint(0, C, (N,)), g.rand((C,), 0.2, 2.0)
    ti = tn.copy()
    ti[[1, 3]] = -100
    run('nll_loss', 'plain', nfn, input=xn, target=tn)
    run('nll_loss', 'weight', nfn, input=xn, target=tn, weight=wn)
    run('nll_loss', 'ignore.weight', nfn, input=xn, target=ti, weight=wn)
    tc = tn.copy()
    tc[[0, 2]] = 1
    run('nll_loss', 'ignore_class_1', nfn, {'ignore_index': 1}, input=xn, target=tc, weight=wn)
    run('nll_loss', 'd1', nfn, input=xn[0], target=np.array(3, dtype=np.int64), weight=wn)
    run('nll_loss', 'kdim1', nfn, input=g.randn((2, 3, 4)), target=g.randint(0, 3, (2, 4)))
    t2d = g.randint(0, 3, (2, 3, 2))
    t2d[0, 1, 1] = -100
    run('nll_loss', 'nll2d.ignore.weight', nfn, input=g.randn((2, 3, 3, 2)), target=t2d, weight=g.rand((3,), 0.2, 2.0))
    # every target ignored: mean 0/0 = NaN, sum 0, gradients 0
    run('nll_loss', 'all_ignored', nfn, input=xn, target=np.full((N,), -100, dtype=np.int64))
    run('nll_loss', 'all_ignored.weight', nfn, input=xn, target=np.full((N,), -100, dtype=np.int64), weight=wn)


@family
def rnn(g):
    """Recurrent ops, packing and the clip_grad_norm utilities: long enough
    for a file of their own, tools/golden/rnn_golden.py."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import rnn_golden
    rnn_golden.cases(g)


# ---------------------------------------------------------------------------

def generate(out_dir, ops):
    os.makedirs(out_dir, exist_ok=True)
    g = Golden(ops, out_dir)
    for fam in FAMILIES:
        g.family = fam.__name__
        g.rng = np.random.default_rng(zlib.crc32(fam.__name__.encode()))
        fam(g)
    g.write_manifest()
    for f in sorted(os.listdir(out_dir)):
        if f.endswith('.npy') and f not in g.written:
            os.remove(os.path.join(out_dir, f))
    missing = [o for o in ops if o not in g.covered]
    for o in missing:
        print('gen.py: warning: op %s of ops.def has no golden case' % o, file=sys.stderr)
    total = sum(os.path.getsize(os.path.join(out_dir, f)) for f in g.written)
    print('gen.py: %d cases, %d files, %d bytes, %d of %d ops covered in %s' %
          (len(g.lines), len(g.written), total, len(ops) - len(missing), len(ops), out_dir))
    return g


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', default=os.path.join(ROOT, 'tests', 'golden'))
    ap.add_argument('--check', action='store_true',
                    help='regenerate into a temporary folder and compare with --out')
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float64)
    ops = read_ops_def(ROOT)
    if not args.check:
        generate(args.out, ops)
        return 0
    tmp = tempfile.mkdtemp(prefix='nnrt-golden-')
    try:
        generate(tmp, ops)
        want = sorted(f for f in os.listdir(tmp))
        have = sorted(f for f in os.listdir(args.out) if f.endswith('.npy') or f == 'manifest.txt')
        bad = sorted(set(want) ^ set(have))
        bad += [f for f in want if f in have and
                open(os.path.join(tmp, f), 'rb').read() != open(os.path.join(args.out, f), 'rb').read()]
        for f in bad:
            print('gen.py: differs: %s' % f, file=sys.stderr)
        print('gen.py: %s' % ('fixtures are up to date' if not bad else '%d files differ' % len(bad)))
        return 1 if bad else 0
    finally:
        shutil.rmtree(tmp)


if __name__ == '__main__':
    sys.exit(main())
