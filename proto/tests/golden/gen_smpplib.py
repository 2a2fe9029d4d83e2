#!/usr/bin/env python3
"""Golden SMPP 3.4 PDU vectors produced by python-smpplib.

    gen_smpplib.py OUT.json          build the vectors with smpplib and write them
    gen_smpplib.py --verify FILE...  re-decode every vector of FILE(s) (from any
                                     generator) and check hex against fields/tlvs

PDUs are built with smpplib's own classes (smpplib.smpp.make_pdu / .generate())
and its own GSM 7-bit / UCS-2 helpers (smpplib.gsm).  No network I/O: every PDU
gets a dummy client that only hands out a fixed sequence number.

"fields" and "tlvs" in the output are NOT copied from the inputs: they come
from the small independent decoder below, run on the bytes smpplib wrote.  The
decoder also flags SMPP 3.4 violations; a vector with a flagged violation must
declare a "quirk", and every input value must be found on the wire (or be
explained by the case), so a surprise in the library stops the run.
"""

import json
import random
import struct
import sys

# ---------------------------------------------------------------------------
# Independent SMPP 3.4 decoder (shared shape with gen_node.js)
# ---------------------------------------------------------------------------

COMMAND_IDS = {
    "generic_nack": 0x80000000,
    "bind_receiver": 0x00000001,
    "bind_receiver_resp": 0x80000001,
    "bind_transmitter": 0x00000002,
    "bind_transmitter_resp": 0x80000002,
    "query_sm": 0x00000003,
    "query_sm_resp": 0x80000003,
    "submit_sm": 0x00000004,
    "submit_sm_resp": 0x80000004,
    "deliver_sm": 0x00000005,
    "deliver_sm_resp": 0x80000005,
    "unbind": 0x00000006,
    "unbind_resp": 0x80000006,
    "replace_sm": 0x00000007,
    "replace_sm_resp": 0x80000007,
    "cancel_sm": 0x00000008,
    "cancel_sm_resp": 0x80000008,
    "bind_transceiver": 0x00000009,
    "bind_transceiver_resp": 0x80000009,
    "outbind": 0x0000000B,
    "enquire_link": 0x00000015,
    "enquire_link_resp": 0x80000015,
    "submit_multi": 0x00000021,
    "submit_multi_resp": 0x80000021,
    "alert_notification": 0x00000102,
    "data_sm": 0x00000103,
    "data_sm_resp": 0x80000103,
}

# Field kinds: ("c", max incl. NUL) C-Octet String; ("t",) time C-string
# (NULL or 16 chars); ("u", n) n-octet integer; ("sm",) short_message whose
# length is the preceding sm_length; ("dests",) / ("unsucc",) submit_multi lists.
_SM_TAIL = [
    ("esm_class", ("u", 1)),
    ("protocol_id", ("u", 1)),
    ("priority_flag", ("u", 1)),
    ("schedule_delivery_time", ("t",)),
    ("validity_period", ("t",)),
    ("registered_delivery", ("u", 1)),
    ("replace_if_present_flag", ("u", 1)),
    ("data_coding", ("u", 1)),
    ("sm_default_msg_id", ("u", 1)),
    ("sm_length", ("u", 1)),
    ("short_message", ("sm",)),
]
_BIND = [
    ("system_id", ("c", 16)),
    ("password", ("c", 9)),
    ("system_type", ("c", 13)),
    ("interface_version", ("u", 1)),
    ("addr_ton", ("u", 1)),
    ("addr_npi", ("u", 1)),
    ("address_range", ("c", 41)),
]
_SUBMIT = [
    ("service_type", ("c", 6)),
    ("source_addr_ton", ("u", 1)),
    ("source_addr_npi", ("u", 1)),
    ("source_addr", ("c", 21)),
    ("dest_addr_ton", ("u", 1)),
    ("dest_addr_npi", ("u", 1)),
    ("destination_addr", ("c", 21)),
] + _SM_TAIL
LAYOUTS = {
    "bind_transmitter": _BIND,
    "bind_receiver": _BIND,
    "bind_transceiver": _BIND,
    "bind_transmitter_resp": [("system_id", ("c", 16))],
    "bind_receiver_resp": [("system_id", ("c", 16))],
    "bind_transceiver_resp": [("system_id", ("c", 16))],
    "outbind": [("system_id", ("c", 16)), ("password", ("c", 9))],
    "generic_nack": [],
    "unbind": [],
    "unbind_resp": [],
    "enquire_link": [],
    "enquire_link_resp": [],
    "cancel_sm_resp": [],
    "replace_sm_resp": [],
    "submit_sm": _SUBMIT,
    "deliver_sm": _SUBMIT,
    "submit_sm_resp": [("message_id", ("c", 65))],
    "deliver_sm_resp": [("message_id", ("c", 65))],
    "data_sm_resp": [("message_id", ("c", 65))],
    "submit_multi": [
        ("service_type", ("c", 6)),
        ("source_addr_ton", ("u", 1)),
        ("source_addr_npi", ("u", 1)),
        ("source_addr", ("c", 21)),
        ("number_of_dests", ("u", 1)),
        ("dest_address", ("dests",)),
    ] + _SM_TAIL,
    "submit_multi_resp": [
        ("message_id", ("c", 65)),
        ("no_unsuccess", ("u", 1)),
        ("unsuccess_sme", ("unsucc",)),
    ],
    "data_sm": [
        ("service_type", ("c", 6)),
        ("source_addr_ton", ("u", 1)),
        ("source_addr_npi", ("u", 1)),
        ("source_addr", ("c", 65)),
        ("dest_addr_ton", ("u", 1)),
        ("dest_addr_npi", ("u", 1)),
        ("destination_addr", ("c", 65)),
        ("esm_class", ("u", 1)),
        ("registered_delivery", ("u", 1)),
        ("data_coding", ("u", 1)),
    ],
    "query_sm": [
        ("message_id", ("c", 65)),
        ("source_addr_ton", ("u", 1)),
        ("source_addr_npi", ("u", 1)),
        ("source_addr", ("c", 21)),
    ],
    "query_sm_resp": [
        ("message_id", ("c", 65)),
        ("final_date", ("t",)),
        ("message_state", ("u", 1)),
        ("error_code", ("u", 1)),
    ],
    "cancel_sm": [
        ("service_type", ("c", 6)),
        ("message_id", ("c", 65)),
        ("source_addr_ton", ("u", 1)),
        ("source_addr_npi", ("u", 1)),
        ("source_addr", ("c", 21)),
        ("dest_addr_ton", ("u", 1)),
        ("dest_addr_npi", ("u", 1)),
        ("destination_addr", ("c", 21)),
    ],
    "replace_sm": [
        ("message_id", ("c", 65)),
        ("source_addr_ton", ("u", 1)),
        ("source_addr_npi", ("u", 1)),
        ("source_addr", ("c", 21)),
        ("schedule_delivery_time", ("t",)),
        ("validity_period", ("t",)),
        ("registered_delivery", ("u", 1)),
        ("sm_default_msg_id", ("u", 1)),
        ("sm_length", ("u", 1)),
        ("short_message", ("sm",)),
    ],
    "alert_notification": [
        ("source_addr_ton", ("u", 1)),
        ("source_addr_npi", ("u", 1)),
        ("source_addr", ("c", 65)),
        ("esme_addr_ton", ("u", 1)),
        ("esme_addr_npi", ("u", 1)),
        ("esme_addr", ("c", 65)),
    ],
}
# Derived counters: present on the wire and in "fields", never passed as input.
DERIVED = ("sm_length", "number_of_dests", "no_unsuccess")

# SMPP 3.4 TLVs: tag -> (name, kind, size).  kind "int": fixed-size integer;
# "cstr": C-Octet String (NUL included in length); "oct": octet string, size
# None = variable, otherwise fixed.
TLVS = {
    0x0005: ("dest_addr_subunit", "int", 1),
    0x0006: ("dest_network_type", "int", 1),
    0x0007: ("dest_bearer_type", "int", 1),
    0x0008: ("dest_telematics_id", "int", 2),
    0x000D: ("source_addr_subunit", "int", 1),
    0x000E: ("source_network_type", "int", 1),
    0x000F: ("source_bearer_type", "int", 1),
    0x0010: ("source_telematics_id", "int", 1),
    0x0017: ("qos_time_to_live", "int", 4),
    0x0019: ("payload_type", "int", 1),
    0x001D: ("additional_status_info_text", "cstr", 256),
    0x001E: ("receipted_message_id", "cstr", 65),
    0x0030: ("ms_msg_wait_facilities", "int", 1),
    0x0201: ("privacy_indicator", "int", 1),
    0x0202: ("source_subaddress", "oct", None),
    0x0203: ("dest_subaddress", "oct", None),
    0x0204: ("user_message_reference", "int", 2),
    0x0205: ("user_response_code", "int", 1),
    0x020A: ("source_port", "int", 2),
    0x020B: ("destination_port", "int", 2),
    0x020C: ("sar_msg_ref_num", "int", 2),
    0x020D: ("language_indicator", "int", 1),
    0x020E: ("sar_total_segments", "int", 1),
    0x020F: ("sar_segment_seqnum", "int", 1),
    0x0210: ("sc_interface_version", "int", 1),
    0x0302: ("callback_num_pres_ind", "int", 1),
    0x0303: ("callback_num_atag", "oct", None),
    0x0304: ("number_of_messages", "int", 1),
    0x0381: ("callback_num", "oct", None),
    0x0420: ("dpf_result", "int", 1),
    0x0421: ("set_dpf", "int", 1),
    0x0422: ("ms_availability_status", "int", 1),
    0x0423: ("network_error_code", "oct", 3),
    0x0424: ("message_payload", "oct", None),
    0x0425: ("delivery_failure_reason", "int", 1),
    0x0426: ("more_messages_to_send", "int", 1),
    0x0427: ("message_state", "int", 1),
    0x0501: ("ussd_service_op", "oct", 1),
    0x1201: ("display_time", "int", 1),
    0x1203: ("sms_signal", "int", 2),
    0x1204: ("ms_validity", "int", 1),
    0x130C: ("alert_on_message_delivery", "oct", 0),
    0x1380: ("its_reply_type", "int", 1),
    0x1383: ("its_session_info", "oct", 2),
}
TLV_BY_NAME = {v[0]: (tag,) + v for tag, v in TLVS.items()}


def tlv_name(tag):
    if tag in TLVS:
        return TLVS[tag][0]
    if 0x1400 <= tag <= 0x3FFF:
        return "vendor_0x%04x" % tag
    return "unknown_0x%04x" % tag


class DecodeError(Exception):
    pass


def _ascii(raw, what):
    try:
        return raw.decode("ascii")
    except UnicodeDecodeError:
        raise DecodeError("%s is not ASCII: %s" % (what, raw.hex()))


def decode(data, command):
    """Decode one PDU -> (status, seq, fields, tlvs, problems).

    problems lists every SMPP 3.4 violation seen (empty for a clean PDU)."""
    problems = []
    if len(data) < 16:
        raise DecodeError("shorter than a header")
    length, cid, status, seq = struct.unpack(">IIII", data[:16])
    if length != len(data):
        raise DecodeError("command_length %d != %d bytes" % (length, len(data)))
    if cid != COMMAND_IDS[command]:
        raise DecodeError("command_id 0x%08x is not %s" % (cid, command))
    if not cid & 0x80000000 and status != 0:
        problems.append("request with non-zero command_status")
    body = data[16:]
    pos = 0
    fields = {}

    def cstring(name, maxlen):
        nonlocal pos
        end = body.find(b"\x00", pos)
        if end < 0:
            raise DecodeError("%s: no NUL" % name)
        value = _ascii(body[pos:end], name)
        if end - pos + 1 > maxlen:
            problems.append("%s longer than %d octets" % (name, maxlen))
        pos = end + 1
        return value

    def uint(name, size):
        nonlocal pos
        if pos + size > len(body):
            raise DecodeError("%s truncated" % name)
        value = int.from_bytes(body[pos:pos + size], "big")
        pos += size
        return value

    layout = LAYOUTS[command]
    if layout and not body:
        # header-only: legal (and what 3.4 asks for) only on an error response
        if status == 0:
            raise DecodeError("mandatory body missing")
        return status, seq, fields, [], problems
    if layout and status != 0 and command.endswith("_resp"):
        problems.append("error response (command_status != 0) carries a body; "
                        "3.4 sends it header-only")

    for name, kind in layout:
        k = kind[0]
        if k == "c":
            fields[name] = cstring(name, kind[1])
        elif k == "t":
            value = cstring(name, 17)
            if len(value) not in (0, 16):
                problems.append("%s is neither NULL nor 16 characters" % name)
            fields[name] = value
        elif k == "u":
            fields[name] = uint(name, kind[1])
        elif k == "sm":
            n = fields["sm_length"]
            if pos + n > len(body):
                raise DecodeError("short_message truncated")
            fields[name] = body[pos:pos + n].hex()
            pos += n
        elif k == "dests":
            dests = []
            for _ in range(fields["number_of_dests"]):
                flag = uint("dest_flag", 1)
                if flag == 1:
                    ton = uint("dest_addr_ton", 1)
                    npi = uint("dest_addr_npi", 1)
                    addr = cstring("destination_addr", 21)
                    dests.append({"dest_flag": 1, "dest_addr_ton": ton,
                                  "dest_addr_npi": npi, "destination_addr": addr})
                elif flag == 2:
                    dests.append({"dest_flag": 2, "dl_name": cstring("dl_name", 21)})
                else:
                    raise DecodeError("dest_flag %d" % flag)
            fields[name] = dests
        elif k == "unsucc":
            entries = []
            for _ in range(fields["no_unsuccess"]):
                ton = uint("dest_addr_ton", 1)
                npi = uint("dest_addr_npi", 1)
                addr = cstring("destination_addr", 21)
                err = uint("error_status_code", 4)
                entries.append({"dest_addr_ton": ton, "dest_addr_npi": npi,
                                "destination_addr": addr, "error_status_code": err})
            fields[name] = entries
        else:
            raise AssertionError(kind)

    tlvs = []
    while pos < len(body):
        if pos + 4 > len(body):
            raise DecodeError("truncated TLV header")
        tag, tlen = struct.unpack(">HH", body[pos:pos + 4])
        pos += 4
        if pos + tlen > len(body):
            raise DecodeError("TLV 0x%04x runs past the PDU" % tag)
        raw = body[pos:pos + tlen]
        pos += tlen
        name = tlv_name(tag)
        spec = TLVS.get(tag)
        if spec is None:
            value = raw.hex()
        elif spec[1] == "int":
            if tlen == spec[2]:
                value = int.from_bytes(raw, "big")
            else:
                problems.append("%s (0x%04x) has length %d, 3.4 says %d"
                                % (name, tag, tlen, spec[2]))
                value = raw.hex()
        elif spec[1] == "cstr":
            if tlen == 0 or raw[-1] != 0 or b"\x00" in raw[:-1]:
                problems.append("%s (0x%04x) is not one NUL-terminated C-string" % (name, tag))
                value = raw.hex()
            else:
                value = _ascii(raw[:-1], name)
                if tlen > spec[2]:
                    problems.append("%s longer than %d" % (name, spec[2]))
        else:
            if spec[2] is not None and tlen != spec[2]:
                problems.append("%s (0x%04x) has length %d, 3.4 says %d"
                                % (name, tag, tlen, spec[2]))
            value = raw.hex()
        tlvs.append({"tag": tag, "name": name, "value": value})
    return status, seq, fields, tlvs, problems


def make_vector(name, generator, command, data, quirk=None):
    status, seq, fields, tlvs, problems = decode(data, command)
    if problems and not quirk:
        raise SystemExit("%s: SMPP 3.4 violation(s) without a declared quirk: %s"
                         % (name, "; ".join(problems)))
    vec = {
        "name": name,
        "generator": generator,
        "command": command,
        "hex": data.hex(),
        "command_status": status,
        "sequence_number": seq,
        "fields": fields,
    }
    if tlvs:
        vec["tlvs"] = tlvs
    if quirk:
        vec["quirk"] = quirk
    return vec


def verify_file(path):
    """Re-decode every vector of a file and compare with what it records."""
    with open(path, encoding="utf-8") as f:
        vectors = json.load(f)
    names = set()
    for v in vectors:
        if v["name"] in names:
            raise SystemExit("%s: duplicate name %s" % (path, v["name"]))
        names.add(v["name"])
        data = bytes.fromhex(v["hex"])
        if v["hex"] != data.hex():
            raise SystemExit("%s: %s: hex is not lowercase" % (path, v["name"]))
        status, seq, fields, tlvs, problems = decode(data, v["command"])
        got = {"command_status": status, "sequence_number": seq, "fields": fields,
               "tlvs": tlvs}
        want = {k: v.get(k, []) if k == "tlvs" else v[k] for k in got}
        if got != want:
            raise SystemExit("%s: %s: recorded values differ from the bytes:\n%s\n%s"
                             % (path, v["name"], json.dumps(want), json.dumps(got)))
        if problems and "quirk" not in v:
            raise SystemExit("%s: %s: undeclared violation: %s"
                             % (path, v["name"], "; ".join(problems)))
    print("%s: %d vectors verified" % (path, len(vectors)))


# ---------------------------------------------------------------------------
# smpplib cases
# ---------------------------------------------------------------------------

def _zero(kind):
    return {"c": "", "t": "", "u": 0, "sm": ""}[kind[0]]


def _norm_tlv(tlv_name_, value):
    tag, _, kind, size = TLV_BY_NAME[tlv_name_]
    if isinstance(value, bytes):
        return value.hex()
    if kind == "oct" and isinstance(value, int):
        return value.to_bytes(size, "big").hex()  # smpplib types some octet TLVs as int
    return value


def check_inputs(vec, command, kwargs, lib_defaults, expect_differs):
    """Every value handed to smpplib must be what the decoder found on the wire."""
    layout = dict(LAYOUTS[command])
    fields = vec["fields"]
    tlvs = {t["name"]: t["value"] for t in vec.get("tlvs", [])}
    if len(tlvs) != len(vec.get("tlvs", [])):
        raise SystemExit("%s: repeated TLV" % vec["name"])
    errors = []
    passed_tlvs = {}
    for key, value in kwargs.items():
        if key in ("sequence", "status", "client"):
            continue
        if key in layout:
            want = value.hex() if isinstance(value, bytes) else value
            if fields.get(key) != want and key not in expect_differs:
                errors.append("%s: passed %r, wire %r" % (key, want, fields.get(key)))
        elif key in TLV_BY_NAME:
            if value is None:
                continue
            passed_tlvs[key] = _norm_tlv(key, value)
        else:
            errors.append("unknown input %s" % key)
    if fields:  # (a header-only error response has no fields at all)
        for key, kind in layout.items():
            if key in kwargs or key in DERIVED or kind[0] in ("dests", "unsucc"):
                continue
            want = lib_defaults.get(key, _zero(kind))
            if fields.get(key) != want:
                errors.append("%s: not passed, expected %r, wire %r"
                              % (key, want, fields.get(key)))
        if "sm_length" in fields and fields["sm_length"] * 2 != len(fields["short_message"]):
            errors.append("sm_length does not match short_message")
    for key, want in passed_tlvs.items():
        if key in expect_differs:
            continue
        if tlvs.get(key) != want:
            errors.append("TLV %s: passed %r, wire %r" % (key, want, tlvs.get(key)))
    for key in tlvs:
        if key not in passed_tlvs:
            errors.append("TLV %s written though not passed" % key)
    if errors:
        raise SystemExit("%s: %s" % (vec["name"], "; ".join(errors)))


def build_smpplib_vectors():
    import smpplib
    import smpplib.command
    import smpplib.consts
    import smpplib.gsm
    import smpplib.smpp
    from importlib.metadata import version

    generator = "smpplib %s" % version("smpplib")

    class FixedSequenceClient:
        """Stands in for smpplib.client.Client: only hands out one sequence number."""

        def __init__(self, seq):
            self.sequence = seq

        def next_sequence(self):
            return self.sequence

    gsm = smpplib.gsm.gsm_encode
    ucs2 = smpplib.gsm.ENCODINGS[smpplib.consts.SMPP_ENCODING_ISO10646][0]

    # smpplib's UDH helper picks the concatenation reference with random.randint:
    # seed it so the vector is reproducible.
    random.seed(20250131)
    long_text = ("This message is longer than one SMS, so smpplib splits it into "
                 "parts with a concatenation UDH (IEI 0x00, 8-bit reference). "
                 "Part one carries 153 septets, part two the rest of the text.")
    udh_parts, udh_coding, udh_esm = smpplib.gsm.make_parts(long_text)
    assert udh_coding == 0 and udh_esm == 0x40 and len(udh_parts) == 2, (udh_coding, udh_esm)

    emoji_parts, emoji_coding, emoji_esm = smpplib.gsm.make_parts(
        "Привет 😀", encoding=smpplib.consts.SMPP_ENCODING_ISO10646)
    assert emoji_coding == 8 and emoji_esm == 0 and len(emoji_parts) == 1

    receipt_text = (b"id:0123456789 sub:001 dlvrd:001 submit date:2501311200 "
                    b"done date:2501311201 stat:DELIVRD err:000 text:Your code is 4821")

    ERR_BODY = ("smpplib writes the body of an error response anyway "
                "(NULL %s); 3.4 sends error responses header-only")
    BIND_DEFAULTS = {"interface_version": 0x34}

    cases = [
        # --- session ---
        # interface_version is never passed: smpplib always writes 0x34 (it
        # overwrites any value given to the constructor)
        dict(name="bind_transmitter_basic", command="bind_transmitter",
             kw=dict(sequence=1, system_id="smppclient1", password="pwd1"),
             lib_defaults=BIND_DEFAULTS),
        dict(name="bind_receiver_full", command="bind_receiver",
             kw=dict(sequence=2, system_id="esme-rx", password="secret12",
                     system_type="VMS", addr_ton=1, addr_npi=1,
                     address_range="^4479"),
             lib_defaults=BIND_DEFAULTS),
        dict(name="bind_transceiver_basic", command="bind_transceiver",
             kw=dict(sequence=3, system_id="esme-trx", password="pw",
                     system_type="", addr_ton=0, addr_npi=0, address_range=""),
             lib_defaults=BIND_DEFAULTS),
        dict(name="bind_transmitter_resp_sc_interface_version",
             command="bind_transmitter_resp",
             kw=dict(sequence=1, system_id="SMSC", sc_interface_version=0x34)),
        dict(name="bind_receiver_resp_plain", command="bind_receiver_resp",
             kw=dict(sequence=2, system_id="SMSC")),
        dict(name="bind_transceiver_resp_sc_interface_version",
             command="bind_transceiver_resp",
             kw=dict(sequence=3, system_id="smppd", sc_interface_version=0x34)),
        dict(name="bind_transceiver_resp_plain", command="bind_transceiver_resp",
             kw=dict(sequence=4, system_id="smppd")),
        dict(name="bind_transmitter_resp_error_invpaswd", command="bind_transmitter_resp",
             kw=dict(sequence=5, status=0x0E),
             quirk=ERR_BODY % "system_id"),
        dict(name="unbind", command="unbind", kw=dict(sequence=10)),
        dict(name="unbind_resp", command="unbind_resp", kw=dict(sequence=10)),
        dict(name="enquire_link", command="enquire_link", kw=dict(sequence=11)),
        dict(name="enquire_link_resp", command="enquire_link_resp", kw=dict(sequence=11)),
        dict(name="generic_nack_invcmdid", command="generic_nack",
             kw=dict(sequence=12, status=0x03)),
        dict(name="generic_nack_invcmdlen", command="generic_nack",
             kw=dict(sequence=0x7FFFFFFF, status=0x02)),

        # --- submit_sm ---
        dict(name="submit_sm_gsm7_basic", command="submit_sm",
             kw=dict(sequence=7, service_type="", source_addr_ton=5, source_addr_npi=0,
                     source_addr="Shop", dest_addr_ton=1, dest_addr_npi=1,
                     destination_addr="447700900123", data_coding=0,
                     short_message=gsm("Hi @ home: 5€ {ok}"))),
        dict(name="submit_sm_ucs2_emoji", command="submit_sm",
             kw=dict(sequence=8, source_addr_ton=1, source_addr_npi=1,
                     source_addr="447700900001", dest_addr_ton=1, dest_addr_npi=1,
                     destination_addr="447700900123", data_coding=emoji_coding,
                     esm_class=emoji_esm, short_message=emoji_parts[0])),
        dict(name="submit_sm_udh_concat_part1", command="submit_sm",
             kw=dict(sequence=9, source_addr_ton=5, source_addr_npi=0, source_addr="Shop",
                     dest_addr_ton=1, dest_addr_npi=1, destination_addr="447700900123",
                     esm_class=udh_esm, data_coding=udh_coding,
                     short_message=udh_parts[0])),
        dict(name="submit_sm_udh_concat_part2", command="submit_sm",
             kw=dict(sequence=10, source_addr_ton=5, source_addr_npi=0, source_addr="Shop",
                     dest_addr_ton=1, dest_addr_npi=1, destination_addr="447700900123",
                     esm_class=udh_esm, data_coding=udh_coding,
                     short_message=udh_parts[1])),
        dict(name="submit_sm_sar_part", command="submit_sm",
             kw=dict(sequence=13, source_addr_ton=1, source_addr_npi=1,
                     source_addr="447700900001", dest_addr_ton=1, dest_addr_npi=1,
                     destination_addr="447700900123", data_coding=0,
                     short_message=gsm("second part of a SAR message"),
                     sar_msg_ref_num=0x1234, sar_total_segments=2, sar_segment_seqnum=2)),
        dict(name="submit_sm_message_payload", command="submit_sm",
             kw=dict(sequence=14, source_addr_ton=1, source_addr_npi=1,
                     source_addr="447700900001", dest_addr_ton=1, dest_addr_npi=1,
                     destination_addr="447700900123", data_coding=0,
                     message_payload=gsm("A long text carried in message_payload; "
                                         "sm_length stays 0. ") * 4)),
        dict(name="submit_sm_registered_delivery", command="submit_sm",
             kw=dict(sequence=15, service_type="CMT", source_addr_ton=1, source_addr_npi=1,
                     source_addr="447700900001", dest_addr_ton=1, dest_addr_npi=1,
                     destination_addr="447700900123", registered_delivery=1,
                     protocol_id=0, priority_flag=1, data_coding=0,
                     short_message=gsm("Receipt please"),
                     user_message_reference=0x0102, callback_num=b"\x01\x01\x01447700900001")),
        dict(name="submit_sm_sched_absolute_validity_relative", command="submit_sm",
             kw=dict(sequence=16, source_addr_ton=5, source_addr="Shop",
                     dest_addr_ton=1, dest_addr_npi=1, destination_addr="447700900123",
                     schedule_delivery_time="250131235959008+",
                     validity_period="000001000000000R",
                     registered_delivery=1, short_message=gsm("Later"))),
        dict(name="submit_sm_sched_relative_validity_absolute", command="submit_sm",
             kw=dict(sequence=17, source_addr_ton=5, source_addr="Shop",
                     dest_addr_ton=1, dest_addr_npi=1, destination_addr="447700900123",
                     schedule_delivery_time="000001000000000R",
                     validity_period="250131235959008+",
                     short_message=gsm("Tomorrow"))),
        dict(name="submit_sm_source_addr_subunit_2_octets", command="submit_sm",
             kw=dict(sequence=18, source_addr_ton=1, source_addr_npi=1,
                     source_addr="447700900001", dest_addr_ton=1, dest_addr_npi=1,
                     destination_addr="447700900123", short_message=gsm("subunit"),
                     source_addr_subunit=1),
             expect_differs=("source_addr_subunit",),
             quirk="smpplib writes source_addr_subunit (0x000d) with length 2 "
                   "(value 0x0001); 3.4 says 1 octet"),
        dict(name="submit_sm_resp_ok", command="submit_sm_resp",
             kw=dict(sequence=7, message_id="a1b2c3d4e5")),
        dict(name="submit_sm_resp_error_throttled", command="submit_sm_resp",
             kw=dict(sequence=8, status=0x58),
             quirk=ERR_BODY % "message_id"),

        # --- deliver_sm ---
        dict(name="deliver_sm_receipt", command="deliver_sm",
             kw=dict(sequence=20, source_addr_ton=1, source_addr_npi=1,
                     source_addr="447700900123", dest_addr_ton=5, dest_addr_npi=0,
                     destination_addr="Shop", esm_class=0x04, data_coding=0,
                     short_message=receipt_text, network_error_code=b"\x03\x00\x00",
                     message_state=2, receipted_message_id="0123456789")),
        dict(name="deliver_sm_mo", command="deliver_sm",
             kw=dict(sequence=21, source_addr_ton=1, source_addr_npi=1,
                     source_addr="447700900123", dest_addr_ton=0, dest_addr_npi=1,
                     destination_addr="88000", data_coding=0,
                     short_message=gsm("STOP"), its_session_info=0x0501)),
        dict(name="deliver_sm_resp", command="deliver_sm_resp", kw=dict(sequence=20)),

        # --- data_sm ---
        dict(name="data_sm_payload", command="data_sm",
             kw=dict(sequence=30, service_type="WAP", source_addr_ton=1, source_addr_npi=1,
                     source_addr="447700900001", dest_addr_ton=1, dest_addr_npi=1,
                     destination_addr="447700900123", esm_class=0, registered_delivery=1,
                     data_coding=4, source_port=9200, destination_port=2948,
                     message_payload=bytes(range(0, 40)))),
        dict(name="data_sm_resp_ok", command="data_sm_resp",
             kw=dict(sequence=30, message_id="dsm-000042")),
        dict(name="data_sm_resp_network_error_code_cstring", command="data_sm_resp",
             kw=dict(sequence=31, message_id="dsm-000043",
                     network_error_code="\x03\x00\x0b", additional_status_info_text="absent"),
             expect_differs=("network_error_code",),
             quirk="smpplib types network_error_code in data_sm_resp as a C-string: "
                   "it writes the 3 octets plus a NUL (length 4); 3.4 says 3 octets"),

        # --- query / cancel / replace ---
        dict(name="query_sm", command="query_sm",
             kw=dict(sequence=40, message_id="a1b2c3d4e5", source_addr_ton=5,
                     source_addr_npi=0, source_addr="Shop")),
        dict(name="query_sm_resp_delivered", command="query_sm_resp",
             kw=dict(sequence=40, message_id="a1b2c3d4e5",
                     final_date="250131235959000+", message_state=2, error_code=0)),
        dict(name="query_sm_resp_enroute", command="query_sm_resp",
             kw=dict(sequence=41, message_id="a1b2c3d4e6", final_date="",
                     message_state=1, error_code=0)),

        # --- alert_notification ---
        dict(name="alert_notification_available", command="alert_notification",
             kw=dict(sequence=50, source_addr_ton=1, source_addr_npi=1,
                     source_addr="447700900123", esme_addr_ton=0, esme_addr_npi=0,
                     esme_addr="smppclient1", ms_availability_status=0)),
    ]

    # smpplib has no class for these header-only responses; its header-only
    # PDU class takes the command name, and smpplib's own command table gives the id.
    header_only_unsupported = [
        dict(name="cancel_sm_resp", command="cancel_sm_resp", kw=dict(sequence=42),
             via=smpplib.command.UnbindResp),
        dict(name="replace_sm_resp", command="replace_sm_resp", kw=dict(sequence=44),
             via=smpplib.command.UnbindResp),
    ]

    vectors = []
    for case in cases + header_only_unsupported:
        kw = dict(case["kw"])
        seq = kw["sequence"]
        kw_for_lib = {k: v for k, v in kw.items() if k != "sequence"}
        client = FixedSequenceClient(seq)
        if "via" in case:
            pdu = case["via"](case["command"], client=client, **kw_for_lib)
        else:
            pdu = smpplib.smpp.make_pdu(case["command"], client=client, **kw_for_lib)
        data = pdu.generate()
        vec = make_vector(case["name"], generator, case["command"], data, case.get("quirk"))
        if vec["sequence_number"] != seq or vec["command_status"] != kw.get("status", 0):
            raise SystemExit("%s: header differs from input" % case["name"])
        check_inputs(vec, case["command"], kw, case.get("lib_defaults", {}),
                     case.get("expect_differs", ()))
        # smpplib must also read its own bytes back (its parser skips nothing here)
        if "via" not in case:
            back = smpplib.smpp.parse_pdu(data, client=FixedSequenceClient(0))
            if back.sequence != seq or back.status != vec["command_status"]:
                raise SystemExit("%s: smpplib does not read its own header back" % case["name"])
        vectors.append(vec)
    return vectors


def write_json(path, vectors):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        json.dump(vectors, f, indent=2, ensure_ascii=True)
        f.write("\n")


def main(argv):
    if len(argv) >= 2 and argv[0] == "--verify":
        for path in argv[1:]:
            verify_file(path)
        return
    if len(argv) != 1:
        raise SystemExit(__doc__)
    vectors = build_smpplib_vectors()
    write_json(argv[0], vectors)
    print("%s: %d vectors written" % (argv[0], len(vectors)))


if __name__ == "__main__":
    main(sys.argv[1:])
