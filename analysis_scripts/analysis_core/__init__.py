"""The machinery both analyses of the repository run on (the ALP search, :mod:`alpswyft`, and the
POLAR background model, :mod:`polar`); nothing here knows either physics.

- :mod:`~analysis_core.errors`: the errors reported to the user as one line;
- :mod:`~analysis_core.cli`: how entry scripts report them;
- :mod:`~analysis_core.files`: atomic writes of JSON, text and NPZ files, the full-disk message;
- :mod:`~analysis_core.slurm`: job arrays with sbatch, their real final states, resubmission;
- :mod:`~analysis_core.lightning`: the training device and the log line per epoch;
- :mod:`~analysis_core.notebooks`: executed notebooks rendered to self-contained HTML.
"""
