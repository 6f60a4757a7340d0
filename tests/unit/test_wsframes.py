"""Ready-made WebSocket frames are byte for byte what the websockets library would send."""

from __future__ import annotations

import pytest
from websockets.frames import Frame, Opcode

from rialto.api.wsframes import text_frame


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65_535, 65_536, 200_000])
def test_text_frames_match_the_library_at_every_length_boundary(size: int) -> None:
    payload = (b'{"e":"trade"}' * (size // 13 + 1))[:size]
    assert text_frame(payload) == Frame(Opcode.TEXT, payload).serialize(mask=False)
