"""Rules for claims 4.1 and 4.2 (Sec. 4.2, Fig. 3), fixed before the experiment's first run.

**Setting** (the paper's vanilla set-up scaled to a CPU; see ``hfc_robust.paper.experiments``):
PaperCNN, width WIDTH, no BatchNorm (the official code's ResNet has none), Xavier initialisation,
Adam at LR (the paper: 1e-4 for 100-300 epochs; 10x here so the runs end in minutes), batch
BATCH, no augmentation, on the first TRAIN_N CIFAR-10 training images. M_natural uses their
labels; M_shuffle a fixed random permutation of them (seeded per seed, the official code's
``train_label_shuffle.npy`` idea). After every epoch both are scored on all TRAIN_N training
images, on x and on x_l at RADII (accuracy against each model's own training labels). Training
stops at the first epoch whose accuracy on x is >= FIT (the model fits its labels) or at
MAX_EPOCHS. Seeds: ``common.SEEDS``.

e(a) = the first epoch at which a model's training accuracy on x reaches a, for a in LEVELS
(infinite if never).

**Claim 4.1** ("M_shuffle takes a longer training time than M_natural to reach the same training
accuracy"): per seed and level, M_shuffle needs more epochs: e_shuffle(a) > e_natural(a).
Reproduces if that holds at every level in every seed; partially if it holds in at least half of
the (seed, level) cases; does not otherwise.

**Claim 4.2** ("M_natural learns more of the low-frequent patterns (r = 4 or 8) than M_shuffle.
M_shuffle barely learns any LFC when r = 4"): (a) at matched training accuracy, that is at each
model's epoch e(a) for a in LEVELS, M_natural's training accuracy on x_l is higher than
M_shuffle's at r = 4 and r = 8: one-sided Fisher exact test (different labels, so no pairing),
Holm over the 4 (level, radius) tests of a seed; (b) M_shuffle at r = 4, when it stops, has a
training accuracy on x_l whose Wilson upper bound is below chance + BARELY_POINTS points.
Reproduces if (a) holds for all 4 tests and (b) holds, in every seed; partially if (a) holds for
at least one test in every seed, or (a) and (b) hold in some seeds; does not otherwise.
"""

WIDTH = 16
LR = 1e-3
BATCH = 100
TRAIN_N = 1000
RADII = (4.0, 8.0, 12.0, 16.0)
FIT = 0.95
MAX_EPOCHS = 300
LEVELS = (0.5, 0.9)
BARELY_POINTS = 10.0
