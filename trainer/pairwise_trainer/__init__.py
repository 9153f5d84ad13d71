"""Pairwise trainer: reward models, SFT and PPO for the Pairwise preference-labeling app."""

__version__ = "0.1.0"
