#!/usr/bin/python3
"""tools/golden/modules.py - fixtures for tests/test_modules.c: a small
network trained for three SGD steps by PyTorch 1.13, so the module layer
(Sequential, Linear, PReLU, Tanh, CrossEntropyLoss, SGD with momentum,
nesterov and weight decay) is checked end to end.

    /usr/bin/python3 tools/golden/modules.py [--out tests/fixtures/modules]

Writes float64 .npy files (values float32-exact where they are inputs):
x, y, the initial parameters p0_<name>, the loss of each step loss, and
the parameters after the last step p3_<name>, with PyTorch's names
(0.weight, 0.bias, 1.weight, 3.weight, 3.bias) with '.' as '_'.
"""
import argparse
import os

import numpy as np
import torch


def f32_exact(a):
    return torch.tensor(np.float64(np.float32(a)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "../../tests/fixtures/modules"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rng = np.random.default_rng(20261126)
    torch.set_default_dtype(torch.float64)
    net = torch.nn.Sequential(torch.nn.Linear(5, 6), torch.nn.PReLU(6, init=0.2), torch.nn.Tanh(),
                              torch.nn.Linear(6, 3))
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(f32_exact(rng.uniform(-0.6, 0.6, p.shape)))
    x = f32_exact(rng.normal(size=(8, 5)))
    y = torch.tensor(rng.integers(0, 3, size=8), dtype=torch.int64)
    save = lambda name, t: np.save(os.path.join(args.out, name + ".npy"), t.detach().numpy())
    save("x", x)
    save("y", y)
    for name, p in net.named_parameters():
        save("p0_" + name.replace(".", "_"), p)
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=0.01, nesterov=True)
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=0.05)
    losses = []
    for _ in range(3):
        opt.zero_grad()
        loss = loss_fn(net(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    save("loss", torch.tensor(losses))
    for name, p in net.named_parameters():
        save("p3_" + name.replace(".", "_"), p)


if __name__ == "__main__":
    main()
