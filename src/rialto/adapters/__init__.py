"""Adapters: implementations of the ports the services use (SQL, journal, cache, chains...)."""
