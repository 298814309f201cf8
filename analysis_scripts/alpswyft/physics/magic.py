"""NGC 1275 as MAGIC analysed it (H. Abe et al. 2024, Phys. Dark Univ. 44, 101425, arXiv:2401.07798):
three flux states seen through one realisation of the Perseus field, the model ``magic_like``.

Each state is a spectrum of its own: its energy range, its live time, its intrinsic spectrum (an
exponentially cut-off power law, EPWL, dN/dE = A (E / E0)^-index exp(-lambda E)), fitted by the
MAGIC authors' public analysis scripts. All three go through the response of the MAGIC DL3 run of
``observation=`` (its exposure scaled to the state's live time) with its smoothed OFF spectrum as
background, as ON/OFF counts (:class:`~alpswyft.physics.alp_model.ALPModel` with a real
observation's set-up). One simulation draws one cluster field, whose P_gg all three states share;
the nodes are the three states' nodes one after the other (``exp``, ``data``, ``n_off`` of
nbins per state, ``power`` of each state's spectrum). The observation is a mock one, drawn at the Obs.
values: the run measures the expected limit of such an analysis.

Live times (41.3 h in all, the paper's total) are split as assumed here: the flare and the
post-flare state one night each of the two of ATel #9929 (2.4 h each, the nights of 31 Dec 2016 and
2 Jan 2017), the low state the rest (36.5 h).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alpswyft.physics.alp_model import ALPModel


@dataclass(frozen=True)
class FluxState:
    """One flux state: energy range (GeV), live time (h) and EPWL best fit (amplitude at 300 GeV
    in TeV^-1 cm^-2 s^-1, index, lambda in TeV^-1)."""

    name: str
    emin: float
    emax: float
    livetime_h: float
    amplitude: float
    index: float
    lam: float


STATES = (
    FluxState("flare", 50.0, 2100.0, 2.4, 16.1e-10, 2.11, 1.24),
    FluxState("post_flare", 64.0, 1400.0, 2.4, 11.4e-10, 1.79, 3.45),
    FluxState("low", 70.0, 2100.0, 36.5, 1.1e-10, 2.54, 2.0),
)
#: the nuisances' prior: uniform within this fraction of the best fit (index and lambda)
NUISANCE_RANGE = 0.5
#: MAGIC's reconstructed-energy bins per state (flare, post-flare, low), for the ``state_nbins`` of
#: :func:`alpswyft.setups.magic_like`
MAGIC_NBINS = (26, 24, 19)
E0_GEV = 300.0

#: The Perseus field of gammaALPs (as MAGIC used it): the last 12 rows of the 18-vector
FIELD_ROWS = (
    "10       | 10     | 10     | 0 | U | rms_B       | muG",
    "39       | 39     | 39     | 0 | U | e_norm      | 1e-3cm^{-3}",
    "4.05     | 4.05   | 4.05   | 0 | U | e_norm_2    | 1e-3cm^{-3}",
    "500      | 500    | 500    | 0 | U | cluster_ext | kpc",
    "80       | 80     | 80     | 0 | U | e_dens_1    | kpc",
    "280      | 280    | 280    | 0 | U | e_dens_2    | kpc",
    "1.2      | 1.2    | 1.2    | 0 | U | e_dens_3    | none",
    "0.58     | 0.58   | 0.58   | 0 | U | e_dens_4    | none",
    "0.5      | 0.5    | 0.5    | 0 | U | B_scaling   | none",
    "-0.7447275 | -0.7447275 | -0.7447275 | 1 | U | Max_turb | kpc^{-1}",
    "0.95424251 | 0.95424251 | 0.95424251 | 1 | U | min_turb    | kpc^{-1}",
    "2.80     | 2.80   | 2.80   | 0 | U | turb_index  | none",
)


def _state_rows(state: FluxState) -> tuple[str, ...]:
    lo, hi = 1 - NUISANCE_RANGE, 1 + NUISANCE_RANGE
    return (
        f"[{lo * state.amplitude:.4g}, {hi * state.amplitude:.4g}] | {state.amplitude:.4g} | {state.amplitude:.4g} "
        f"| 0 | U | amplitude_{state.name} | TeV^{{-1}}cm^{{-2}}s^{{-1}}",
        f"[{lo * state.index:.4g}, {hi * state.index:.4g}] | {state.index:g} | {state.index:g} | 0 | U "
        f"| index_{state.name} | none",
        f"[{lo * state.lam:.4g}, {hi * state.lam:.4g}] | {state.lam:g} | {state.lam:g} | 0 | U "
        f"| lambda_{state.name} | TeV^{{-1}}",
    )


#: m and g (no ALP at the Obs. values), per state amplitude, index and lambda (nuisances, +-50 %),
#: E0, the field
MAGIC_ROWS = (
    "[1, 3]      | -6 | -6 | 1 | U | m | neV",
    "[-1.5, 1.5] | -5 | -5 | 1 | U | g | e-11GeV^{-1}",
    *(row for state in STATES for row in _state_rows(state)),
    f"{E0_GEV:g} | {E0_GEV:g} | {E0_GEV:g} | 0 | U | E0 | GeV",
    *FIELD_ROWS,
)
_FIELD = 3 + 3 * len(STATES)  # column of rms_B; E0 is the one before


def state_vectors(theta: np.ndarray, k: int) -> np.ndarray:
    """The 18-vectors of :class:`ALPModel` (m, g, amplitude, index, E0, Ecut in GeV, field) of
    state ``k`` for physical ``magic_like`` vectors ``theta`` (n, len(MAGIC_ROWS))."""
    theta = np.atleast_2d(theta)
    amplitude, index, lam = (theta[:, 2 + 3 * k + j] for j in range(3))
    return np.column_stack(
        [theta[:, :2], amplitude, index, theta[:, _FIELD - 1], 1e3 / lam, theta[:, _FIELD:]]
    )


def state_config(config, state: FluxState, nbins: int | None = None):
    """``config`` in the energy range of ``state``, with its own number of bins when given."""
    return config.model_copy(
        update={"emin": state.emin, "emax": state.emax, "nbins": nbins or config.nbins}
    )


class MagicLike:
    """NGC 1275 as MAGIC analysed it: three flux states, one Perseus field, a MAGIC run's response."""

    parameters = MAGIC_ROWS
    settings = {"nbins": 16, "nbins_etrue": 120, "emin": STATES[0].emin, "emax": STATES[0].emax}
    #: its response and background come from the DL3 run of ``observation=``
    uses_observation = True
    with_alp = True

    @staticmethod
    def constraint(theta: np.ndarray) -> np.ndarray:
        """kL < kH, as :meth:`ALPModel.constraint`."""
        return theta[:, _FIELD + 9] < theta[:, _FIELD + 10]

    def __init__(self, config, setup: dict[str, np.ndarray]):
        self.config = config
        shared = {k: v for k, v in setup.items() if "__" not in k}
        self.states = []
        for state in STATES:
            own = {
                k.split("__", 1)[1]: v for k, v in setup.items() if k.startswith(f"{state.name}__")
            }
            nbins = (
                len(own["response_e_reco_edges"]) - 1
            )  # the set-up's binning (prepare's state_nbins)
            self.states.append(ALPModel(state_config(config, state, nbins), {**shared, **own}))
        #: reconstructed-energy bins per state
        self.nbins = tuple(s.config.nbins for s in self.states)
        self.x = np.concatenate([s.response.e_reco for s in self.states])  # GeV, state after state

    @property
    def shapes(self) -> dict[str, tuple[int, ...]]:
        n = sum(self.nbins)
        return {
            "exp": (n,),
            "data": (n,),
            "n_off": (n,),
            "pgg": (len(self.states[0].response.e_true),),
            "power": (sum(s.len_fts for s in self.states),),
        }

    def survival_batch(self, theta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """P_gg (n, n_true) of one field realisation per vector, shared by the states."""
        return self.states[0].survival_batch(state_vectors(theta, 0), rng)

    def counts(
        self, theta: np.ndarray, rng: np.random.Generator
    ) -> tuple[list[np.ndarray], np.ndarray]:
        """Expected ON counts per state (a list of (n, nbins)) and P_gg (n, n_true)."""
        pgg = self.survival_batch(theta, rng)
        return [s.fold(state_vectors(theta, k), pgg) for k, s in enumerate(self.states)], pgg

    def expected(self, theta: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
        counts, pgg = self.counts(theta, rng)
        exp = [s.residual(c, self.config.floor_exp) for s, c in zip(self.states, counts)]
        return {"exp": np.concatenate(exp, axis=-1), "pgg": pgg}

    def _split(self, values: np.ndarray) -> list[np.ndarray]:
        return np.split(np.asarray(values, float), np.cumsum(self.nbins)[:-1], axis=-1)

    def noise(self, exp: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
        nodes = [s.noise(part, rng) for s, part in zip(self.states, self._split(exp))]
        return {key: np.concatenate([n[key] for n in nodes], axis=-1) for key in ("data", "n_off")}

    def features(self, data: np.ndarray) -> dict[str, np.ndarray]:
        parts = [s.features(part)["power"] for s, part in zip(self.states, self._split(data))]
        return {"power": np.concatenate(parts, axis=-1)}

    def observation_nodes(self) -> None:
        """None: the observation is a mock one (drawn at the Obs. values)."""
        return None

    def plot_observation(self, obs: dict):
        """The mock observation: ON counts per state over the expected ON counts at the Obs. values
        and the background in the ON region."""
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, len(STATES), figsize=(12, 3.8), sharey=True)
        for ax, state, sub, data, exp in zip(
            axes, STATES, self.states, self._split(obs["data"]), self._split(obs["exp"])
        ):
            e = sub.response.e_reco
            ax.step(
                e, 10 ** (data + sub.null_level), where="mid", color="k", label="ON counts (mock)"
            )
            ax.plot(
                e, 10 ** (exp + sub.null_level), color="C1", label="expected, at the Obs. values"
            )
            ax.plot(
                e, sub.response.background, ":", color="C2", label="background in the ON region"
            )
            ax.set(
                xscale="log",
                yscale="log",
                xlabel="reconstructed energy [GeV]",
                title=f"{state.name.replace('_', '-')}: {state.livetime_h:g} h, {state.emin:g}-{state.emax:g} GeV",
            )
        axes[0].set_ylabel("counts per bin")
        axes[0].legend(fontsize=8)
        fig.tight_layout()
        return fig
