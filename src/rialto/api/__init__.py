"""The Binance-compatible REST and WebSocket API: errors, request signing, rate limits."""
