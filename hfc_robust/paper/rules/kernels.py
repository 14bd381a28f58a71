"""Rule for claim 6.2 (Sec. 6.2, Fig. 7), fixed before the measure was first computed.

**The paper:** "the kernels of M_adversarial tend to show a more smooth pattern, which can be
observed by noticing that the adjacent weights of kernels of M_adversarial tend to share the same
color" (first-layer kernels, visualised).

**Measure** (the issue's suggestion: energy outside the lowest frequencies): every first-layer
kernel slice k (one output channel, one input channel; 3 x 3) has the share of its energy outside
the DC term of its 2-D DFT, s_k = 1 - (sum w)^2 / (9 sum w^2) (Parseval: the DFT's total energy is
9 sum w^2, its DC term (sum w)^2): 0 for a constant kernel, 1 for a zero-mean one. A model's
smoothness number is the energy-weighted share S = sum_k (9 sum w^2 - (sum w)^2) / sum_k 9 sum w^2.
Also reported, not ruled on: the adjacent-difference energy sum (w_a - w_b)^2 over 4-neighbour
pairs divided by sum w^2, and the same numbers after Eq. 3 at rho = 1 (Fig. 7 c, d).

**Pairs** (natural, adversarially trained), the zoo's and this reproduction's: ``fmnist-cnn`` /
``fmnist-cnn-at``; ``cifar10-small`` / ``cifar10-small-at``; ``cifar10-nobn`` / ``cifar10-nobn-at``
(Table 2's models in the paper's setting); and the Sec. 5 ``vanilla`` / ``adversarial`` models of
each seed (``common.SEEDS``).

**Claim 6.2:** per pair, S is lower for the adversarially trained model and its per-slice shares
are lower by the one-sided Mann-Whitney U test, Holm over the pairs at ``common.ALPHA``.
Reproduces if that holds in every pair; partially if it holds in at least half of the pairs;
does not otherwise.
"""

PAIRS = (("fmnist-cnn", "fmnist-cnn-at"), ("cifar10-small", "cifar10-small-at"), ("cifar10-nobn", "cifar10-nobn-at"))
SMOOTHED_RHO = 1.0
