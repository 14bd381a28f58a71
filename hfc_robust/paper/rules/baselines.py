"""Rules for the claims that are not the paper's (uncounted): the adversarial-training baseline of
Table 2 and Yin et al.'s trade-off (NeurIPS 2019). Both rules were changed after their numbers were
seen (issue 26); ``CHANGED`` gives the earlier ones, and the verdict is given under both.

**Adversarial training is the robust baseline:** per pair (natural, adversarially trained) --
``fmnist-cnn``/``fmnist-cnn-at``, ``cifar10-small``/``cifar10-small-at`` at PGD 8/255 and
``cifar10-nobn``/``cifar10-nobn-at`` at the worst case at eps = 0.03 -- the adversarially trained
model's robust indicator against the natural one's on the same images, exact one-sided McNemar.
Reproduces if significant in every pair; partially if in some; does not otherwise.

**Yin et al.'s trade-off** (the low-pass filter helps against noise, hurts under fog and
contrast), ResNet-20 under the 15 CIFAR-10-C corruptions, bare and at r = 4, 8, 12, 16, per-image
changes averaged over a group's corruptions and severities, paired 95% t interval over images:
the filter *protects* at r when the noise change's interval is above 0; it *costs* at r when the
fog+contrast change **net of the clean change** (each image's change minus its own clean change)
has an interval below 0 (a cost no larger than the one on clean images is not a frequency
trade-off). Reproduces if it protects at some radius and costs at every radius where it protects;
partially if it costs at some but not all of them; does not if it protects nowhere or never
costs where it protects.
"""

CHANGED = {
    "adversarial-training": "before issue 26: Fisher's exact test (unpaired) at PGD 8/255, per pair.",
    "corruption-tradeoff": "before issue 26: the fog+contrast cost measured as the raw change (not net of clean).",
}
