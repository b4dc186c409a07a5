//! SMPP 3.4 PDU hot path: submit_sm building, stream framing, bulk decoding.
