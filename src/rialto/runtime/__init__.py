"""The imperative shell: journals, shards, snapshots, recovery and the composition root."""
