"""NGC 1275, the source: its redshift and its position, for the propagation and the ON region."""

#: redshift of NGC 1275 (the EBL attenuation and the cluster-frame energies E (1 + z))
REDSHIFT = 0.017559
#: ICRS position, deg: 03h19m48.16s +41d30m42.1s
RA_DEG, DEC_DEG = 49.950667, 41.511694
