//! Unit tests of the PDU codec: golden bytes, error numbers and statuses, framing
//! across chunk boundaries, and arbitrary bytes through framer and decoder.

use std::borrow::Cow;

use super::build::{self, SOURCE_ADDR};
use super::*;

fn hex(s: &str) -> Vec<u8> {
    let clean: String = s.lines().map(|l| l.split('#').next().unwrap()).collect::<String>().split_whitespace().collect();
    (0..clean.len()).step_by(2).map(|i| u8::from_str_radix(&clean[i..i + 2], 16).unwrap()).collect()
}

/// The golden submit_sm of tests/smpp/test_pdu.py (SMPP 3.4 sections 4.4.1, 5.3.2).
fn golden_submit_sm() -> Vec<u8> {
    hex("
    0000004C 00000004 00000000 00000002  # length 76, submit_sm, seq 2
    00                                   # service_type
    05 00 41636D65 00                    # source ton 5, npi 0, Acme
    01 01 343437373030393030313233 00    # dest ton 1, npi 1, 447700900123
    00 00 00                             # esm_class, protocol_id, priority_flag
    00 00                                # schedule, validity
    01 00 00 00                          # registered_delivery 1, replace, data_coding, default id
    05 48656C6C6F                        # sm_length 5, Hello
    0204 0002 0007                       # user_message_reference 7
    020C 0002 0042                       # sar_msg_ref_num 0x42
    020E 0001 02                         # sar_total_segments 2
    020F 0001 01                         # sar_segment_seqnum 1
    ")
}

fn golden_pdu() -> SmPdu<'static> {
    SmPdu {
        sequence_number: 2,
        source_addr_ton: 5,
        source_addr: Cow::Borrowed(b"Acme"),
        dest_addr_ton: 1,
        dest_addr_npi: 1,
        destination_addr: Cow::Borrowed(b"447700900123"),
        registered_delivery: 1,
        short_message: b"Hello",
        tlvs: vec![(0x0204, &[0, 7]), (0x020C, &[0, 0x42]), (0x020E, &[2]), (0x020F, &[1])],
        ..SmPdu::submit_sm()
    }
}

#[test]
fn builds_the_golden_submit_sm() {
    let p = golden_pdu();
    assert_eq!(p.encoded_len(), 76);
    assert_eq!(p.encode().unwrap(), golden_submit_sm());
}

#[test]
fn batch_appends_to_one_buffer() {
    let mut out = Vec::new();
    for seq in 1..=3 {
        let p = SmPdu { sequence_number: seq, ..golden_pdu() };
        p.encode_into(&mut out).unwrap();
    }
    assert_eq!(out.len(), 3 * 76);
    assert_eq!(&out[76 + 12..76 + 16], &[0, 0, 0, 2]);
    assert_eq!(&out[152 + 12..152 + 16], &[0, 0, 0, 3]);
}

#[test]
fn decodes_the_golden_submit_sm() {
    let frame = golden_submit_sm();
    let d = decode(&frame).unwrap();
    assert_eq!(d.header, Header { command_length: 76, command_id: command_id::SUBMIT_SM, command_status: 0, sequence_number: 2 });
    let Body::Sm(b) = d.body else { panic!("not an sm body") };
    assert_eq!((b.source_addr, b.destination_addr, b.short_message), (&b"Acme"[..], &b"447700900123"[..], &b"Hello"[..]));
    assert_eq!((b.source_addr_ton, b.dest_addr_ton, b.dest_addr_npi, b.registered_delivery), (5, 1, 1, 1));
    assert_eq!(b.tlvs.len(), 4);
    assert_eq!(b.tlvs[1], Tlv { tag: 0x020C, value: &[0, 0x42] });
}

#[test]
fn encode_checks_fields_with_python_statuses() {
    let e = latin1_cstr("SubmitSm", SOURCE_ADDR, "123456789012345678901").unwrap_err();
    assert_eq!(e.status(), status::ESME_RINVSRCADR);
    assert_eq!(e.to_string(), "SubmitSm.source_addr: 21 characters; at most 20 fit (C-octet string of 21)");
    assert_eq!(e.command_id, Some(command_id::SUBMIT_SM));
    let e = latin1_cstr("SubmitSm", build::DESTINATION_ADDR, "12\u{0}3").unwrap_err();
    assert_eq!((e.status(), e.to_string().as_str()), (status::ESME_RINVDSTADR, "SubmitSm.destination_addr: contains a NUL, which would end the C-octet string"));
    let e = latin1_cstr("SubmitSm", build::SERVICE_TYPE, "aЖ").unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotLatin1 { pdu: "SubmitSm", field: "service_type", ch: 'Ж', index: 1, status: status::ESME_RINVSERTYP });
    // Latin-1 above 0x7F is one octet each.
    assert_eq!(latin1_cstr("SubmitSm", SOURCE_ADDR, "Café").unwrap().as_ref(), b"Caf\xe9");
    let e = build::u8_field("SubmitSm", "esm_class", 256, || "256".into()).unwrap_err();
    assert_eq!((e.status(), e.to_string().as_str()), (status::ESME_RSYSERR, "SubmitSm.esm_class: 256 does not fit in 1 octet(s)"));
    let long = [0u8; 255];
    let e = SmPdu { short_message: &long, ..golden_pdu() }.encode().unwrap_err();
    assert_eq!(e.status(), status::ESME_RINVMSGLEN);
    let big = vec![0u8; 0x10000];
    let e = SmPdu { tlvs: vec![(0x0424, &big)], ..golden_pdu() }.encode().unwrap_err();
    assert_eq!(e.status(), status::ESME_RINVPARLEN);
    assert_eq!(e.to_string(), "SubmitSm.tlvs[0]: message_payload value is 65536 octets; at most 65535");
    let max = vec![0u8; 0xFFFF];
    let e = SmPdu { tlvs: vec![(0x0424, &max), (0x0424, &max)], ..golden_pdu() }.encode().unwrap_err();
    assert_eq!(e.kind, ErrorKind::CommandLengthOver { pdu: "SubmitSm", len: 76 - 22 + 2 * (4 + 0xFFFF), max: MAX_COMMAND_LENGTH });
    assert_eq!(e.status(), status::ESME_RINVCMDLEN);
}

fn frame(cid: u32, status: u32, seq: u32, body: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&((16 + body.len()) as u32).to_be_bytes());
    f.extend_from_slice(&cid.to_be_bytes());
    f.extend_from_slice(&status.to_be_bytes());
    f.extend_from_slice(&seq.to_be_bytes());
    f.extend_from_slice(body);
    f
}

#[test]
fn decodes_submit_sm_resp_and_its_empty_error_form() {
    let f = frame(command_id::SUBMIT_SM_RESP, 0, 9, b"0000abcd\0");
    let d = decode(&f).unwrap();
    assert_eq!(d.body, Body::MessageId { message_id: b"0000abcd", tlvs: vec![] });
    let f = frame(command_id::SUBMIT_SM_RESP, 0x58, 9, b"");
    let d = decode(&f).unwrap();
    assert_eq!((d.header.command_status, d.body), (0x58, Body::MessageId { message_id: b"", tlvs: vec![] }));
}

#[test]
fn decode_errors_carry_numbers_and_statuses() {
    let cases: Vec<(Vec<u8>, u32, &str)> = vec![
        (frame(command_id::SUBMIT_SM_RESP, 0, 3, b"abc"), status::ESME_RINVCMDLEN,
         "SubmitSmResp: the body ends inside message_id (no NUL in the 3 octet(s) left)"),
        (frame(command_id::SUBMIT_SM_RESP, 0, 3, &[b'x'; 70]), status::ESME_RINVMSGID,
         "SubmitSmResp: message_id has no NUL within its maximum of 65 octets"),
        (frame(command_id::SUBMIT_SM_RESP, 0, 3, b"a\0\x00\x1e\x00"), status::ESME_RINVOPTPARSTREAM,
         "SubmitSmResp: 3 octet(s) after the last TLV are too few for a TLV header (4)"),
        (frame(command_id::SUBMIT_SM_RESP, 0, 3, b"a\0\x04\x27\x00\x05xy"), status::ESME_RINVOPTPARSTREAM,
         "SubmitSmResp: TLV message_state says 5 octets but only 2 remain in the body"),
        (frame(command_id::ENQUIRE_LINK, 0, 3, b"z"), status::ESME_RINVCMDLEN,
         "EnquireLink: 1 octet(s) after the end of the body (it has no optional parameters)"),
        (frame(0x0000_0099, 0, 3, b""), status::ESME_RINVCMDID, "unknown command_id 0x00000099"),
        (frame(command_id::DELIVER_SM, 0, 3, b"\0\x01"), status::ESME_RINVCMDLEN,
         "DeliverSm: the body ends inside source_addr_ton (1 octet(s) left)"),
        (frame(command_id::DELIVER_SM, 0, 3, b"\0\x01\x01a\0\x01\x01b\0\0\0\0\0\0\0\0\0\0\xff"), status::ESME_RINVMSGLEN,
         "DeliverSm: sm_length 255 is over the maximum of 254"),
        (frame(command_id::DELIVER_SM, 0, 3, b"\0\x01\x01a\0\x01\x01b\0\0\0\0\0\0\0\0\0\0\x05ab"), status::ESME_RINVMSGLEN,
         "DeliverSm: sm_length says 5 octets but only 2 remain in the body"),
        (frame(command_id::DELIVER_SM, 0, 3, b"\0\x01\x01a\0\x01\x01b\0\0\0\0\0\0\0\0\0\0"), status::ESME_RINVCMDLEN,
         "DeliverSm: the body ends inside sm_length (0 octet(s) left)"),
    ];
    for (f, st, msg) in cases {
        let e = decode(&f).unwrap_err();
        assert_eq!((e.status(), e.to_string().as_str()), (st, msg));
        assert_eq!(e.sequence_number, Some(3));
        assert!(!e.fatal);
    }
    let e = decode(&[0, 0, 0, 16, 0, 0]).unwrap_err();
    assert_eq!((e.status(), e.command_id), (status::ESME_RINVCMDLEN, None));
    let mut f = frame(command_id::ENQUIRE_LINK, 0, 1, b"");
    f.push(0);
    let e = decode(&f).unwrap_err();
    assert_eq!(e.to_string(), "command_length says 16 octets but the frame has 17");
}

#[test]
fn deliver_sm_keeps_every_field_and_unknown_tlvs() {
    let body = b"CMT\0\x01\x01447700900123\0\x05\x00Acme\0\x04\x00\x00\0\0\x00\x00\x00\x00\x03abc\x00\x1e\x00\x050A1B\0\x14\x01\x00\x02\xbe\xef";
    let f = frame(command_id::DELIVER_SM, 0, 7, body);
    let Body::Sm(b) = decode(&f).unwrap().body else { panic!() };
    assert_eq!(b.service_type, b"CMT");
    assert_eq!(b.esm_class, 4);
    assert_eq!(b.short_message, b"abc");
    assert_eq!(b.tlvs, vec![Tlv { tag: 0x001E, value: b"0A1B\0" }, Tlv { tag: 0x1401, value: &[0xbe, 0xef] }]);
}

fn collect(framer: &mut Framer, data: &[u8]) -> Vec<Result<Vec<u8>, PduError>> {
    let mut out = Vec::new();
    framer.feed(data, |item| match item {
        Item::Frame(f) => out.push(Ok(f.to_vec())),
        Item::Fatal(e) => out.push(Err(e)),
    });
    out
}

#[test]
fn framer_gives_the_same_frames_for_every_chunking() {
    let mut stream = Vec::new();
    let frames = vec![
        frame(command_id::SUBMIT_SM_RESP, 0, 1, b"1\0"),
        frame(command_id::ENQUIRE_LINK, 0, 2, b""),
        golden_submit_sm(),
        frame(command_id::SUBMIT_SM_RESP, 0, 4, b"00000004\0"),
    ];
    for f in &frames {
        stream.extend_from_slice(f);
    }
    for step in 1..stream.len() {
        let mut framer = Framer::default();
        let mut got = Vec::new();
        for chunk in stream.chunks(step) {
            got.extend(collect(&mut framer, chunk).into_iter().map(|r| r.unwrap()));
        }
        assert_eq!(got, frames, "chunk size {step}");
        assert_eq!(framer.buffered(), 0);
    }
}

#[test]
fn framer_fatal_lengths_wait_for_the_header_and_break_the_stream() {
    for (length, max, below) in [(15u32, MAX_COMMAND_LENGTH, true), (MAX_COMMAND_LENGTH + 1, MAX_COMMAND_LENGTH, false), (1000, 999, false)] {
        let mut bad = frame(command_id::SUBMIT_SM_RESP, 0, 77, b"");
        bad[..4].copy_from_slice(&length.to_be_bytes());
        let mut stream = frame(command_id::ENQUIRE_LINK, 0, 1, b"");
        stream.extend_from_slice(&bad);
        let mut framer = Framer::new(max).unwrap();
        let mut got = collect(&mut framer, &stream[..16 + 10]);
        assert_eq!(got.len(), 1, "the bad header is not complete yet");
        got.extend(collect(&mut framer, &stream[26..]));
        assert_eq!(got.len(), 2);
        let e = got[1].clone().unwrap_err();
        assert!(e.fatal);
        assert_eq!((e.status(), e.command_id, e.sequence_number), (status::ESME_RINVCMDLEN, Some(command_id::SUBMIT_SM_RESP), Some(77)));
        let expected = if below {
            format!("command_length {length} is below the 16-octet header; the stream cannot be resynchronised")
        } else {
            format!("command_length {length} is above the maximum of {max}; the stream cannot be resynchronised")
        };
        assert_eq!(e.to_string(), expected);
        assert!(framer.broken());
        assert!(collect(&mut framer, &frame(command_id::ENQUIRE_LINK, 0, 1, b"")).is_empty());
        assert_eq!(framer.buffered(), 0);
    }
    assert!(Framer::new(15).is_err());
    assert!(Framer::new(MAX_COMMAND_LENGTH + 1).is_err());
}

/// xorshift64*: a fixed-seed generator, so a failure is reproducible without a crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Arbitrary bytes, and valid PDUs with random octets overwritten, through the framer
/// (in random chunks) and the decoder: no panic, and every frame the framer hands
/// out has exactly its command_length.
#[test]
fn arbitrary_bytes_never_panic() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let seeds: Vec<Vec<u8>> = vec![
        golden_submit_sm(),
        frame(command_id::SUBMIT_SM_RESP, 0, 1, b"0000abcd\0\x04\x27\x00\x01\x02"),
        frame(command_id::DELIVER_SM, 0, 7, b"\0\x01\x01447700900123\0\x05\x00Acme\0\x04\x00\x00\0\0\x00\x00\x00\x00\x03abc\x00\x1e\x00\x050A1B\0"),
        frame(command_id::ENQUIRE_LINK, 0, 2, b""),
    ];
    let mut decoded = 0usize;
    let mut sm_roundtrips = 0usize;
    for round in 0..20_000 {
        let mut data: Vec<u8> = if round % 2 == 0 {
            (0..rng.below(300)).map(|_| rng.next() as u8).collect()
        } else {
            let mut d = seeds[rng.below(seeds.len())].clone();
            for _ in 0..1 + rng.below(4) {
                let i = rng.below(d.len());
                d[i] = rng.next() as u8;
            }
            d
        };
        if round % 3 == 0 && data.len() >= 4 {
            // Keep the length sane so that the body decoders, not the framer, see the damage.
            let n = data.len() as u32;
            data[..4].copy_from_slice(&n.to_be_bytes());
        }
        let _ = decode(&data);
        let mut framer = Framer::new(4096).unwrap();
        let mut pos = 0;
        while pos < data.len() {
            let step = 1 + rng.below(40);
            let end = (pos + step).min(data.len());
            framer.feed(&data[pos..end], |item| {
                if let Item::Frame(f) = item {
                    assert_eq!(Header::read(f).command_length as usize, f.len());
                    if let Ok(d) = decode(f) {
                        decoded += 1;
                        if let Some(p) = SmPdu::from_decoded(&d) {
                            assert_eq!(p.encode().unwrap(), f, "a decoded submit_sm/deliver_sm re-encodes to its frame");
                            sm_roundtrips += 1;
                        }
                    }
                }
            });
            pos = end;
        }
    }
    assert!(decoded > 1000, "the mutations should leave many PDUs decodable, got {decoded}");
    assert!(sm_roundtrips > 100, "many decodable submit_sm/deliver_sm, got {sm_roundtrips}");
}

/// The golden vectors of tests/smpp/vectors/pdus.json (written from the Python
/// codec): every frame decodes here to the same verdict, with the same status and
/// header numbers for the malformed ones, and every submit_sm rebuilds byte for byte.
#[test]
fn golden_vectors_shared_with_pytest() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/smpp/vectors/pdus.json");
    let text = std::fs::read_to_string(path).expect("tests/smpp/vectors/pdus.json");
    let vectors: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut submit_sms = 0;
    for v in vectors.as_array().unwrap() {
        let name = v["name"].as_str().unwrap();
        let frame = hex(v["hex"].as_str().unwrap());
        let got = decode(&frame);
        if let Some(err) = v.get("error") {
            if matches!(&got, Ok(Decoded { body: Body::Other, .. })) {
                continue; // a PDU left to the Python codec, which reports this error
            }
            let e = got.expect_err(name);
            let opt = |k: &str| err[k].as_u64().map(|x| x as u32);
            assert_eq!((e.status() as u64, e.command_id, e.sequence_number), (err["status"].as_u64().unwrap(), opt("command_id"), opt("sequence_number")), "{name}");
            continue;
        }
        let d = got.unwrap_or_else(|e| panic!("{name}: {e}"));
        let ty = v["pdu"]["type"].as_str().unwrap();
        let f = &v["pdu"]["fields"];
        let expected_layout = decode::layout(d.header.command_id).unwrap();
        if expected_layout.0 != decode::Layout::Other {
            assert_eq!(expected_layout.1, ty, "{name}");
        }
        if ty == "SubmitSm" {
            submit_sms += 1;
            let s = |k: &str| -> Cow<'static, [u8]> {
                Cow::Owned(f[k].as_str().unwrap().chars().map(|c| c as u32 as u8).collect())
            };
            let n = |k: &str| f[k].as_u64().unwrap() as u8;
            let sm = hex(f["short_message"]["hex"].as_str().unwrap());
            let tlv_values: Vec<(u16, Vec<u8>)> = f["tlvs"].as_array().unwrap().iter()
                .map(|t| (t[0].as_u64().unwrap() as u16, hex(t[1].as_str().unwrap()))).collect();
            let p = SmPdu {
                command_status: f["command_status"].as_u64().unwrap() as u32,
                sequence_number: f["sequence_number"].as_u64().unwrap() as u32,
                service_type: s("service_type"),
                source_addr_ton: n("source_addr_ton"),
                source_addr_npi: n("source_addr_npi"),
                source_addr: s("source_addr"),
                dest_addr_ton: n("dest_addr_ton"),
                dest_addr_npi: n("dest_addr_npi"),
                destination_addr: s("destination_addr"),
                esm_class: n("esm_class"),
                protocol_id: n("protocol_id"),
                priority_flag: n("priority_flag"),
                schedule_delivery_time: s("schedule_delivery_time"),
                validity_period: s("validity_period"),
                registered_delivery: n("registered_delivery"),
                replace_if_present_flag: n("replace_if_present_flag"),
                data_coding: n("data_coding"),
                sm_default_msg_id: n("sm_default_msg_id"),
                short_message: &sm,
                tlvs: tlv_values.iter().map(|(t, v)| (*t, v.as_slice())).collect(),
                ..SmPdu::submit_sm()
            };
            assert_eq!(p.encode().unwrap(), frame, "{name}");
        }
    }
    assert!(submit_sms >= 3, "the vectors should hold several submit_sm, found {submit_sms}");
}
