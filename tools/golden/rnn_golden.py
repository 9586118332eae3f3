"""tools/golden/rnn_golden.py - the `rnn` family of tools/golden/gen.py:
golden cases of the recurrent ops (cells, layers on padded, batch-first,
unbatched and packed input, packing and padding) and of the utilities of
clip_grad_norm and the recurrent modules (norm_p, mul_scalar, slice_copy).

Expected values are PyTorch 1.13's (torch.nn.RNN/LSTM/GRU and the cells,
autograd for every gradient, in float64).  The layer ops take all weights
as one flat tensor in PyTorch's own order (module._flat_weights), and their
backward takes the forward's `workspace`, nnrt's reserve space: this file
computes it with a plain float64 loop over the time steps in the layout
documented in include/nnrt/ops.def, and checks that loop against PyTorch's
output before writing anything.  Kept out of gen.py only for its length.
"""

import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

# float32 runs of a whole recurrence: errors grow with the steps
TOL_LAYER = {'f32': (1e-4, 1e-5), 'f64': (1e-9, 1e-11)}
TOL_CELL = {'f32': (2e-5, 2e-6)}
GATES = {'rnn': 1, 'lstm': 4, 'gru': 3}
WS_COLS = {'rnn': 0, 'lstm': 5, 'gru': 4}  # workspace columns per unit beside the layer output


def _t(a):
    return torch.tensor(np.asarray(a, dtype=np.float64))


# ---------------------------------------------------------------------------
# cells

def cells(g):
    N, I, H = 3, 4, 5
    for kind in ('rnn_tanh', 'rnn_relu', 'lstm', 'gru'):
        base = kind.split('_')[0]
        op = base + '_cell'
        G = GATES[base]
        for tag, batched, bias, with_h in (('basic', True, True, True), ('unbatched', False, True, True),
                                           ('nobias', True, False, True), ('nohx', True, True, False)):
            if base == 'rnn':
                tag = kind[4:] + '.' + tag
            shape = (N,) if batched else ()
            x = g.randn(shape + (I,))
            wih, whh = g.rand((G * H, I), -0.5, 0.5), g.rand((G * H, H), -0.5, 0.5)
            bih = g.rand((G * H,), -0.5, 0.5) if bias else None
            bhh = g.rand((G * H,), -0.5, 0.5) if bias else None
            hx = g.randn(shape + (H,)) if with_h else None
            cx = g.randn(shape + (H,)) if with_h and base == 'lstm' else None
            ins = dict(input=x, hx=hx, weight_ih=wih, weight_hh=whh, bias_ih=bih, bias_hh=bhh)
            if base == 'lstm':
                ins['cx'] = cx
            params = {'nonlinearity': kind[4:]} if base == 'rnn' else {}
            tens = {k: (_t(v).requires_grad_() if v is not None else None) for k, v in ins.items()}
            # the low-level cells take batches: unbatched runs as a batch of one
            bt = {k: (v.unsqueeze(0) if v is not None and not batched and k in ('input', 'hx', 'cx') else v)
                  for k, v in tens.items()}
            zero = torch.zeros((N if batched else 1, H))
            hxx = bt['hx'] if with_h else zero
            w = (bt['weight_ih'], bt['weight_hh'], bt['bias_ih'], bt['bias_hh'])
            if base == 'rnn':
                fn = torch._VF.rnn_tanh_cell if kind == 'rnn_tanh' else torch._VF.rnn_relu_cell
                out = {'output': fn(bt['input'], hxx, *w)}
            elif base == 'gru':
                out = {'output': torch._VF.gru_cell(bt['input'], hxx, *w)}
            else:
                h1, c1 = torch._VF.lstm_cell(bt['input'], (hxx, bt['cx'] if with_h else zero), *w)
                out = {'output': h1, 'c_out': c1}
            if not batched:
                out = {k: v.squeeze(0) for k, v in out.items()}
            hxx = (tens['hx'], tens['cx']) if base == 'lstm' else tens['hx']
            # the same math through torch.nn's modules, when they take these arguments
            if bias and batched:
                mod = {'rnn': lambda: nn.RNNCell(I, H, nonlinearity=kind[4:]), 'lstm': lambda: nn.LSTMCell(I, H),
                       'gru': lambda: nn.GRUCell(I, H)}[base]()
                with torch.no_grad():
                    mod.weight_ih.copy_(tens['weight_ih']), mod.weight_hh.copy_(tens['weight_hh'])
                    mod.bias_ih.copy_(tens['bias_ih']), mod.bias_hh.copy_(tens['bias_hh'])
                    ref = mod(tens['input'], hxx if with_h else None)
                    ref = ref[0] if base == 'lstm' else ref
                    assert torch.allclose(ref, out['output'], rtol=0, atol=1e-14), (op, tag)
            g.case('%s.%s' % (op, tag), op, params, ins, {k: v.detach() for k, v in out.items()}, tol=TOL_CELL)
            grads_in = {'grad_output': g.randn(shape + (H,))}
            loss = (out['output'] * _t(grads_in['grad_output'])).sum()
            if base == 'lstm':
                grads_in['grad_c_out'] = g.randn(shape + (H,))
                loss = loss + (out['c_out'] * _t(grads_in['grad_c_out'])).sum()
            names = [k for k, v in tens.items() if v is not None]
            gr = torch.autograd.grad(loss, [tens[k] for k in names])
            bout = {'grad_' + k: v.detach() for k, v in zip(names, gr)}
            upd = {k: np.zeros(v.shape) for k, v in bout.items() if 'weight' in k or 'bias' in k}
            bins = dict(ins, **grads_in)
            g.case('%s_backward.%s' % (op, tag), op + '_backward', params, bins, bout, upd, tol=TOL_CELL)
    # only lstm's grad_c_out, and accumulation into gradients that hold values
    x, hx, cx = g.randn((2, 3)), g.randn((2, 4)), g.randn((2, 4))
    wih, whh, bih, bhh = (g.rand(s, -0.5, 0.5) for s in ((16, 3), (16, 4), (16,), (16,)))
    tens = [_t(v).requires_grad_() for v in (x, hx, cx, wih, whh, bih, bhh)]
    h1, c1 = torch._VF.lstm_cell(tens[0], (tens[1], tens[2]), *tens[3:])
    gc = g.randn((2, 4))
    gr = torch.autograd.grad((c1 * _t(gc)).sum(), tens)
    names = ('input', 'hx', 'cx', 'weight_ih', 'weight_hh', 'bias_ih', 'bias_hh')
    start = {'grad_' + n: g.randn(v.shape) for n, v in zip(names[3:], gr[3:])}
    bout = {'grad_' + n: v.detach().numpy() + start.get('grad_' + n, 0) for n, v in zip(names, gr)}
    g.case('lstm_cell_backward.grad_c_only.accumulate', 'lstm_cell_backward', {},
           dict(zip(names, (x, hx, cx, wih, whh, bih, bhh)), grad_c_out=gc), bout, start, tol=TOL_CELL)


# ---------------------------------------------------------------------------
# layers

def _module(mode, I, H, L, bias, batch_first, bidir):
    kw = dict(num_layers=L, bias=bias, batch_first=batch_first, bidirectional=bidir)
    if mode in ('tanh', 'relu'):
        return nn.RNN(I, H, nonlinearity=mode, **kw)
    return (nn.LSTM if mode == 'lstm' else nn.GRU)(I, H, **kw)


def _step(base, act, x, hp, cp, wih, whh, bih, bhh):
    """One step for rows x (n, In) from state hp, cp: (h, c, workspace columns)."""
    gi = x @ wih.T + (bih if bih is not None else 0)
    gh = hp @ whh.T + (bhh if bhh is not None else 0)
    H = hp.shape[1]
    if base == 'rnn':
        v = gi + gh
        h = torch.tanh(v) if act == 'tanh' else torch.relu(v)
        return h, None, torch.zeros(x.shape[0], 0)
    if base == 'lstm':
        v = gi + gh
        i, f, gg, o = torch.sigmoid(v[:, :H]), torch.sigmoid(v[:, H:2 * H]), torch.tanh(v[:, 2 * H:3 * H]), \
            torch.sigmoid(v[:, 3 * H:])
        c = f * cp + i * gg
        h = o * torch.tanh(c)
        return h, c, torch.cat([i, f, gg, o, c], 1)
    r = torch.sigmoid(gi[:, :H] + gh[:, :H])
    z = torch.sigmoid(gi[:, H:2 * H] + gh[:, H:2 * H])
    n = torch.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
    h = (1 - z) * n + z * hp
    return h, None, torch.cat([r, z, n, gh[:, 2 * H:]], 1)


def _reference(mod, base, act, rows, steps, X, h0, c0, perm, N):
    """nnrt's forward in float64: output rows, h_n, c_n and the workspace.
    rows[t]: the input rows of step t (batch in sorted order)."""
    L, D, H = mod.num_layers, 2 if mod.bidirectional else 1, mod.hidden_size
    R = X.shape[0]
    fw = list(mod._flat_weights)
    per = 4 if mod.bias else 2
    hn, cn = torch.zeros(L * D, N, H), torch.zeros(L * D, N, H)
    ws = []
    inp = X
    for l in range(L):
        Y = torch.zeros(R, D * H)
        cols = []
        for d in range(D):
            k = (l * D + d) * per
            wih, whh = fw[k], fw[k + 1]
            bih, bhh = (fw[k + 2], fw[k + 3]) if mod.bias else (None, None)
            h = h0[l * D + d][perm].clone()
            c = c0[l * D + d][perm].clone()
            Wc = torch.zeros(R, WS_COLS[base] * H)
            for t in (reversed(range(steps)) if d else range(steps)):
                idx = rows[t]
                n = len(idx)
                hh, cc, w = _step(base, act, inp[idx], h[:n], c[:n], wih, whh, bih, bhh)
                Y[idx, d * H:(d + 1) * H] = hh
                Wc[idx] = w
                h[:n] = hh
                if cc is not None:
                    c[:n] = cc
            hn[l * D + d][perm] = h
            cn[l * D + d][perm] = c
            cols.append(Wc)
        ws.append(Y.reshape(-1))
        ws += [w.reshape(-1) for w in cols]
        inp = Y
    return inp, hn, cn, torch.cat(ws)


def _layer_case(g, mode, tag, T, N, I, H, L, bias, batch_first, bidir, with_h0, layout, lengths=None):
    """layout: 'padded' (time-major or batch_first), 'unbatched' or 'packed'."""
    base = 'rnn' if mode in ('tanh', 'relu') else mode
    op = base
    G, D = GATES[base], 2 if bidir else 1
    mod = _module(mode, I, H, L, bias, batch_first, bidir).double()
    with torch.no_grad():
        for p in mod.parameters():
            p.copy_(_t(g.rand(tuple(p.shape), -0.6, 0.6)))
    flat = torch.cat([w.reshape(-1) for w in mod._flat_weights]).detach().numpy()
    params = dict(input_size=I, hidden_size=H, num_layers=L, bias=bias, batch_first=batch_first,
                  bidirectional=bidir)
    if base == 'rnn':
        params['nonlinearity'] = mode
    Nb = 1 if layout == 'unbatched' else N
    h0 = g.randn((L * D, Nb, H)) if with_h0 else np.zeros((L * D, Nb, H))
    c0 = g.randn((L * D, Nb, H)) if with_h0 and base == 'lstm' else np.zeros((L * D, Nb, H))
    ins = {'weights': flat}
    perm = list(range(Nb))
    if layout == 'packed':
        lengths = np.asarray(lengths, dtype=np.int64)
        padded = g.randn((T, N, I))
        ps = pack_padded_sequence(_t(padded), torch.tensor(lengths), enforce_sorted=False)
        X = ps.data.clone()
        bs = ps.batch_sizes.numpy().astype(np.int64)
        perm = ps.sorted_indices.tolist()
        ins.update(input=X.numpy(), batch_sizes=bs, sorted_indices=ps.sorted_indices.numpy())
        offs = np.concatenate([[0], np.cumsum(bs)])
        rows = [list(range(offs[t], offs[t] + bs[t])) for t in range(len(bs))]
        steps = len(bs)
    elif layout == 'unbatched':
        X = _t(g.randn((T, I)))
        ins['input'] = X.numpy()
        rows = [[t] for t in range(T)]
        steps = T
    else:
        X = _t(g.randn((N, T, I) if batch_first else (T, N, I)))
        ins['input'] = X.numpy()
        rows = [[(b * T + t) if batch_first else (t * N + b) for b in range(N)] for t in range(T)]
        steps = T
        X = X.reshape(-1, I)
    if with_h0:
        ins['h0'] = h0[:, 0] if layout == 'unbatched' else h0
        if base == 'lstm':
            ins['c0'] = c0[:, 0] if layout == 'unbatched' else c0
    with torch.no_grad():
        out_rows, hn, cn, ws = _reference(mod, base, mode, rows, steps, X.reshape(-1, I), _t(h0), _t(c0), perm, Nb)

    # PyTorch's forward and gradients
    xin = _t(ins['input']).requires_grad_()
    h0t, c0t = _t(h0).requires_grad_(), _t(c0).requires_grad_()
    if layout == 'packed':
        run_in = PackedSequence(xin, torch.tensor(bs), torch.tensor(perm), torch.argsort(torch.tensor(perm)))
    elif layout == 'unbatched':
        run_in = xin
    else:
        run_in = xin
    hx = (h0t[:, 0], c0t[:, 0]) if layout == 'unbatched' else (h0t, c0t)
    y, state = mod(run_in, hx if base == 'lstm' else hx[0])
    ydata = y.data if layout == 'packed' else y
    h_n, c_n = (state if base == 'lstm' else (state, None))
    # the float64 loop must be PyTorch's forward, or the workspace is wrong
    assert torch.allclose(out_rows, ydata.reshape(-1, D * H), rtol=0, atol=1e-12), (op, tag)
    hn_ref = hn[:, 0] if layout == 'unbatched' else hn
    assert torch.allclose(hn_ref, h_n, rtol=0, atol=1e-12), (op, tag)
    fwd_out = {'output': ydata.detach(), 'h_n': h_n.detach(), 'workspace': ws}
    if base == 'lstm':
        cn_ref = cn[:, 0] if layout == 'unbatched' else cn
        assert torch.allclose(cn_ref, c_n, rtol=0, atol=1e-12), (op, tag)
        fwd_out['c_n'] = c_n.detach()
    g.case('%s.%s' % (op, tag), op, params, ins, fwd_out, tol=TOL_LAYER)
    # backward: every gradient, from random gradients of every output
    gy = g.randn(tuple(ydata.shape))
    ghn = g.randn(tuple(h_n.shape))
    loss = (ydata * _t(gy)).sum() + (h_n * _t(ghn)).sum()
    bins = dict(ins, grad_output=gy, grad_h_n=ghn, workspace=ws.numpy())
    if base == 'lstm':
        gcn = g.randn(tuple(c_n.shape))
        loss = loss + (c_n * _t(gcn)).sum()
        bins['grad_c_n'] = gcn
    wrt = [xin, h0t] + ([c0t] if base == 'lstm' else []) + list(mod._flat_weights)
    gr = torch.autograd.grad(loss, wrt, allow_unused=True)
    gr = [v if v is not None else torch.zeros_like(w) for v, w in zip(gr, wrt)]
    k = 3 if base == 'lstm' else 2
    gw = torch.cat([v.reshape(-1) for v in gr[k:]]).numpy()
    bout = {'grad_input': gr[0].detach(), 'grad_weights': gw}
    if with_h0:
        bout['grad_h0'] = gr[1][:, 0] if layout == 'unbatched' else gr[1]
        if base == 'lstm':
            bout['grad_c0'] = gr[2][:, 0] if layout == 'unbatched' else gr[2]
    g.case('%s_backward.%s' % (op, tag), op + '_backward', params, bins, bout,
           {'grad_weights': np.zeros(gw.shape)}, tol=TOL_LAYER)


def layers(g):
    for mode in ('tanh', 'relu', 'lstm', 'gru'):
        p = mode + '.' if mode in ('tanh', 'relu') else ''
        _layer_case(g, mode, p + 'basic', 4, 3, 3, 4, 1, True, False, False, True, 'padded')
        _layer_case(g, mode, p + 'deep_bidir_batch_first', 3, 2, 3, 3, 2, True, True, True, True, 'padded')
        _layer_case(g, mode, p + 'packed_deep_bidir', 5, 4, 2, 3, 2, True, False, True, True, 'packed',
                    lengths=[3, 5, 2, 5])
        _layer_case(g, mode, p + 'packed_no_h0', 4, 3, 3, 2, 1, False, False, False, False, 'packed',
                    lengths=[2, 4, 1])
        _layer_case(g, mode, p + 'unbatched_nobias', 4, 1, 2, 3, 1, False, False, False, True, 'unbatched')
        _layer_case(g, mode, p + 'unbatched_bidir_no_h0', 3, 1, 2, 2, 2, True, True, True, False, 'unbatched')


# ---------------------------------------------------------------------------
# packing

# pack_padded_sequence's forward cases are in the manifest (its int64
# outputs batch_sizes and sorted/unsorted_indices compared exactly by
# tests/test_golden.c; with enforce_sorted PyTorch gives no indices, so the
# case passes none).  The same inputs and outputs are also written as
# rnn_extra.pack.<tag>.<name>.npy for tests/test_rnn.c, which packs them
# through nnrt_packed_sequence_from_padded (it knows each tag's params);
# they are registered with the writer so that gen.py keeps them and --check
# compares them.
PACK_CASES = (('sorted', 5, 3, (2,), False, [5, 3, 2], True),
              ('unsorted_batch_first', 4, 4, (3,), True, [2, 4, 1, 4], False),
              ('feat2d', 3, 3, (2, 2), False, [1, 3, 3], False),
              ('nofeat', 4, 2, (), True, [3, 4], False))


def _extra(g, name, arr, index=False):
    fname = 'rnn_extra.%s.npy' % name
    a = np.asarray(arr.detach().numpy() if isinstance(arr, torch.Tensor) else arr)
    a = np.array(a, dtype='<i8' if index else '<f8', order='C')
    with open(os.path.join(g.out, fname), 'wb') as f:
        np.save(f, a, allow_pickle=False)
    g.written.add(fname)


def _pack_case(g, tag, params, x, lens, ps):
    """The forward case of pack_padded_sequence: ps is PyTorch's result."""
    outs = {'data': ps.data.detach(), 'batch_sizes': ps.batch_sizes}
    if ps.sorted_indices is not None:
        outs['sorted_indices'] = ps.sorted_indices
        outs['unsorted_indices'] = ps.unsorted_indices
    g.case('pack_padded_sequence.%s' % tag, 'pack_padded_sequence', params, {'input': x, 'lengths': lens}, outs)


def packing_more(g):
    """pack_padded_sequence forward cases beyond PACK_CASES (drawn after
    every other case of the family, so their files stay as they were):
    batch_first with enforce_sorted, ties among mixed lengths (the sort is
    stable), every sequence of one length, a batch of one, and a case with
    only the required outputs."""
    for tag, T, N, feat, bf, lengths, enforce, opt in (
            ('sorted_batch_first', 4, 3, (2,), True, [4, 4, 1], True, True),
            ('ties_mixed', 4, 7, (2,), False, [2, 3, 3, 1, 3, 4, 3], False, True),
            ('ties_mixed_batch_first', 4, 7, (), True, [4, 2, 4, 2, 4, 1, 4], False, True),
            ('equal', 3, 3, (2,), False, [3, 3, 3], False, True),
            ('one', 3, 1, (3,), True, [2], False, True),
            ('no_indices', 5, 4, (2,), True, [1, 5, 3, 5], False, False)):
        shape = ((N, T) if bf else (T, N)) + feat
        x = g.randn(shape)
        lens = np.array(lengths, dtype=np.int64)
        ps = pack_padded_sequence(_t(x), torch.tensor(lens), batch_first=bf, enforce_sorted=enforce)
        params = {'batch_first': bf, 'enforce_sorted': enforce}
        if opt:
            _pack_case(g, tag, params, x, lens, ps)
        else:
            g.case('pack_padded_sequence.%s' % tag, 'pack_padded_sequence', params, {'input': x, 'lengths': lens},
                   {'data': ps.data, 'batch_sizes': ps.batch_sizes})


def packing(g):
    for tag, T, N, feat, bf, lengths, enforce in PACK_CASES:
        shape = ((N, T) if bf else (T, N)) + feat
        x = g.randn(shape)
        lens = np.array(lengths, dtype=np.int64)
        xt = _t(x).requires_grad_()
        ps = pack_padded_sequence(xt, torch.tensor(lens), batch_first=bf, enforce_sorted=enforce)
        _extra(g, 'pack.%s.input' % tag, x)
        _extra(g, 'pack.%s.lengths' % tag, lens, True)
        _extra(g, 'pack.%s.data' % tag, ps.data)
        _extra(g, 'pack.%s.batch_sizes' % tag, ps.batch_sizes, True)
        if not enforce:
            _extra(g, 'pack.%s.sorted_indices' % tag, ps.sorted_indices, True)
            _extra(g, 'pack.%s.unsorted_indices' % tag, ps.unsorted_indices, True)
        params = {'batch_first': bf, 'enforce_sorted': enforce}
        _pack_case(g, tag, params, x, lens, ps)
        gd = g.randn(tuple(ps.data.shape))
        gx, = torch.autograd.grad((ps.data * _t(gd)).sum(), [xt])
        g.case('pack_padded_sequence_backward.%s' % tag, 'pack_padded_sequence_backward', params,
               {'grad_data': gd, 'input': x, 'lengths': lens}, {'grad_input': gx})
        # and back
        for ptag, pp in (('default', {}), ('bf_pad_total', {'batch_first': not bf, 'padding_value': -1.5,
                                                            'total_length': T + 2})):
            data = _t(ps.data.detach().numpy()).requires_grad_()
            src = PackedSequence(data, ps.batch_sizes, ps.sorted_indices, ps.unsorted_indices)
            full = {'batch_first': False, 'padding_value': 0.0, 'total_length': None}
            full.update(pp)
            out, olens = pad_packed_sequence(src, batch_first=full['batch_first'], padding_value=full['padding_value'],
                                             total_length=full['total_length'])
            assert (olens.numpy() == lens).all()  # lengths come back in the original order
            pins = {'data': data.detach().numpy(), 'batch_sizes': ps.batch_sizes.numpy()}
            if ps.unsorted_indices is not None:
                pins['unsorted_indices'] = ps.unsorted_indices.numpy()
            pid = 'pad_packed_sequence.%s.%s' % (tag, ptag)
            g.case(pid, 'pad_packed_sequence', pp, pins, {'output': out.detach(), 'lengths': olens})
            gy = g.randn(tuple(out.shape))
            gd2, = torch.autograd.grad((out * _t(gy)).sum(), [data])
            g.case('pad_packed_sequence_backward.%s.%s' % (tag, ptag), 'pad_packed_sequence_backward', pp,
                   dict(pins, grad_output=gy), {'grad_data': gd2})


# ---------------------------------------------------------------------------
# utilities

def utilities(g):
    x = g.randn((3, 5, 2), 2.0)
    for p in (2.0, 1.0, 3.0, 0.5, float('inf')):
        g.case('norm_p.p_%s' % ('inf' if p == float('inf') else repr(p)), 'norm_p', {'p': p}, {'input': x},
               {'output': torch.norm(_t(x), p)})
    g.case('norm_p.scalar', 'norm_p', {}, {'input': g.f32(-1.5)}, {'output': np.array(1.5)})
    g.case('norm_p.empty', 'norm_p', {}, {'input': np.zeros((0, 3))}, {'output': np.array(0.0)})
    g.case('norm_p.inf_value', 'norm_p', {'p': float('inf')}, {'input': g.f32([1.0, -np.inf, 2.0])},
           {'output': np.array(np.inf)})
    y = g.randn((4, 3))
    g.case('mul_scalar.half', 'mul_scalar', {'alpha': 0.5}, {'input': y}, {'output': 0.5 * y})
    g.case('mul_scalar.inplace', 'mul_scalar', {'alpha': -3.0, 'inplace': True}, {'input': y}, {'output': -3.0 * y})
    src, dst = g.randn((2, 5)), g.randn((4, 3))
    want = dst.copy().reshape(-1)
    want[2:6] = src.reshape(-1)[3:7]
    g.case('slice_copy.copy', 'slice_copy', {'src_offset': 3, 'dst_offset': 2, 'count': 4, 'dst_numel': 12},
           {'src': src}, {'dst': want.reshape(4, 3)}, {'dst': dst})
    want = dst.copy().reshape(-1)
    want[5:12] += src.reshape(-1)[3:]
    g.case('slice_copy.accumulate_rest', 'slice_copy', {'src_offset': 3, 'dst_offset': 5, 'accumulate': True},
           {'src': src}, {'dst': want.reshape(4, 3)}, {'dst': dst})


def cases(g):
    cells(g)
    layers(g)
    packing(g)
    utilities(g)
    packing_more(g)
