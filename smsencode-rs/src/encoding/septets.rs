//! Packing of GSM septets, LSB first (TS 23.038 §6.1.2.1), with the fill bits that
//! follow a UDH and the CR padding of §6.1.2.3.1.

use super::tables::CR;

/// Octets needed for `septets` septets after `fill` fill bits.
pub const fn packed_len(fill: usize, septets: usize) -> usize {
    (fill + 7 * septets).div_ceil(8)
}

/// Packs `text` (plus one more CR when `extra_cr`) into `out`, which is exactly
/// `packed_len(fill, text.len() + extra_cr)` octets. Seven spare bits at the end are
/// filled with CR so that a receiver does not read them as '@'.
pub fn pack_into(text: &[u8], fill: usize, extra_cr: bool, out: &mut [u8]) {
    out.fill(0);
    let mut bit = fill;
    let mut put = |v: u8, out: &mut [u8]| {
        let byte = bit / 8;
        let shift = bit % 8;
        out[byte] |= v << shift;
        if shift > 1 {
            out[byte + 1] |= v >> (8 - shift);
        }
        bit += 7;
    };
    for &s in text {
        put(s & 0x7F, out);
    }
    if extra_cr {
        put(CR, out);
    }
    if out.len() * 8 - bit == 7 {
        // Writes only into the spare bits of the last octet.
        let byte = bit / 8;
        out[byte] |= CR << (bit % 8);
    }
}

/// Unpacks every whole septet after `fill` bits. A final CR that ends exactly on the
/// last octet boundary is padding (§6.1.2.3.1) and is dropped.
pub fn unpack(data: &[u8], fill: usize, out: &mut Vec<u8>) {
    out.clear();
    let total = data.len() * 8;
    if total < fill {
        return;
    }
    let count = (total - fill) / 7;
    out.reserve(count);
    for i in 0..count {
        let bit = fill + 7 * i;
        let byte = bit / 8;
        let shift = bit % 8;
        let mut v = data[byte] >> shift;
        if shift > 1 {
            v |= data[byte + 1] << (8 - shift);
        }
        out.push(v & 0x7F);
    }
    if count > 0 && out[count - 1] == CR && fill + 7 * count == total {
        out.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_packs_like_the_spec_example() {
        // "hellohello" is the classic example: E8 32 9B FD 46 97 D9 EC 37.
        let text: Vec<u8> = b"hellohello".to_vec();
        let mut out = vec![0; packed_len(0, text.len())];
        pack_into(&text, 0, false, &mut out);
        assert_eq!(out, [0xE8, 0x32, 0x9B, 0xFD, 0x46, 0x97, 0xD9, 0xEC, 0x37]);
        let mut back = Vec::new();
        unpack(&out, 0, &mut back);
        assert_eq!(back, text);
    }

    #[test]
    fn seven_spare_bits_hold_cr_and_are_dropped() {
        let text = b"1234567".to_vec(); // 49 bits -> 7 octets, 7 spare
        let mut out = vec![0; packed_len(0, 7)];
        pack_into(&text, 0, false, &mut out);
        assert_eq!(out[6] >> 1, CR);
        let mut back = Vec::new();
        unpack(&out, 0, &mut back);
        assert_eq!(back, text);
    }

    #[test]
    fn fill_bits_after_udh() {
        // 6-octet UDH: 1 fill bit; first septet starts at bit 1.
        let mut out = vec![0; packed_len(1, 1)];
        pack_into(&[0x41], 1, false, &mut out);
        assert_eq!(out, [0x82]);
        let mut back = Vec::new();
        unpack(&out, 1, &mut back);
        assert_eq!(back, [0x41]);
    }
}
