//! Unit tests of the encoder: limits, split points, national selection, round trips.

use super::*;

fn opts() -> Options {
    Options::default()
}

fn enc(text: &str, o: &Options) -> (Plan, Vec<Vec<u8>>) {
    encode(Input::Text(text), o, 7).expect("encodes")
}

fn text_of(plan: &Plan, part: &[u8]) -> String {
    let d = decode(part, plan.alphabet.data_coding(), plan.udhi(), plan.packed).expect("decodes");
    d.text.expect("text")
}

fn roundtrip(text: &str, o: &Options) -> String {
    let (plan, parts) = enc(text, o);
    parts.iter().map(|p| text_of(&plan, p)).collect()
}

#[test]
fn empty_text_is_one_empty_gsm_part() {
    let (p, parts) = enc("", &opts());
    assert_eq!((p.alphabet, p.segments, p.units), (Alphabet::Gsm7, 1, 0));
    assert_eq!(parts, vec![Vec::<u8>::new()]);
}

#[test]
fn single_segment_limits() {
    for (text, alphabet, fits) in [
        ("a".repeat(160), Alphabet::Gsm7, true),
        ("a".repeat(161), Alphabet::Gsm7, false),
        ("ж".repeat(70), Alphabet::Ucs2, true),
        ("ж".repeat(71), Alphabet::Ucs2, false),
    ] {
        let (p, _) = enc(&text, &opts());
        assert_eq!(p.alphabet, alphabet);
        assert_eq!(p.segments == 1, fits, "{}", text.chars().count());
    }
}

#[test]
fn multipart_limits_udh8_udh16() {
    let mut o = opts();
    let (p, parts) = enc(&"a".repeat(306), &o);
    assert_eq!((p.segments, p.per_segment), (2, 153));
    assert_eq!(&parts[0][..6], &[5, 0, 3, 7, 2, 1]);
    assert_eq!(parts[0].len(), 6 + 153);
    o.concat = Concat::Udh16;
    let (p, parts) = enc(&"a".repeat(306), &o);
    assert_eq!((p.segments, p.per_segment), (3, 152));
    assert_eq!(&parts[2][..7], &[6, 8, 4, 0, 7, 3, 3]);
}

#[test]
fn escape_pair_is_never_split() {
    // 152 'a' then '€': the ESC would be septet 153 and its code 154.
    let text = format!("{}€{}", "a".repeat(152), "b".repeat(10));
    let (p, parts) = enc(&text, &opts());
    assert_eq!(p.units, 152 + 2 + 10);
    assert_eq!(parts[0].len(), 6 + 152);
    assert_eq!(&parts[1][6..8], &[ESC, 0x65]);
    assert_eq!(roundtrip(&text, &opts()), text);
}

#[test]
fn surrogate_pair_is_never_split() {
    let text = format!("{}😀{}", "ж".repeat(66), "ж".repeat(5));
    let (p, parts) = enc(&text, &opts());
    assert_eq!(p.units, 66 + 2 + 5);
    assert_eq!(parts[0].len(), 6 + 2 * 66);
    assert_eq!(roundtrip(&text, &opts()), text);
}

#[test]
fn too_many_parts_counts_everything() {
    let mut o = opts();
    o.max_parts = 2;
    let e = encode(Input::Text(&"a".repeat(153 * 5)), &o, 0).unwrap_err();
    assert_eq!(e, EncodeError::TooManyParts { actual: 5, max: 2 });
    let e = encode(Input::Text(&"a".repeat(153 * 256)), &opts(), 0).unwrap_err();
    assert_eq!(e, EncodeError::TooManyParts { actual: 256, max: 255 });
}

#[test]
fn forced_gsm_reports_first_unencodable() {
    let mut o = opts();
    o.encoding = Requested::Gsm7;
    let e = encode(Input::Text("abç`"), &o, 0).unwrap_err();
    assert_eq!(e, EncodeError::Unencodable { cp: 'ç' as u32, index: 2 });
    o.encoding = Requested::Latin1;
    let e = encode(Input::Text("é€"), &o, 0).unwrap_err();
    assert_eq!(e, EncodeError::Unencodable { cp: '€' as u32, index: 1 });
}

#[test]
fn turkish_locking_and_single() {
    let mut o = opts();
    o.encoding = Requested::Gsm7; // short: UCS-2 would be as cheap, so force GSM
    o.national = vec![Language::Turkish];
    // Same segment count either way: single shift only wins the tie.
    let (p, parts) = enc("Işık şimdi", &o);
    assert_eq!((p.alphabet, p.locking, p.single), (Alphabet::Gsm7, None, Some(Language::Turkish)));
    assert_eq!(&parts[0][..4], &[3, 0x24, 1, 1]);
    assert_eq!(roundtrip("Işık şimdi", &o), "Işık şimdi");
    // 100 'ş': single shift needs 200 septets (2 segments), locking 100 (1 segment),
    // UCS-2 2 segments: auto picks the locking table.
    o.encoding = Requested::Auto;
    let text = "ş".repeat(100);
    let (p, parts) = enc(&text, &o);
    assert_eq!((p.alphabet, p.locking, p.single, p.segments), (Alphabet::Gsm7, Some(Language::Turkish), None, 1));
    assert_eq!(&parts[0][..4], &[3, 0x25, 1, 1]);
    assert_eq!(roundtrip(&text, &o), text);
}

#[test]
fn single_shift_only_preferred_on_tie() {
    let mut o = opts();
    o.encoding = Requested::Gsm7; // short: UCS-2 would be as cheap, so force GSM
    o.national = vec![Language::Turkish];
    // One 'ğ': single shift (2 septets) and locking (1 septet) both fit one segment,
    // one IE each: single-shift only wins.
    let (p, _) = enc("ğ", &o);
    assert_eq!((p.locking, p.single), (None, Some(Language::Turkish)));
}

#[test]
fn spanish_single_shift() {
    let mut o = opts();
    o.encoding = Requested::Gsm7; // short: UCS-2 would be as cheap, so force GSM
    o.national = vec![Language::Spanish];
    let (p, parts) = enc("Canción", &o);
    assert_eq!((p.alphabet, p.locking, p.single), (Alphabet::Gsm7, None, Some(Language::Spanish)));
    assert_eq!(p.units, 8);
    assert_eq!(&parts[0][..4], &[3, 0x24, 1, 2]);
    assert_eq!(roundtrip("Canción", &o), "Canción");
}

#[test]
fn national_used_only_when_strictly_cheaper_than_ucs2() {
    let mut o = opts();
    o.national = vec![Language::Spanish];
    // 67 'ó' = 134 septets + 4-octet UDH (155 septets) -> 1 segment; UCS-2 70 -> 1 segment:
    // not strictly cheaper, so UCS-2.
    let (p, _) = enc(&"ó".repeat(67), &o);
    assert_eq!(p.alphabet, Alphabet::Ucs2);
    // 71 'ó': UCS-2 needs 2, Spanish 142 septets fits 155 -> national.
    let (p, _) = enc(&"ó".repeat(71), &o);
    assert_eq!((p.alphabet, p.single, p.segments), (Alphabet::Gsm7, Some(Language::Spanish), 1));
}

#[test]
fn packed_roundtrips_with_udh_and_cr_rule() {
    let mut o = opts();
    o.packed = true;
    for n in [0usize, 1, 7, 8, 153, 160, 161, 400] {
        let text = "x".repeat(n);
        assert_eq!(roundtrip(&text, &o), text);
    }
    // Text ending with CR on an octet boundary: 8 septets = 56 bits -> one more CR.
    let (p, parts) = enc("1234567\r", &o);
    assert_eq!(p.units, 8);
    assert_eq!(parts[0].len(), 8); // 9 septets = 63 bits -> 8 octets
}

#[test]
fn payload_and_sar_layout() {
    let mut o = opts();
    o.concat = Concat::Payload;
    let text = "a".repeat(400);
    let (p, parts) = enc(&text, &o);
    assert_eq!((p.segments, parts.len(), p.udhi(), p.needs_ref()), (3, 1, false, false));
    assert_eq!(parts[0].len(), 400);
    o.concat = Concat::Sar;
    let (p, parts) = enc(&text, &o);
    assert_eq!((p.segments, parts.len(), p.udhi(), p.needs_ref()), (3, 3, false, true));
    assert_eq!(parts[0].len(), 153);
}

#[test]
fn latin1_and_binary() {
    let mut o = opts();
    o.encoding = Requested::Latin1;
    let (p, parts) = enc("café", &o);
    assert_eq!((p.alphabet.data_coding(), p.units), (3, 4));
    assert_eq!(parts[0], b"caf\xe9");
    o.encoding = Requested::Binary;
    let (p, parts) = encode(Input::Bytes(&[1u8; 141]), &o, 9).unwrap();
    assert_eq!((p.segments, parts[0].len(), parts[1].len()), (2, 140, 6 + 7));
    assert!(matches!(encode(Input::Text("x"), &o, 0), Err(EncodeError::WrongInputType { .. })));
}

#[test]
fn decode_errors_carry_numbers() {
    assert_eq!(decode(&[5, 0, 3], 0, true, false).unwrap_err(), DecodeError::UdhTooLong { udhl: 5, available: 2 });
    assert!(matches!(decode(&[0x80], 0, false, false), Err(DecodeError::HighOctet { octet: 0x80, .. })));
    assert_eq!(decode(b"", 0x0B, false, false).unwrap_err(), DecodeError::UnsupportedDataCoding(0x0B));
    let d = decode(&[0x1B, 0x1B, 0x41, 0x1B], 0, false, false).unwrap();
    assert_eq!(d.text.as_deref(), Some(" A "));
}

#[test]
fn python_storage_kinds_give_the_same_answer() {
    let text = "Ωмир 😀 €";
    let ucs4: Vec<u32> = text.chars().map(|c| c as u32).collect();
    let (a, pa) = encode(Input::Text(text), &opts(), 1).unwrap();
    let (b, pb) = encode(Input::Ucs4(&ucs4), &opts(), 1).unwrap();
    assert_eq!((a, pa), (b, pb));
    let latin: Vec<u8> = "café".chars().map(|c| c as u8).collect();
    assert_eq!(encode(Input::Ucs1(&latin), &opts(), 0).unwrap(), encode(Input::Text("café"), &opts(), 0).unwrap());
    // A lone surrogate (possible in a Python str) is one UCS-2 unit, never GSM.
    let (p, parts) = encode(Input::Ucs2(&[0x41, 0xD800]), &opts(), 0).unwrap();
    assert_eq!((p.alphabet, p.units), (Alphabet::Ucs2, 2));
    assert_eq!(parts[0], [0, 0x41, 0xD8, 0]);
    let mut o = opts();
    o.encoding = Requested::Gsm7;
    assert_eq!(encode(Input::Ucs2(&[0x41, 0xD800]), &o, 0).unwrap_err(), EncodeError::Unencodable { cp: 0xD800, index: 1 });
}

#[test]
fn ascii_identity_fast_path_agrees_with_the_table() {
    let map = charmap(None, None);
    for c in 0u8..128 {
        let identity = ascii_is_gsm_identity(&[c]);
        assert_eq!(identity, map.get(c as char) == c as u16, "0x{c:02X}");
        assert_eq!(IDENTITY[c as usize], identity, "0x{c:02X}");
    }
}

/// Arbitrary bytes, every data_coding, both flags: decode returns or errs, never panics
/// ("if we panic, we lose"). A fixed xorshift stream keeps it repeatable.
#[test]
fn decode_never_panics_on_arbitrary_bytes() {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..20_000 {
        let len = (next() % 200) as usize;
        let mut payload: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if len > 0 && next() % 2 == 0 {
            payload[0] = (next() % (len as u64)) as u8; // a plausible UDHL
        }
        let dc = next() as u8;
        for (udhi, packed) in [(false, false), (true, false), (false, true), (true, true)] {
            let _ = decode(&payload, dc, udhi, packed);
        }
    }
}

/// Every text of a pseudo-random mix encodes into parts that decode back to it.
#[test]
fn encode_decode_roundtrip_pseudo_random() {
    let pool: Vec<char> = "aZ09 @$_€[]{}^~|\\\nçÇ¿§жЯ😀ıİşğáóãõ∞`\r".chars().collect();
    let mut x: u64 = 42;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for i in 0..3_000 {
        let len = (next() % 700) as usize;
        let text: String = (0..len).map(|_| pool[(next() % pool.len() as u64) as usize]).collect();
        let mut o = opts();
        o.national = vec![Language::Turkish, Language::Portuguese, Language::Spanish];
        o.concat = [Concat::Udh8, Concat::Udh16, Concat::Sar, Concat::Payload][i % 4];
        let (plan, parts) = enc(&text, &o);
        let back: String = parts.iter().map(|p| text_of(&plan, p)).collect();
        assert_eq!(back, text, "{plan:?}");
    }
}
