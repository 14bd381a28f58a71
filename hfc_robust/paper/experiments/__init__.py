"""The reproduction's experiments beyond the bench engine: training along the paper's vanilla
set-up (:mod:`.trainer`), its input views (:mod:`.views`), and one runner per experiment, each
resumable and writing under ``results/paper/`` (``scripts/reproduce_paper.py --only NAME``)."""
