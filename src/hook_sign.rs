//! Standard Webhooks 1.0 signatures (symmetric, `v1`): what a receiver checks to know a
//! webhook came from smppd, unchanged, and recently.
//!
//! Each request carries three headers: `webhook-id`, the event's id (the same on every retry,
//! so receivers can drop duplicates); `webhook-timestamp`, the attempt's unix time in seconds;
//! and `webhook-signature`, `v1,` and the base64 of HMAC-SHA256 under the endpoint's secret of
//! `{id}.{timestamp}.{body}`. During a key rotation the request is signed with both secrets,
//! the current one first, and the header holds both signatures separated by a space; a
//! receiver accepts the request when any one of them verifies under its secret.
//!
//! Secrets are written `whsec_` and the base64 (standard alphabet) of at least 24 random
//! bytes, as Standard Webhooks serialises them. As its reference libraries do, the prefix may
//! be left out and the base64 padding too. A secrets file holds the current secret on its
//! first line and, during a rotation, the previous one on its second ([`Secrets`]).
//!
//! The id must not contain a `.` (the spec's rule, so that `{id}.{timestamp}` cannot be read
//! two ways); smppd's event ids are its own, never a client's text.

use base64::engine::general_purpose::{STANDARD, STANDARD_PAD_INDIFFERENT};
use base64::{DecodeError, Engine};
use ring::hmac;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

/// The event's id, the same on every attempt.
pub const ID_HEADER: &str = "webhook-id";
/// The attempt's unix time in seconds.
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
/// `v1,<base64>`, one per secret, separated by spaces.
pub const SIGNATURE_HEADER: &str = "webhook-signature";
/// How a symmetric secret's text starts.
pub const SECRET_PREFIX: &str = "whsec_";
/// Shortest key, in bytes (Standard Webhooks: "at least 24 bytes").
pub const MIN_SECRET_BYTES: usize = 24;
/// How far a timestamp may be from the verifier's clock, either way: Standard Webhooks'
/// reference libraries use 5 minutes.
pub const TOLERANCE: Duration = Duration::from_secs(5 * 60);

/// The version tag of an HMAC-SHA256 signature.
const VERSION: &str = "v1";

/// An endpoint's HMAC key. Parsed from `whsec_<base64>` text; `Debug` shows only its length.
#[derive(Clone)]
pub struct Secret {
    key: hmac::Key,
    len: usize,
}

impl Secret {
    /// A secret from the key's bytes (at least [`MIN_SECRET_BYTES`]).
    pub fn from_bytes(key: &[u8]) -> Result<Self, SecretError> {
        if key.is_empty() {
            return Err(SecretError::Empty);
        }
        if key.len() < MIN_SECRET_BYTES {
            return Err(SecretError::TooShort { bytes: key.len() });
        }
        Ok(Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, key),
            len: key.len(),
        })
    }

    /// The HMAC of `{id}.{timestamp}.{body}` under this secret.
    fn tag(&self, id: &str, timestamp: i64, body: &[u8]) -> hmac::Tag {
        let mut context = hmac::Context::with_key(&self.key);
        context.update(id.as_bytes());
        context.update(b".");
        context.update(timestamp.to_string().as_bytes());
        context.update(b".");
        context.update(body);
        context.sign()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret(<redacted>, {} bytes)", self.len)
    }
}

/// `whsec_<base64>`, or the base64 alone; the padding may be left out.
impl FromStr for Secret {
    type Err = SecretError;

    fn from_str(text: &str) -> Result<Self, SecretError> {
        if let Some(prefix) = ["whsk_", "whpk_"].into_iter().find(|p| text.starts_with(p)) {
            return Err(SecretError::Asymmetric { prefix });
        }
        let (skipped, base64) = match text.strip_prefix(SECRET_PREFIX) {
            Some(rest) => (SECRET_PREFIX.len(), rest),
            None => (0, text),
        };
        if base64.is_empty() {
            return Err(SecretError::Empty);
        }
        let key = STANDARD_PAD_INDIFFERENT
            .decode(base64)
            .map_err(|e| SecretError::NotBase64 {
                reason: not_base64(text, skipped, &e),
            })?;
        Self::from_bytes(&key)
    }
}

/// What is wrong with a base64 key, saying where; never the key's own characters.
fn not_base64(text: &str, skipped: usize, error: &DecodeError) -> String {
    // 1-based position in characters of the whole text, prefix included.
    let position = |offset: usize| {
        let at = skipped + offset;
        text.get(..at).map_or(at, |before| before.chars().count()) + 1
    };
    match *error {
        DecodeError::InvalidByte(offset, _) => {
            let found = text
                .get(skipped + offset..)
                .and_then(|rest| rest.chars().next())
                .unwrap_or('?');
            let hint = match found {
                '-' | '_' => " (URL-safe base64? secrets use the standard alphabet: + and /)",
                '=' => " (padding only goes at the end)",
                c if c.is_whitespace() => " (no spaces inside a secret)",
                _ => "",
            };
            format!(
                "{found:?} at position {} is not in the standard base64 alphabet (A-Z a-z 0-9 \
                 + /){hint}",
                position(offset)
            )
        }
        DecodeError::InvalidLength(symbols) => format!(
            "{symbols} base64 characters cannot be whole bytes (a character lost or added?)"
        ),
        DecodeError::InvalidLastSymbol { offset, .. } => format!(
            "the last character, at position {}, has bits left over (the secret is cut short \
             or mistyped)",
            position(offset)
        ),
        DecodeError::InvalidPadding => "its `=` padding is wrong".to_owned(),
    }
}

/// Why text is not a secret.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// Nothing, or `whsec_` alone.
    #[error("empty: expected whsec_ followed by the base64 of the key")]
    Empty,
    /// The key's text is not base64.
    #[error("not base64: {reason}")]
    NotBase64 {
        /// What is wrong, and where.
        reason: String,
    },
    /// The key has fewer than [`MIN_SECRET_BYTES`].
    #[error(
        "the key is {bytes} bytes; Standard Webhooks needs at least {MIN_SECRET_BYTES} (e.g. \
         whsec_ followed by the output of `openssl rand -base64 32`)"
    )]
    TooShort {
        /// Its length.
        bytes: usize,
    },
    /// An ed25519 key of Standard Webhooks' asymmetric scheme.
    #[error(
        "{prefix}… is an ed25519 key (the asymmetric v1a scheme); smppd signs with HMAC \
         secrets, whsec_ followed by base64"
    )]
    Asymmetric {
        /// `whsk_` or `whpk_`.
        prefix: &'static str,
    },
}

/// An endpoint's secrets: the current one, and during a key rotation the previous one too.
/// Both sign every request; the current one's signature comes first.
#[derive(Clone, Debug)]
pub struct Secrets(Vec<Secret>);

impl Secrets {
    /// The secret alone, with no rotation under way.
    pub fn one(current: Secret) -> Self {
        Self(vec![current])
    }

    /// During a rotation: `current` (the new one) and `previous`.
    pub fn rotating(current: Secret, previous: Secret) -> Self {
        Self(vec![current, previous])
    }

    /// A secrets file's text: one secret per line, the current one first, a second line only
    /// during a rotation. Blank lines are skipped and `#` starts a comment to the end of its
    /// line (base64 has no `#`).
    pub fn parse(text: &str) -> Result<Self, SecretsError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut secrets = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let line_number = index + 1;
            let content = line.split('#').next().unwrap_or_default().trim();
            if content.is_empty() {
                continue;
            }
            if secrets.len() == 2 {
                return Err(SecretsError::TooMany { line: line_number });
            }
            let secret = content.parse().map_err(|source| SecretsError::Line {
                line: line_number,
                source,
            })?;
            secrets.push(secret);
        }
        if secrets.is_empty() {
            return Err(SecretsError::NoSecret);
        }
        Ok(Self(secrets))
    }

    /// [`parse`](Self::parse) of the file at `path`.
    pub fn load(path: &Path) -> Result<Self, SecretsFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| SecretsFileError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text).map_err(|source| SecretsFileError::Content {
            path: path.to_path_buf(),
            source,
        })
    }

    /// The secret that signs first.
    pub fn current(&self) -> &Secret {
        &self.0[0]
    }

    /// The secret being rotated out, if any.
    pub fn previous(&self) -> Option<&Secret> {
        self.0.get(1)
    }

    /// Every secret that signs, the current one first.
    pub fn as_slice(&self) -> &[Secret] {
        &self.0
    }
}

/// What is wrong in a secrets file's text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SecretsError {
    /// A line that is not a secret.
    #[error("line {line}: {source}")]
    Line {
        /// 1-based.
        line: usize,
        /// Why.
        source: SecretError,
    },
    /// Only blank lines and comments.
    #[error("no secret: expected one line whsec_…, or two during a key rotation")]
    NoSecret,
    /// A third secret.
    #[error(
        "line {line}: a third secret; the file holds one, or two during a key rotation (the \
         new one first)"
    )]
    TooMany {
        /// 1-based.
        line: usize,
    },
}

/// Why a secrets file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SecretsFileError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file does not hold one or two secrets.
    #[error("{}: {source}", path.display())]
    Content {
        /// The file.
        path: PathBuf,
        /// What is wrong, and on which line.
        source: SecretsError,
    },
}

/// The `webhook-signature` value of `body` sent as event `id` at `timestamp` (unix seconds):
/// `v1,<base64>` for each secret in order, separated by a space. Empty when `secrets` is.
pub fn sign(secrets: &[Secret], id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut header = String::with_capacity(secrets.len() * 48);
    for secret in secrets {
        if !header.is_empty() {
            header.push(' ');
        }
        header.push_str(VERSION);
        header.push(',');
        STANDARD.encode_string(secret.tag(id, timestamp, body), &mut header);
    }
    header
}

/// The three headers of one attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Headers {
    /// `webhook-id`.
    pub id: String,
    /// `webhook-timestamp`, unix seconds.
    pub timestamp: i64,
    /// `webhook-signature`.
    pub signature: String,
}

impl Headers {
    /// The headers of `body` sent as event `id` at `timestamp` (unix seconds), signed with
    /// each of `secrets`.
    pub fn sign(secrets: &[Secret], id: &str, timestamp: i64, body: &[u8]) -> Self {
        Self {
            id: id.to_owned(),
            timestamp,
            signature: sign(secrets, id, timestamp, body),
        }
    }

    /// Name and value of each header, for the HTTP request.
    pub fn pairs(&self) -> [(&'static str, String); 3] {
        [
            (ID_HEADER, self.id.clone()),
            (TIMESTAMP_HEADER, self.timestamp.to_string()),
            (SIGNATURE_HEADER, self.signature.clone()),
        ]
    }
}

/// The current unix time in seconds, for [`sign`] and [`verify`].
pub fn unix_now() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// Checks a request as a receiver would: the `timestamp` header (text, as received) within
/// `tolerance` of `now` (unix seconds) either way, and one of the `v1` signatures in the
/// `signature` header matching `body` and `id` under one of `secrets`. Signatures of other
/// versions are skipped.
pub fn verify(
    secrets: &[Secret],
    id: &str,
    timestamp: &str,
    signature: &str,
    body: &[u8],
    now: i64,
    tolerance: Duration,
) -> Result<(), VerifyError> {
    if id.is_empty() {
        return Err(VerifyError::Missing(ID_HEADER));
    }
    if timestamp.is_empty() {
        return Err(VerifyError::Missing(TIMESTAMP_HEADER));
    }
    if signature.is_empty() {
        return Err(VerifyError::Missing(SIGNATURE_HEADER));
    }
    let sent: i64 = timestamp
        .parse()
        .map_err(|_| VerifyError::Timestamp(timestamp.to_owned()))?;
    let tolerance = i64::try_from(tolerance.as_secs()).unwrap_or(i64::MAX);
    let age = i128::from(now) - i128::from(sent);
    if age > i128::from(tolerance) {
        return Err(VerifyError::TooOld { seconds: age });
    }
    if -age > i128::from(tolerance) {
        return Err(VerifyError::TooNew { seconds: -age });
    }
    if secrets.is_empty() {
        return Err(VerifyError::NoSecret);
    }
    let candidates: Vec<Vec<u8>> = signature
        .split(' ')
        .filter_map(|entry| entry.split_once(','))
        .filter(|(version, _)| *version == VERSION)
        .filter_map(|(_, value)| STANDARD.decode(value).ok())
        .collect();
    if candidates.is_empty() {
        return Err(VerifyError::NoV1Signature);
    }
    // As the reference libraries do: the timestamp as parsed, not as written.
    let sent = sent.to_string();
    let signed = [id.as_bytes(), b".", sent.as_bytes(), b".", body].concat();
    let matches = secrets.iter().any(|secret| {
        candidates
            .iter()
            .any(|candidate| hmac::verify(&secret.key, &signed, candidate).is_ok())
    });
    if matches {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

/// Why a request does not verify.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// A header is missing or empty.
    #[error("no {0} header")]
    Missing(&'static str),
    /// `webhook-timestamp` is not an integer.
    #[error("webhook-timestamp {0:?} is not a unix time in whole seconds")]
    Timestamp(String),
    /// The timestamp is further in the past than the tolerance.
    #[error(
        "webhook-timestamp is {seconds} s old, past the tolerance (a replay, or clocks apart)"
    )]
    TooOld {
        /// How old.
        seconds: i128,
    },
    /// The timestamp is further in the future than the tolerance.
    #[error("webhook-timestamp is {seconds} s ahead, past the tolerance (clocks apart)")]
    TooNew {
        /// How far ahead.
        seconds: i128,
    },
    /// No secret to verify with.
    #[error("no secret to verify with")]
    NoSecret,
    /// `webhook-signature` holds no decodable `v1,<base64>` signature.
    #[error("webhook-signature holds no v1 signature")]
    NoV1Signature,
    /// No signature matches under any secret.
    #[error("no v1 signature matches: another secret, or the id, timestamp or body changed")]
    Mismatch,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The known-answer vector of the reference libraries' own tests (python
    /// `test_sign_function`, go `TestWebhookSign`).
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TIMESTAMP: i64 = 1614265330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    /// Another secret, for rotations (the rust reference library's test secret).
    const OTHER: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

    fn secret(text: &str) -> Secret {
        text.parse().unwrap()
    }

    fn check(
        secrets: &[Secret],
        signature: &str,
        id: &str,
        timestamp: i64,
        body: &[u8],
    ) -> Result<(), VerifyError> {
        verify(
            secrets,
            id,
            &timestamp.to_string(),
            signature,
            body,
            TIMESTAMP,
            TOLERANCE,
        )
    }

    #[test]
    fn signs_the_reference_vectors() {
        assert_eq!(sign(&[secret(SECRET)], ID, TIMESTAMP, BODY), SIGNATURE);
        // The rust reference library's `test_sign`.
        assert_eq!(
            sign(
                &[secret(OTHER)],
                "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
                1649367553,
                br#"{"email":"test@example.com","username":"test_user"}"#
            ),
            "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="
        );
        check(&[secret(SECRET)], SIGNATURE, ID, TIMESTAMP, BODY).unwrap();
        // The python library's `test_invalid_signature_raises_error`: one character off.
        assert_eq!(
            check(
                &[secret(SECRET)],
                "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA=",
                ID,
                TIMESTAMP,
                BODY
            ),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn headers_carry_id_timestamp_and_signature() {
        let headers = Headers::sign(&[secret(SECRET)], ID, TIMESTAMP, BODY);
        assert_eq!(
            headers.pairs(),
            [
                ("webhook-id", ID.to_owned()),
                ("webhook-timestamp", "1614265330".to_owned()),
                ("webhook-signature", SIGNATURE.to_owned()),
            ]
        );
    }

    #[test]
    fn secret_text_with_or_without_prefix_and_padding() {
        // The base64 alone, as the reference libraries accept.
        let bare = SECRET.strip_prefix(SECRET_PREFIX).unwrap();
        assert_eq!(sign(&[secret(bare)], ID, TIMESTAMP, BODY), SIGNATURE);
        // 32 bytes: 44 characters with one `=`, accepted with and without it.
        let padded = format!("whsec_{}", STANDARD.encode([7u8; 32]));
        assert!(padded.ends_with('='));
        let unpadded = padded.trim_end_matches('=');
        assert_eq!(
            sign(&[secret(&padded)], ID, TIMESTAMP, BODY),
            sign(&[secret(unpadded)], ID, TIMESTAMP, BODY)
        );
        assert_eq!(
            sign(&[secret(&padded)], ID, TIMESTAMP, BODY),
            sign(
                &[Secret::from_bytes(&[7u8; 32]).unwrap()],
                ID,
                TIMESTAMP,
                BODY
            )
        );
    }

    #[test]
    fn bad_secrets_say_what_is_wrong() {
        let error = |text: &str| text.parse::<Secret>().unwrap_err().to_string();
        assert_eq!("".parse::<Secret>().unwrap_err(), SecretError::Empty);
        assert_eq!("whsec_".parse::<Secret>().unwrap_err(), SecretError::Empty);
        // 16 bytes.
        let short = format!("whsec_{}", STANDARD.encode([1u8; 16]));
        assert_eq!(
            short.parse::<Secret>().unwrap_err(),
            SecretError::TooShort { bytes: 16 }
        );
        assert!(error(&short).contains("16 bytes") && error(&short).contains("at least 24"));
        // 23 bytes is one short; 24 is enough.
        assert_eq!(
            STANDARD.encode([1u8; 23]).parse::<Secret>().unwrap_err(),
            SecretError::TooShort { bytes: 23 }
        );
        STANDARD.encode([1u8; 24]).parse::<Secret>().unwrap();
        // Positions count from 1 in the whole text, prefix included.
        let url_safe = "whsec_MfKQ9r8GKYqrTwjU-D8ILPZIo2LaLaSw";
        assert!(
            error(url_safe).starts_with("not base64: '-' at position 23"),
            "{}",
            error(url_safe)
        );
        assert!(error(url_safe).contains("URL-safe"));
        let spaced = "whsec_MfKQ9r8GKYqr TwjUPD8ILPZIo2LaLaSw";
        assert!(
            error(spaced).contains("' ' at position 19"),
            "{}",
            error(spaced)
        );
        assert!(error(spaced).contains("no spaces"));
        let accented = "whsec_é2FVsBQIhrscChlQIMV+b5sSYspob7oD";
        assert!(
            error(accented).contains("'é' at position 7"),
            "{}",
            error(accented)
        );
        // One character lost: 31 characters.
        let cut = &SECRET[..SECRET.len() - 1];
        assert!(error(cut).starts_with("not base64: "), "{}", error(cut));
        assert!(matches!(
            cut.parse::<Secret>().unwrap_err(),
            SecretError::NotBase64 { .. }
        ));
        assert!(matches!(
            "whsk_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
                .parse::<Secret>()
                .unwrap_err(),
            SecretError::Asymmetric { prefix: "whsk_" }
        ));
    }

    #[test]
    fn debug_never_shows_the_key() {
        let shown = format!("{:?}", secret(SECRET));
        assert_eq!(shown, "Secret(<redacted>, 24 bytes)");
        let shown = format!(
            "{:?}",
            Secrets::parse(&format!("{SECRET}\n{OTHER}\n")).unwrap()
        );
        assert!(
            !shown.contains("MfKQ") && !shown.contains("C2FV"),
            "{shown}"
        );
    }

    #[test]
    fn rotation_signs_with_both_and_each_verifies_alone() {
        let (new, old) = (secret(OTHER), secret(SECRET));
        let both = sign(&[new.clone(), old.clone()], ID, TIMESTAMP, BODY);
        let (first, second) = both.split_once(' ').unwrap();
        assert_eq!(first, sign(std::slice::from_ref(&new), ID, TIMESTAMP, BODY));
        assert_eq!(second, SIGNATURE);
        // A receiver with either secret accepts the request; one with neither does not.
        check(std::slice::from_ref(&new), &both, ID, TIMESTAMP, BODY).unwrap();
        check(std::slice::from_ref(&old), &both, ID, TIMESTAMP, BODY).unwrap();
        check(&[old, new], &both, ID, TIMESTAMP, BODY).unwrap();
        let stranger = Secret::from_bytes(&[9u8; 32]).unwrap();
        assert_eq!(
            check(&[stranger], &both, ID, TIMESTAMP, BODY),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn tampering_fails() {
        let secrets = [secret(SECRET)];
        let mismatch = Err(VerifyError::Mismatch);
        assert_eq!(
            check(
                &secrets,
                SIGNATURE,
                ID,
                TIMESTAMP,
                br#"{"test": 2432232315}"#
            ),
            mismatch
        );
        assert_eq!(check(&secrets, SIGNATURE, ID, TIMESTAMP, b""), mismatch);
        assert_eq!(
            check(
                &secrets,
                SIGNATURE,
                "msg_p5jXN8AQM9LWM0D4loKWxJel",
                TIMESTAMP,
                BODY
            ),
            mismatch
        );
        assert_eq!(
            check(&secrets, SIGNATURE, ID, TIMESTAMP + 1, BODY),
            mismatch
        );
        // Another version's signature is not tried.
        let v2 = SIGNATURE.replacen("v1,", "v2,", 1);
        assert_eq!(
            check(&secrets, &v2, ID, TIMESTAMP, BODY),
            Err(VerifyError::NoV1Signature)
        );
        // Garbage around the real signature does not hide it (the references' multi-sig test).
        let noisy = format!(
            "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= v2,xyz junk v1,!!! {SIGNATURE}"
        );
        check(&secrets, &noisy, ID, TIMESTAMP, BODY).unwrap();
    }

    #[test]
    fn timestamps_outside_the_tolerance_fail() {
        let secrets = [secret(SECRET)];
        let at = |now: i64| verify(&secrets, ID, "1614265330", SIGNATURE, BODY, now, TOLERANCE);
        // 5 minutes either way is still in.
        at(TIMESTAMP + 300).unwrap();
        at(TIMESTAMP - 300).unwrap();
        assert_eq!(
            at(TIMESTAMP + 301),
            Err(VerifyError::TooOld { seconds: 301 })
        );
        assert_eq!(
            at(TIMESTAMP - 301),
            Err(VerifyError::TooNew { seconds: 301 })
        );
        assert_eq!(
            at(TIMESTAMP + 86_400),
            Err(VerifyError::TooOld { seconds: 86_400 })
        );
        // A wider tolerance lets an old one through.
        verify(
            &secrets,
            ID,
            "1614265330",
            SIGNATURE,
            BODY,
            TIMESTAMP + 3600,
            Duration::from_secs(3600),
        )
        .unwrap();
        // Far-off values do not overflow.
        assert!(matches!(
            verify(
                &secrets,
                ID,
                &i64::MIN.to_string(),
                SIGNATURE,
                BODY,
                i64::MAX,
                TOLERANCE
            ),
            Err(VerifyError::TooOld { .. })
        ));
    }

    #[test]
    fn missing_and_malformed_headers() {
        let secrets = [secret(SECRET)];
        let run = |id: &str, timestamp: &str, signature: &str| {
            verify(
                &secrets, id, timestamp, signature, BODY, TIMESTAMP, TOLERANCE,
            )
        };
        assert_eq!(
            run("", "1614265330", SIGNATURE),
            Err(VerifyError::Missing(ID_HEADER))
        );
        assert_eq!(
            run(ID, "", SIGNATURE),
            Err(VerifyError::Missing(TIMESTAMP_HEADER))
        );
        assert_eq!(
            run(ID, "1614265330", ""),
            Err(VerifyError::Missing(SIGNATURE_HEADER))
        );
        assert_eq!(
            run(ID, "hello", SIGNATURE),
            Err(VerifyError::Timestamp("hello".to_owned()))
        );
        assert_eq!(
            run(ID, "1614265330.5", SIGNATURE),
            Err(VerifyError::Timestamp("1614265330.5".to_owned()))
        );
        assert_eq!(
            verify(&[], ID, "1614265330", SIGNATURE, BODY, TIMESTAMP, TOLERANCE),
            Err(VerifyError::NoSecret)
        );
        assert_eq!(sign(&[], ID, TIMESTAMP, BODY), "");
    }

    #[test]
    fn secrets_files() {
        let one =
            Secrets::parse(&format!("# shop.example, since March\n\n  {SECRET}  \n")).unwrap();
        assert_eq!(one.as_slice().len(), 1);
        assert!(one.previous().is_none());
        assert_eq!(sign(one.as_slice(), ID, TIMESTAMP, BODY), SIGNATURE);

        // Two lines: the first is the current one and signs first. CRLF, a BOM and trailing
        // comments are fine.
        let text = format!("\u{feff}{OTHER} # new\r\n{SECRET}  # old, until Friday\r\n");
        let two = Secrets::parse(&text).unwrap();
        assert_eq!(
            sign(two.as_slice(), ID, TIMESTAMP, BODY),
            sign(&[secret(OTHER), secret(SECRET)], ID, TIMESTAMP, BODY)
        );
        assert_eq!(
            sign(std::slice::from_ref(two.current()), ID, TIMESTAMP, BODY),
            sign(&[secret(OTHER)], ID, TIMESTAMP, BODY)
        );
        assert_eq!(
            sign(
                std::slice::from_ref(two.previous().unwrap()),
                ID,
                TIMESTAMP,
                BODY
            ),
            SIGNATURE
        );

        assert_eq!(Secrets::parse("").unwrap_err(), SecretsError::NoSecret);
        assert_eq!(
            Secrets::parse("# nothing yet\n\n").unwrap_err(),
            SecretsError::NoSecret
        );
        assert_eq!(
            Secrets::parse(&format!("{SECRET}\n# x\n{OTHER}\n\n{SECRET}\n")).unwrap_err(),
            SecretsError::TooMany { line: 5 }
        );
        let bad = Secrets::parse(&format!("# comment\n{SECRET}\nwhsec_abc\n")).unwrap_err();
        assert!(
            matches!(
                bad,
                SecretsError::Line {
                    line: 3,
                    source: SecretError::TooShort { bytes: 2 }
                }
            ),
            "{bad:?}"
        );
        assert!(
            bad.to_string().starts_with("line 3: the key is 2 bytes"),
            "{bad}"
        );
    }

    #[test]
    fn loading_a_secrets_file_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shop.secret");
        std::fs::write(&path, format!("{SECRET}\n")).unwrap();
        let loaded = Secrets::load(&path).unwrap();
        assert_eq!(sign(loaded.as_slice(), ID, TIMESTAMP, BODY), SIGNATURE);

        std::fs::write(&path, "whsec_not*base64\n").unwrap();
        let error = Secrets::load(&path).unwrap_err().to_string();
        assert!(
            error.starts_with(&format!(
                "{}: line 1: not base64: '*' at position 10",
                path.display()
            )),
            "{error}"
        );

        let missing = dir.path().join("missing.secret");
        let error = Secrets::load(&missing).unwrap_err().to_string();
        assert!(
            error.starts_with(&format!("cannot read {}: ", missing.display())),
            "{error}"
        );
    }
}
