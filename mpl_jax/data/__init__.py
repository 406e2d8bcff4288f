"""Datasets (through tensorflow-datasets, or bundled offline) and task streams."""
