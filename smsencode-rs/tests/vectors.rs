//! The plain-Rust encoding core against the golden vectors of `tests/vectors/`
//! (format: tests/vectors/README.md). pytest checks the reference and the binding
//! against the same files.

use serde_json::Value;
use smsencode::encoding::{decode, encode, Concat, EncodeError, Input, Language, Options, Requested};
use std::path::PathBuf;

fn load(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("valid JSON")
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex")).collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn lang(v: &Value) -> Option<&str> {
    v.as_str()
}

fn lang_name(l: Option<Language>) -> Option<&'static str> {
    l.map(Language::name)
}

/// Options of a vector through the core's own checks; Err is the option error.
fn options(o: &Value) -> Result<(Options, Option<i64>), EncodeError> {
    let mut opts = Options::default();
    if let Some(e) = o.get("encoding") {
        opts.encoding = Requested::from_name(e.as_str().unwrap())?;
    }
    if let Some(c) = o.get("concat") {
        opts.concat = Concat::from_name(c.as_str().unwrap())?;
    }
    if let Some(m) = o.get("max_parts") {
        opts.max_parts = Options::check_max_parts(m.as_i64().unwrap())?;
    }
    if let Some(p) = o.get("packed") {
        opts.packed = p.as_bool().unwrap();
    }
    if let Some(n) = o.get("national") {
        for name in n.as_array().unwrap() {
            opts.add_language(name.as_str().unwrap())?;
        }
        opts.check_no_repeats()?;
    }
    let r = o.get("ref").map(|r| r.as_i64().unwrap());
    if let Some(r) = r {
        opts.check_ref(r)?;
    }
    Ok((opts, r))
}

#[test]
fn encode_vectors() {
    let vectors = load("encode.json");
    let vectors = vectors.as_array().unwrap();
    assert!(vectors.len() > 50, "the vector file is the spec-derived corpus, not a stub");
    for v in vectors {
        let name = v["name"].as_str().unwrap();
        let bytes;
        let input = if let Some(h) = v.get("text_hex") {
            bytes = unhex(h.as_str().unwrap());
            Input::Bytes(&bytes)
        } else {
            Input::Text(v["text"].as_str().unwrap())
        };
        let result = options(&v["options"]).and_then(|(opts, r)| {
            let (plan, parts) = encode(input, &opts, r.unwrap_or(0) as u16)?;
            Ok((plan, parts, r))
        });
        if let Some(err) = v.get("error") {
            let got = result.err().unwrap_or_else(|| panic!("{name}: expected an error"));
            match (err["type"].as_str().unwrap(), &got) {
                ("UnencodableCharacter", EncodeError::Unencodable { cp, index }) => {
                    let want = err["char"].as_str().unwrap().chars().next().unwrap() as u32;
                    assert_eq!(*cp, want, "{name}");
                    assert_eq!(*index as u64, err["index"].as_u64().unwrap(), "{name}");
                }
                ("TooManyParts", EncodeError::TooManyParts { actual, max }) => {
                    assert_eq!((*actual as u64, *max as u64), (err["actual"].as_u64().unwrap(), err["max"].as_u64().unwrap()), "{name}");
                }
                ("ValueError", EncodeError::InvalidOption { .. } | EncodeError::WrongInputType { .. }) => {}
                (want, got) => panic!("{name}: expected {want}, got {got:?}"),
            }
            continue;
        }
        let (plan, parts, r) = result.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(plan.alphabet.name(), v["encoding"].as_str().unwrap(), "{name}");
        assert_eq!(plan.alphabet.data_coding() as u64, v["data_coding"].as_u64().unwrap(), "{name}");
        assert_eq!(plan.segments as u64, v["segments"].as_u64().unwrap(), "{name}");
        assert_eq!(plan.units as u64, v["units"].as_u64().unwrap(), "{name}");
        assert_eq!(plan.udhi(), v["udhi"].as_bool().unwrap(), "{name}");
        let want: Vec<&str> = v["parts"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
        let got: Vec<String> = parts.iter().map(|p| hex(p)).collect();
        assert_eq!(got, want, "{name}");
        let want_ref = v["ref"].as_i64();
        assert_eq!(if plan.needs_ref() { r } else { None }, want_ref, "{name}");
        let sar = v["sar"].as_array();
        assert_eq!(sar.is_some(), plan.concat == Concat::Sar && plan.multi(), "{name}");
        if let Some(sar) = sar {
            for (i, t) in sar.iter().enumerate() {
                let t: Vec<i64> = t.as_array().unwrap().iter().map(|x| x.as_i64().unwrap()).collect();
                assert_eq!(t, vec![r.unwrap(), plan.segments as i64, i as i64 + 1], "{name}");
            }
        }
        let nat = v["national"].as_array().unwrap();
        assert_eq!((lang_name(plan.locking), lang_name(plan.single)), (lang(&nat[0]), lang(&nat[1])), "{name}");
        if let Some(c) = v.get("count") {
            // count() is the plan without packing.
            let (mut opts, _) = options(&v["options"]).unwrap();
            opts.packed = false;
            let mut e = smsencode::encoding::Encoder::new();
            let p = e.plan(input, &opts).unwrap();
            assert_eq!(p.segments as u64, c["segments"].as_u64().unwrap(), "{name} count");
            assert_eq!(p.units as u64, c["units"].as_u64().unwrap(), "{name} count");
            assert_eq!(p.chars as u64, c["chars"].as_u64().unwrap(), "{name} count");
            assert_eq!(p.per_segment as u64, c["per_segment"].as_u64().unwrap(), "{name} count");
        }
    }
}

#[test]
fn decode_vectors() {
    let vectors = load("decode.json");
    for v in vectors.as_array().unwrap() {
        let name = v["name"].as_str().unwrap();
        let payload = unhex(v["payload"].as_str().unwrap());
        let got = decode(
            &payload,
            v["data_coding"].as_u64().unwrap() as u8,
            v["udhi"].as_bool().unwrap(),
            v["packed"].as_bool().unwrap(),
        );
        if v.get("error").is_some() {
            assert!(got.is_err(), "{name}: expected DecodeError, got {got:?}");
            continue;
        }
        let d = got.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(d.text.as_deref(), v["text"].as_str(), "{name}");
        assert_eq!(hex(&payload[d.data_offset..]), v["data"].as_str().unwrap(), "{name}");
        assert_eq!(d.encoding, v["encoding"].as_str().unwrap(), "{name}");
        match (&d.udh, v["udh"].as_object()) {
            (None, None) => {}
            (Some(u), Some(want)) => {
                let concat = want["concat"].as_array().map(|c| {
                    (c[0].as_u64().unwrap() as u16, c[1].as_u64().unwrap() as u8, c[2].as_u64().unwrap() as u8)
                });
                assert_eq!(u.concat, concat, "{name}");
                assert_eq!(u.ref_bits.map(u64::from), want["ref_bits"].as_u64(), "{name}");
                let nat = want["national"].as_array().unwrap();
                assert_eq!((lang_name(u.locking), lang_name(u.single)), (lang(&nat[0]), lang(&nat[1])), "{name}");
                let elements: Vec<(u64, String)> = want["elements"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| (e[0].as_u64().unwrap(), e[1].as_str().unwrap().to_string()))
                    .collect();
                let got: Vec<(u64, String)> = u.elements.iter().map(|(i, b)| (*i as u64, hex(b))).collect();
                assert_eq!(got, elements, "{name}");
            }
            (a, b) => panic!("{name}: udh {a:?} vs {b:?}"),
        }
    }
}

#[test]
fn full_alphabet_byte_by_byte() {
    let alphabet = load("gsm_alphabet.json");
    let mut checked = 0;
    for table in alphabet["tables"].as_array().unwrap() {
        let language = table["language"].as_str().unwrap();
        let kind = table["kind"].as_str().unwrap();
        let lang = Language::from_name(language);
        let (locking, single) = match kind {
            "locking" => (lang, None),
            "single" => (None, lang),
            _ => (None, None),
        };
        let basic = smsencode::encoding::tables::basic_table(locking);
        let ext = smsencode::encoding::tables::ext_table(single);
        let entries = table["entries"].as_array().unwrap();
        let mut listed = std::collections::HashSet::new();
        for e in entries {
            let septet = e[0].as_u64().unwrap() as usize;
            let ch = e[1].as_str().unwrap().chars().next().unwrap();
            let mine = if matches!(kind, "basic" | "locking") { basic[septet] } else { ext[septet] };
            assert_eq!(mine, ch, "{language} {kind} septet 0x{septet:02X}");
            listed.insert(septet);
            checked += 1;
        }
        // Nothing beyond the vectors: every other position of our table is empty.
        let ours = if matches!(kind, "basic" | "locking") { basic } else { ext };
        for (septet, &c) in ours.iter().enumerate() {
            if !listed.contains(&septet) {
                assert_eq!(c, smsencode::encoding::tables::NO, "{language} {kind} 0x{septet:02X} holds {c:?}");
            }
        }
    }
    assert_eq!(checked, 3 * 127 + 10 + 17 + 19 + 37, "every entry of the seven tables");
}
