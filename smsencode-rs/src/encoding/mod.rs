//! GSM-7 / UCS-2 encoding, segmentation and UDH (3GPP TS 23.038 / 23.040).
