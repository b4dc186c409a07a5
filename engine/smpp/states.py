"""The SMPP 3.4 operation matrix: which PDU each side may send in each session state.

This is the one place that decides legality; ``session.py`` asks ``may_send`` and
``may_receive`` and applies ``next_state``, and nothing else re-decides either.

States
======
OPEN        connected, not bound (spec 2.2). The ESME may bind; the SMSC may outbind.
OUTBOUND    the SMSC has sent outbind on a connection it opened (spec 2.2.1, named as
            in SMPP 5.0); the ESME may now bind as a receiver (or transceiver).
BINDING     a bind request is out, its response not yet in. The spec still calls
            this OPEN; naming it keeps a second bind from being sent meanwhile.
BOUND_TX, BOUND_RX, BOUND_TRX
            bound as a transmitter, receiver, transceiver (spec 2.2).
UNBINDING   an unbind was sent or received, its unbind_resp not yet exchanged. The
            spec still calls this bound; see rule 3.
UNBOUND     unbind and unbind_resp have been exchanged; the transport now closes
            the connection (spec 2.2: the session is then CLOSED). See rule 4.
CLOSED      the connection is gone (or the session was closed). Nothing is legal.

Rules
=====
1. ``MATRIX[command_id] = (states where the ESME may send it, states where the SMSC
   may send it)``: SMPP 3.4 table 2-1 ("SMPP PDU summary", required session state and
   issuing side), with these deliberate widenings, each marked in the table:
   a. generic_nack may be sent in every state but CLOSED: malformed input can arrive
      before a bind and still needs its answer.
   b. enquire_link / enquire_link_resp are also legal in OPEN, OUTBOUND and BINDING,
      as SMPP 5.0 allows: SMSCs send them before the bind completes, and refusing
      them would make a healthy link look dead.
   c. bind_transceiver is legal in OUTBOUND as well as bind_receiver (SMPP 5.0).
2. A side may receive exactly what the other side may send.
3. In UNBINDING no new request may be sent (unbind_resp is a response). Responses,
   generic_nack and requests still crossing on the wire (an unbind from the peer
   included) are judged as in the bound state the session was in (``bound_state``).
4. In UNBOUND only responses (and generic_nack) are legal, judged as in rule 3: they
   answer requests that were outstanding when the unbind completed; unbind_resp is
   legal in both, for two unbinds that crossed on the wire.
5. A refusal — the response to a request (or generic_nack) with a non-zero
   command_status — is legal in every state but CLOSED: every request must be
   answered, also one the state forbids. ``refusal_status`` gives the status:
   ESME_RALYBND for a bind when already bound (or binding), else ESME_RINVBNDSTS.
6. Whether a response answers an outstanding request (its sequence_number) is the
   session's bookkeeping, not a matter of state, and is checked there.

Transitions (``next_state``), applied the same way whichever side sent the PDU:
  bind_* request in OPEN/OUTBOUND                  -> BINDING
  bind_*_resp, command_status 0, in BINDING        -> BOUND_TX / BOUND_RX / BOUND_TRX
  bind_*_resp (or generic_nack answering a bind)
    with a non-zero status, in BINDING             -> OPEN
  outbind in OPEN                                  -> OUTBOUND
  unbind in a bound state                          -> UNBINDING
  unbind_resp in UNBINDING                         -> UNBOUND
Everything else leaves the state as it is.
"""

from __future__ import annotations

from enum import Enum

from engine.smpp.constants import RESPONSE_BIT, CommandId, CommandStatus

__all__ = [
    "State",
    "BOUND_STATES",
    "MATRIX",
    "may_send",
    "may_receive",
    "next_state",
    "refusal_status",
]


class State(Enum):
    OPEN = "open"
    OUTBOUND = "outbound"
    BINDING = "binding"
    BOUND_TX = "bound_tx"
    BOUND_RX = "bound_rx"
    BOUND_TRX = "bound_trx"
    UNBINDING = "unbinding"
    UNBOUND = "unbound"
    CLOSED = "closed"


_O, _OUT, _BIND = State.OPEN, State.OUTBOUND, State.BINDING
_TX, _RX, _TRX = State.BOUND_TX, State.BOUND_RX, State.BOUND_TRX
BOUND_STATES = frozenset({_TX, _RX, _TRX})
_SEND_SIDE = frozenset({_TX, _TRX})  # ESME may submit
_RECV_SIDE = frozenset({_RX, _TRX})  # SMSC may deliver
_NONE: frozenset = frozenset()
_PRE_BIND = frozenset({_O, _OUT, _BIND})  # rule 1b
_NOT_CLOSED = frozenset(State) - {State.CLOSED}  # rule 1a

C = CommandId
#                         ESME may send                 SMSC may send
MATRIX: dict[CommandId, tuple[frozenset, frozenset]] = {
    C.BIND_TRANSMITTER: (frozenset({_O}), _NONE),
    C.BIND_RECEIVER: (frozenset({_O, _OUT}), _NONE),
    C.BIND_TRANSCEIVER: (frozenset({_O, _OUT}), _NONE),  # OUTBOUND: rule 1c
    C.BIND_TRANSMITTER_RESP: (_NONE, frozenset({_BIND})),
    C.BIND_RECEIVER_RESP: (_NONE, frozenset({_BIND})),
    C.BIND_TRANSCEIVER_RESP: (_NONE, frozenset({_BIND})),
    C.OUTBIND: (_NONE, frozenset({_O})),
    C.UNBIND: (BOUND_STATES, BOUND_STATES),
    C.UNBIND_RESP: (frozenset({State.UNBINDING}), frozenset({State.UNBINDING})),
    C.GENERIC_NACK: (_NOT_CLOSED, _NOT_CLOSED),  # rule 1a
    C.SUBMIT_SM: (_SEND_SIDE, _NONE),
    C.SUBMIT_SM_RESP: (_NONE, _SEND_SIDE),
    C.SUBMIT_MULTI: (_SEND_SIDE, _NONE),
    C.SUBMIT_MULTI_RESP: (_NONE, _SEND_SIDE),
    C.QUERY_SM: (_SEND_SIDE, _NONE),
    C.QUERY_SM_RESP: (_NONE, _SEND_SIDE),
    C.CANCEL_SM: (_SEND_SIDE, _NONE),
    C.CANCEL_SM_RESP: (_NONE, _SEND_SIDE),
    C.REPLACE_SM: (_SEND_SIDE, _NONE),
    C.REPLACE_SM_RESP: (_NONE, _SEND_SIDE),
    C.DELIVER_SM: (_NONE, _RECV_SIDE),
    C.DELIVER_SM_RESP: (_RECV_SIDE, _NONE),
    C.DATA_SM: (BOUND_STATES, BOUND_STATES),
    C.DATA_SM_RESP: (BOUND_STATES, BOUND_STATES),
    C.ALERT_NOTIFICATION: (_NONE, _RECV_SIDE),
    C.ENQUIRE_LINK: (BOUND_STATES | _PRE_BIND, BOUND_STATES | _PRE_BIND),  # rule 1b
    C.ENQUIRE_LINK_RESP: (BOUND_STATES | _PRE_BIND, BOUND_STATES | _PRE_BIND),  # rule 1b
}
assert set(MATRIX) == set(CommandId), "the matrix must name every SMPP 3.4 command"

_BINDS: dict[int, State] = {
    C.BIND_TRANSMITTER: _TX,
    C.BIND_RECEIVER: _RX,
    C.BIND_TRANSCEIVER: _TRX,
}
_BIND_RESPS: dict[int, State] = {C(cid | RESPONSE_BIT): state for cid, state in _BINDS.items()}


def _side(role: str) -> int:
    if role == "esme":
        return 0
    if role == "smsc":
        return 1
    raise ValueError(f"role must be 'esme' or 'smsc', got {role!r}")


def may_send(role: str, state: State, command_id: int, bound_state: State | None = None, *, refusal: bool = False) -> bool:
    """Whether ``role`` ("esme"/"smsc") may send this PDU in ``state``.

    ``bound_state``: the bound state before UNBINDING/UNBOUND (rules 3-4).
    ``refusal``: the PDU is a response or generic_nack with a non-zero status (rule 5).
    """
    side = _side(role)
    if state is State.CLOSED:
        return False
    is_response = bool(command_id & RESPONSE_BIT)
    if refusal and is_response:
        return True  # rule 5
    try:
        allowed = MATRIX[command_id][side]  # type: ignore[index]
    except KeyError:
        return False
    if state is State.UNBINDING or state is State.UNBOUND:
        if command_id == C.UNBIND_RESP:
            return True  # also in UNBOUND: two unbinds that crossed on the wire
        if not is_response:
            return False  # rules 3-4: no new request
        return bound_state is not None and bound_state in allowed
    return state in allowed


def may_receive(role: str, state: State, command_id: int, bound_state: State | None = None) -> bool:
    """Whether ``role`` may receive this PDU in ``state`` (rule 2, and rule 3 for requests
    crossing an unbind on the wire)."""
    peer = "smsc" if _side(role) == 0 else "esme"
    if state is State.UNBINDING and not command_id & RESPONSE_BIT:
        try:
            allowed = MATRIX[command_id][_side(peer)]  # type: ignore[index]
        except KeyError:
            return False
        return bound_state is not None and bound_state in allowed
    return may_send(peer, state, command_id, bound_state)


def next_state(state: State, command_id: int, command_status: int = 0, answers: int | None = None) -> State:
    """The state after a PDU is sent or received (see the transitions in the header).

    ``answers``: for a generic_nack, the command_id of the request it answers.
    """
    if command_id in _BINDS:
        return State.BINDING if state in (_O, _OUT) else state
    if state is State.BINDING:
        if command_id in _BIND_RESPS:
            return _BIND_RESPS[command_id] if command_status == 0 else State.OPEN
        if command_id == C.GENERIC_NACK and answers in _BINDS:
            return State.OPEN
        return state
    if command_id == C.OUTBIND:
        return State.OUTBOUND if state is _O else state
    if command_id == C.UNBIND:
        return State.UNBINDING if state in BOUND_STATES else state
    if command_id == C.UNBIND_RESP:
        return State.UNBOUND if state is State.UNBINDING else state
    return state


def refusal_status(state: State, command_id: int) -> int:
    """The status to refuse a request the state forbids with (rule 5)."""
    if command_id in _BINDS and (state in BOUND_STATES or state is State.BINDING):
        return CommandStatus.ESME_RALYBND
    return CommandStatus.ESME_RINVBNDSTS
