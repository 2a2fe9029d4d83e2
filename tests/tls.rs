//! The client-facing server over TLS (rustls): a self-signed certificate made for the test,
//! SMPP over TLS next to the plain listener, and plain SMPP refused on the TLS port.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{client, config, submit, temp_dir, Client, Gateway};
use rustls::pki_types::ServerName;
use smpp_proto::frame::{split_frame, DEFAULT_MAX_PDU_LEN};
use smpp_proto::{Body, CommandId, CommandStatus, Pdu};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// A gateway with a plain and a TLS listener, and a client config that trusts its
/// certificate (issued for `localhost`).
fn start(name: &str) -> (Gateway, TlsConnector) {
    let dir = temp_dir(name);
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, signing_key.serialize_pem()).unwrap();
    let text =
        config(&dir, "", &client("shop", "secret1", "")) + &tls_section(&cert_path, &key_path);
    let gw = Gateway::start(&dir, &text);
    assert!(
        gw.tls_addr.is_some(),
        "no TLS listener; logs:\n{}",
        gw.logs()
    );
    (gw, trusting(&cert))
}

fn tls_section(cert: &Path, key: &Path) -> String {
    format!(
        "\n[server.tls]\nlisten = [\"127.0.0.1:0\"]\ncert = \"{}\"\nkey = \"{}\"\n",
        cert.display(),
        key.display()
    )
}

#[tokio::test]
async fn bind_submit_unbind_over_tls_while_plain_works() {
    let (gw, connector) = start("tls-session");
    let tcp = TcpStream::connect(gw.tls_addr.unwrap()).await.unwrap();
    let stream = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    let mut secure = Client::over(stream);
    secure
        .bind_ok(CommandId::BindTransceiver, "shop", "secret1")
        .await;

    // The plain listener serves at the same time.
    let mut plain = Client::bound(gw.addr, CommandId::BindTransceiver, "shop", "secret1").await;

    let over_tls = secure.request(submit("447700900123", "over tls")).await;
    let in_clear = plain.request(submit("447700900123", "in clear")).await;
    for resp in [over_tls, in_clear] {
        assert_eq!(resp.command_id(), CommandId::SubmitSmResp, "{resp:?}");
        assert_eq!(resp.command_status, CommandStatus::ESME_ROK, "{resp:?}");
    }

    let resp = secure.request(Body::Unbind).await;
    assert_eq!(resp.body, Body::UnbindResp);
    secure.expect_closed().await;
    let resp = plain.request(Body::Unbind).await;
    assert_eq!(resp.body, Body::UnbindResp);
}

#[tokio::test]
async fn plain_smpp_on_the_tls_port_gets_no_smpp_answer_and_is_closed() {
    let (gw, _) = start("tls-plain-client");
    let mut tcp = TcpStream::connect(gw.tls_addr.unwrap()).await.unwrap();
    let mut c = Client::over(&mut tcp);
    c.send(Body::EnquireLink).await;
    drop(c);

    // Read whatever comes until the gateway closes (a TLS alert at most), bounded in time.
    let mut received = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut received));
    read.await
        .expect("the TLS port should close a plain connection")
        .ok();
    let mut buf = bytes::BytesMut::from(&received[..]);
    let answer = split_frame(&mut buf, DEFAULT_MAX_PDU_LEN)
        .ok()
        .flatten()
        .and_then(|frame| Pdu::decode(&frame).ok());
    assert_eq!(
        answer, None,
        "no SMPP answer on the TLS port: {received:02x?}"
    );
    // What came, if anything, is a TLS record (alert, content type 21), not SMPP.
    assert!(received.is_empty() || received[0] == 21, "{received:02x?}");
}

/// A client config that trusts exactly `cert`.
fn trusting(cert: &rcgen::Certificate) -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.der().clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    TlsConnector::from(Arc::new(tls))
}

/// A TLS session to the gateway, bound as `shop`, checked against `connector`'s roots; the
/// handshake's error if the gateway's certificate is not one of them.
async fn bound_over_tls(
    gw: &Gateway,
    connector: &TlsConnector,
) -> std::io::Result<Client<tokio_rustls::client::TlsStream<TcpStream>>> {
    let tcp = TcpStream::connect(gw.tls_addr.unwrap()).await.unwrap();
    let stream = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await?;
    let mut c = Client::over(stream);
    c.bind_ok(CommandId::BindTransceiver, "shop", "secret1")
        .await;
    Ok(c)
}

/// A renewed certificate written over the old files is served after SIGHUP, to new
/// connections, while a session that began with the old one goes on. A broken file refuses
/// the reload and the certificate in use stays.
#[tokio::test]
async fn sighup_reloads_the_certificate_and_keeps_sessions() {
    let dir = temp_dir("tls-reload");
    let new_identity = || rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let old = new_identity();
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, old.cert.pem()).unwrap();
    std::fs::write(&key_path, old.signing_key.serialize_pem()).unwrap();
    let text =
        config(&dir, "", &client("shop", "secret1", "")) + &tls_section(&cert_path, &key_path);
    let gw = Gateway::start(&dir, &text);
    let trusts_old = trusting(&old.cert);
    let mut early = bound_over_tls(&gw, &trusts_old).await.unwrap();

    let renewed = new_identity();
    std::fs::write(&cert_path, renewed.cert.pem()).unwrap();
    std::fs::write(&key_path, renewed.signing_key.serialize_pem()).unwrap();
    gw.hup_and_wait("config reloaded").await;
    let trusts_renewed = trusting(&renewed.cert);
    let mut late = bound_over_tls(&gw, &trusts_renewed).await.unwrap();
    assert!(
        bound_over_tls(&gw, &trusts_old).await.is_err(),
        "the old certificate is still served after the reload"
    );
    let resp = early.request(submit("447700900123", "began before")).await;
    assert_eq!(resp.command_status, CommandStatus::ESME_ROK, "{resp:?}");
    let resp = late.request(submit("447700900123", "began after")).await;
    assert_eq!(resp.command_status, CommandStatus::ESME_ROK, "{resp:?}");

    // A key that does not parse: refused, and the renewed certificate stays in use.
    std::fs::write(&key_path, "not a key").unwrap();
    gw.hup_and_wait("reload refused").await;
    assert!(
        gw.logs().contains("server.tls.key"),
        "the error names the key"
    );
    bound_over_tls(&gw, &trusts_renewed).await.unwrap();
}
