"""The pure domain: instruments, orders, the matching engine. No I/O, no clock, no randomness."""
