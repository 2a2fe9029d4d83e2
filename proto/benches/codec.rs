//! Codec benchmarks: a typical 160-character submit_sm and a deliver_sm receipt with TLVs.
//! Target (issue 2): decode + encode of the submit_sm under 1 µs on the 2-core machine.

use bytes::{Bytes, BytesMut};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use smpp_proto::pdu::{esm_class, Address, ShortMessage, SubmitSm};
use smpp_proto::{Body, MessageState, Pdu, Tlv, Tlvs};

fn submit_sm_160() -> Pdu {
    let text = "Your order #100234 has shipped! Track it at https://shop.example/t/100234 \
                Expected delivery: Thursday. Reply STOP to opt out. Thank you for shopping with us today!!";
    let text: String = text.chars().take(160).collect();
    assert_eq!(text.len(), 160);
    Pdu::new(
        42,
        Body::SubmitSm(SubmitSm {
            source: Address::new(5, 0, "ShopNews".try_into().unwrap_or_default()),
            destination: Address::new(1, 1, "447700900123".try_into().unwrap_or_default()),
            registered_delivery: 1,
            short_message: ShortMessage::new(text.as_bytes().to_vec()).unwrap_or_default(),
            ..SubmitSm::default()
        }),
    )
}

fn deliver_sm_receipt() -> Pdu {
    let text = "id:7F3A9C01 sub:001 dlvrd:001 submit date:2501311200 done date:2501311201 \
                stat:DELIVRD err:000 text:Your order #100234";
    let mut tlvs = Tlvs::new();
    if let Ok(tlv) = Tlv::receipted_message_id("7F3A9C01") {
        tlvs.push(tlv);
    }
    tlvs.push(Tlv::message_state(MessageState::DELIVERED));
    Pdu::new(
        7,
        Body::DeliverSm(SubmitSm {
            source: Address::new(1, 1, "447700900123".try_into().unwrap_or_default()),
            destination: Address::new(5, 0, "ShopNews".try_into().unwrap_or_default()),
            esm_class: esm_class::DELIVERY_RECEIPT,
            short_message: ShortMessage::new(text.as_bytes().to_vec()).unwrap_or_default(),
            tlvs,
            ..SubmitSm::default()
        }),
    )
}

fn bench_pdu(c: &mut Criterion, name: &str, pdu: &Pdu) {
    let wire: Bytes = pdu.to_bytes();
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(1));
    group.bench_function("decode", |b| b.iter(|| Pdu::decode(black_box(&wire))));
    let mut out = BytesMut::with_capacity(1024);
    group.bench_function("encode", |b| {
        b.iter(|| {
            out.clear();
            black_box(pdu).encode(&mut out);
        })
    });
    group.bench_function("decode+encode", |b| {
        b.iter(|| {
            out.clear();
            if let Ok(decoded) = Pdu::decode(black_box(&wire)) {
                decoded.encode(&mut out);
            }
        })
    });
    group.finish();
}

fn codec(c: &mut Criterion) {
    bench_pdu(c, "submit_sm_160", &submit_sm_160());
    bench_pdu(c, "deliver_sm_receipt", &deliver_sm_receipt());
}

criterion_group!(benches, codec);
criterion_main!(benches);
