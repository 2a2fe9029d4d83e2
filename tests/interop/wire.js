// What the node smpp peers (esme_node.js, carrier_node.js) share: JSON lines on stdout and
// the whole PDUs each session wrote and read, so that the Rust test can decode them itself.
'use strict';

const smpp = require('smpp');

// One JSON object per line.
function emit(fields) {
  process.stdout.write(JSON.stringify(fields) + '\n');
}

// node smpp keeps neither the bytes it read nor the octets of short_message once decoded to
// text: keep both on the PDU (keys outside its params, which node smpp ignores).
const fromBuffer = smpp.PDU.prototype.fromBuffer;
smpp.PDU.prototype.fromBuffer = function (buffer) {
  this._hex = buffer.toString('hex', 0, buffer.readUInt32BE(0));
  return fromBuffer.call(this, buffer);
};
const filter = smpp.PDU.prototype._filter;
smpp.PDU.prototype._filter = function (direction) {
  if (direction === 'decode' && Buffer.isBuffer(this.short_message)) {
    this._short_message = this.short_message;
  }
  return filter.call(this, direction);
};

// Reports every PDU `session` writes and reads as {"ev": "sent" | "recv", conn, hex}. node
// smpp writes each PDU with one socket.write.
function track(session, conn) {
  const write = session.socket.write.bind(session.socket);
  session.socket.write = function (buffer, ...rest) {
    emit({ ev: 'sent', conn: conn, hex: Buffer.from(buffer).toString('hex') });
    return write(buffer, ...rest);
  };
  session.on('pdu', (pdu) => emit({ ev: 'recv', conn: conn, hex: pdu._hex }));
}

// short_message as node smpp decoded it: the text, and the UDH elements if any.
function decoded(pdu) {
  const sm = pdu.short_message;
  const view = {
    short_message: (pdu._short_message || Buffer.alloc(0)).toString('hex'),
    text: null,
    udh: null,
  };
  if (sm && typeof sm === 'object' && !Buffer.isBuffer(sm)) {
    view.text = Buffer.isBuffer(sm.message) ? null : sm.message;
    view.udh = sm.udh ? sm.udh.map((element) => element.toString('hex')) : null;
  }
  return view;
}

// Fails the run (non-zero exit) with `why` on stderr.
function fail(why) {
  process.stderr.write(String(why && why.stack ? why.stack : why) + '\n');
  process.exit(1);
}

module.exports = { smpp, emit, track, decoded, fail };
