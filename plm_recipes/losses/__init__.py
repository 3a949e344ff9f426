"""Losses, one per file, each documenting its inputs, formula and reference."""

from .cosent import CoSENTLoss, cosent_loss

__all__ = ["CoSENTLoss", "cosent_loss"]
