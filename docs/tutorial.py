# %% [markdown]
# # Tutorial: benchmark your own model from Python
#
# This notebook defines a small CNN, trains it for a few seconds on images that ship with
# hfc-robust, and benchmarks it under attack, bare and behind the paper's low-pass filter, with
# `hfc_robust.benchmark`: the table, the headline, the defense and the run folder it writes.
# It runs in well under a minute on one CPU core, and needs nothing beyond `pip install -e .`
# (no download, no GPU).
#
# `docs/tutorial.py` (jupytext's percent format) is the source; `docs/tutorial.ipynb` is the same
# notebook, paired with it by jupytext (`docs/jupytext.toml`). Open either in Jupyter, or run
# `jupytext --sync docs/tutorial.py` after editing one of them. The numbers quoted below are this
# notebook's on one CPU thread; `tests/test_docs.py` runs it and checks them.

# %%
import json
import time
from pathlib import Path

import pandas as pd
import torch
import torch.nn as nn
import torch.nn.functional as F

import hfc_robust as hr

torch.manual_seed(0)      # the initial weights
torch.set_num_threads(1)  # the numbers quoted below are one thread's
pd.set_option("display.width", 160)

# %% [markdown]
# ## The data
#
# hfc-robust embeds the 10,000 Fashion-MNIST test images (© Zalando SE, MIT licence). We train on
# images 1,000 to 9,999 and benchmark on the first 500, which training never sees.

# %%
data = hr.load_dataset("fmnist")
images, labels = data.to_float(data.images), data.labels  # N x 1 x 28 x 28 floats in [0, 1]; class indices
train_x, train_y = images[1000:], labels[1000:]
test_x, test_y = images[:500], labels[:500]
print(tuple(images.shape), f"pixels in [{images.min().item():g}, {images.max().item():g}]")


# %% [markdown]
# ## Your model
#
# Any `nn.Module` that takes a batch of pixels in [0, 1] (N x C x H x W) and returns logits.
# Normalization belongs inside the model: the attacks work on pixels, and the ε-ball is a ball
# on the [0, 1] pixel scale.

# %%
class TinyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Linear(32 * 7 * 7, 10)

    def forward(self, x):
        x = (x - 0.2860) / 0.3530  # Fashion-MNIST's mean and standard deviation, inside the model
        return self.classifier(self.features(x).flatten(1))


net = TinyNet()
optimizer = torch.optim.Adam(net.parameters(), lr=2e-3)
shuffle = torch.Generator().manual_seed(0)
started = time.time()
for epoch in range(2):
    for batch in torch.randperm(len(train_x), generator=shuffle).split(64):
        loss = F.cross_entropy(net(train_x[batch]), train_y[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
net.eval()
print(f"trained for 2 epochs in {time.time() - started:.0f} s")

# %% [markdown]
# ## A defense
#
# `hr.LowPass(net, radius=8)` puts the paper's input low-pass filter in front of your model: it
# keeps the frequencies within 8 bins of the centre of each image's spectrum. It is an `nn.Module`
# too, so you can use it directly; `hr.benchmark` builds it itself from `radii=(8,)`. The filter
# costs a little clean accuracy (here about 1 point: 86.0% bare, 85.0% behind the filter).

# %%
defended = hr.LowPass(net, radius=8)
with torch.no_grad():
    for label, model in (("bare", net), ("LowPass r=8", defended)):
        accuracy = (model(test_x).argmax(1) == test_y).float().mean().item()
        print(f"{label:12} clean accuracy {accuracy:.1%}")

# %% [markdown]
# ## The benchmark
#
# One call runs the grid of `hfc-robust bench`: PGD-10 at ε = 8/255 (the default ε) against the
# bare model (**white-box**), and against the defended model two ways: crafted on the bare model
# and then filtered (**oblivious**, a transfer attack) and crafted through the filter
# (**adaptive**, the headline). It runs the sanity checks, including the strong-attack spot
# check, and writes the run folder `tiny-net-run/`.

# %%
started = time.time()
run = hr.benchmark(net, (test_x, test_y), name="tiny-net", attacks=("pgd",), radii=(8,), out="tiny-net-run",
                   threads=1)
print(f"benchmarked in {time.time() - started:.0f} s")

# %% [markdown]
# `run.table` is `results.csv` as a DataFrame: one row per cell, with the Wilson 95% interval.
# PGD-10 takes the bare model from 86.0% to 64.6%; the filter's adaptive row is 61.8%, lower still,
# while its oblivious row (72.8%) would flatter it: a transfer attack is not the number to
# report for a defense.

# %%
run.table[["defense", "radius", "threat_model", "attack", "eps_255", "correct", "n", "accuracy", "ci_low", "ci_high"]]

# %% [markdown]
# ## The headline
#
# Each configuration's headline is its white-box row (undefended) or its adaptive row (defended).
# Only AutoAttack's standard ensemble (`attacks=("autoattack",)`) gives a number to cite; a PGD
# row is an **upper bound** on robust accuracy, and the spot check, which attacks a sample of the
# examples PGD left standing again with APGD and Square, estimates by how much it overstates.
# `results.md` states each headline with that estimate:

# %%
summary = (run.out / "results.md").read_text()
headline = summary[summary.index("## Headline"):summary.index("## All results")]
print(headline.strip())

# %% [markdown]
# Here the spot check broke 0 of the 20 robust examples it sampled from the adaptive row, but
# found the undefended model's PGD-10 row overstated by about 3 points. The checks behind it are
# in `run.checks` (and `checks.json`): the spot check **warns**, since its finding only confirms
# the upper-bound label, so `hfc-robust bench` would exit 0 (`--strict` would exit 3). No check
# **fails**: nothing contradicts what the run claims.

# %%
for check in run.checks:
    print(f"{check.status:8} {check.name}")
print("warned:", run.warned, "failed:", run.failed)

# %% [markdown]
# ## The run folder
#
# Everything above is in `tiny-net-run/`, readable without hfc-robust: the tables, the per-example
# outcomes, the checks, plots, and `run.json`, which records how the run was made (its fields and
# JSON Schema are on the run.json page of the docs). For a module handed over in Python it records
# the class and the SHA-256 of its state_dict.

# %%
print(sorted(path.name for path in run.out.iterdir()))
record = json.loads((run.out / "run.json").read_text())
print(record["model"]["name"], record["model"]["class"], record["model"]["sha256"][:12])
print(record["dataset"]["sample"], record["dataset"]["indices"])
print(record["config"]["attacks"], record["config"]["eps"], record["config"]["radii"], "seed", record["seed"])

# %% [markdown]
# `examples.csv.gz` has one line per example and cell: which images each attack broke. Here, the
# test images the adaptive attack broke that the oblivious one did not:

# %%
examples = pd.read_csv(run.out / "examples.csv.gz")
cells = run.table.set_index("threat_model")["cell"]
robust = examples.pivot(index="index", columns="cell", values="robust")
adaptive, oblivious = robust[cells["adaptive"]], robust[cells["oblivious"]]
broken_only_adaptively = robust.index[(adaptive == 0) & (oblivious == 1)]
print(len(broken_only_adaptively), "images, e.g.", list(broken_only_adaptively[:10]))

# %% [markdown]
# ## Next
#
# * The number to cite: `hr.benchmark(net, (test_x, test_y), attacks=("autoattack",), radii=(8,))`,
#   50-100 times the cost of PGD-10.
# * Other threat models: `norm="l2"` with `eps=(...)`; other defenses: `rhos=(0.5,)` smooths the
#   first convolution's kernels (the paper's Eq. 3).
# * The same from the command line: `hfc-robust bench --model py:mynet:build --weights my-net.pt`.
