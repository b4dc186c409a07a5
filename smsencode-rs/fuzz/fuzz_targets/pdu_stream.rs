//! Arbitrary bytes through the framer (cut where the first octet says) and the
//! decoder: "if we panic, we lose". Every frame handed out must have exactly its
//! command_length, and a decoded submit_sm must re-encode to the same frame.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smsencode::pdu::{decode, Body, Framer, Header, Item, SmPdu};
use std::borrow::Cow;

fuzz_target!(|data: &[u8]| {
    let (cut, rest) = match data.split_first() {
        Some((c, r)) => (*c as usize % (r.len() + 1), r),
        None => return,
    };
    let mut framer = Framer::new(4096).unwrap();
    for chunk in [&rest[..cut], &rest[cut..]] {
        framer.feed(chunk, |item| {
            if let Item::Frame(f) = item {
                assert_eq!(Header::read(f).command_length as usize, f.len());
                if let Ok(d) = decode(f) {
                    if let Body::Sm(b) = &d.body {
                        let p = SmPdu {
                            command_id: d.header.command_id,
                            command_status: d.header.command_status,
                            sequence_number: d.header.sequence_number,
                            service_type: Cow::Borrowed(b.service_type),
                            source_addr_ton: b.source_addr_ton,
                            source_addr_npi: b.source_addr_npi,
                            source_addr: Cow::Borrowed(b.source_addr),
                            dest_addr_ton: b.dest_addr_ton,
                            dest_addr_npi: b.dest_addr_npi,
                            destination_addr: Cow::Borrowed(b.destination_addr),
                            esm_class: b.esm_class,
                            protocol_id: b.protocol_id,
                            priority_flag: b.priority_flag,
                            schedule_delivery_time: Cow::Borrowed(b.schedule_delivery_time),
                            validity_period: Cow::Borrowed(b.validity_period),
                            registered_delivery: b.registered_delivery,
                            replace_if_present_flag: b.replace_if_present_flag,
                            data_coding: b.data_coding,
                            sm_default_msg_id: b.sm_default_msg_id,
                            short_message: b.short_message,
                            tlvs: b.tlvs.iter().map(|t| (t.tag, t.value)).collect(),
                        };
                        assert_eq!(p.encode().unwrap(), f);
                    }
                }
            }
        });
    }
    let _ = decode(rest);
});
