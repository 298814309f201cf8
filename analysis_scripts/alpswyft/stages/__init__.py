"""The stages of a run, each a function of its :class:`~alpswyft.run.RunContext` (the configuration
stage makes the run folder); the entry scripts in ``analysis_scripts/`` call them.

======================  ===============================  ======================================
stage                   module                           writes
======================  ===============================  ======================================
configuration           :mod:`.configure`                ``config.json``, ``response.npz``,
                                                         ``true_obs.npz``, ``extra_obs.npz``
simulation              :mod:`.simulate`                 ``sim_output/store/*.zarr``
training, truncation    :mod:`.train`                    ``train_output/net``, ``posteriors``,
                                                         ``truncation_record.json``
both, round by round    :mod:`.rounds`
validation              :mod:`.validate`                 ``val_output/*.npz``, ``*.json``
report                  :mod:`alpswyft.report`           ``analysis_results.ipynb``, ``.html``
======================  ===============================  ======================================
"""
