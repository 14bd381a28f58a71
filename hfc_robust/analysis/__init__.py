"""Analyses beyond the paper: Fourier heat maps (Yin et al. 2019)."""
