"""The ``evidence`` command on the wire: 举证, 翻页, 撤回, checked at the edge."""

from __future__ import annotations

import pytest

from courtroom_core import wire


def test_evidence_command_round_trips_through_the_wire() -> None:
    order = wire.EvidenceOrder(
        action="present", exhibit="证据1", by="clerk1", file="合同.pdf", page=2, zoom=1.5
    )
    command = wire.Command(id="c1", name="evidence", body=order.to_json())
    decoded = wire.decode(wire.encode(command))
    assert isinstance(decoded, wire.Command)
    assert decoded.data == order
    assert wire.COMMAND_NAMES[type(order)] == "evidence"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            {"action": "present", "exhibit": "证据1", "by": "u"},
            "present needs one of file or input",
        ),
        (
            {"action": "present", "exhibit": "证据1", "by": "u", "file": "a.pdf", "input": "doc"},
            "present needs one of file or input",
        ),
        ({"action": "page", "exhibit": "证据1", "by": "u"}, "page needs a page or a zoom"),
        ({"action": "burn", "exhibit": "证据1", "by": "u"}, "command.body.action"),
        ({"action": "withdraw", "exhibit": "", "by": "u"}, "command.body.exhibit"),
        ({"action": "page", "exhibit": "x", "by": "u", "page": 0}, "command.body.page"),
        ({"action": "page", "exhibit": "x", "by": "u", "zoom": 1e9}, "command.body.zoom"),
        ({"action": "withdraw", "exhibit": "x", "by": "u", "shell": "rm"}, "unexpected fields"),
    ],
)
def test_hostile_evidence_orders_are_refused_naming_the_field(
    body: dict[str, object], field: str
) -> None:
    with pytest.raises(wire.WireError) as caught:
        wire.Command(id="c1", name="evidence", body=body)
    assert field in str(caught.value)


def test_every_evidence_action_the_wire_accepts_is_carried_out_by_the_agent() -> None:
    from courtroom_agent.five_sync import _EVIDENCE_ACTIONS

    assert set(_EVIDENCE_ACTIONS) == set(wire.EVIDENCE_ACTIONS)
