"""Paper reproduction: the Sec. 3 spectrum analysis, training on x, x_l or x_h (Table 1) and the
REPRODUCTION.md verdicts."""
