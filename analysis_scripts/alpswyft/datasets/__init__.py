"""Readers of observed data: :mod:`~alpswyft.datasets.onoff` turns DL3 runs into ON/OFF spectra."""
