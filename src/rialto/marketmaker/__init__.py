"""The market-making service: an ordinary API client of the exchange that keeps books liquid.

Pure parts (no I/O): :mod:`.amm` (the constant-product curve), :mod:`.volatility`,
:mod:`.reference`, :mod:`.strategy` (a market's ladder), :mod:`.risk` (limits, margin tiers,
the kill switch, the P&L ledger), :mod:`.reconcile` (ladder -> cancels and places),
:mod:`.routing` (smart order routing of hedges) and :mod:`.arbitrage`. The shell:
:mod:`.venue` (ccxt's binance class against any Binance-compatible URL), :mod:`.bot` (the
running market maker) and :mod:`.service` (``rialto serve marketmaker --config FILE``).
"""
