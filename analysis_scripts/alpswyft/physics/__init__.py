"""Forward models of the observed spectrum: the ALP model of NGC 1275 (:mod:`.alp` propagation
physics, :mod:`.response` the CTA response, :mod:`.observation` the observation chain,
:mod:`.gpu` the fused GPU kernels, :mod:`.batched` the torch GPU path, :mod:`.reference`
gammaALPs) and the toy models (:mod:`.toy`).

:mod:`alpswyft.models` registers them under the values of the run-script variable ``model`` and
documents the interface a model class has.
"""
