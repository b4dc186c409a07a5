//! TLV tag names (SMPP 3.4 section 5.3.2), as `engine.smpp.tlv.tlv_name` spells them:
//! they appear in error messages, which both codecs word identically.

pub fn tlv_name(tag: u16) -> String {
    match known_name(tag) {
        Some(n) => n.to_string(),
        None => format!("0x{tag:04X}"),
    }
}

fn known_name(tag: u16) -> Option<&'static str> {
    Some(match tag {
        0x0005 => "dest_addr_subunit",
        0x0006 => "dest_network_type",
        0x0007 => "dest_bearer_type",
        0x0008 => "dest_telematics_id",
        0x000D => "source_addr_subunit",
        0x000E => "source_network_type",
        0x000F => "source_bearer_type",
        0x0010 => "source_telematics_id",
        0x0017 => "qos_time_to_live",
        0x0019 => "payload_type",
        0x001D => "additional_status_info_text",
        0x001E => "receipted_message_id",
        0x0030 => "ms_msg_wait_facilities",
        0x0201 => "privacy_indicator",
        0x0202 => "source_subaddress",
        0x0203 => "dest_subaddress",
        0x0204 => "user_message_reference",
        0x0205 => "user_response_code",
        0x020A => "source_port",
        0x020B => "destination_port",
        0x020C => "sar_msg_ref_num",
        0x020D => "language_indicator",
        0x020E => "sar_total_segments",
        0x020F => "sar_segment_seqnum",
        0x0210 => "sc_interface_version",
        0x0302 => "callback_num_pres_ind",
        0x0303 => "callback_num_atag",
        0x0304 => "number_of_messages",
        0x0381 => "callback_num",
        0x0420 => "dpf_result",
        0x0421 => "set_dpf",
        0x0422 => "ms_availability_status",
        0x0423 => "network_error_code",
        0x0424 => "message_payload",
        0x0425 => "delivery_failure_reason",
        0x0426 => "more_messages_to_send",
        0x0427 => "message_state",
        0x0501 => "ussd_service_op",
        0x1201 => "display_time",
        0x1203 => "sms_signal",
        0x1204 => "ms_validity",
        0x130C => "alert_on_message_delivery",
        0x1380 => "its_reply_type",
        0x1383 => "its_session_info",
        _ => return None,
    })
}
