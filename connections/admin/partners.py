"""Partner admin: Capacity Providers and Optimizers."""
