"""The operation matrix: structural checks that catch a mistyped row, and spec spot checks."""

from __future__ import annotations

import pytest

from engine.smpp.constants import RESPONSE_BIT, CommandId, CommandStatus
from engine.smpp.states import BOUND_STATES, MATRIX, State, may_receive, may_send, next_state, refusal_status

pytestmark = pytest.mark.timeout(30)
C = CommandId
BINDS = (C.BIND_TRANSMITTER, C.BIND_RECEIVER, C.BIND_TRANSCEIVER)


def test_a_response_travels_opposite_to_its_request_in_the_same_states():
    for cid in CommandId:
        if cid & RESPONSE_BIT or cid in (C.OUTBIND, C.ALERT_NOTIFICATION) or cid in BINDS:
            continue
        resp = CommandId(cid | RESPONSE_BIT)
        esme_req, smsc_req = MATRIX[cid]
        esme_resp, smsc_resp = MATRIX[resp]
        if cid == C.UNBIND:
            assert esme_resp == smsc_resp == {State.UNBINDING}
            continue
        assert (esme_resp, smsc_resp) == (smsc_req, esme_req), cid.name


def test_bind_rows():
    for cid in BINDS:
        assert MATRIX[cid][1] == set()  # the SMSC never binds
        assert State.OPEN in MATRIX[cid][0]
        assert MATRIX[CommandId(cid | RESPONSE_BIT)] == (set(), {State.BINDING})
    assert State.OUTBOUND not in MATRIX[C.BIND_TRANSMITTER][0]


@pytest.mark.parametrize(
    "role,state,cid,legal",
    [
        ("esme", State.BOUND_TX, C.SUBMIT_SM, True),
        ("esme", State.BOUND_TRX, C.SUBMIT_SM, True),
        ("esme", State.BOUND_RX, C.SUBMIT_SM, False),
        ("esme", State.OPEN, C.SUBMIT_SM, False),
        ("smsc", State.BOUND_TRX, C.SUBMIT_SM, False),
        ("smsc", State.BOUND_RX, C.DELIVER_SM, True),
        ("smsc", State.BOUND_TX, C.DELIVER_SM, False),
        ("esme", State.BOUND_TRX, C.DELIVER_SM, False),
        ("esme", State.BOUND_RX, C.DATA_SM, True),
        ("smsc", State.BOUND_TX, C.DATA_SM, True),
        ("smsc", State.OPEN, C.OUTBIND, True),
        ("esme", State.OPEN, C.OUTBIND, False),
        ("smsc", State.BOUND_RX, C.ALERT_NOTIFICATION, True),
        ("smsc", State.BOUND_TX, C.ALERT_NOTIFICATION, False),
        ("esme", State.BOUND_TX, C.QUERY_SM, True),
        ("esme", State.BOUND_RX, C.CANCEL_SM, False),
        ("esme", State.OUTBOUND, C.BIND_RECEIVER, True),
        ("esme", State.BINDING, C.ENQUIRE_LINK, True),
        ("esme", State.UNBINDING, C.ENQUIRE_LINK, False),
        ("esme", State.CLOSED, C.GENERIC_NACK, False),
        ("esme", State.OPEN, C.GENERIC_NACK, True),
    ],
)
def test_spec_spot_checks(role, state, cid, legal):
    assert may_send(role, state, cid, State.BOUND_TRX) is legal


def test_unbinding_allows_answers_not_new_requests():
    for bound in BOUND_STATES:
        assert not may_send("esme", State.UNBINDING, C.SUBMIT_SM, bound)
        assert may_send("esme", State.UNBINDING, C.DELIVER_SM_RESP, bound) is (bound is not State.BOUND_TX)
        # a deliver_sm crossing our unbind on the wire is still received
        assert may_receive("esme", State.UNBINDING, C.DELIVER_SM, bound) is (bound is not State.BOUND_TX)
        assert may_receive("esme", State.UNBINDING, C.SUBMIT_SM_RESP, bound) is (bound is not State.BOUND_RX)
    assert may_send("esme", State.UNBOUND, C.UNBIND_RESP, State.BOUND_TX)
    assert not may_send("esme", State.UNBOUND, C.ENQUIRE_LINK, State.BOUND_TX)


def test_refusals_are_always_legal_but_when_closed():
    for state in State:
        assert may_send("esme", state, C.DELIVER_SM_RESP, None, refusal=True) is (state is not State.CLOSED)
        assert may_send("smsc", state, C.SUBMIT_SM_RESP, None, refusal=True) is (state is not State.CLOSED)
    assert refusal_status(State.BOUND_TX, C.BIND_TRANSMITTER) == CommandStatus.ESME_RALYBND
    assert refusal_status(State.OPEN, C.SUBMIT_SM) == CommandStatus.ESME_RINVBNDSTS


def test_transitions():
    assert next_state(State.OPEN, C.BIND_TRANSCEIVER) is State.BINDING
    assert next_state(State.OUTBOUND, C.BIND_RECEIVER) is State.BINDING
    assert next_state(State.BINDING, C.BIND_RECEIVER_RESP, 0) is State.BOUND_RX
    assert next_state(State.BINDING, C.BIND_TRANSMITTER_RESP, CommandStatus.ESME_RINVPASWD) is State.OPEN
    assert next_state(State.BINDING, C.GENERIC_NACK, 3, answers=C.BIND_TRANSMITTER) is State.OPEN
    assert next_state(State.BINDING, C.GENERIC_NACK, 3, answers=C.ENQUIRE_LINK) is State.BINDING
    assert next_state(State.OPEN, C.OUTBIND) is State.OUTBOUND
    assert next_state(State.BOUND_TRX, C.UNBIND) is State.UNBINDING
    assert next_state(State.UNBINDING, C.UNBIND_RESP) is State.UNBOUND
    assert next_state(State.BOUND_TX, C.SUBMIT_SM) is State.BOUND_TX
    assert next_state(State.BOUND_TX, C.BIND_TRANSMITTER) is State.BOUND_TX  # refused, not a transition


def test_unknown_role_is_refused():
    with pytest.raises(ValueError, match="role must be"):
        may_send("gateway", State.OPEN, C.BIND_TRANSMITTER)
