"""Rules for claims 5.1-5.9 (Sec. 5: Figs. 4, 5, 6 and the "other tests"), fixed before the
experiment's first run.

**Vanilla** (the paper's vanilla set-up, CPU-sized): PaperCNN, width WIDTH, no BatchNorm, Xavier,
Adam at LR, batch BATCH, no augmentation, EPOCHS epochs on the first TRAIN_N CIFAR-10 training
images (a fixed budget, as the paper's 100 epochs for every heuristic), seeds ``common.SEEDS``.
Every setting changes one thing:

* ``batch-25``, ``batch-400``: batch size SMALL_BATCH / LARGE_BATCH (vanilla is BATCH);
* ``dropout``: dropout p = DROPOUT before the fully-connected layer (the paper: "on
  fully-connected layers with p = 0.5");
* ``mixup``: mix-up within each batch with lambda ~ Beta(MIXUP_ALPHA, MIXUP_ALPHA) (the paper's
  alpha = 0.5; the official code's commented-out lines draw Beta(1, 1): ``mixup_alpha`` takes both);
* ``batchnorm``: BatchNorm after every conv (gamma = 1, beta = 0 at start, as the paper);
* ``adversarial``: FGSM with a random start (Wong et al. 2020) at eps = AT_EPS, step AT_ALPHA: the
  CPU stand-in for the paper's PGD at 8/255 (7-10 times the cost);
* ``sgd``: SGD (momentum SGD_MOMENTUM, learning rate SGD_LR) instead of Adam;
* Fig. 6: ``lfc-r4``, ``lfc-r12`` (vanilla trained on x_l at r = 4, 12) and ``lfc-r4-batchnorm``,
  ``lfc-r12-batchnorm`` (the same with BatchNorm).

**Measures** after the last epoch, on the HOLDOUT held-out images 45000..49999: accuracy on x
(``test``), on x_l(r) and on x_h(r) for r in RADII; on the TRAIN_N training images: accuracy on x
(``train``; for the Fig. 6 settings on their training view). ``gap`` = train - test. Per image,
``L`` = mean over RADII of x_l(r) correct, ``H`` = mean over RADII of x_h(r) correct, ``H(r)`` and
``L(r)`` per radius. ``speed`` = the mean training accuracy over the epochs (area under the
training curve). Along training (the figures), every epoch: training accuracy on CURVE_N
training images and test accuracy on CURVE_N held-out images, on x, x_l(r), x_h(r).
Comparisons follow ``common``: *holds* (pooled paired interval excludes 0 and every seed agrees),
*leans* (one of the two), *alike* (interval within +-ALIKE_POINTS). The gap's interval combines
the training-image and test-image paired intervals (independent samples: variances add).

**5.1** (Fig. 4) "smaller batch size appears to excel in improving training and testing accuracy,
while bigger batch size seems to stand out in closing the generalization gap": batch-25 vs
batch-400 on (i) train higher, (ii) test higher, (iii) gap: batch-400 smaller. Reproduces if
all three hold; partially if at least one holds or leans; does not otherwise.
**5.2** (Fig. 4) "models trained with bigger [batch] sizes are more invariant to HFC": H lower
for batch-400 than for batch-25. Reproduces if it holds; partially if it leans; does not otherwise.
**5.3** (Fig. 5) "Dropout roughly behaves similarly to the vanilla set-up": dropout vs vanilla
alike on test, L and H. Reproduces if alike on all three; partially if on one or two; does not
otherwise.
**5.4** (Fig. 5) "Mix-up delivers a similar prediction accuracy, however, it catches much more
HFC": (i) test alike, (ii) H higher for mixup. Reproduces if both; partially if (ii) holds or
leans without (i), or (i) with (ii) leaning; does not otherwise.
**5.5** (Fig. 5) adversarial training "reports a lower prediction accuracy ... a smaller
generalization gap ... invariance towards HFC (e.g., r = 12 or r = 16) ... seems to be sensitive
to the HFC when r = 4": vs vanilla, (i) test lower, (ii) gap smaller, (iii) mean of H(12), H(16)
lower, (iv) H(4) higher. Reproduces if all four hold; partially if two or three hold; does not
otherwise.
**5.6** (Fig. 5) "BatchNorm picks more information in both LFC and HFC, especially when r = 4 and
r = 8": vs vanilla, (i) mean of L(4), L(8) higher, (ii) mean of H(4), H(8) higher. Reproduces if
both hold; partially if one holds or both lean; does not otherwise.
**5.7** (other tests, architectures: ResNet vs LeNet, AlexNet, VGG): not run (four architectures,
ImageNet-sized designs among them, beyond the CPU budget).
**5.8** (other tests, optimizers) "SGD seems to be the only one suffering from the tendency
towards significantly capturing HFC, while the rest are on par": only SGD against Adam is run
(AdaGrad, AdaDelta, RMSprop are not): H higher for sgd than vanilla. Partially if it holds
(half the claim, the "only one" part untested); does not otherwise. Never "reproduces".
**5.9** (Fig. 6) "when the model is trained with only LFC, BatchNorm does not always help improve
the predictive performance ... the smaller the radius is, the less the BatchNorm helps ...
BatchNorm still seems to at least boost the convergence of training accuracy ... the
acceleration is the smallest when r = 4": (i) at some radius BatchNorm's test (on x) does not
hold higher than without; (ii) BatchNorm's test gain is smaller at r = 4 than at r = 12 (the
per-image difference of the two gains holds negative); (iii) speed higher with BatchNorm at both
radii; (iv) the speed gain smaller at r = 4 than at r = 12. Reproduces if all four; partially if
two or three; does not otherwise.
"""

WIDTH = 16
LR = 1e-3
BATCH = 100
SMALL_BATCH = 25
LARGE_BATCH = 400
EPOCHS = 20
TRAIN_N = 5000
HOLDOUT = 5000
CURVE_N = 500
RADII = (4.0, 8.0, 12.0, 16.0)
DROPOUT = 0.5
MIXUP_ALPHA = 0.5
AT_EPS = 8 / 255
AT_ALPHA = 10 / 255
SGD_LR = 0.01
SGD_MOMENTUM = 0.9
LFC_RADII = (4.0, 12.0)
SETTINGS = (
    "vanilla",
    "batch-25",
    "batch-400",
    "dropout",
    "mixup",
    "batchnorm",
    "adversarial",
    "sgd",
    "lfc-r4",
    "lfc-r12",
    "lfc-r4-batchnorm",
    "lfc-r12-batchnorm",
)
