//! The small checks every section shares: each turns one raw value into a validated one or
//! says why not (`Err(reason)`), and [`Problems`] records each reason at its key path so that
//! every problem is reported, not just the first. `validate.rs` calls them section by section;
//! the SMPP 3.4 field limits they enforce are here too.

use super::raw::{RawAmount, RawSize, RawStatus};
use super::{AddressPattern, ConfigError, IpNet, Password, Secret};
use smpp_proto::CommandStatus;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::num::{NonZeroU32, NonZeroUsize};
use std::path::PathBuf;
use std::time::Duration;

/// `system_id` is a C-Octet String of at most 16 octets with its NUL (SMPP 3.4 §4.1.1).
const SYSTEM_ID_MAX: usize = 15;
/// `password` is a C-Octet String of at most 9 octets with its NUL (SMPP 3.4 §4.1.1).
pub(super) const PASSWORD_MAX: usize = 8;
/// `source_addr` and `destination_addr` are C-Octet Strings of at most 21 octets with their
/// NUL (SMPP 3.4 §4.4.1).
const ADDR_MAX: usize = 20;
/// `system_type` is a C-Octet String of at most 13 octets with its NUL (SMPP 3.4 §4.1.1).
pub(super) const SYSTEM_TYPE_MAX: usize = 12;
/// Longest `service_type` (SMPP 3.4 §5.2.11: C-Octet String of 6).
const SERVICE_TYPE_MAX: usize = 5;
/// `address_range` is a C-Octet String of at most 41 octets with its NUL (SMPP 3.4 §4.1.1).
pub(super) const ADDRESS_RANGE_MAX: usize = 40;
/// Longest carrier or route name: it labels metrics and names queues in the admin API.
const NAME_MAX: usize = 32;
/// TON values SMPP 3.4 defines (§5.2.5).
pub(super) const TONS: &[u8] = &[0, 1, 2, 3, 4, 5, 6];
/// NPI values SMPP 3.4 defines (§5.2.6).
pub(super) const NPIS: &[u8] = &[0, 1, 3, 4, 6, 8, 9, 10, 14, 18];

/// The problems found so far. Each check records its problem here and returns `None`, so
/// that a section is built only when all its keys are good, and every key is looked at.
#[derive(Default)]
pub(super) struct Problems(pub(super) Vec<ConfigError>);

impl Problems {
    pub(super) fn add(&mut self, key: impl Into<String>, reason: impl Into<String>) {
        self.0.push(ConfigError::new(key, reason));
    }

    /// `Ok` → `Some`; `Err(reason)` → a problem at `key`.
    pub(super) fn check<T>(&mut self, key: &str, result: Result<T, String>) -> Option<T> {
        result.map_err(|reason| self.add(key, reason)).ok()
    }

    /// A list the file must give, with an item at least: each checked under `key[i]`, none
    /// twice. `what` says what it lists (`the carriers to send through`), `one` what an
    /// item is (`carrier`).
    pub(super) fn required_list<U>(
        &mut self,
        key: &str,
        items: Option<Vec<String>>,
        (what, one): (&str, &str),
        check: impl Fn(&String) -> Result<U, String>,
    ) -> Option<Vec<U>> {
        match items {
            None => {
                self.add(key, format!("required: {what}"));
                None
            }
            Some(items) if items.is_empty() => {
                self.add(key, format!("empty: name at least one {one}"));
                None
            }
            Some(items) => {
                let checked = self.list(key, &items, check);
                repeats(key, &items, self);
                checked
            }
        }
    }

    /// Every item of a list, each checked under `key[i]`; `None` if any is bad.
    pub(super) fn list<T, U>(
        &mut self,
        key: &str,
        items: &[T],
        check: impl Fn(&T) -> Result<U, String>,
    ) -> Option<Vec<U>> {
        let checked: Vec<Option<U>> = items
            .iter()
            .enumerate()
            .map(|(i, item)| self.check(&format!("{key}[{i}]"), check(item)))
            .collect();
        checked.into_iter().collect()
    }
}

/// Reports the second and later uses of each name at `{section}[i].{field}`.
pub(super) fn unique_names<'a>(
    section: &str,
    field: &str,
    names: impl Iterator<Item = Option<&'a str>>,
    p: &mut Problems,
) {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, name) in names.enumerate() {
        let Some(name) = name else { continue };
        match seen.get(name) {
            Some(first) => p.add(
                format!("{section}[{i}].{field}"),
                format!("`{name}` is also {section}[{first}].{field}; each must be unique"),
            ),
            None => {
                seen.insert(name, i);
            }
        }
    }
}

/// Reports the second and later uses of each item of the list at `key` (`key[j]`).
fn repeats(key: &str, items: &[String], p: &mut Problems) {
    for (j, item) in items.iter().enumerate() {
        if let Some(first) = items.iter().position(|i| i == item).filter(|&f| f < j) {
            p.add(
                format!("{key}[{j}]"),
                format!("`{item}` is also {key}[{first}]"),
            );
        }
    }
}

/// Reports `max_key` when both durations are known and `max < min`.
pub(super) fn at_most(
    max_key: &str,
    min_name: &str,
    min: Option<Duration>,
    max: Option<Duration>,
    p: &mut Problems,
) {
    if let (Some(min), Some(max)) = (min, max) {
        if max < min {
            p.add(
                max_key,
                format!(
                    "must be at least {min_name} ({}), not {}",
                    humantime::format_duration(min),
                    humantime::format_duration(max),
                ),
            );
        }
    }
}

/// Log levels, quietest last.
const LOG_LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

/// `tracing` filter directives, each a level (`info`) or a module and its level
/// (`smppd::carrier=debug`). A bare word would be taken as a module name and quietly log
/// everything in it: a typo'd level must not do that.
pub(super) fn log_filter(text: &str) -> Result<String, String> {
    let bad = |why: String| {
        format!(
            "`{text}` is not a log level or filter ({why}); write a level ({}) or \
             directives like \"info,smppd::carrier=debug\"",
            LOG_LEVELS.join(", ")
        )
    };
    for directive in text.split(',').map(str::trim) {
        let level = directive.rsplit('=').next().unwrap_or(directive);
        if !LOG_LEVELS.contains(&level.to_ascii_lowercase().as_str()) {
            return Err(bad(format!("`{level}` is not a level")));
        }
    }
    tracing_subscriber::EnvFilter::builder()
        .parse(text)
        .map(|_| text.to_owned())
        .map_err(|e| bad(e.to_string()))
}

/// Shortest admin token: long enough that guessing it over HTTP is hopeless.
const ADMIN_TOKEN_MIN: usize = 16;

/// A bearer token: at least 16 visible ASCII characters (it travels in an HTTP header).
/// Reasons never quote the token.
pub(super) fn admin_token(token: &str) -> Result<Secret, String> {
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("must be visible ASCII characters, no spaces".to_owned());
    }
    if token.len() < ADMIN_TOKEN_MIN {
        return Err(format!(
            "must be at least {ADMIN_TOKEN_MIN} characters, this one has {} (make one with \
             `openssl rand -hex 24`)",
            token.len()
        ));
    }
    Ok(Secret::new(token))
}

/// The token in a file (its first line, surrounding whitespace dropped), checked like
/// `admin.token`.
pub(super) fn token_from_file(path: &std::path::Path) -> Result<Secret, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let token = text.lines().next().unwrap_or("").trim();
    admin_token(token).map_err(|reason| format!("the token in {}: {reason}", path.display()))
}

pub(super) fn required<T>(value: Option<T>) -> Result<T, String> {
    value.ok_or_else(|| "required".to_owned())
}

/// A `service_type` value: 1–5 printable ASCII characters (a C-Octet String of 6).
pub(super) fn service_type(text: &str) -> Result<(), String> {
    if text.is_empty() || text.len() > SERVICE_TYPE_MAX || !printable(text) {
        return Err(format!(
            "service_type `{text}` must be 1–{SERVICE_TYPE_MAX} printable ASCII characters"
        ));
    }
    Ok(())
}

pub(super) fn printable(text: &str) -> bool {
    text.chars().all(|c| c == ' ' || c.is_ascii_graphic())
}

/// A carrier or route name: 1–32 of `[A-Za-z0-9_-]`.
pub(super) fn name(name: &str) -> Result<String, String> {
    if name.is_empty() || name.len() > NAME_MAX {
        return Err(format!("`{name}` must be 1–{NAME_MAX} characters"));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(format!(
            "`{name}` may hold only letters, digits, `_` and `-`"
        ));
    }
    Ok(name.to_owned())
}

/// A hostname or an IP address (IPv6 without brackets).
pub(super) fn host(host: &str) -> Result<String, String> {
    tls_name(host).map_err(|_| {
        format!(
            "`{host}` is not a hostname or IP address (like \"smsc.example.com\", \"10.0.0.5\")"
        )
    })
}

/// A name a TLS peer can be verified against: a DNS name or an IP address.
pub(super) fn tls_name(name: &str) -> Result<String, String> {
    match rustls::pki_types::ServerName::try_from(name) {
        Ok(_) => Ok(name.to_owned()),
        Err(_) => Err(format!("`{name}` is not a DNS name or IP address")),
    }
}

/// A bind field (`system_type`, `address_range`): printable ASCII, at most `max`, may be
/// empty.
pub(super) fn bind_field(text: &str, max: usize) -> Result<String, String> {
    if !printable(text) {
        return Err("must be printable ASCII".to_owned());
    }
    if text.len() > max {
        return Err(format!(
            "`{text}` is {} characters; SMPP 3.4 allows at most {max}",
            text.len()
        ));
    }
    Ok(text.to_owned())
}

/// A TON or NPI value the spec defines.
pub(super) fn address_code(value: i64, allowed: &[u8], what: &str) -> Result<u8, String> {
    match u8::try_from(value) {
        Ok(code) if allowed.contains(&code) => Ok(code),
        _ => Err(format!(
            "{value} is not an SMPP 3.4 {what}; expected one of {}",
            allowed
                .iter()
                .map(u8::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// An optional messages-per-second limit, at least 1.
pub(super) fn optional_rate(
    key: &str,
    rate: Option<i64>,
    p: &mut Problems,
) -> Option<Option<NonZeroU32>> {
    match rate {
        None => Some(None),
        Some(rate) => p.check(key, non_zero_u32(rate, None)).map(Some),
    }
}

/// An error `command_status`: a number, or a name (`ESME_RTHROTTLED`, `RTHROTTLED`, any
/// case), or a hex string (`"0x58"`).
pub(super) fn status(raw: &RawStatus) -> Result<CommandStatus, String> {
    let status = match raw {
        RawStatus::Code(code) => u32::try_from(*code)
            .map(CommandStatus)
            .map_err(|_| format!("{code} is not a command_status (0–0xFFFFFFFF)"))?,
        RawStatus::Name(name) => {
            let hex = name
                .strip_prefix("0x")
                .or_else(|| name.strip_prefix("0X"))
                .and_then(|hex| u32::from_str_radix(hex, 16).ok());
            hex.map(CommandStatus)
                .or_else(|| CommandStatus::from_name(name))
                .or_else(|| CommandStatus::from_name(&format!("ESME_{name}")))
                .ok_or_else(|| {
                    format!("`{name}` is not a command_status name (like \"ESME_RTHROTTLED\")")
                })?
        }
    };
    if status.is_ok() {
        return Err("0 is ESME_ROK, a success, not an error status".to_owned());
    }
    Ok(status)
}

/// A destination prefix: 1–20 digits, a leading `+` ignored.
pub(super) fn destination_prefix(text: &str) -> Result<String, String> {
    let digits = text.strip_prefix('+').unwrap_or(text);
    let what = "a number prefix (digits, like \"44\" or \"+4477\")";
    digits_only(text, digits, what, "destination_addr")
}

/// A short code: 1–20 digits, no `+` (a short code is no international number).
pub(super) fn short_code(text: &str) -> Result<String, String> {
    digits_only(
        text,
        text,
        "a short code (digits, like \"36123\")",
        "source_addr",
    )
}

/// `digits` (`text` as written, for the problem) if it is 1–20 digits, the most an address
/// field (`field`) holds; otherwise `text` is not `what`.
fn digits_only(text: &str, digits: &str, what: &str, field: &str) -> Result<String, String> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("`{text}` is not {what}"));
    }
    if digits.len() > ADDR_MAX {
        return Err(format!(
            "`{text}` is longer than {ADDR_MAX} digits (the {field} limit)"
        ));
    }
    Ok(digits.to_owned())
}

/// 1–15 printable ASCII characters.
pub(super) fn system_id(id: &str) -> Result<String, String> {
    if id.is_empty() {
        return Err("must not be empty".to_owned());
    }
    if !id.chars().all(|c| c == ' ' || c.is_ascii_graphic()) {
        return Err("must be printable ASCII".to_owned());
    }
    if id.len() > SYSTEM_ID_MAX {
        return Err(format!(
            "`{id}` is {} characters; SMPP 3.4 allows at most {SYSTEM_ID_MAX}",
            id.len()
        ));
    }
    Ok(id.to_owned())
}

/// An argon2 PHC string (`$argon2…`), or a plain password of 1–8 printable ASCII characters.
/// Reasons never quote the password.
pub(super) fn password(password: String) -> Result<Password, String> {
    if password.starts_with("$argon2") {
        return argon2_phc(&password)
            .map(|()| Password::Argon2(password))
            .map_err(|e| format!("not a valid argon2 PHC string: {e}"));
    }
    if password.is_empty() {
        return Err("must not be empty".to_owned());
    }
    if !password.chars().all(|c| c == ' ' || c.is_ascii_graphic()) {
        return Err("a plain password must be printable ASCII".to_owned());
    }
    if password.len() > PASSWORD_MAX {
        return Err(format!(
            "a plain password is at most {PASSWORD_MAX} characters in SMPP 3.4, this one has {}; \
             use a shorter one or an argon2 PHC string (\"$argon2id$…\")",
            password.len()
        ));
    }
    Ok(Password::Plain(password))
}

/// An HTTP API key as the config keeps it: its argon2 PHC string (`smppctl hash-password`),
/// never the key itself.
pub(super) fn api_key_hash(phc: &str) -> Result<String, String> {
    if !phc.starts_with("$argon2") {
        return Err(
            "must be an argon2 PHC string (\"$argon2id$…\", from `smppctl hash-password`), \
             not the key itself"
                .to_owned(),
        );
    }
    argon2_phc(phc)
        .map(|()| phc.to_owned())
        .map_err(|e| format!("not a valid argon2 PHC string: {e}"))
}

/// A PHC string that a bind can be verified against: an argon2 variant, valid parameters,
/// a salt and a hash.
fn argon2_phc(phc: &str) -> Result<(), String> {
    let hash = argon2::PasswordHash::new(phc).map_err(|e| e.to_string())?;
    argon2::Algorithm::try_from(hash.algorithm).map_err(|e| e.to_string())?;
    argon2::Params::try_from(&hash).map_err(|e| e.to_string())?;
    if hash.salt.is_none() {
        return Err("no salt".to_owned());
    }
    if hash.hash.is_none() {
        return Err("no hash".to_owned());
    }
    Ok(())
}

pub(super) fn socket_addr(text: &str) -> Result<SocketAddr, String> {
    text.parse().map_err(|_| {
        format!("`{text}` is not a socket address (like \"127.0.0.1:2775\" or \"[::1]:2775\")")
    })
}

/// A humantime duration ("30s", "5m", "250ms") greater than zero.
pub(super) fn positive_duration(text: &str) -> Result<Duration, String> {
    match humantime::parse_duration(text) {
        Ok(d) if d.is_zero() => Err(format!("`{text}` is zero; must be greater than zero")),
        Ok(d) => Ok(d),
        Err(e) => Err(format!(
            "`{text}` is not a duration like \"30s\", \"5m\", \"250ms\": {e}"
        )),
    }
}

/// A size in bytes: "256MiB", "1.5 GiB", "100MB" (KiB, MiB, GiB and TiB count in 1024s; KB,
/// MB, GB and TB in 1000s), or a plain number of bytes.
pub(super) fn byte_size(size: &RawSize) -> Result<u64, String> {
    match size {
        RawSize::Bytes(n) => u64::try_from(*n).map_err(|_| format!("{n} is negative")),
        RawSize::Text(text) => text
            .trim()
            .parse::<bytesize::ByteSize>()
            .map(|s| s.0)
            .map_err(|_| format!("`{text}` is not a size like \"256MiB\", \"1GiB\" or \"500MB\"")),
    }
}

/// An amount of money: a decimal string (`"0.045"`), at most 6 decimals, not negative. A TOML
/// number is refused even when it is exact: one with a fraction is a binary float (0.045 is
/// not 0.045 there), and the same key should not take both forms.
pub(super) fn amount(raw: &RawAmount) -> Result<crate::price::Amount, String> {
    match raw {
        RawAmount::Text(text) => text
            .parse()
            .map_err(|e: crate::price::PriceError| e.to_string()),
        RawAmount::Number(number) => Err(format!(
            "{number} is a TOML number; write the amount as a string, \"{number}\": prices are \
             exact decimals, and a number with a fraction goes through binary floating point"
        )),
    }
}

/// `value` if it is `min..=max` (no upper bound: `None`).
pub(super) fn in_range(value: i64, min: i64, max: Option<i64>) -> Result<i64, String> {
    match max {
        Some(max) if !(min..=max).contains(&value) => {
            Err(format!("must be {min}–{max}, not {value}"))
        }
        None if value < min => Err(format!("must be at least {min}, not {value}")),
        _ => Ok(value),
    }
}

pub(super) fn usize_in(value: i64, min: i64, max: Option<i64>) -> Result<usize, String> {
    let value = in_range(value, min, max)?;
    usize::try_from(value).map_err(|_| format!("{value} is too large"))
}

pub(super) fn non_zero_usize(value: i64, max: Option<i64>) -> Result<NonZeroUsize, String> {
    NonZeroUsize::new(usize_in(value, 1, max)?).ok_or_else(|| "must not be 0".to_owned())
}

pub(super) fn non_zero_u32(value: i64, max: Option<i64>) -> Result<NonZeroU32, String> {
    let value = in_range(value, 1, max)?;
    u32::try_from(value)
        .ok()
        .and_then(NonZeroU32::new)
        .ok_or_else(|| format!("{value} is too large (at most {})", u32::MAX))
}

pub(super) fn readable_file(path: Option<PathBuf>) -> Result<PathBuf, String> {
    let Some(path) = path else {
        return Err("required".to_owned());
    };
    match std::fs::File::open(&path).and_then(|f| f.metadata()) {
        Ok(meta) if meta.is_file() => Ok(path),
        Ok(_) => Err(format!("{} is not a file", path.display())),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// `Shop` (exact) or `4477*` (prefix); 1–20 characters with the `*`.
pub(super) fn address_pattern(text: &str) -> Result<AddressPattern, String> {
    if text.is_empty() {
        return Err("must not be empty".to_owned());
    }
    if text.chars().count() > ADDR_MAX {
        return Err(format!(
            "`{text}` is longer than {ADDR_MAX} characters (the SMPP 3.4 address limit)"
        ));
    }
    match text.strip_suffix('*') {
        Some(prefix) if prefix.contains('*') => {
            Err(format!("`{text}`: `*` may only end a pattern"))
        }
        Some(prefix) => Ok(AddressPattern::Prefix(prefix.to_owned())),
        None if text.contains('*') => Err(format!("`{text}`: `*` may only end a pattern")),
        None => Ok(AddressPattern::Exact(text.to_owned())),
    }
}

/// `10.0.0.0/8`, `::1/128`, or a bare address (a /32 or /128). An IPv4-mapped IPv6 network
/// (`::ffff:10.0.0.0/104`) becomes the IPv4 network it maps.
pub(super) fn ip_net(text: &str) -> Result<IpNet, String> {
    let bad = || format!("`{text}` is not an IP address or network (like \"10.0.0.0/8\", \"::1\")");
    let (addr, prefix) = match text.split_once('/') {
        Some((addr, prefix)) => (addr, Some(prefix)),
        None => (text, None),
    };
    let addr: IpAddr = addr.parse().map_err(|_| bad())?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        None => max,
        Some(prefix) => match prefix.parse::<u8>() {
            Ok(prefix) if prefix <= max => prefix,
            _ => return Err(format!("`{text}`: the prefix length must be 0–{max}")),
        },
    };
    Ok(match addr {
        IpAddr::V6(v6) if prefix >= 96 => match v6.to_ipv4_mapped() {
            Some(v4) => IpNet {
                addr: IpAddr::V4(v4),
                prefix: prefix - 96,
            },
            None => IpNet { addr, prefix },
        },
        _ => IpNet { addr, prefix },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_net_parses_bare_and_cidr() {
        assert_eq!(
            ip_net("10.0.0.0/8"),
            Ok(IpNet {
                addr: "10.0.0.0".parse().unwrap(),
                prefix: 8
            })
        );
        assert_eq!(
            ip_net("::1"),
            Ok(IpNet {
                addr: "::1".parse().unwrap(),
                prefix: 128
            })
        );
        assert_eq!(
            ip_net("1.2.3.4"),
            Ok(IpNet {
                addr: "1.2.3.4".parse().unwrap(),
                prefix: 32
            })
        );
        assert_eq!(
            ip_net("::ffff:10.0.0.0/104"),
            Ok(IpNet {
                addr: "10.0.0.0".parse().unwrap(),
                prefix: 8
            })
        );
        assert!(ip_net("10.0.0.0/33").is_err());
        assert!(ip_net("::/129").is_err());
        assert!(ip_net("10.0.0/8").is_err());
        assert!(ip_net("10.0.0.0/").is_err());
        assert!(ip_net("").is_err());
    }

    #[test]
    fn address_patterns() {
        assert_eq!(
            address_pattern("Shop"),
            Ok(AddressPattern::Exact("Shop".into()))
        );
        assert_eq!(
            address_pattern("4477*"),
            Ok(AddressPattern::Prefix("4477".into()))
        );
        assert!(address_pattern("44*77").is_err());
        assert!(address_pattern("**").is_err());
        assert!(address_pattern("").is_err());
        assert!(address_pattern(&"1".repeat(21)).is_err());
        assert!(address_pattern(&"1".repeat(20)).is_ok());
    }

    #[test]
    fn durations() {
        assert_eq!(positive_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(positive_duration("5m"), Ok(Duration::from_secs(300)));
        assert!(positive_duration("0s").is_err());
        assert!(positive_duration("30").is_err());
        assert!(positive_duration("soon").is_err());
    }

    #[test]
    fn argon2_phc_strings() {
        // argon2id of "secret12" with argon2's default parameters.
        let phc = "$argon2id$v=19$m=19456,t=2,p=1$c21wcGQtdGVzdC1zYWx0$\
                   bgctt7qEmqGMAQd/v1f6xX6clDxXp8tdJcRj5dAJV+I";
        assert!(matches!(password(phc.to_owned()), Ok(Password::Argon2(_))));
        assert!(password("$argon2id$garbage".to_owned()).is_err());
        let no_hash = "$argon2id$v=19$m=19456,t=2,p=1$c21wcGQtdGVzdC1zYWx0";
        assert!(password(no_hash.to_owned())
            .unwrap_err()
            .contains("no hash"));
        let tiny_memory = phc.replace("m=19456", "m=1");
        assert!(password(tiny_memory).is_err());
        let not_argon2 = phc.replace("argon2id", "argon2x");
        assert!(password(not_argon2).is_err());
        assert!(matches!(
            password("secret12".to_owned()),
            Ok(Password::Plain(_))
        ));
        assert!(password("secret123".to_owned()).is_err());
        assert!(password(String::new()).is_err());
    }
}
