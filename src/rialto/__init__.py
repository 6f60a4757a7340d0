"""Rialto: a self-hosted, Binance-Spot-compatible spot crypto exchange."""

__version__ = "0.1.0"
