//! Arbitrary bytes through the framer (cut where the first octet says) and the
//! decoder: "if we panic, we lose". Every frame handed out must have exactly its
//! command_length, and a decoded submit_sm must re-encode to the same frame.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smsencode::pdu::{decode, Framer, Header, Item, SmPdu};

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
                    if let Some(p) = SmPdu::from_decoded(&d) {
                        assert_eq!(p.encode().unwrap(), f);
                    }
                }
            }
        });
    }
    let _ = decode(rest);
});
