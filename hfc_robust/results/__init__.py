"""Tables, plots, comparisons and run-directory files. Reads and writes pandas frames and files;
never imports torch, so ``hfc-robust compare`` and ``report`` start fast."""
