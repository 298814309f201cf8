"""alpswyft: ALP searches in simulated CTA spectra of NGC 1275 with truncated marginal neural ratio
estimation (swyft 0.4.5).

The simulator for notebooks is :class:`alpswyft.ALPSim` (:mod:`alpswyft.sim`, figures in
:mod:`alpswyft.sim_plots`): spectra, P_gg and plots for chosen parameters. A finished run is
opened with :func:`alpswyft.open_run` (:mod:`alpswyft.workbench`): its stores, and its trained
networks applied to new observations.

One module per concern:

- :mod:`alpswyft.runscript` reads the variables of a run script;
- :mod:`alpswyft.config` validates them into one typed :class:`~alpswyft.config.RunConfig`;
- :mod:`alpswyft.parameters` holds the parameter table and the priors;
- :mod:`alpswyft.models` registers the forward models behind the ``model`` variable (the shipped
  ones and users' model files, one interface);
- :mod:`alpswyft.physics` holds the forward models: the ALP model of NGC 1275 (propagation
  kernel, cluster field, line of sight, CTA response, observation chain; gammaALPs as reference;
  fused GPU kernels and a batched torch path) and the toy models;
- :mod:`alpswyft.datasets.onoff` reads real DL3 runs into ON/OFF spectra (gammapy);
- :mod:`alpswyft.simulator` turns a model into batches of samples (params, exp, data, ...);
- :mod:`alpswyft.stores` fills and reads the zarr simulation stores;
- :mod:`analysis_core.slurm` (shared with the POLAR analysis) runs simulation chunks and training
  rounds as SLURM jobs;
- :mod:`alpswyft.run` is the run context (configuration, record, simulator, networks, stores of
  one run folder) that :mod:`alpswyft.stages` (configure, simulate, train, the rounds), the
  figures, the report and the workbench share; the entry scripts call the stages;
- :mod:`alpswyft.setups` computes the shipped models' set-up arrays (response, line of sight);
- :mod:`alpswyft.architectures` holds the feature heads (three built in, and
  users' own) behind the ``architecture`` variable;
- :mod:`alpswyft.networks`, :mod:`alpswyft.training`, :mod:`alpswyft.inference` and
  :mod:`alpswyft.truncation` do one round of truncated marginal neural ratio estimation
  (:mod:`alpswyft.compat` fixes swyft 0.4.5's slow channelized layer);
- :mod:`alpswyft.coverage` (HPD and TARP coverage), :mod:`alpswyft.limits` (expected limits,
  published limits) and :mod:`alpswyft.neyman` (the frequentist test of the learned ratio: Neyman
  construction, CLs, coverage maps) hold the validation statistics and their saved results;
  :mod:`alpswyft.diagnostics` applies them to a run's last round (its frequentist part through
  :mod:`alpswyft.frequentist`), run by the stage :mod:`alpswyft.stages.validate`, and
  :mod:`alpswyft.limit_checks` checks a finished run's limits
  where they go wrong (no-effect cells, true ALPs near the limit);
- :mod:`alpswyft.results` owns the results tree and the trials (its files are written atomically
  by :mod:`analysis_core.files`);
- :mod:`alpswyft.plots` and :mod:`alpswyft.report` draw the figures and execute the notebook;
- :mod:`alpswyft.workbench` opens a finished run (stores, networks, new observations inferred,
  kept posteriors and limit maps) and :mod:`alpswyft.comparison` compares two runs.
"""

__version__ = "0.1.0"


def __getattr__(name: str):
    # ``from alpswyft import ALPSim`` without importing the simulator for every stage
    if name in ("ALPSim", "Spectrum"):
        from alpswyft import sim

        return getattr(sim, name)
    if name in ("open_run", "Run", "Posterior"):
        from alpswyft import workbench

        return getattr(workbench, name)
    if name in ("compare_runs", "Comparison"):
        from alpswyft import comparison

        return getattr(comparison, name)
    raise AttributeError(f"module 'alpswyft' has no attribute {name!r}")
