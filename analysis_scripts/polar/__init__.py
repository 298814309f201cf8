"""POLAR background model and transient-interval search (the repository's second analysis).

An MLP predicts the rates of POLAR's 13 channels (nested event selections) from orbital and
instrument context; the pulls (measured - predicted) / rate_err are thresholded per channel,
grouped into clusters of
consecutive time bins, and clusters that coincide across channels are the candidate transients.

Modules, in the order of the analysis:

- :mod:`~polar.config`: the YAML configuration with ``key=value`` overrides, validated;
- :mod:`~polar.expressions`: derived columns and filters as safe expressions;
- :mod:`~polar.synthetic`: a synthetic ``nf1rate.root`` with injected transients;
- :mod:`~polar.data`: reading and checking the ROOT file, filters, masks, the split;
- :mod:`~polar.model`: the MLP, its training and batched prediction;
- :mod:`~polar.intervals`: pulls, their Gaussian core, clusters and intersections;
- :mod:`~polar.export`: predictions and intervals to ROOT and CSV;
- :mod:`~polar.pipeline`: the stages over a run folder.
"""
