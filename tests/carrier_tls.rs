//! A carrier link over TLS, with the real gateway: the carrier's side is a TLS endpoint in this
//! test (rustls with a certificate for `localhost`) in front of a `smppd simulate`. With the CA
//! and server name configured, the link binds, messages go out and receipts come back over TLS;
//! with a server name the certificate does not carry, the link never comes up.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{carrier, get_ok, routed_config, submit, temp_dir, Client, Gateway, Simulator};
use smpp_proto::CommandId;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

/// A TLS endpoint on a free port that forwards each connection, decrypted, to `backend`;
/// counts the handshakes that succeeded. Writes its certificate to `dir/carrier-ca.pem`.
async fn tls_front(dir: &Path, backend: SocketAddr) -> (SocketAddr, Arc<AtomicUsize>) {
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    std::fs::write(dir.join("carrier-ca.pem"), cert.pem()).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::try_from(signing_key.serialize_der()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], key)
        .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(server));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handshakes = Arc::new(AtomicUsize::new(0));
    let counted = handshakes.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, counted) = (acceptor.clone(), counted.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return; // The gateway refused our certificate.
                };
                counted.fetch_add(1, Ordering::SeqCst);
                let mut plain = TcpStream::connect(backend).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    (addr, handshakes)
}

/// The gateway with one carrier link `sim` over TLS to a [`tls_front`] before a simulator (receipts
/// after 20 ms), trusting the front's certificate and expecting it to be for `server_name`.
async fn gateway_over_tls(name: &str, server_name: &str) -> (Gateway, Simulator, Arc<AtomicUsize>) {
    let dir = temp_dir(name);
    let sim = Simulator::start(&dir, "sim", &["--receipt-delay", "20ms"]);
    let (front, handshakes) = tls_front(&dir, sim.addr).await;
    let tls = format!(
        "[carriers.tls]\nca = \"{}\"\nserver_name = \"{server_name}\"\n",
        dir.join("carrier-ca.pem").display()
    );
    let text = routed_config(
        &dir,
        &[carrier("sim", front.port(), &tls)],
        &["sim"],
        "",
        "",
    );
    (Gateway::start(&dir, &text), sim, handshakes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_carrier_over_tls_gets_submits_and_sends_receipts() {
    let (gateway, sim, handshakes) = gateway_over_tls("carrier-tls", "localhost").await;
    common::wait_link_up(gateway.admin.unwrap(), "sim").await;
    assert!(handshakes.load(Ordering::SeqCst) >= 1);

    let mut esme = Client::bound(gateway.addr, CommandId::BindTransceiver, "shop", "secret1").await;
    let id = esme.submit_ok(submit("447700900123", "over TLS")).await;
    // The receipt comes back through the TLS link and is relayed under the gateway's id.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let pdu = esme.recv().await.expect("closed");
        esme.answer(&pdu).await;
        if let smpp_proto::Body::DeliverSm(sm) = &pdu.body {
            assert_eq!(sm.tlvs.receipted_message_id(), Some(id.as_str()), "{pdu:?}");
            let text = String::from_utf8_lossy(sm.short_message.as_bytes()).into_owned();
            assert!(text.contains("stat:DELIVRD"), "{text}");
            break;
        }
        assert!(Instant::now() < deadline, "no receipt");
    }
    assert_eq!(sim.submits().len(), 1);
    let sm = sim.submits()[0].submit_sm().clone();
    assert_eq!(sm.short_message.as_bytes(), b"over TLS");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_for_another_name_keeps_the_link_down() {
    let (gateway, sim, handshakes) =
        gateway_over_tls("carrier-tls-wrong-name", "smpp.elsewhere.example").await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let link = get_ok(gateway.admin.unwrap(), "/api/links/sim").await;
    assert_ne!(link["state"], "up", "{link}");
    assert_eq!(handshakes.load(Ordering::SeqCst), 0);
    assert!(gateway.logs().contains("TLS with"), "{}", gateway.logs());
    assert!(sim.submits().is_empty());
}
