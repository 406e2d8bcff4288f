"""Spiking networks: LIF neurons, Poisson coding, eRBP, a spiking MLP."""
