"""The registry of people: user ids, e-mail addresses and password hashes.

Passwords are hashed at the edge (the hash has a random salt), so the journaled
request carries only the hash and a replay rebuilds the same registry.
"""

from __future__ import annotations

from typing import Any, NamedTuple


class User(NamedTuple):
    user_id: int
    email: str
    password_hash: str
    created_ts: int


def normalize_email(email: str) -> str:
    """The form an address is stored and looked up in."""
    return email.strip().lower()


class Users:
    def __init__(self) -> None:
        self.by_id: dict[int, User] = {}
        self.by_email: dict[str, int] = {}
        self.next_id = 1

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

    def find(self, email: str) -> User | None:
        user_id = self.by_email.get(normalize_email(email))
        return None if user_id is None else self.by_id[user_id]

    def to_state(self) -> dict[str, Any]:
        return {"next_id": self.next_id, "users": [list(u) for u in self.by_id.values()]}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Users:
        users = cls()
        for row in state["users"]:
            user = User(int(row[0]), str(row[1]), str(row[2]), int(row[3]))
            users.by_id[user.user_id] = user
            users.by_email[user.email] = user.user_id
        users.next_id = int(state["next_id"])
        return users
