"""Every claim of the paper, in the paper's order, numbered by its section (and figure or table):
the rows of REPRODUCTION.md. ``rule`` names the module of :mod:`hfc_robust.paper.rules` that
decides it; ``not_run`` gives the reason where nothing here can test it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Claim:
    id: str
    where: str
    text: str
    rule: str | None = None
    not_run: str | None = None


CLAIMS = (
    Claim(
        "3.1",
        "Sec. 3.1, Fig. 2",
        "CNNs exploit HFC: images are predicted right from x_h and wrong from x_l, which looks like x",
        "spectrum",
    ),
    Claim(
        "3.2",
        "Sec. 3.2, Corollary 1",
        "a trade-off between accuracy and robustness follows (a proof from assumptions A1, A2)",
        None,
        "a corollary proved from assumptions, not an experiment; its assumption A2 "
        "(some x with f(x) != f(x_l)) is counted in the 3.1 runs",
    ),
    Claim(
        "4.1",
        "Sec. 4.2, Fig. 3",
        "with shuffled labels a model takes longer to reach the same training accuracy",
        "label_shuffle",
    ),
    Claim(
        "4.2",
        "Sec. 4.2, Fig. 3",
        "with natural labels a model learns more of the LFC (r = 4, 8) of its training "
        "data than with shuffled labels, which barely learns any LFC at r = 4",
        "label_shuffle",
    ),
    Claim(
        "4.3",
        "Sec. 4.2, Table 1",
        "LFC is much more generalizable than HFC: trained on x_l a model does well "
        "on original images, trained on x_h it does not",
        "table1",
    ),
    Claim(
        "5.1",
        "Sec. 5.1, Fig. 4",
        "smaller batches give higher training and test accuracy, bigger batches a smaller generalization gap",
        "heuristics",
    ),
    Claim("5.2", "Sec. 5.1, Fig. 4", "models trained with bigger batches are more invariant to HFC", "heuristics"),
    Claim("5.3", "Sec. 5.1, Fig. 5", "dropout behaves like the vanilla set-up", "heuristics"),
    Claim("5.4", "Sec. 5.1, Fig. 5", "mix-up gives a similar accuracy but catches much more HFC", "heuristics"),
    Claim(
        "5.5",
        "Sec. 5.1, Fig. 5",
        "adversarial training: lower accuracy, smaller generalization gap, invariant to "
        "HFC at r = 12, 16, sensitive to HFC at r = 4",
        "heuristics",
    ),
    Claim("5.6", "Sec. 5.1, Fig. 5", "BatchNorm picks up more LFC and more HFC, especially at r = 4, 8", "heuristics"),
    Claim(
        "5.7",
        "Sec. 5.1, other tests",
        "ResNet beats LeNet, AlexNet and VGG in accuracy and gap and captures less HFC",
        None,
        "four architectures trained for 100 epochs each are beyond the 8-hour CPU budget",
    ),
    Claim(
        "5.8",
        "Sec. 5.1, other tests",
        "SGD is the only optimizer (of SGD, Adam, AdaGrad, AdaDelta, RMSprop) that captures significantly more HFC",
        "heuristics",
    ),
    Claim(
        "5.9",
        "Sec. 5.2, Fig. 6",
        "trained on LFC only, BatchNorm does not always help, helps less the smaller "
        "the radius, but speeds up training, least at r = 4",
        "heuristics",
    ),
    Claim("6.2", "Sec. 6.2, Fig. 7", "adversarially robust models have smoother first-layer kernels", "kernels"),
    Claim(
        "6.3a",
        "Sec. 6.3, Table 2",
        "smoothing the first-layer kernels (Eq. 3) improves M_natural's robustness to FGSM and PGD",
        "smoothing",
    ),
    Claim("6.3b", "Sec. 6.3, Table 2", "for M_adversarial, smoothing helps only at larger eps", "smoothing"),
    Claim("6.3c", "Sec. 6.3, Table 2", "at eps = 0.09, M_natural(rho = 1) outperforms M_adversarial", "smoothing"),
    Claim(
        "7.1",
        "Sec. 7, Fig. 8",
        "object detection (RetinaNet on COCO) loses mAP on x_l (35.6% -> 27.5% at r = 128)",
        None,
        "needs COCO (118,000 training images) and a detector: neither is available offline here, "
        "nor affordable on a CPU",
    ),
    Claim("7.2", "Sec. 7.2, Fig. 9", "for 1,684 COCO images some objects are detected better on x_l", None, "as 7.1"),
    Claim("8.1", "Sec. 8", "with a truncated-SVD split far fewer images support the Fig. 2 story", "spectrum"),
    Claim(
        "A",
        "Sec. 4.2 (appendix)",
        "the experiments repeat on MNIST, Fashion-MNIST and an ImageNet subset",
        None,
        "the ImageNet subset is not available here; Fashion-MNIST enters 3.1 and the outside-setting Table 2 "
        "rows, MNIST nothing",
    ),
)
