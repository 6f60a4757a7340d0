"""The registry of people: user ids, e-mail addresses, password hashes and API keys.

Passwords are hashed at the edge (the hash has a random salt), so the journaled
request carries only the hash and a replay rebuilds the same registry. Likewise an
API key's secret never enters the domain: the edge generates it and journals only what
verifies a signature (the HMAC secret encrypted at rest, or an Ed25519 public key).
"""

from __future__ import annotations

from typing import Any, NamedTuple


class User(NamedTuple):
    user_id: int
    email: str
    password_hash: str
    created_ts: int


PERMISSIONS = ("read", "trade", "withdraw")
KEY_KINDS = ("HMAC", "ED25519")


class ApiKey(NamedTuple):
    api_key: str  # the public id, sent as X-MBX-APIKEY
    user_id: int
    kind: str  # HMAC or ED25519
    verifier: str  # HMAC: the secret, encrypted at rest; ED25519: the public key
    permissions: tuple[str, ...]  # a sorted subset of PERMISSIONS
    ips: tuple[str, ...]  # allowed client addresses; empty: any
    created_ts: int
    revoked_ts: int = 0


def normalize_email(email: str) -> str:
    """The form an address is stored and looked up in."""
    return email.strip().lower()


class Users:
    def __init__(self) -> None:
        self.by_id: dict[int, User] = {}
        self.by_email: dict[str, int] = {}
        self.next_id = 1
        self.keys: dict[str, ApiKey] = {}

    def create(self, ts: int, email: str, password_hash: str) -> User | None:
        """A new user, or None when the address is taken."""
        email = normalize_email(email)
        if not email or email in self.by_email:
            return None
        user = User(self.next_id, email, password_hash, ts)
        self.next_id += 1
        self.by_id[user.user_id] = user
        self.by_email[email] = user.user_id
        return user

    def add_key(self, key: ApiKey) -> None:
        """Register ``key``; raises ValueError (nothing changed) when it cannot be."""
        if key.user_id not in self.by_id:
            raise ValueError(f"no user {key.user_id}")
        if not key.api_key or key.api_key in self.keys:
            raise ValueError("that API key id is taken")
        if key.kind not in KEY_KINDS:
            raise ValueError(f"key kind {key.kind!r} is not one of {KEY_KINDS}")
        if not key.permissions or set(key.permissions) - set(PERMISSIONS):
            raise ValueError(f"permissions are a non-empty subset of {PERMISSIONS}")
        self.keys[key.api_key] = key._replace(permissions=tuple(sorted(set(key.permissions))))

    def revoke_key(self, ts: int, user_id: int, api_key: str) -> bool:
        """Revoke one of ``user_id``'s keys; False when it has no such live key."""
        key = self.keys.get(api_key)
        if key is None or key.user_id != user_id or key.revoked_ts:
            return False
        self.keys[api_key] = key._replace(revoked_ts=ts)
        return True

    def live_key(self, api_key: str) -> ApiKey | None:
        key = self.keys.get(api_key)
        return None if key is None or key.revoked_ts else key

    def find(self, email: str) -> User | None:
        user_id = self.by_email.get(normalize_email(email))
        return None if user_id is None else self.by_id[user_id]

    def to_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "next_id": self.next_id,
            "users": [list(u) for u in self.by_id.values()],
        }
        if self.keys:  # absent when empty: older snapshots keep their hash
            state["keys"] = [
                [k[0], k[1], k[2], k[3], list(k[4]), list(k[5]), k[6], k[7]]
                for k in sorted(self.keys.values())
            ]
        return state

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Users:
        users = cls()
        for row in state["users"]:
            user = User(int(row[0]), str(row[1]), str(row[2]), int(row[3]))
            users.by_id[user.user_id] = user
            users.by_email[user.email] = user.user_id
        users.next_id = int(state["next_id"])
        for row in state.get("keys", []):
            key = ApiKey(
                str(row[0]),
                int(row[1]),
                str(row[2]),
                str(row[3]),
                tuple(str(p) for p in row[4]),
                tuple(str(i) for i in row[5]),
                int(row[6]),
                int(row[7]),
            )
            users.keys[key.api_key] = key
        return users
