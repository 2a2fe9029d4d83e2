#!/usr/bin/env node
// An ESME built with the node smpp package, for tests/interop_esme.rs.
//
//   node esme_node.js SCENARIO HOST PORT SYSTEM_ID PASSWORD
//
// Performs SCENARIO against an SMPP server with node smpp's own sessions and encoders, and
// prints one JSON object per line of what happened, in the same shapes as esme_smpplib.py:
//
//   {"ev": "sent"|"recv", "conn": NAME, "hex": PDU}     every PDU written / read, whole
//   {"ev": "submitted", "conn", "label", "text", "id", "status"}
//   {"ev": "deliver", "conn", ..., "text", "udh"}       a deliver_sm as node smpp decoded it
//   {"ev": "bound", "conn", "command", "status", "system_id", "sc_interface_version"}
//   {"ev": "query" | "cancel", "label", "message_id", "status", ...}
//   {"ev": "done"}
'use strict';

const { smpp, emit, track, decoded, fail } = require('./wire');

const TO = '447700900123';
const SCHEDULE_IN_AN_HOUR = '000000010000000R';
const LIMIT_MS = 10000;

class Esme {
  constructor(conn, host, port) {
    this.conn = conn;
    this.host = host;
    this.port = port;
    this.delivered = [];
    this.enquireLinks = 0;
    this.waiters = [];
  }

  connect() {
    return new Promise((resolve) => {
      this.session = smpp.connect({ host: this.host, port: this.port }, resolve);
      track(this.session, this.conn);
      this.session.on('error', fail);
      this.session.on('deliver_sm', (pdu) => {
        const view = Object.assign(
          {
            ev: 'deliver',
            conn: this.conn,
            esm_class: pdu.esm_class,
            data_coding: pdu.data_coding,
            source_addr: pdu.source_addr,
            destination_addr: pdu.destination_addr,
            receipted_message_id: pdu.receipted_message_id === undefined
              ? null : pdu.receipted_message_id,
            message_state: pdu.message_state === undefined ? null : pdu.message_state,
          },
          decoded(pdu),
        );
        emit(view);
        this.delivered.push(view);
        this.session.send(pdu.response());
        this.wake();
      });
      this.session.on('enquire_link', (pdu) => {
        this.enquireLinks += 1;
        this.session.send(pdu.response());
        this.wake();
      });
    });
  }

  wake() {
    this.waiters = this.waiters.filter((w) => !w());
  }

  // Resolves once `condition()` holds; fails the run after LIMIT_MS.
  until(condition, what) {
    return new Promise((resolve) => {
      const timer = setTimeout(() => fail(`${this.conn}: no ${what} within ${LIMIT_MS} ms`),
        LIMIT_MS);
      const check = () => {
        if (!condition()) return false;
        clearTimeout(timer);
        resolve();
        return true;
      };
      if (!check()) this.waiters.push(check);
    });
  }

  // Sends a request with node smpp's shortcut for `command`; resolves with its response.
  request(command, fields) {
    return new Promise((resolve) => {
      const timer = setTimeout(() => fail(`${this.conn}: no ${command}_resp`), LIMIT_MS);
      this.session[command](fields || {}, (resp) => {
        clearTimeout(timer);
        resolve(resp);
      });
    });
  }

  async bind(kind, systemId, password) {
    await this.connect();
    // interface_version left to node smpp, which writes 0x50.
    const resp = await this.request('bind_' + kind, { system_id: systemId, password: password });
    emit({
      ev: 'bound', conn: this.conn, command: resp.command, status: resp.command_status,
      system_id: resp.system_id,
      sc_interface_version: resp.sc_interface_version === undefined
        ? null : resp.sc_interface_version,
    });
    if (resp.command_status !== 0) fail(`bind refused: ${resp.command_status}`);
  }

  async close() {
    const resp = await this.request('unbind');
    if (resp.command !== 'unbind_resp') fail(resp.command);
    await new Promise((resolve) => this.session.close(resolve));
  }

  async submit(label, text, fields) {
    const resp = await this.request('submit_sm', Object.assign({
      source_addr_ton: 5, source_addr_npi: 0, source_addr: 'Shop',
      dest_addr_ton: 1, dest_addr_npi: 1, destination_addr: TO, registered_delivery: 1,
    }, fields));
    emit({
      ev: 'submitted', conn: this.conn, label: label, text: text,
      id: resp.message_id === undefined ? null : resp.message_id, status: resp.command_status,
    });
    return resp.message_id;
  }

  receipts(ids) {
    return this.until(
      () => ids.every((id) => this.delivered.some((d) => d.receipted_message_id === id)),
      `receipts for ${ids}`);
  }
}

// node smpp has no splitter: long texts are cut here, and each part handed to node smpp as
// {udh, message}; it encodes the part and sets UDHI itself.
function chunks(text, size) {
  const units = [];
  for (let i = 0; i < text.length; i += size) units.push(text.slice(i, i + size));
  return units;
}

const LONG_GSM = Array.from({ length: 9 },
  (_, i) => `Part of a long GSM text, sentence ${String(i).padStart(2, '0')}. `).join('');
const LONG_ARABIC = Array.from({ length: 8 }, (_, i) => `هذه رسالة طويلة رقم ${i}. `).join('');

const scenarios = {
  async gsm(host, port, systemId, password) {
    const tx = new Esme('tx', host, port);
    const rx = new Esme('rx', host, port);
    await tx.bind('transmitter', systemId, password);
    await rx.bind('receiver', systemId, password);
    const text = 'Hi from node smpp: 10€ [promo] {ok} ^~|\\ @£$¥';
    const auto = 'Plain text, no data_coding given';
    const ids = [
      await tx.submit('gsm', text, { short_message: text, data_coding: 0 }),
      await tx.submit('auto', auto, { short_message: auto }),
    ];
    await rx.receipts(ids);
    await tx.close();
    await rx.close();
  },

  async ucs2(host, port, systemId, password) {
    const trx = new Esme('trx', host, port);
    await trx.bind('transceiver', systemId, password);
    const ids = [];
    for (const [label, text] of [['latin', 'Ça coûte très cher, garçon ! Où êtes-vous ?'],
      ['arabic', 'مرحبا بالعالم، كيف حالك؟'],
      ['emoji', 'Party 🎉 time 👍🏽 😀']]) {
      ids.push(await trx.submit(label, text, { short_message: text, data_coding: 8 }));
    }
    await trx.receipts(ids);
    await trx.close();
  },

  async udh(host, port, systemId, password) {
    const trx = new Esme('trx', host, port);
    await trx.bind('transceiver', systemId, password);
    const ids = [];
    for (const [label, text, dataCoding, size, ref] of [
      ['gsm', LONG_GSM, 0, 153, 0x2a], ['ucs2', LONG_ARABIC, 8, 67, 0x2b]]) {
      const parts = chunks(text, size);
      for (let i = 0; i < parts.length; i++) {
        const udh = Buffer.from([0x05, 0x00, 0x03, ref, parts.length, i + 1]);
        ids.push(await trx.submit(label, text,
          { short_message: { udh: udh, message: parts[i] }, data_coding: dataCoding }));
      }
    }
    await trx.receipts(ids);
    await trx.close();
  },

  async sar(host, port, systemId, password) {
    const trx = new Esme('trx', host, port);
    await trx.bind('transceiver', systemId, password);
    const parts = chunks(LONG_GSM, 153);
    const ids = [];
    for (let i = 0; i < parts.length; i++) {
      ids.push(await trx.submit('sar', LONG_GSM, {
        short_message: parts[i], data_coding: 0, sar_msg_ref_num: 0x1234,
        sar_total_segments: parts.length, sar_segment_seqnum: i + 1,
      }));
    }
    await trx.receipts(ids);
    await trx.close();
  },

  async payload(host, port, systemId, password) {
    const trx = new Esme('trx', host, port);
    await trx.bind('transceiver', systemId, password);
    const text = LONG_ARABIC + ' 👋';
    const ids = [await trx.submit('payload', text, { message_payload: text, data_coding: 8 })];
    await trx.receipts(ids);
    await trx.close();
  },

  async mo(host, port, systemId, password) {
    const rx = new Esme('rx', host, port);
    await rx.bind('receiver', systemId, password);
    await rx.until(() => rx.delivered.length >= 3, '3 MO');
    await rx.close();
  },

  async query_cancel(host, port, systemId, password) {
    const trx = new Esme('trx', host, port);
    await trx.bind('transceiver', systemId, password);
    const later = await trx.submit('scheduled', 'See you in an hour', {
      short_message: 'See you in an hour', data_coding: 0,
      schedule_delivery_time: SCHEDULE_IN_AN_HOUR,
    });
    const now = await trx.submit('now', 'Right now', { short_message: 'Right now', data_coding: 0 });
    await trx.receipts([now]);
    const source = { source_addr_ton: 5, source_addr_npi: 0, source_addr: 'Shop' };
    const query = async (label, messageId) => {
      const resp = await trx.request('query_sm', Object.assign({ message_id: messageId }, source));
      // node smpp turns final_date into a Date.
      const date = resp.final_date;
      emit({
        ev: 'query', label: label, message_id: messageId, status: resp.command_status,
        message_state: resp.message_state === undefined ? null : resp.message_state,
        final_date: date instanceof Date ? (isNaN(date) ? 'Invalid Date' : date.toISOString())
          : (date || ''),
      });
    };
    const cancel = async (label, messageId) => {
      const resp = await trx.request('cancel_sm', Object.assign({
        message_id: messageId, dest_addr_ton: 1, dest_addr_npi: 1, destination_addr: TO,
      }, source));
      emit({ ev: 'cancel', label: label, message_id: messageId, status: resp.command_status });
    };
    await query('scheduled', later);
    await query('delivered', now);
    await cancel('scheduled', later);
    await query('cancelled', later);
    await cancel('again', later);
    await cancel('delivered', now);
    await query('unknown', '99999999');
    await trx.close();
  },

  // smppd's vendor TLVs (0x1500 class, 0x1501 campaign, 0x1503 tags), declared to node smpp
  // as its own addTLV asks, and a service_type mapped by the account's class rules.
  async classes(host, port, systemId, password) {
    smpp.addTLV('smppd_class', { id: 0x1500, type: smpp.types.tlv.int8 });
    smpp.addTLV('smppd_campaign', { id: 0x1501, type: smpp.types.tlv.cstring });
    smpp.addTLV('smppd_tags', { id: 0x1503, type: smpp.types.tlv.cstring });
    const trx = new Esme('trx', host, port);
    await trx.bind('transceiver', systemId, password);
    const promo = 'Soldes : -30 % ce week-end';
    const ids = [
      await trx.submit('tlv', promo, {
        short_message: promo, smppd_class: 1, smppd_campaign: 'soldes-hiver',
        smppd_tags: 'promo,fr',
      }),
      await trx.submit('service_type', promo, { short_message: promo, service_type: 'MKT' }),
      await trx.submit('default', 'Votre colis est en route', {
        short_message: 'Votre colis est en route',
      }),
      await trx.submit('bad', promo, { short_message: promo, smppd_class: 7 }),
    ];
    await trx.receipts(ids.slice(0, 3));
    await trx.close();
  },

  async binds(host, port, systemId, password) {
    for (const kind of ['transmitter', 'receiver', 'transceiver']) {
      const esme = new Esme(kind, host, port);
      await esme.bind(kind, systemId, password);
      const resp = await esme.request('enquire_link');
      if (resp.command !== 'enquire_link_resp') fail(resp.command);
      // The server's own enquire_link (its interval is short in the test), answered above.
      await esme.until(() => esme.enquireLinks >= 1, 'enquire_link from the server');
      await esme.close();
    }
  },
};

const [scenario, host, port, systemId, password] = process.argv.slice(2);
if (!scenarios[scenario]) fail(`unknown scenario ${scenario}`);
scenarios[scenario](host, Number(port), systemId, password)
  .then(() => emit({ ev: 'done' }))
  .catch(fail);
