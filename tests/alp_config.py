"""A valid ALP configuration (the shipped run.sh values) as raw run-script variables."""

ROWS = [
    "[-2, 4] | -6 | -6 | 1 | U | m | neV",
    "[-2, 1] | -5 | -5 | 1 | U | g | e-11GeV^{-1}",
    "-8.812 | | | 1 | U | Amplitude | TeV^{-1}cm^{-2}s^{-1}",
    "2.11 | | | 0 | U | index | none",
    "300 | | | 0 | U | E0 | GeV",
    "2.75 | | | 1 | U | Ecut | GeV",
    "25 | | | 0 | U | rms_B | muG",
    "46 | | | 0 | U | e_norm | 1e-3cm^{-3}",
    "4.05 | | | 0 | U | e_norm_2 | 1e-3cm^{-3}",
    "500 | | | 0 | U | cluster_ext | kpc",
    "57 | | | 0 | U | e_dens_1 | kpc",
    "268 | | | 0 | U | e_dens_2 | kpc",
    "1.2 | | | 0 | U | e_dens_3 | none",
    "0.69 | | | 0 | U | e_dens_4 | none",
    "0.62 | | | 0 | U | B_scaling | none",
    "-0.41 | | | 1 | U | Max_turb | kpc^{-1}",
    "0.93 | | | 1 | U | min_turb | kpc^{-1}",
    "1.97 | | | 0 | U | turb_index | none",
]

#: The physical 18-vector of the rows above with m, g at their Obs. values (log10 -6, -5).
DEFAULT_VECTOR = [
    1e-6,
    1e-5,
    10**-8.812,
    2.11,
    300,
    10**2.75,
    25,
    46,
    4.05,
    500,
    57,
    268,
    1.2,
    0.69,
    0.62,
    10**-0.41,
    10**0.93,
    1.97,
]


def alp_variables(**overrides) -> dict[str, str]:
    variables = {
        "run_name": "alp",
        "model": "",
        "noise": "poisson",
        "POI_indices": "0,1",
        "n_sim_train": "1000",
        "hyperparams": "--learning_rate (float) : 5e-3 --stopping_patience (int) : 6 "
        "--blocks (int) : 2 --features (int) : 64 --dropout (float) : 0.1",
    }
    variables.update({f"param{i + 1}": row for i, row in enumerate(ROWS)})
    variables.update(overrides)
    return variables
