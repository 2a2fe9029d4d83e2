#!/usr/bin/env node
// A carrier SMSC built with the node smpp package (smpp.createServer), for
// tests/interop_carrier.rs.
//
//   node carrier_node.js [--ids hex|decimal] [--receipt both|text|tlv] [--receipt-ids same|decimal]
//                        [--receipt-before-response] [--receipt-delay MS] [--throttle N]
//                        [--drop-at N]
//
// Listens on 127.0.0.1 (a free port), accepts any bind, gives each submit_sm an id (hex or
// decimal, from 0x10000000 up) and sends its delivery receipt: DELIVRD, or UNDELIV err:042 when
// the destination ends in 0. The receipt is text only, TLVs only or both; its id as in the
// response or in decimal; after MS (default 20) or written before the submit_sm_resp.
// --throttle N answers ESME_RTHROTTLED beyond N submits per second on a session. --drop-at N
// stops answering at a session's N-th submit and closes the connection abruptly 200 ms later,
// with the submits of the window unanswered (once).
//
// Commands, one JSON object per line on stdin:
//   {"mo": {"label", deliver_sm fields..., "short_message"/"message_payload": {"hex"|"text"}}}
// sends an MO deliver_sm on a receiver or transceiver bind.
//
// Prints one JSON object per line: {"ev": "listening", "port"}, every PDU written and read
// ({"ev": "sent"|"recv", "conn": "sN", "hex"}), and {"ev": "bind" | "submit" | "receipt" |
// "mo_sent" | "deliver_resp" | "dropped" | "closed", ...}.
'use strict';

const readline = require('readline');
const { smpp, emit, track, decoded, fail } = require('./wire');

const options = {
  ids: 'hex', receipt: 'both', receiptIds: 'same', receiptBeforeResponse: false,
  receiptDelay: 20, throttle: null, dropAt: null,
};
for (let i = 2; i < process.argv.length; i++) {
  const flag = process.argv[i];
  const value = () => process.argv[++i];
  switch (flag) {
    case '--ids': options.ids = value(); break;
    case '--receipt': options.receipt = value(); break;
    case '--receipt-ids': options.receiptIds = value(); break;
    case '--receipt-before-response': options.receiptBeforeResponse = true; break;
    case '--receipt-delay': options.receiptDelay = Number(value()); break;
    case '--throttle': options.throttle = Number(value()); break;
    case '--drop-at': options.dropAt = Number(value()); break;
    default: fail(`unknown flag ${flag}`);
  }
}

let nextId = 0x10000000;
let sessionCount = 0;
let dropped = false;
const sessions = [];

function receiverSession() {
  return sessions.find((s) => s.canReceive && !s.closed && !s.dropping);
}

function date10(ms) {
  return new Date(ms).toISOString().replace(/[-T:]/g, '').slice(2, 12);
}

// The receipt deliver_sm for a submit (smpp34.md §10): esm_class 0x04, addresses swapped.
function receiptFields(submit, id) {
  const undeliverable = submit.destination_addr.endsWith('0');
  const rid = options.receiptIds === 'decimal' ? String(parseInt(id, options.ids === 'hex' ? 16 : 10))
    : id;
  const stat = undeliverable ? 'UNDELIV' : 'DELIVRD';
  const text = (decoded(submit).text || '').slice(0, 20).replace(/[^ -~]/g, '?');
  const now = Date.now();
  const fields = {
    source_addr_ton: submit.dest_addr_ton, source_addr_npi: submit.dest_addr_npi,
    source_addr: submit.destination_addr, dest_addr_ton: submit.source_addr_ton,
    dest_addr_npi: submit.source_addr_npi, destination_addr: submit.source_addr,
    esm_class: 0x04, data_coding: 0, short_message: Buffer.alloc(0),
  };
  if (options.receipt !== 'tlv') {
    fields.short_message = Buffer.from(`id:${rid} sub:001 dlvrd:${undeliverable ? '000' : '001'} `
      + `submit date:${date10(now)} done date:${date10(now)} stat:${stat} `
      + `err:${undeliverable ? '042' : '000'} text:${text}`, 'ascii');
  }
  if (options.receipt !== 'text') {
    fields.receipted_message_id = rid;
    fields.message_state = undeliverable ? 5 : 2;
  }
  return { fields, rid, stat };
}

// Sends a deliver_sm on `session`; reports its response.
function deliver(session, fields, kind, label) {
  const pdu = new smpp.PDU('deliver_sm', fields);
  session.send(pdu, (resp) => emit({
    ev: 'deliver_resp', kind: kind, label: label, conn: session.conn, seq: resp.sequence_number,
    status: resp.command_status,
  }));
  return pdu.sequence_number;
}

// Sends a receipt now on `session`, or when a receiver is bound again (the link may be down).
function sendReceipt(submit, id, session) {
  const target = session && !session.closed && !session.dropping ? session : receiverSession();
  if (!target) {
    setTimeout(() => sendReceipt(submit, id, null), 50);
    return;
  }
  const { fields, rid, stat } = receiptFields(submit, id);
  const seq = deliver(target, fields, 'receipt', id);
  emit({ ev: 'receipt', conn: target.conn, id: id, rid: rid, stat: stat, seq: seq, t: Date.now() });
}

function onSubmit(session, pdu) {
  session.submits += 1;
  const report = { ev: 'submit', conn: session.conn, seq: pdu.sequence_number, t: Date.now(),
    n: session.submits, hex: pdu._hex, esm_class: pdu.esm_class, data_coding: pdu.data_coding,
    registered_delivery: pdu.registered_delivery, source_addr: pdu.source_addr,
    destination_addr: pdu.destination_addr, sar_msg_ref_num: pdu.sar_msg_ref_num,
    sar_total_segments: pdu.sar_total_segments, sar_segment_seqnum: pdu.sar_segment_seqnum,
    payload_text: pdu.message_payload ? pdu.message_payload.message : null };
  Object.assign(report, decoded(pdu));
  if (!dropped && options.dropAt && session.submits >= options.dropAt) {
    dropped = true;
    session.dropping = true;
    setTimeout(() => {
      emit({ ev: 'dropped', conn: session.conn });
      session.socket.destroy();
    }, 200);
  }
  if (session.dropping) {
    emit(Object.assign(report, { outcome: 'held' }));
    return;
  }
  const now = Date.now();
  session.accepted = session.accepted.filter((t) => now - t < 1000);
  if (options.throttle && session.accepted.length >= options.throttle) {
    emit(Object.assign(report, { outcome: 'throttled' }));
    session.send(pdu.response({ command_status: smpp.ESME_RTHROTTLED }));
    return;
  }
  session.accepted.push(now);
  const n = nextId++;
  const id = options.ids === 'hex' ? n.toString(16) : String(n);
  emit(Object.assign(report, { outcome: 'accepted', id: id }));
  const receiptSession = session.canReceive ? session : null;
  if (options.receiptBeforeResponse) {
    sendReceipt(pdu, id, receiptSession);
    session.send(pdu.response({ message_id: id }));
    emit({ ev: 'resp', conn: session.conn, id: id, t: Date.now() });
  } else {
    session.send(pdu.response({ message_id: id }));
    emit({ ev: 'resp', conn: session.conn, id: id, t: Date.now() });
    setTimeout(() => sendReceipt(pdu, id, receiptSession), options.receiptDelay);
  }
}

const server = smpp.createServer((session) => {
  sessionCount += 1;
  session.conn = 's' + sessionCount;
  session.submits = 0;
  session.accepted = [];
  sessions.push(session);
  track(session, session.conn);
  const bind = (kind, canReceive) => (pdu) => {
    emit({ ev: 'bind', conn: session.conn, command: pdu.command, system_id: pdu.system_id,
      password: pdu.password, interface_version: pdu.interface_version });
    session.canReceive = canReceive;
    session.send(pdu.response({ system_id: 'nodesmsc' }));
  };
  session.on('bind_transceiver', bind('transceiver', true));
  session.on('bind_receiver', bind('receiver', true));
  session.on('bind_transmitter', bind('transmitter', false));
  session.on('submit_sm', (pdu) => onSubmit(session, pdu));
  session.on('enquire_link', (pdu) => session.send(pdu.response()));
  session.on('unbind', (pdu) => {
    session.send(pdu.response());
    session.close();
  });
  session.on('close', () => {
    session.closed = true;
    emit({ ev: 'closed', conn: session.conn });
  });
  // A connection closed abruptly (ours, --drop-at) ends with ECONNRESET on some platforms.
  session.on('error', () => {});
});

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  if (!line.trim()) return;
  const command = JSON.parse(line);
  if (!command.mo) fail(`unknown command ${line}`);
  const { label, ...fields } = command.mo;
  for (const key of ['short_message', 'message_payload']) {
    if (fields[key] && fields[key].hex !== undefined) fields[key] = Buffer.from(fields[key].hex, 'hex');
    else if (fields[key] && fields[key].text !== undefined) fields[key] = fields[key].text;
  }
  const session = receiverSession();
  if (!session) fail('MO without a receiver bind');
  const seq = deliver(session, fields, 'mo', label);
  emit({ ev: 'mo_sent', label: label, conn: session.conn, seq: seq });
});

server.listen(0, '127.0.0.1', () => emit({ ev: 'listening', port: server.address().port }));
