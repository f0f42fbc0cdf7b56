"""benchtui: a terminal lab bench for machine-learning experiments."""
