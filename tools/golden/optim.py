#!/usr/bin/python3
"""tools/golden/optim.py - fixtures for tests/test_optim.c, from PyTorch 1.13:

1. A Sequential(Linear(5, 6), Tanh(), Linear(6, 3)) with CrossEntropyLoss
   trained for three torch.optim.Adam steps, once per configuration of
   CONFIGS, from the same starting weights: the module-level Adam
   (nnrt_optimizer_adam) checked end to end.
2. The state_dict of a Sequential(Linear(4, 3), BatchNorm1d(3), ReLU())
   after two training forwards, written in nnrt's weights format (see
   nnrt_module_save in include/nnrt/nnrt.h), so nnrt_module_load is
   checked on a file nnrt did not write, with PyTorch's names.

    /usr/bin/python3 tools/golden/optim.py [--out tests/fixtures/optim]

Writes float64 .npy files (float32-exact where they are inputs): x, y,
p0_<name> (starting parameters), and per configuration <tag>_loss (the
loss of each step) and <tag>_p3_<name> (parameters after step 3), names
as PyTorch's with '.' as '_'; and bn_state.nnrtw with bn_<name>.npy
holding each of its entries.
"""
import argparse
import os
import struct
import zlib

import numpy as np
import torch

# tag -> torch.optim.Adam keyword arguments
CONFIGS = {
    "adam": dict(lr=0.01),
    # beta2 small and lr large enough that amsgrad changes many weights by > 1e-4
    "amsgrad": dict(lr=0.05, betas=(0.8, 0.6), eps=1e-6, weight_decay=0.01, amsgrad=True),
}


def f32_exact(a):
    return torch.tensor(np.float64(np.float32(a)))


def write_nnrtw(path, entries):
    """nnrt weights format version 1: entries is [(name, numpy array)]
    with dtypes float32, float64 or int64."""
    codes = {np.dtype("<f4"): 0, np.dtype("<f8"): 1, np.dtype("<i8"): 2}
    out = bytearray(b"NNRTWTS\0" + struct.pack("<II", 1, len(entries)))
    for name, a in entries:
        a = np.array(a, dtype=a.dtype.newbyteorder("<"), order="C")  # (ascontiguousarray makes 0-d 1-d)
        nb = name.encode()
        out += struct.pack("<I", len(nb)) + nb + struct.pack("<II", codes[a.dtype], a.ndim)
        out += struct.pack("<%dq" % a.ndim, *a.shape) + struct.pack("<Q", a.nbytes) + a.tobytes()
    out += struct.pack("<I", zlib.crc32(bytes(out)) & 0xFFFFFFFF)
    with open(path, "wb") as f:
        f.write(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "../../tests/fixtures/optim"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    save = lambda name, t: np.save(os.path.join(args.out, name + ".npy"),
                                   t.detach().numpy() if isinstance(t, torch.Tensor) else t)
    rng = np.random.default_rng(20261207)
    torch.set_default_dtype(torch.float64)

    # 1. Adam on a small network
    net = torch.nn.Sequential(torch.nn.Linear(5, 6), torch.nn.Tanh(), torch.nn.Linear(6, 3))
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(f32_exact(rng.uniform(-0.6, 0.6, p.shape)))
    start = {n: p.detach().clone() for n, p in net.named_parameters()}
    x = f32_exact(rng.normal(size=(8, 5)))
    y = torch.tensor(rng.integers(0, 3, size=8), dtype=torch.int64)
    save("x", x)
    save("y", y)
    for name, p in start.items():
        save("p0_" + name.replace(".", "_"), p)
    loss_fn = torch.nn.CrossEntropyLoss()
    for tag, cfg in CONFIGS.items():
        with torch.no_grad():
            for n, p in net.named_parameters():
                p.copy_(start[n])
        opt = torch.optim.Adam(net.parameters(), **cfg)
        losses = []
        for _ in range(3):
            opt.zero_grad()
            loss = loss_fn(net(x), y)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        save(tag + "_loss", torch.tensor(losses))
        for name, p in net.named_parameters():
            save(tag + "_p3_" + name.replace(".", "_"), p)

    # 2. a state_dict with buffers, in float32 as nnrt's modules hold it
    torch.set_default_dtype(torch.float32)
    bn = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3), torch.nn.ReLU())
    with torch.no_grad():
        for p in bn.parameters():
            p.copy_(torch.tensor(rng.uniform(-1, 1, p.shape), dtype=torch.float32))
        for _ in range(2):
            bn(torch.tensor(rng.normal(size=(6, 4)), dtype=torch.float32))
    entries = [(n, t.detach().numpy()) for n, t in bn.state_dict().items()]
    write_nnrtw(os.path.join(args.out, "bn_state.nnrtw"), entries)
    for n, a in entries:
        save("bn_" + n.replace(".", "_"), a.astype(np.int64 if a.dtype.kind == "i" else np.float64))


if __name__ == "__main__":
    main()
