#!/usr/bin/env node
// Golden SMPP 3.4 PDU vectors produced by the node `smpp` package.
//
//   node gen_node.js OUT.json
//
// `smpp` must be resolvable by require() (gen.sh sets NODE_PATH to the
// node_modules installed by `npm ci` from package-lock.json).
//
// PDUs are built with `new smpp.PDU(command, options).toBuffer()`; text is
// encoded by the library itself (GSM 03.38 / UCS-2 filters).  "fields" and
// "tlvs" in the output are NOT copied from the inputs: they come from the small
// independent decoder below, run on the bytes the library wrote.  The decoder
// flags SMPP 3.4 violations; a vector with a flagged violation must declare a
// "quirk", and every input must be found on the wire (or be explained by the
// case), so a surprise in the library stops the run.
'use strict';

const fs = require('fs');
const smpp = require('smpp');
const smppVersion = require('smpp/package.json').version;

const GENERATOR = 'smpp ' + smppVersion;

// ---------------------------------------------------------------------------
// Independent SMPP 3.4 decoder (same output shape as gen_smpplib.py)
// ---------------------------------------------------------------------------

const COMMAND_IDS = {
  generic_nack: 0x80000000,
  bind_receiver: 0x00000001,
  bind_receiver_resp: 0x80000001,
  bind_transmitter: 0x00000002,
  bind_transmitter_resp: 0x80000002,
  query_sm: 0x00000003,
  query_sm_resp: 0x80000003,
  submit_sm: 0x00000004,
  submit_sm_resp: 0x80000004,
  deliver_sm: 0x00000005,
  deliver_sm_resp: 0x80000005,
  unbind: 0x00000006,
  unbind_resp: 0x80000006,
  replace_sm: 0x00000007,
  replace_sm_resp: 0x80000007,
  cancel_sm: 0x00000008,
  cancel_sm_resp: 0x80000008,
  bind_transceiver: 0x00000009,
  bind_transceiver_resp: 0x80000009,
  outbind: 0x0000000b,
  enquire_link: 0x00000015,
  enquire_link_resp: 0x80000015,
  submit_multi: 0x00000021,
  submit_multi_resp: 0x80000021,
  alert_notification: 0x00000102,
  data_sm: 0x00000103,
  data_sm_resp: 0x80000103,
};

// Field kinds: ['c', max incl. NUL] C-Octet String; ['t'] time C-string (NULL
// or 16 chars); ['u', n] n-octet integer; ['sm'] short_message of sm_length
// octets; ['dests'] / ['unsucc'] the submit_multi lists.
const SM_TAIL = [
  ['esm_class', ['u', 1]],
  ['protocol_id', ['u', 1]],
  ['priority_flag', ['u', 1]],
  ['schedule_delivery_time', ['t']],
  ['validity_period', ['t']],
  ['registered_delivery', ['u', 1]],
  ['replace_if_present_flag', ['u', 1]],
  ['data_coding', ['u', 1]],
  ['sm_default_msg_id', ['u', 1]],
  ['sm_length', ['u', 1]],
  ['short_message', ['sm']],
];
const BIND = [
  ['system_id', ['c', 16]],
  ['password', ['c', 9]],
  ['system_type', ['c', 13]],
  ['interface_version', ['u', 1]],
  ['addr_ton', ['u', 1]],
  ['addr_npi', ['u', 1]],
  ['address_range', ['c', 41]],
];
const SUBMIT = [
  ['service_type', ['c', 6]],
  ['source_addr_ton', ['u', 1]],
  ['source_addr_npi', ['u', 1]],
  ['source_addr', ['c', 21]],
  ['dest_addr_ton', ['u', 1]],
  ['dest_addr_npi', ['u', 1]],
  ['destination_addr', ['c', 21]],
].concat(SM_TAIL);
const LAYOUTS = {
  bind_transmitter: BIND,
  bind_receiver: BIND,
  bind_transceiver: BIND,
  bind_transmitter_resp: [['system_id', ['c', 16]]],
  bind_receiver_resp: [['system_id', ['c', 16]]],
  bind_transceiver_resp: [['system_id', ['c', 16]]],
  outbind: [['system_id', ['c', 16]], ['password', ['c', 9]]],
  generic_nack: [],
  unbind: [],
  unbind_resp: [],
  enquire_link: [],
  enquire_link_resp: [],
  cancel_sm_resp: [],
  replace_sm_resp: [],
  submit_sm: SUBMIT,
  deliver_sm: SUBMIT,
  submit_sm_resp: [['message_id', ['c', 65]]],
  deliver_sm_resp: [['message_id', ['c', 65]]],
  data_sm_resp: [['message_id', ['c', 65]]],
  submit_multi: [
    ['service_type', ['c', 6]],
    ['source_addr_ton', ['u', 1]],
    ['source_addr_npi', ['u', 1]],
    ['source_addr', ['c', 21]],
    ['number_of_dests', ['u', 1]],
    ['dest_address', ['dests']],
  ].concat(SM_TAIL),
  submit_multi_resp: [
    ['message_id', ['c', 65]],
    ['no_unsuccess', ['u', 1]],
    ['unsuccess_sme', ['unsucc']],
  ],
  data_sm: [
    ['service_type', ['c', 6]],
    ['source_addr_ton', ['u', 1]],
    ['source_addr_npi', ['u', 1]],
    ['source_addr', ['c', 65]],
    ['dest_addr_ton', ['u', 1]],
    ['dest_addr_npi', ['u', 1]],
    ['destination_addr', ['c', 65]],
    ['esm_class', ['u', 1]],
    ['registered_delivery', ['u', 1]],
    ['data_coding', ['u', 1]],
  ],
  query_sm: [
    ['message_id', ['c', 65]],
    ['source_addr_ton', ['u', 1]],
    ['source_addr_npi', ['u', 1]],
    ['source_addr', ['c', 21]],
  ],
  query_sm_resp: [
    ['message_id', ['c', 65]],
    ['final_date', ['t']],
    ['message_state', ['u', 1]],
    ['error_code', ['u', 1]],
  ],
  cancel_sm: [
    ['service_type', ['c', 6]],
    ['message_id', ['c', 65]],
    ['source_addr_ton', ['u', 1]],
    ['source_addr_npi', ['u', 1]],
    ['source_addr', ['c', 21]],
    ['dest_addr_ton', ['u', 1]],
    ['dest_addr_npi', ['u', 1]],
    ['destination_addr', ['c', 21]],
  ],
  replace_sm: [
    ['message_id', ['c', 65]],
    ['source_addr_ton', ['u', 1]],
    ['source_addr_npi', ['u', 1]],
    ['source_addr', ['c', 21]],
    ['schedule_delivery_time', ['t']],
    ['validity_period', ['t']],
    ['registered_delivery', ['u', 1]],
    ['sm_default_msg_id', ['u', 1]],
    ['sm_length', ['u', 1]],
    ['short_message', ['sm']],
  ],
  alert_notification: [
    ['source_addr_ton', ['u', 1]],
    ['source_addr_npi', ['u', 1]],
    ['source_addr', ['c', 65]],
    ['esme_addr_ton', ['u', 1]],
    ['esme_addr_npi', ['u', 1]],
    ['esme_addr', ['c', 65]],
  ],
};
// Derived counters: on the wire and in "fields", never passed as input.
const DERIVED = ['sm_length', 'number_of_dests', 'no_unsuccess'];

// SMPP 3.4 TLVs: tag -> [name, kind, size]; kind 'int' fixed-size integer,
// 'cstr' C-Octet String, 'oct' octets (size null = variable).
const TLVS = {
  0x0005: ['dest_addr_subunit', 'int', 1],
  0x0006: ['dest_network_type', 'int', 1],
  0x0007: ['dest_bearer_type', 'int', 1],
  0x0008: ['dest_telematics_id', 'int', 2],
  0x000d: ['source_addr_subunit', 'int', 1],
  0x000e: ['source_network_type', 'int', 1],
  0x000f: ['source_bearer_type', 'int', 1],
  0x0010: ['source_telematics_id', 'int', 1],
  0x0017: ['qos_time_to_live', 'int', 4],
  0x0019: ['payload_type', 'int', 1],
  0x001d: ['additional_status_info_text', 'cstr', 256],
  0x001e: ['receipted_message_id', 'cstr', 65],
  0x0030: ['ms_msg_wait_facilities', 'int', 1],
  0x0201: ['privacy_indicator', 'int', 1],
  0x0202: ['source_subaddress', 'oct', null],
  0x0203: ['dest_subaddress', 'oct', null],
  0x0204: ['user_message_reference', 'int', 2],
  0x0205: ['user_response_code', 'int', 1],
  0x020a: ['source_port', 'int', 2],
  0x020b: ['destination_port', 'int', 2],
  0x020c: ['sar_msg_ref_num', 'int', 2],
  0x020d: ['language_indicator', 'int', 1],
  0x020e: ['sar_total_segments', 'int', 1],
  0x020f: ['sar_segment_seqnum', 'int', 1],
  0x0210: ['sc_interface_version', 'int', 1],
  0x0302: ['callback_num_pres_ind', 'int', 1],
  0x0303: ['callback_num_atag', 'oct', null],
  0x0304: ['number_of_messages', 'int', 1],
  0x0381: ['callback_num', 'oct', null],
  0x0420: ['dpf_result', 'int', 1],
  0x0421: ['set_dpf', 'int', 1],
  0x0422: ['ms_availability_status', 'int', 1],
  0x0423: ['network_error_code', 'oct', 3],
  0x0424: ['message_payload', 'oct', null],
  0x0425: ['delivery_failure_reason', 'int', 1],
  0x0426: ['more_messages_to_send', 'int', 1],
  0x0427: ['message_state', 'int', 1],
  0x0501: ['ussd_service_op', 'oct', 1],
  0x1201: ['display_time', 'int', 1],
  0x1203: ['sms_signal', 'int', 2],
  0x1204: ['ms_validity', 'int', 1],
  0x130c: ['alert_on_message_delivery', 'oct', 0],
  0x1380: ['its_reply_type', 'int', 1],
  0x1383: ['its_session_info', 'oct', 2],
};

function hex4(n) {
  return ('0000' + n.toString(16)).slice(-4);
}

function tlvName(tag) {
  if (TLVS[tag]) return TLVS[tag][0];
  if (tag >= 0x1400 && tag <= 0x3fff) return 'vendor_0x' + hex4(tag);
  return 'unknown_0x' + hex4(tag);
}

function fail(msg) {
  throw new Error(msg);
}

function asciiOf(buf, what) {
  for (const b of buf) if (b > 0x7f) fail(what + ' is not ASCII: ' + buf.toString('hex'));
  return buf.toString('latin1');
}

function uintOf(buf) {
  let v = 0;
  for (const b of buf) v = v * 256 + b;
  return v;
}

// Decode one PDU -> {status, seq, fields, tlvs, problems}; problems lists every
// SMPP 3.4 violation seen (empty for a clean PDU).
function decode(data, command) {
  const problems = [];
  if (data.length < 16) fail('shorter than a header');
  const length = data.readUInt32BE(0);
  const cid = data.readUInt32BE(4);
  const status = data.readUInt32BE(8);
  const seq = data.readUInt32BE(12);
  if (length !== data.length) fail('command_length ' + length + ' != ' + data.length + ' bytes');
  if (cid !== COMMAND_IDS[command]) fail('command_id 0x' + cid.toString(16) + ' is not ' + command);
  if (!(cid & 0x80000000) && status !== 0) problems.push('request with non-zero command_status');
  const body = data.subarray(16);
  let pos = 0;
  const fields = {};

  function cstring(name, max) {
    const end = body.indexOf(0, pos);
    if (end < 0) fail(name + ': no NUL');
    const value = asciiOf(body.subarray(pos, end), name);
    if (end - pos + 1 > max) problems.push(name + ' longer than ' + max + ' octets');
    pos = end + 1;
    return value;
  }
  function uint(name, size) {
    if (pos + size > body.length) fail(name + ' truncated');
    const v = uintOf(body.subarray(pos, pos + size));
    pos += size;
    return v;
  }

  const layout = LAYOUTS[command];
  if (layout.length && body.length === 0) {
    if (status === 0) fail('mandatory body missing');
    return { status, seq, fields, tlvs: [], problems };
  }
  if (layout.length && status !== 0 && command.endsWith('_resp')) {
    problems.push('error response (command_status != 0) carries a body; 3.4 sends it header-only');
  }
  for (const [name, kind] of layout) {
    switch (kind[0]) {
      case 'c':
        fields[name] = cstring(name, kind[1]);
        break;
      case 't': {
        const v = cstring(name, 17);
        if (v.length !== 0 && v.length !== 16) problems.push(name + ' is neither NULL nor 16 characters');
        fields[name] = v;
        break;
      }
      case 'u':
        fields[name] = uint(name, kind[1]);
        break;
      case 'sm': {
        const n = fields.sm_length;
        if (pos + n > body.length) fail('short_message truncated');
        fields[name] = body.subarray(pos, pos + n).toString('hex');
        pos += n;
        break;
      }
      case 'dests': {
        const list = [];
        for (let i = 0; i < fields.number_of_dests; i++) {
          const flag = uint('dest_flag', 1);
          if (flag === 1) {
            const ton = uint('dest_addr_ton', 1);
            const npi = uint('dest_addr_npi', 1);
            const addr = cstring('destination_addr', 21);
            list.push({ dest_flag: 1, dest_addr_ton: ton, dest_addr_npi: npi, destination_addr: addr });
          } else if (flag === 2) {
            list.push({ dest_flag: 2, dl_name: cstring('dl_name', 21) });
          } else {
            fail('dest_flag ' + flag);
          }
        }
        fields[name] = list;
        break;
      }
      case 'unsucc': {
        const list = [];
        for (let i = 0; i < fields.no_unsuccess; i++) {
          const ton = uint('dest_addr_ton', 1);
          const npi = uint('dest_addr_npi', 1);
          const addr = cstring('destination_addr', 21);
          const err = uint('error_status_code', 4);
          list.push({ dest_addr_ton: ton, dest_addr_npi: npi, destination_addr: addr, error_status_code: err });
        }
        fields[name] = list;
        break;
      }
      default:
        fail('bad kind ' + kind);
    }
  }

  const tlvs = [];
  while (pos < body.length) {
    if (pos + 4 > body.length) fail('truncated TLV header');
    const tag = body.readUInt16BE(pos);
    const tlen = body.readUInt16BE(pos + 2);
    pos += 4;
    if (pos + tlen > body.length) fail('TLV 0x' + hex4(tag) + ' runs past the PDU');
    const raw = body.subarray(pos, pos + tlen);
    pos += tlen;
    const name = tlvName(tag);
    const spec = TLVS[tag];
    let value;
    if (!spec) {
      value = raw.toString('hex');
    } else if (spec[1] === 'int') {
      if (tlen === spec[2]) {
        value = uintOf(raw);
      } else {
        problems.push(name + ' (0x' + hex4(tag) + ') has length ' + tlen + ', 3.4 says ' + spec[2]);
        value = raw.toString('hex');
      }
    } else if (spec[1] === 'cstr') {
      if (tlen === 0 || raw[tlen - 1] !== 0 || raw.subarray(0, tlen - 1).includes(0)) {
        problems.push(name + ' (0x' + hex4(tag) + ') is not one NUL-terminated C-string');
        value = raw.toString('hex');
      } else {
        value = asciiOf(raw.subarray(0, tlen - 1), name);
        if (tlen > spec[2]) problems.push(name + ' longer than ' + spec[2]);
      }
    } else {
      if (spec[2] !== null && tlen !== spec[2]) {
        problems.push(name + ' (0x' + hex4(tag) + ') has length ' + tlen + ', 3.4 says ' + spec[2]);
      }
      value = raw.toString('hex');
    }
    tlvs.push({ tag, name, value });
  }
  return { status, seq, fields, tlvs, problems };
}

function makeVector(name, command, data, quirk) {
  const d = decode(data, command);
  if (d.problems.length && !quirk) {
    fail(name + ': SMPP 3.4 violation(s) without a declared quirk: ' + d.problems.join('; '));
  }
  const vec = {
    name,
    generator: GENERATOR,
    command,
    hex: data.toString('hex'),
    command_status: d.status,
    sequence_number: d.seq,
    fields: d.fields,
  };
  if (d.tlvs.length) vec.tlvs = d.tlvs;
  if (quirk) vec.quirk = quirk;
  return vec;
}

// ---------------------------------------------------------------------------
// Input checks: what we handed the library must be what is on the wire
// ---------------------------------------------------------------------------

// node smpp's option names that differ from the 3.4 names
const TLV_ALIASES = { dest_port: 'destination_port', alert_on_msg_delivery: 'alert_on_message_delivery' };
const HEADER_KEYS = ['sequence_number', 'command_status'];

function zeroOf(kind) {
  return { c: '', t: '', u: 0, sm: '' }[kind[0]];
}

function norm(v) {
  return Buffer.isBuffer(v) ? v.toString('hex') : v;
}

function same(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

// case.expect: wire value for an input the library transforms (text it
// encodes, Date objects, callback_num objects, ...).  case.libDefaults: what
// the library writes for a field we did not pass.
function checkInputs(vec, c) {
  const layout = new Map(LAYOUTS[c.command]);
  const expect = c.expect || {};
  const libDefaults = c.libDefaults || {};
  const fields = vec.fields;
  const wireTlvs = {};
  for (const t of vec.tlvs || []) {
    if (t.name in wireTlvs) fail(vec.name + ': repeated TLV ' + t.name);
    wireTlvs[t.name] = t.value;
  }
  const errors = [];
  const passedTlvs = {};
  for (const [key0, value] of Object.entries(c.options)) {
    if (HEADER_KEYS.includes(key0)) continue;
    const key = TLV_ALIASES[key0] || key0;
    const want = key in expect ? expect[key] : norm(value);
    if (layout.has(key)) {
      if (Object.keys(fields).length && !same(fields[key], want)) {
        errors.push(key + ': expected ' + JSON.stringify(want) + ', wire ' + JSON.stringify(fields[key]));
      }
    } else if (Object.values(TLVS).some((s) => s[0] === key) || key.startsWith('vendor_')) {
      passedTlvs[key] = want;
    } else {
      errors.push('unknown input ' + key0);
    }
  }
  if (Object.keys(fields).length) {
    for (const [key, kind] of layout) {
      if (key in c.options || DERIVED.includes(key)) continue;
      const want = key in libDefaults ? libDefaults[key] : key in expect ? expect[key] : zeroOf(kind);
      if (!same(fields[key], want)) {
        errors.push(key + ': not passed, expected ' + JSON.stringify(want) + ', wire ' + JSON.stringify(fields[key]));
      }
    }
    if ('sm_length' in fields && fields.sm_length * 2 !== fields.short_message.length) {
      errors.push('sm_length does not match short_message');
    }
  }
  for (const [key, want] of Object.entries(passedTlvs)) {
    if (!same(wireTlvs[key], want)) {
      errors.push('TLV ' + key + ': expected ' + JSON.stringify(want) + ', wire ' + JSON.stringify(wireTlvs[key]));
    }
  }
  for (const key of Object.keys(wireTlvs)) {
    if (!(key in passedTlvs)) errors.push('TLV ' + key + ' written though not passed');
  }
  if (errors.length) fail(vec.name + ': ' + errors.join('; '));
}

// ---------------------------------------------------------------------------
// Cases
// ---------------------------------------------------------------------------

// Vendor-specific TLVs through the library's public hook (smpp.addTLV); the
// decoder names tags in 0x1400-0x3FFF "vendor_0xNNNN".
smpp.addTLV('vendor_0x1400', { id: 0x1400, type: smpp.types.tlv.buffer });
smpp.addTLV('vendor_0x1401', { id: 0x1401, type: smpp.types.tlv.cstring });

const RECEIPT_TEXT =
  'id:0123456789 sub:001 dlvrd:001 submit date:2501311200 ' +
  'done date:2501311201 stat:DELIVRD err:000 text:Your code is 4821';
const hexOf = (s) => Buffer.from(s, 'latin1').toString('hex');

const CASES = [
  // --- session ---
  {
    name: 'bind_transmitter_basic', command: 'bind_transmitter',
    options: { sequence_number: 1, system_id: 'smppclient1', password: 'pwd1', interface_version: 0x34 },
  },
  {
    name: 'bind_transmitter_default_interface_version', command: 'bind_transmitter',
    options: { sequence_number: 1, system_id: 'smppclient1', password: 'pwd1' },
    libDefaults: { interface_version: 0x50 },
    quirk: 'node smpp writes interface_version 0x50 (SMPP 5.0) when none is given; a 3.4 ESME sends 0x34',
  },
  {
    name: 'bind_receiver_full', command: 'bind_receiver',
    options: {
      sequence_number: 2, system_id: 'esme-rx', password: 'secret12', system_type: 'VMS',
      interface_version: 0x34, addr_ton: 1, addr_npi: 1, address_range: '^4479',
    },
  },
  {
    name: 'bind_transceiver_basic', command: 'bind_transceiver',
    options: { sequence_number: 3, system_id: 'esme-trx', password: 'pw', interface_version: 0x34 },
  },
  {
    name: 'bind_transmitter_resp_sc_interface_version', command: 'bind_transmitter_resp',
    options: { sequence_number: 1, system_id: 'SMSC', sc_interface_version: 0x34 },
  },
  {
    name: 'bind_receiver_resp_plain', command: 'bind_receiver_resp',
    options: { sequence_number: 2, system_id: 'SMSC' },
  },
  {
    name: 'bind_transceiver_resp_sc_interface_version', command: 'bind_transceiver_resp',
    options: { sequence_number: 3, system_id: 'smppd', sc_interface_version: 0x34 },
  },
  {
    name: 'bind_transceiver_resp_plain', command: 'bind_transceiver_resp',
    options: { sequence_number: 4, system_id: 'smppd' },
  },
  // node smpp drops the whole body on an error status: system_id is passed but not written
  {
    name: 'bind_transmitter_resp_error_invpaswd', command: 'bind_transmitter_resp',
    options: { sequence_number: 5, command_status: 0x0e, system_id: 'SMSC' },
    headerOnly: true,
  },
  {
    name: 'outbind', command: 'outbind',
    options: { sequence_number: 6, system_id: 'SMSC', password: 'pwd1' },
  },
  { name: 'unbind', command: 'unbind', options: { sequence_number: 10 } },
  { name: 'unbind_resp', command: 'unbind_resp', options: { sequence_number: 10 } },
  { name: 'enquire_link', command: 'enquire_link', options: { sequence_number: 11 } },
  { name: 'enquire_link_resp', command: 'enquire_link_resp', options: { sequence_number: 11 } },
  {
    name: 'generic_nack_invcmdid', command: 'generic_nack',
    options: { sequence_number: 12, command_status: 0x03 },
  },
  {
    name: 'generic_nack_invcmdlen', command: 'generic_nack',
    options: { sequence_number: 0x7fffffff, command_status: 0x02 },
  },

  // --- submit_sm ---
  {
    name: 'submit_sm_gsm7_basic', command: 'submit_sm',
    options: {
      sequence_number: 7, service_type: '', source_addr_ton: 5, source_addr_npi: 0,
      source_addr: 'Shop', dest_addr_ton: 1, dest_addr_npi: 1, destination_addr: '447700900123',
      data_coding: 0, short_message: 'Hi @ home: 5€ {ok}',
    },
    expect: { short_message: '4869200020686f6d653a20351b65201b286f6b1b29' },
  },
  {
    name: 'submit_sm_gsm7_autodetect_data_coding', command: 'submit_sm',
    options: {
      sequence_number: 22, source_addr_ton: 5, source_addr: 'Shop', dest_addr_ton: 1,
      dest_addr_npi: 1, destination_addr: '447700900123', short_message: 'Cost: 5€ @ [shop]',
    },
    expect: { short_message: '436f73743a20351b652000201b3c73686f701b3e' },
    libDefaults: { data_coding: 1 },
    quirk: 'without data_coding node smpp auto-detects the text and writes data_coding 0x01 (IA5) '
      + 'while the octets are GSM 03.38 unpacked (@ = 0x00, ESC sequences)',
  },
  {
    name: 'submit_sm_ucs2_emoji', command: 'submit_sm',
    options: {
      sequence_number: 8, source_addr_ton: 1, source_addr_npi: 1, source_addr: '447700900001',
      dest_addr_ton: 1, dest_addr_npi: 1, destination_addr: '447700900123',
      data_coding: 8, short_message: 'Привет 😀',
    },
    expect: { short_message: '041f044004380432043504420020d83dde00' },
  },
  {
    name: 'submit_sm_udh_concat_part1', command: 'submit_sm',
    options: {
      sequence_number: 9, source_addr_ton: 5, source_addr: 'Shop', dest_addr_ton: 1,
      dest_addr_npi: 1, destination_addr: '447700900123', data_coding: 0,
      short_message: { udh: Buffer.from('0500034a0201', 'hex'), message: 'First half of a two-part text @ 1€ ' },
    },
    // the library sets the UDHI bit itself when a udh is given
    expect: {
      esm_class: 0x40,
      short_message: '0500034a0201' + hexOf('First half of a two-part text ') + '00' + hexOf(' 1') + '1b65' + hexOf(' '),
    },
  },
  {
    name: 'submit_sm_udh_concat_part2', command: 'submit_sm',
    options: {
      sequence_number: 10, source_addr_ton: 5, source_addr: 'Shop', dest_addr_ton: 1,
      dest_addr_npi: 1, destination_addr: '447700900123', esm_class: 0x40, data_coding: 0,
      short_message: Buffer.concat([Buffer.from('0500034a0202', 'hex'), Buffer.from('and the second half.', 'latin1')]),
    },
  },
  {
    name: 'submit_sm_sar_part', command: 'submit_sm',
    options: {
      sequence_number: 13, source_addr_ton: 1, source_addr_npi: 1, source_addr: '447700900001',
      dest_addr_ton: 1, dest_addr_npi: 1, destination_addr: '447700900123', data_coding: 0,
      short_message: 'second part of a SAR message',
      sar_msg_ref_num: 0x1234, sar_total_segments: 2, sar_segment_seqnum: 2,
    },
    expect: { short_message: hexOf('second part of a SAR message') },
  },
  {
    name: 'submit_sm_message_payload', command: 'submit_sm',
    options: {
      sequence_number: 14, source_addr_ton: 1, source_addr_npi: 1, source_addr: '447700900001',
      dest_addr_ton: 1, dest_addr_npi: 1, destination_addr: '447700900123', data_coding: 0,
      message_payload: 'A long text carried in message_payload; sm_length stays 0. '.repeat(4),
    },
    // '_' is GSM 0x11
    expect: {
      message_payload: Buffer.from('A long text carried in message_payload; sm_length stays 0. '.repeat(4), 'latin1')
        .map((b) => (b === 0x5f ? 0x11 : b)).toString('hex'),
    },
  },
  {
    name: 'submit_sm_registered_delivery', command: 'submit_sm',
    options: {
      sequence_number: 15, service_type: 'CMT', source_addr_ton: 1, source_addr_npi: 1,
      source_addr: '447700900001', dest_addr_ton: 1, dest_addr_npi: 1, destination_addr: '447700900123',
      priority_flag: 1, registered_delivery: 1, data_coding: 0, short_message: 'Receipt please',
      user_message_reference: 0x0102,
      callback_num: [{ digit_mode: 1, ton: 1, npi: 1, number: '447700900001' }],
    },
    expect: { short_message: hexOf('Receipt please'), callback_num: '010101' + hexOf('447700900001') },
  },
  {
    name: 'submit_sm_sched_absolute_validity_relative', command: 'submit_sm',
    options: {
      sequence_number: 16, source_addr_ton: 5, source_addr: 'Shop', dest_addr_ton: 1,
      dest_addr_npi: 1, destination_addr: '447700900123',
      schedule_delivery_time: '250131235959008+', validity_period: '000001000000000R',
      registered_delivery: 1, data_coding: 0, short_message: 'Later',
    },
    expect: { short_message: hexOf('Later') },
  },
  {
    name: 'submit_sm_time_helpers', command: 'submit_sm',
    options: {
      sequence_number: 17, source_addr_ton: 5, source_addr: 'Shop', dest_addr_ton: 1,
      dest_addr_npi: 1, destination_addr: '447700900123',
      // the library formats a Date as absolute UTC and pads a <=12-digit string to relative
      schedule_delivery_time: new Date(Date.UTC(2025, 0, 31, 23, 59, 59, 0)),
      validity_period: '000001000000', data_coding: 0, short_message: 'Tomorrow',
    },
    expect: {
      schedule_delivery_time: '250131235959000+',
      validity_period: '000001000000000R',
      short_message: hexOf('Tomorrow'),
    },
  },
  {
    name: 'submit_sm_vendor_tlvs', command: 'submit_sm',
    options: {
      sequence_number: 23, source_addr_ton: 5, source_addr: 'Shop', dest_addr_ton: 1,
      dest_addr_npi: 1, destination_addr: '447700900123', data_coding: 0, short_message: 'vendor',
      vendor_0x1400: Buffer.from('deadbeef', 'hex'), vendor_0x1401: 'billing-42',
    },
    // the decoder does not know vendor tags, so both values are raw octets
    expect: { short_message: hexOf('vendor'), vendor_0x1400: 'deadbeef', vendor_0x1401: hexOf('billing-42') + '00' },
  },
  {
    name: 'submit_sm_alert_on_message_delivery_length_1', command: 'submit_sm',
    options: {
      sequence_number: 24, source_addr_ton: 1, source_addr_npi: 1, source_addr: '447700900001',
      dest_addr_ton: 1, dest_addr_npi: 1, destination_addr: '447700900123', data_coding: 0,
      short_message: 'alert', alert_on_message_delivery: 0,
    },
    expect: { short_message: hexOf('alert'), alert_on_message_delivery: '00' },
    quirk: 'node smpp types alert_on_message_delivery (0x130c) as a 1-octet integer '
      + '(length 1, value 0x00); 3.4 defines it with length 0',
  },
  {
    name: 'submit_sm_resp_ok', command: 'submit_sm_resp',
    options: { sequence_number: 7, message_id: 'a1b2c3d4e5' },
  },
  {
    name: 'submit_sm_resp_error_throttled', command: 'submit_sm_resp',
    options: { sequence_number: 8, command_status: 0x58 },
    headerOnly: true,
  },

  // --- submit_multi ---
  {
    name: 'submit_multi_mixed_dests', command: 'submit_multi',
    options: {
      sequence_number: 25, source_addr_ton: 5, source_addr: 'Shop',
      dest_address: [
        { dest_addr_ton: 1, dest_addr_npi: 1, destination_addr: '447700900123' },
        { dl_name: 'friends' },
        { dest_addr_ton: 1, dest_addr_npi: 1, destination_addr: '447700900124' },
      ],
      registered_delivery: 1, data_coding: 0, short_message: 'Hello all',
    },
    expect: {
      dest_address: [
        { dest_flag: 1, dest_addr_ton: 1, dest_addr_npi: 1, destination_addr: '447700900123' },
        { dest_flag: 2, dl_name: 'friends' },
        { dest_flag: 1, dest_addr_ton: 1, dest_addr_npi: 1, destination_addr: '447700900124' },
      ],
      short_message: hexOf('Hello all'),
    },
  },
  {
    name: 'submit_multi_resp_unsuccess', command: 'submit_multi_resp',
    options: {
      sequence_number: 25, message_id: 'multi-0001',
      unsuccess_sme: [
        { dest_addr_ton: 1, dest_addr_npi: 1, destination_addr: '447700900124', error_status_code: 0x0b },
        { dest_addr_ton: 0, dest_addr_npi: 0, destination_addr: 'friends', error_status_code: 0x34 },
      ],
    },
  },
  {
    name: 'submit_multi_resp_all_ok', command: 'submit_multi_resp',
    options: { sequence_number: 26, message_id: 'multi-0002', unsuccess_sme: [] },
  },

  // --- deliver_sm ---
  {
    name: 'deliver_sm_receipt', command: 'deliver_sm',
    options: {
      sequence_number: 20, source_addr_ton: 1, source_addr_npi: 1, source_addr: '447700900123',
      dest_addr_ton: 5, dest_addr_npi: 0, destination_addr: 'Shop', esm_class: 0x04, data_coding: 0,
      short_message: Buffer.from(RECEIPT_TEXT, 'latin1'),
      network_error_code: Buffer.from('030000', 'hex'), message_state: 2, receipted_message_id: '0123456789',
    },
  },
  {
    name: 'deliver_sm_mo', command: 'deliver_sm',
    options: {
      sequence_number: 21, source_addr_ton: 1, source_addr_npi: 1, source_addr: '447700900123',
      dest_addr_ton: 0, dest_addr_npi: 1, destination_addr: '88000', data_coding: 0,
      short_message: 'STOP', its_session_info: Buffer.from('0501', 'hex'),
    },
    expect: { short_message: hexOf('STOP') },
  },
  {
    name: 'deliver_sm_resp', command: 'deliver_sm_resp',
    options: { sequence_number: 20 },
  },

  // --- data_sm ---
  {
    name: 'data_sm_payload', command: 'data_sm',
    options: {
      sequence_number: 30, service_type: 'WAP', source_addr_ton: 1, source_addr_npi: 1,
      source_addr: '447700900001', dest_addr_ton: 1, dest_addr_npi: 1, destination_addr: '447700900123',
      registered_delivery: 1, data_coding: 4, source_port: 9200, dest_port: 2948,
      message_payload: Buffer.from(Array.from({ length: 40 }, (_, i) => i)),
    },
  },
  {
    name: 'data_sm_receipt', command: 'data_sm',
    options: {
      sequence_number: 32, source_addr_ton: 1, source_addr_npi: 1, source_addr: '447700900123',
      dest_addr_ton: 5, destination_addr: 'Shop', esm_class: 0x04, data_coding: 0,
      receipted_message_id: 'dsm-000042', message_state: 5, network_error_code: Buffer.from('03000b', 'hex'),
    },
  },
  {
    name: 'data_sm_resp_ok', command: 'data_sm_resp',
    options: { sequence_number: 30, message_id: 'dsm-000042' },
  },
  {
    name: 'data_sm_resp_failure_tlvs', command: 'data_sm_resp',
    options: {
      sequence_number: 32, message_id: 'dsm-000043', delivery_failure_reason: 1,
      network_error_code: Buffer.from('03000b', 'hex'), additional_status_info_text: 'absent subscriber',
      dpf_result: 1,
    },
  },
  {
    name: 'data_sm_resp_error_deliveryfailure', command: 'data_sm_resp',
    options: { sequence_number: 33, command_status: 0xfe },
    headerOnly: true,
  },

  // --- query / cancel / replace ---
  {
    name: 'query_sm', command: 'query_sm',
    options: { sequence_number: 40, message_id: 'a1b2c3d4e5', source_addr_ton: 5, source_addr: 'Shop' },
  },
  {
    name: 'query_sm_resp_delivered', command: 'query_sm_resp',
    options: { sequence_number: 40, message_id: 'a1b2c3d4e5', final_date: '250131235959000+', message_state: 2 },
  },
  {
    name: 'query_sm_resp_enroute', command: 'query_sm_resp',
    options: { sequence_number: 41, message_id: 'a1b2c3d4e6', message_state: 1 },
  },
  {
    name: 'cancel_sm', command: 'cancel_sm',
    options: {
      sequence_number: 42, message_id: 'a1b2c3d4e5', source_addr_ton: 5, source_addr: 'Shop',
      dest_addr_ton: 1, dest_addr_npi: 1, destination_addr: '447700900123',
    },
  },
  {
    name: 'cancel_sm_all_for_destination', command: 'cancel_sm',
    options: {
      sequence_number: 43, service_type: 'CMT', source_addr_ton: 5, source_addr: 'Shop',
      dest_addr_ton: 1, dest_addr_npi: 1, destination_addr: '447700900123',
    },
  },
  { name: 'cancel_sm_resp', command: 'cancel_sm_resp', options: { sequence_number: 42 } },
  {
    name: 'cancel_sm_resp_error_cancelfail', command: 'cancel_sm_resp',
    options: { sequence_number: 43, command_status: 0x11 },
  },
  {
    name: 'replace_sm', command: 'replace_sm',
    options: {
      sequence_number: 44, message_id: 'a1b2c3d4e5', source_addr_ton: 5, source_addr: 'Shop',
      schedule_delivery_time: '', validity_period: '000002000000000R', registered_delivery: 1,
      short_message: 'Updated text',
    },
    expect: { short_message: hexOf('Updated text') },
  },
  { name: 'replace_sm_resp', command: 'replace_sm_resp', options: { sequence_number: 44 } },

  // --- alert_notification ---
  {
    name: 'alert_notification_available', command: 'alert_notification',
    options: {
      sequence_number: 50, source_addr_ton: 1, source_addr_npi: 1, source_addr: '447700900123',
      esme_addr: 'smppclient1', ms_availability_status: 0,
    },
  },
];

function main() {
  const out = process.argv[2];
  if (!out || process.argv.length !== 3) fail('usage: node gen_node.js OUT.json');
  const vectors = [];
  const names = new Set();
  for (const c of CASES) {
    if (names.has(c.name)) fail('duplicate name ' + c.name);
    names.add(c.name);
    const data = new smpp.PDU(c.command, c.options).toBuffer();
    const vec = makeVector(c.name, c.command, data, c.quirk);
    if (vec.sequence_number !== c.options.sequence_number
      || vec.command_status !== (c.options.command_status || 0)) {
      fail(c.name + ': header differs from input');
    }
    if (c.headerOnly) {
      if (data.length !== 16) fail(c.name + ': expected a header-only PDU');
    } else {
      checkInputs(vec, c);
    }
    // the library must read its own bytes back
    const back = new smpp.PDU(data);
    if (back.command !== c.command || back.sequence_number !== vec.sequence_number) {
      fail(c.name + ': node smpp does not read its own PDU back');
    }
    vectors.push(vec);
  }
  fs.writeFileSync(out, JSON.stringify(vectors, null, 2) + '\n');
  console.log(out + ': ' + vectors.length + ' vectors written');
}

main();
