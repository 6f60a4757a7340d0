"""NATS JetStream adapters: the distributed journal, leases and cluster membership.

See docs/nats.md for subjects, headers, fencing and the differences between NATS 2.9 and 2.15.
"""

from rialto.adapters.nats.connect import NatsConnection, NatsUnavailableError, connect
from rialto.adapters.nats.features import MissingFeatureError, ServerFeatures, detect_features
from rialto.adapters.nats.jetstream_journal import JetStreamJournal, StreamSpec
from rialto.adapters.nats.lease import Lease, LeaseError, lease_bucket
from rialto.adapters.nats.membership import Membership, live_members

__all__ = [
    "JetStreamJournal",
    "Lease",
    "LeaseError",
    "Membership",
    "MissingFeatureError",
    "NatsConnection",
    "NatsUnavailableError",
    "ServerFeatures",
    "StreamSpec",
    "connect",
    "detect_features",
    "lease_bucket",
    "live_members",
]
