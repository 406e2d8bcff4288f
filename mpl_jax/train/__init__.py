"""Training loop, continual-learning metrics and run outputs."""
