#!/usr/bin/env python3
"""An ESME built with python smpplib, for tests/interop_esme.rs.

    esme_smpplib.py SCENARIO HOST PORT SYSTEM_ID PASSWORD

Performs SCENARIO against an SMPP server with smpplib's own client, encoders and splitter,
and prints one JSON object per line of what happened:

    {"ev": "sent"|"recv", "conn": NAME, "hex": PDU}     every PDU written / read, whole
    {"ev": "submitted", "conn", "label", "text", "id", "status"}
    {"ev": "deliver", "conn", ...}                      a deliver_sm as smpplib decoded it
    {"ev": "bound", "conn", "command", "status", "system_id", "sc_interface_version"}
    {"ev": "query" | "cancel", "label", "message_id", "status", ...}
    {"ev": "done"}

The test checks the PDUs against what reached the carrier; this script only drives smpplib.
"""

import json
import select
import sys
import time

import smpplib.client
import smpplib.command
import smpplib.consts as c
import smpplib.gsm
import smpplib.smpp
from smpplib.command import Command, Param

TO = "447700900123"
SCHEDULE_IN_AN_HOUR = "000000010000000R"


def emit(**fields):
    print(json.dumps(fields, ensure_ascii=False), flush=True)


def text(value):
    """A C-Octet String field as smpplib decoded it (bytes) as a str; None stays None."""
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return value


# smpplib 2.2.4 has no cancel_sm: the class below is built on smpplib's own Command, with the
# fields of SMPP 3.4 §4.9.1, and registered in its factory so its reader knows the response.
class CancelSM(Command):
    params = {
        "service_type": Param(type=str, max=6),
        "message_id": Param(type=str, max=65),
        "source_addr_ton": Param(type=int, size=1),
        "source_addr_npi": Param(type=int, size=1),
        "source_addr": Param(type=str, max=21),
        "dest_addr_ton": Param(type=int, size=1),
        "dest_addr_npi": Param(type=int, size=1),
        "destination_addr": Param(type=str, max=21),
    }
    params_order = (
        "service_type", "message_id", "source_addr_ton", "source_addr_npi", "source_addr",
        "dest_addr_ton", "dest_addr_npi", "destination_addr",
    )

    def __init__(self, command, **kwargs):
        super().__init__(command, **kwargs)
        self._set_vars(**(dict.fromkeys(self.params)))


class CancelSMResp(Command):
    params = {}
    params_order = ()

    def __init__(self, command, **kwargs):
        super().__init__(command, need_sequence=False, **kwargs)


_factory = smpplib.command.factory


def _factory_with_cancel(command_name, **kwargs):
    if command_name == "cancel_sm":
        return CancelSM(command_name, **kwargs)
    if command_name == "cancel_sm_resp":
        return CancelSMResp(command_name, **kwargs)
    return _factory(command_name, **kwargs)


smpplib.command.factory = _factory_with_cancel


class Esme(smpplib.client.Client):
    """smpplib's client, reporting every PDU, answering what the server sends."""

    def __init__(self, name, host, port):
        super().__init__(host, port, timeout=5, allow_unknown_opt_params=False)
        self.name = name
        self.raw = b""
        self.responses = {}
        self.delivered = []
        self.enquire_links = 0

    def send_pdu(self, p):
        result = super().send_pdu(p)
        emit(ev="sent", conn=self.name, hex=p.generate().hex())
        return result

    def _recv_exact(self, exact_size):
        part = super()._recv_exact(exact_size)
        self.raw += part
        return part

    def read_pdu(self):
        self.raw = b""
        pdu = super().read_pdu()
        emit(ev="recv", conn=self.name, hex=self.raw.hex())
        return pdu

    def _message_received(self, pdu):
        view = {
            "ev": "deliver",
            "conn": self.name,
            "esm_class": pdu.esm_class,
            "data_coding": pdu.data_coding,
            "source_addr": text(pdu.source_addr),
            "destination_addr": text(pdu.destination_addr),
            "short_message": (pdu.short_message or b"").hex(),
            "receipted_message_id": text(getattr(pdu, "receipted_message_id", None)),
            "message_state": getattr(pdu, "message_state", None),
        }
        emit(**view)
        self.delivered.append(view)
        super()._message_received(pdu)

    def message_received_handler(self, pdu, **kwargs):
        return c.SMPP_ESME_ROK

    def _enquire_link_received(self, pdu):
        self.enquire_links += 1
        super()._enquire_link_received(pdu)

    def pump(self, until, limit=10.0, what="a PDU"):
        """Reads and handles PDUs until `until()` holds."""
        deadline = time.time() + limit
        while not until():
            remaining = deadline - time.time()
            if remaining <= 0:
                raise TimeoutError("%s: no %s within %ss" % (self.name, what, limit))
            readable, _, _ = select.select([self._socket], [], [], remaining)
            if not readable:
                continue
            pdu = self.read_pdu()
            if pdu.command == "deliver_sm":
                self._message_received(pdu)
            elif pdu.command == "enquire_link":
                self._enquire_link_received(pdu)
            elif pdu.command.endswith("_resp") or pdu.command == "generic_nack":
                self.responses[pdu.sequence] = pdu
            else:
                raise RuntimeError("unexpected %s" % pdu.command)

    def request(self, p):
        """Sends a request made by smpplib and returns its response."""
        self.send_pdu(p)
        self.pump(lambda: p.sequence in self.responses, what=p.command + "_resp")
        return self.responses.pop(p.sequence)

    def bind(self, kind, system_id, password):
        self.connect()
        bind = getattr(self, "bind_" + kind)
        resp = bind(system_id=system_id, password=password)
        emit(ev="bound", conn=self.name, command=resp.command, status=resp.status,
             system_id=text(resp.system_id),
             sc_interface_version=getattr(resp, "sc_interface_version", None))
        return resp

    def close(self):
        # smpplib's unbind() takes the next PDU as the unbind_resp, whatever it is; the server
        # may have sent an enquire_link first, so the response is waited for by sequence.
        resp = self.request(smpplib.smpp.make_pdu("unbind", client=self))
        assert resp.command == "unbind_resp", resp.command
        self.disconnect()

    def submit(self, label, shown, **fields):
        fields = dict(dict(source_addr_ton=c.SMPP_TON_ALNUM, source_addr_npi=c.SMPP_NPI_UNK,
                           source_addr="Shop", dest_addr_ton=c.SMPP_TON_INTL,
                           dest_addr_npi=c.SMPP_NPI_ISDN, destination_addr=TO,
                           registered_delivery=1), **fields)
        ssm = self.send_message(**fields)
        self.pump(lambda: ssm.sequence in self.responses, what="submit_sm_resp")
        resp = self.responses.pop(ssm.sequence)
        emit(ev="submitted", conn=self.name, label=label, text=shown,
             id=text(resp.message_id), status=resp.status)
        return text(resp.message_id)

    def submit_text(self, label, message, encoding, **fields):
        """Splits and encodes `message` with smpplib's make_parts, submits every part."""
        parts, data_coding, esm_class = smpplib.gsm.make_parts(message, encoding)
        ids = []
        for part in parts:
            ids.append(self.submit(label, message, short_message=part, data_coding=data_coding,
                                   esm_class=esm_class, **fields))
        return ids

    def receipts(self, ids):
        wanted = set(ids)
        self.pump(lambda: wanted <= {d["receipted_message_id"] for d in self.delivered},
                  what="receipts for %s" % sorted(wanted))


def gsm(host, port, system_id, password):
    # Receipts for a transmitter's submits come on a receiver bind of the same account.
    tx, rx = Esme("tx", host, port), Esme("rx", host, port)
    tx.bind("transmitter", system_id, password)
    rx.bind("receiver", system_id, password)
    ids = tx.submit_text("gsm", "Hi from smpplib: 10€ [promo] {ok} ^~|\\ @£$¥",
                         c.SMPP_ENCODING_DEFAULT)
    rx.receipts(ids)
    tx.close()
    rx.close()


def ucs2(host, port, system_id, password):
    trx = Esme("trx", host, port)
    trx.bind("transceiver", system_id, password)
    ids = []
    for label, message in [("latin", "Ça coûte très cher, garçon ! Où êtes-vous ?"),
                           ("arabic", "مرحبا بالعالم، كيف حالك؟"),
                           ("emoji", "Party 🎉 time 👍🏽 😀")]:
        ids += trx.submit_text(label, message, c.SMPP_ENCODING_ISO10646)
    trx.receipts(ids)
    trx.close()


LONG_GSM = "".join("Part of a long GSM text, sentence %02d. " % i for i in range(9))
LONG_ARABIC = "".join("هذه رسالة طويلة رقم %d. " % i for i in range(8))


def udh(host, port, system_id, password):
    trx = Esme("trx", host, port)
    trx.bind("transceiver", system_id, password)
    ids = trx.submit_text("gsm", LONG_GSM, c.SMPP_ENCODING_DEFAULT)
    ids += trx.submit_text("ucs2", LONG_ARABIC, c.SMPP_ENCODING_ISO10646)
    trx.receipts(ids)
    trx.close()


def sar(host, port, system_id, password):
    trx = Esme("trx", host, port)
    trx.bind("transceiver", system_id, password)
    # make_parts without UDHI splits only; the sar_* TLVs are the caller's, as in smpplib's
    # README.
    parts, data_coding, esm_class = smpplib.gsm.make_parts(
        LONG_GSM, c.SMPP_ENCODING_DEFAULT, use_udhi=False)
    ids = []
    for i, part in enumerate(parts, start=1):
        ids.append(trx.submit("sar", LONG_GSM, short_message=part, data_coding=data_coding,
                              esm_class=esm_class, sar_msg_ref_num=0x1234,
                              sar_total_segments=len(parts), sar_segment_seqnum=i))
    trx.receipts(ids)
    trx.close()


def payload(host, port, system_id, password):
    trx = Esme("trx", host, port)
    trx.bind("transceiver", system_id, password)
    message = LONG_ARABIC + " 👋"
    ids = [trx.submit("payload", message, message_payload=message.encode("utf-16-be"),
                      data_coding=c.SMPP_ENCODING_ISO10646)]
    trx.receipts(ids)
    trx.close()


def mo(host, port, system_id, password):
    rx = Esme("rx", host, port)
    rx.bind("receiver", system_id, password)
    rx.pump(lambda: len(rx.delivered) >= 3, what="3 MO")
    rx.close()


def query_cancel(host, port, system_id, password):
    # smpplib only sends query_sm and cancel_sm on receiver and transceiver binds (its
    # COMMAND_STATES); SMPP 3.4 has them on transmitter and transceiver binds.
    trx = Esme("trx", host, port)
    trx.bind("transceiver", system_id, password)
    later = trx.submit_text("scheduled", "See you in an hour", c.SMPP_ENCODING_DEFAULT,
                            schedule_delivery_time=SCHEDULE_IN_AN_HOUR)[0]
    now = trx.submit_text("now", "Right now", c.SMPP_ENCODING_DEFAULT)[0]
    trx.receipts([now])

    def query(label, message_id):
        resp = trx.request(smpplib.smpp.make_pdu(
            "query_sm", client=trx, message_id=message_id, source_addr_ton=c.SMPP_TON_ALNUM,
            source_addr_npi=c.SMPP_NPI_UNK, source_addr="Shop"))
        emit(ev="query", label=label, message_id=message_id, status=resp.status,
             message_state=resp.message_state, final_date=text(resp.final_date))

    def cancel(label, message_id):
        resp = trx.request(smpplib.smpp.make_pdu(
            "cancel_sm", client=trx, message_id=message_id, source_addr_ton=c.SMPP_TON_ALNUM,
            source_addr_npi=c.SMPP_NPI_UNK, source_addr="Shop", dest_addr_ton=c.SMPP_TON_INTL,
            dest_addr_npi=c.SMPP_NPI_ISDN, destination_addr=TO))
        emit(ev="cancel", label=label, message_id=message_id, status=resp.status)

    query("scheduled", later)
    query("delivered", now)
    cancel("scheduled", later)
    query("cancelled", later)
    cancel("again", later)
    cancel("delivered", now)
    query("unknown", "99999999")
    trx.close()


def classes(host, port, system_id, password):
    # smpplib sends no vendor TLVs without patching its tables; service_type is a plain field.
    trx = Esme("trx", host, port)
    trx.bind("transceiver", system_id, password)
    promo = "Soldes : -30 % ce week-end"
    ids = [
        trx.submit("service_type", promo, short_message=promo.encode(), service_type="MKT"),
        trx.submit("default", "Votre colis est en route",
                   short_message=b"Votre colis est en route"),
    ]
    trx.receipts(ids)
    trx.close()


def binds(host, port, system_id, password):
    for kind in ["transmitter", "receiver", "transceiver"]:
        esme = Esme(kind, host, port)
        esme.bind(kind, system_id, password)
        resp = esme.request(smpplib.smpp.make_pdu("enquire_link", client=esme))
        assert resp.command == "enquire_link_resp", resp.command
        # The server's own enquire_link (its interval is short in the test), answered by
        # smpplib's handler.
        esme.pump(lambda: esme.enquire_links >= 1, what="enquire_link from the server")
        esme.close()


SCENARIOS = {f.__name__: f for f in [gsm, ucs2, udh, sar, payload, mo, query_cancel, classes,
                                      binds]}

if __name__ == "__main__":
    scenario, host, port, system_id, password = sys.argv[1:6]
    SCENARIOS[scenario](host, int(port), system_id, password)
    emit(ev="done")
