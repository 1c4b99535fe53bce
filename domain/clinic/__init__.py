"""Clinic ordering (seed 000): a validated multi-patient cart, paid once, routed per line.

The folds of this package are listed in `domain.aggregates.EVOLVERS` (clinic, clinic_user,
prescriber, pharmacy, cart, quickfill).
"""
