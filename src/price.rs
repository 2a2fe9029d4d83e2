//! Prices and costs (issue 20, `[[prices]]`): what a message costs its client, from a table of
//! prices per segment by destination prefix, so that a shop can see what it spends.
//!
//! Money is an integer count of micro-units (millionths of the currency's unit) and its
//! [`Currency`]: no floating point anywhere, so that sums are exact. Amounts are read and
//! written as decimal strings (`"0.045"`), never as numbers, in the config and in JSON alike.
//! Arithmetic is checked: it reports an overflow or a currency mismatch, or saturates where
//! the method says so, and never panics.
//!
//! A destination's price is that of the longest prefix it starts with; a destination that no
//! prefix matches has no price and its messages no cost (`None`), rather than a made-up one.
//! A message's cost is its segments times its destination's price.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// Micro-units in one unit of a currency: amounts have at most six decimals.
pub const MICROS_PER_UNIT: u64 = 1_000_000;
/// Decimals an amount may have.
pub const DECIMALS: usize = 6;
/// Decimals an amount is always written with (more when it has more): prices per SMS are
/// quoted to a tenth of a cent (`0.045`), so `0.090` rather than `0.09`.
const MIN_DECIMALS: usize = 3;

/// An ISO 4217 currency code: three upper-case ASCII letters (`EUR`, `USD`). Only the form is
/// checked, not that the code is assigned.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency([u8; 3]);

impl Currency {
    /// The code, `"EUR"`.
    pub fn as_str(&self) -> &str {
        // Three ASCII letters, checked when it was made.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl FromStr for Currency {
    type Err = PriceError;

    fn from_str(text: &str) -> Result<Self, PriceError> {
        match <[u8; 3]>::try_from(text.as_bytes()) {
            Ok(code) if code.iter().all(u8::is_ascii_uppercase) => Ok(Self(code)),
            _ => Err(PriceError::Currency(text.to_owned())),
        }
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Currency({})", self.as_str())
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A non-negative amount of some currency, in micro-units: `Amount::from_micros(45_000)` is
/// 0.045. Written and read as a decimal string (`"0.045"`), at most six decimals.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Amount(u64);

impl Amount {
    /// Nothing.
    pub const ZERO: Self = Self(0);

    /// `micros` millionths of a unit.
    pub const fn from_micros(micros: u64) -> Self {
        Self(micros)
    }

    /// The amount in millionths of a unit: what the store counts.
    pub const fn micros(self) -> u64 {
        self.0
    }

    /// The sum, or `None` past `u64::MAX` micro-units.
    pub fn checked_add(self, other: Self) -> Option<Self> {
        self.0.checked_add(other.0).map(Self)
    }

    /// `n` times the amount, or `None` past `u64::MAX` micro-units.
    pub fn checked_mul(self, n: u64) -> Option<Self> {
        self.0.checked_mul(n).map(Self)
    }

    /// `n` times the amount, at most `u64::MAX` micro-units.
    pub fn saturating_mul(self, n: u64) -> Self {
        Self(self.0.saturating_mul(n))
    }
}

/// Reads `"0.045"`, `"1"`, `"12.5"`: digits, then optionally a point and 1–6 digits. No
/// sign, exponent, spaces or separators.
impl FromStr for Amount {
    type Err = PriceError;

    fn from_str(text: &str) -> Result<Self, PriceError> {
        let bad = || PriceError::Amount(text.to_owned());
        if text.starts_with('-') {
            return Err(PriceError::Negative(text.to_owned()));
        }
        let (units, fraction) = match text.split_once('.') {
            Some((units, fraction)) => (units, Some(fraction)),
            None => (text, None),
        };
        let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
        if !digits(units) || fraction.is_some_and(|f| !digits(f)) {
            return Err(bad());
        }
        let fraction = fraction.unwrap_or_default();
        if fraction.len() > DECIMALS {
            return Err(PriceError::Decimals(text.to_owned()));
        }
        let too_large = || PriceError::TooLarge(text.to_owned());
        let units: u64 = units.parse().map_err(|_| too_large())?;
        // Right-padded to six digits: "045" is 045000 micro-units.
        let micros = fraction
            .bytes()
            .chain(std::iter::repeat(b'0'))
            .take(DECIMALS)
            .fold(0_u64, |micros, digit| micros * 10 + u64::from(digit - b'0'));
        units
            .checked_mul(MICROS_PER_UNIT)
            .and_then(|units| units.checked_add(micros))
            .map(Self)
            .ok_or_else(too_large)
    }
}

/// `0.090`, `1.000`, `0.0451`, `0.000001`: at least three decimals, up to six when they are
/// not zeros.
impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let units = self.0 / MICROS_PER_UNIT;
        let fraction = format!("{:06}", self.0 % MICROS_PER_UNIT);
        let fraction = fraction.trim_end_matches('0');
        write!(f, "{units}.{fraction:0<MIN_DECIMALS$}")
    }
}

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A string only: a JSON or TOML number may have gone through binary floating point.
impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Amount;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a decimal amount as a string, like \"0.045\"")
            }

            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Amount, E> {
                text.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

/// An amount in a currency: `{"amount":"0.090","currency":"EUR"}` in JSON, `0.090 EUR` in
/// text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Money {
    /// How much.
    pub amount: Amount,
    /// Of what.
    pub currency: Currency,
}

impl Money {
    /// `amount` of `currency`.
    pub const fn new(amount: Amount, currency: Currency) -> Self {
        Self { amount, currency }
    }

    /// Nothing, in `currency`: where a sum starts.
    pub const fn zero(currency: Currency) -> Self {
        Self::new(Amount::ZERO, currency)
    }

    /// The sum of two amounts of one currency.
    pub fn checked_add(self, other: Self) -> Result<Self, MoneyError> {
        if self.currency != other.currency {
            return Err(MoneyError::Currencies(self.currency, other.currency));
        }
        let amount = self
            .amount
            .checked_add(other.amount)
            .ok_or(MoneyError::Overflow)?;
        Ok(Self::new(amount, self.currency))
    }

    /// `n` times the amount.
    pub fn checked_mul(self, n: u64) -> Result<Self, MoneyError> {
        let amount = self.amount.checked_mul(n).ok_or(MoneyError::Overflow)?;
        Ok(Self::new(amount, self.currency))
    }

    /// `n` times the amount, at most `u64::MAX` micro-units.
    pub fn saturating_mul(self, n: u64) -> Self {
        Self::new(self.amount.saturating_mul(n), self.currency)
    }

    /// The sum of `items`, every one in `currency` (zero when there are none).
    pub fn sum(
        currency: Currency,
        items: impl IntoIterator<Item = Self>,
    ) -> Result<Self, MoneyError> {
        items
            .into_iter()
            .try_fold(Self::zero(currency), Self::checked_add)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.amount, self.currency)
    }
}

/// Why arithmetic on [`Money`] has no answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// Two currencies: amounts of different currencies do not add up.
    #[error("cannot add {1} to {0}: one currency per sum")]
    Currencies(Currency, Currency),
    /// More than `u64::MAX` micro-units (18 446 744 073 709 units).
    #[error("the amount is too large")]
    Overflow,
}

/// Why a text is no amount or currency; each message quotes the text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PriceError {
    /// Not digits with an optional point and decimals.
    #[error("`{0}` is not a decimal amount like \"0.045\" (digits, a point, at most 6 decimals)")]
    Amount(String),
    /// Below zero.
    #[error("`{0}` is negative; a price is 0 or more")]
    Negative(String),
    /// More than six decimals.
    #[error("`{0}` has more than 6 decimals (amounts count in millionths)")]
    Decimals(String),
    /// More than `u64::MAX` micro-units.
    #[error("`{0}` is too large")]
    TooLarge(String),
    /// Not three upper-case letters.
    #[error("`{0}` is not an ISO 4217 currency code (three upper-case letters, like \"EUR\")")]
    Currency(String),
}

/// One `[[prices]]` entry: what a segment to destinations starting with `prefix` costs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Price {
    /// `prefix`: destination digits, without `+`.
    pub prefix: String,
    /// `per_segment` and `currency`.
    pub per_segment: Money,
}

/// `[[prices]]`: the price per segment of each destination prefix, all in one currency (so
/// that every cost adds up to one total). Empty by default: then nothing has a cost.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PriceTable {
    /// Longest prefix first: the first a destination starts with is its price.
    prices: Vec<Price>,
}

impl PriceTable {
    /// A table of `prices`, listed in any order: each prefix 1 digit or more, without `+`, and
    /// listed once; one currency for all.
    pub fn new(mut prices: Vec<Price>) -> Result<Self, PriceTableError> {
        for (i, price) in prices.iter().enumerate() {
            if price.prefix.is_empty() || !price.prefix.bytes().all(|b| b.is_ascii_digit()) {
                return Err(PriceTableError::Prefix(price.prefix.clone()));
            }
            if let Some(first) = prices[..i].iter().find(|p| p.prefix == price.prefix) {
                return Err(PriceTableError::Duplicate(first.prefix.clone()));
            }
            if let Some(first) = prices.first() {
                let (expected, found) = (first.per_segment.currency, price.per_segment.currency);
                if found != expected {
                    return Err(PriceTableError::Currencies(expected, found));
                }
            }
        }
        prices.sort_by_key(|price| std::cmp::Reverse(price.prefix.len()));
        Ok(Self { prices })
    }

    /// The prices, longest prefix first.
    pub fn prices(&self) -> &[Price] {
        &self.prices
    }

    /// Whether there are none (then nothing has a cost).
    pub fn is_empty(&self) -> bool {
        self.prices.is_empty()
    }

    /// The currency of every price; `None` for an empty table.
    pub fn currency(&self) -> Option<Currency> {
        self.prices.first().map(|p| p.per_segment.currency)
    }

    /// The price of `destination` (written with or without `+`): that of the longest prefix
    /// it starts with; `None` if it starts with none.
    pub fn price_of(&self, destination: &str) -> Option<&Price> {
        let digits = destination.strip_prefix('+').unwrap_or(destination);
        self.prices
            .iter()
            .find(|price| digits.starts_with(price.prefix.as_str()))
    }

    /// What `segments` segments to `destination` cost: `None` when it has no price. Saturates
    /// at `u64::MAX` micro-units (18 trillion units), which no real price and segment count
    /// reaches.
    pub fn cost(&self, destination: &str, segments: u32) -> Option<Money> {
        self.price_of(destination)
            .map(|price| price.per_segment.saturating_mul(u64::from(segments)))
    }
}

/// Why prices make no [`PriceTable`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PriceTableError {
    /// A prefix that is not 1 digit or more.
    #[error("`{0}` is not a prefix of digits")]
    Prefix(String),
    /// A prefix listed twice.
    #[error("`{0}` is listed twice")]
    Duplicate(String),
    /// A price in another currency than the first.
    #[error("{1} is not {0}: every price is in one currency")]
    Currencies(Currency, Currency),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur() -> Currency {
        "EUR".parse().unwrap()
    }

    fn amount(text: &str) -> Amount {
        text.parse().unwrap()
    }

    fn price(prefix: &str, per_segment: &str) -> Price {
        Price {
            prefix: prefix.to_owned(),
            per_segment: Money::new(amount(per_segment), eur()),
        }
    }

    #[test]
    fn amounts_parse_as_exact_decimals() {
        assert_eq!(amount("0.045").micros(), 45_000);
        assert_eq!(amount("1").micros(), 1_000_000);
        assert_eq!(amount("0").micros(), 0);
        assert_eq!(amount("12.5").micros(), 12_500_000);
        assert_eq!(amount("0.000001").micros(), 1);
        assert_eq!(amount("007.100000").micros(), 7_100_000);
        assert_eq!(amount("18446744073709.551615").micros(), u64::MAX);
    }

    #[test]
    fn amounts_refused() {
        let refused = |text: &str| text.parse::<Amount>().unwrap_err();
        assert_eq!(
            refused("0.0000001"),
            PriceError::Decimals("0.0000001".into())
        );
        assert_eq!(refused("-1"), PriceError::Negative("-1".into()));
        assert_eq!(refused("-0.5"), PriceError::Negative("-0.5".into()));
        for text in [
            "1e3", "abc", "", ".5", "1.", "+1", " 1", "1 ", "1,5", "1_000", "0x10", "1.2.3", "NaN",
            "inf",
        ] {
            assert_eq!(refused(text), PriceError::Amount(text.into()), "{text:?}");
        }
        assert_eq!(
            refused("18446744073709.551616"),
            PriceError::TooLarge("18446744073709.551616".into())
        );
        assert_eq!(
            refused("99999999999999999999"),
            PriceError::TooLarge("99999999999999999999".into())
        );
        // The reason names the text and the form.
        let reason = refused("1e3").to_string();
        assert!(
            reason.contains("`1e3`") && reason.contains("\"0.045\""),
            "{reason}"
        );
    }

    #[test]
    fn amounts_display_with_three_to_six_decimals() {
        let shown = |micros| Amount::from_micros(micros).to_string();
        assert_eq!(shown(90_000), "0.090");
        assert_eq!(shown(45_000), "0.045");
        assert_eq!(shown(45_100), "0.0451");
        assert_eq!(shown(1), "0.000001");
        assert_eq!(shown(0), "0.000");
        assert_eq!(shown(1_000_000), "1.000");
        assert_eq!(shown(12_500_000), "12.500");
        assert_eq!(shown(u64::MAX), "18446744073709.551615");
        // Whatever is shown reads back as the same amount.
        for micros in [0, 1, 10, 45_000, 45_100, 999_999, 1_000_000, u64::MAX] {
            assert_eq!(amount(&shown(micros)).micros(), micros);
        }
    }

    #[test]
    fn currencies() {
        assert_eq!(eur().as_str(), "EUR");
        assert_eq!(eur().to_string(), "EUR");
        for bad in ["eur", "EU", "EURO", "", "E1R", "ÉUR"] {
            assert_eq!(
                bad.parse::<Currency>(),
                Err(PriceError::Currency(bad.into()))
            );
        }
    }

    #[test]
    fn money_serde_round_trip() {
        let cost = Money::new(Amount::from_micros(90_000), eur());
        let json = serde_json::to_string(&cost).unwrap();
        assert_eq!(json, r#"{"amount":"0.090","currency":"EUR"}"#);
        assert_eq!(serde_json::from_str::<Money>(&json).unwrap(), cost);
        assert_eq!(cost.to_string(), "0.090 EUR");
        let exact: Money = serde_json::from_str(r#"{"amount":"0.09","currency":"EUR"}"#).unwrap();
        assert_eq!(exact, cost);
        // A JSON number may have gone through a float: refused, as are bad amounts and codes.
        for bad in [
            r#"{"amount":0.09,"currency":"EUR"}"#,
            r#"{"amount":"1e3","currency":"EUR"}"#,
            r#"{"amount":"-1","currency":"EUR"}"#,
            r#"{"amount":"1","currency":"eur"}"#,
            r#"{"amount":"1"}"#,
        ] {
            assert!(serde_json::from_str::<Money>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn money_arithmetic_is_checked() {
        let usd: Currency = "USD".parse().unwrap();
        let a = Money::new(amount("0.045"), eur());
        assert_eq!(a.checked_add(a), Ok(Money::new(amount("0.09"), eur())));
        assert_eq!(
            a.checked_add(Money::zero(usd)),
            Err(MoneyError::Currencies(eur(), usd))
        );
        let max = Money::new(Amount::from_micros(u64::MAX), eur());
        assert_eq!(max.checked_add(a), Err(MoneyError::Overflow));
        assert_eq!(a.checked_mul(3), Ok(Money::new(amount("0.135"), eur())));
        assert_eq!(max.checked_mul(2), Err(MoneyError::Overflow));
        assert_eq!(max.saturating_mul(2), max);
        assert_eq!(Money::sum(eur(), []), Ok(Money::zero(eur())));
        assert_eq!(
            Money::sum(eur(), [a, a, a]),
            Ok(Money::new(amount("0.135"), eur()))
        );
        assert_eq!(
            Money::sum(eur(), [a, Money::zero(usd)]),
            Err(MoneyError::Currencies(eur(), usd))
        );
        assert_eq!(
            Money::sum(usd, [a]),
            Err(MoneyError::Currencies(usd, eur()))
        );
        assert_eq!(Money::sum(eur(), [max, a]), Err(MoneyError::Overflow));
    }

    #[test]
    fn longest_prefix_wins() {
        let table = PriceTable::new(vec![
            price("33", "0.045"),
            price("336", "0.05"),
            price("3361", "0.06"),
            price("44", "0.03"),
        ])
        .unwrap();
        let per_segment = |destination: &str| {
            table
                .price_of(destination)
                .map(|p| p.per_segment.amount.to_string())
        };
        assert_eq!(per_segment("33123456789").as_deref(), Some("0.045"));
        assert_eq!(per_segment("+33123456789").as_deref(), Some("0.045"));
        assert_eq!(per_segment("33698765432").as_deref(), Some("0.050"));
        assert_eq!(per_segment("+33698765432").as_deref(), Some("0.050"));
        assert_eq!(per_segment("33611111111").as_deref(), Some("0.060"));
        assert_eq!(per_segment("447700900123").as_deref(), Some("0.030"));
        assert_eq!(
            table.price_of("+33698765432").map(|p| p.prefix.as_str()),
            Some("336")
        );
        assert_eq!(per_segment("4915112345678"), None);
        assert_eq!(per_segment("3"), None);
        assert_eq!(per_segment(""), None);
        assert_eq!(table.currency(), Some(eur()));
        let lengths: Vec<usize> = table.prices().iter().map(|p| p.prefix.len()).collect();
        assert_eq!(lengths, [4, 3, 2, 2]);
    }

    #[test]
    fn cost_is_segments_times_price() {
        let table = PriceTable::new(vec![price("33", "0.045")]).unwrap();
        let cost = |destination: &str, segments| {
            table
                .cost(destination, segments)
                .map(|m| m.amount.to_string())
        };
        assert_eq!(cost("+33612345678", 1).as_deref(), Some("0.045"));
        assert_eq!(cost("+33612345678", 2).as_deref(), Some("0.090"));
        assert_eq!(cost("33612345678", 3).as_deref(), Some("0.135"));
        assert_eq!(cost("33612345678", 255).as_deref(), Some("11.475"));
        assert_eq!(cost("33612345678", 0).as_deref(), Some("0.000"));
        assert_eq!(cost("+447700900123", 2), None);
        assert_eq!(
            table.cost("33612345678", 2).map(|m| m.currency),
            Some(eur())
        );
        // No overflow panic, however absurd.
        let huge = PriceTable::new(vec![price("1", "18446744073709")]).unwrap();
        assert_eq!(
            huge.cost("1555", u32::MAX).map(|m| m.amount.micros()),
            Some(u64::MAX)
        );
        // An empty table prices nothing.
        let empty = PriceTable::default();
        assert!(empty.is_empty());
        assert_eq!(empty.currency(), None);
        assert_eq!(empty.cost("+33612345678", 1), None);
    }

    #[test]
    fn table_invariants() {
        assert_eq!(
            PriceTable::new(vec![price("33", "0.045"), price("33", "0.05")]),
            Err(PriceTableError::Duplicate("33".into()))
        );
        assert_eq!(
            PriceTable::new(vec![price("+33", "0.045")]),
            Err(PriceTableError::Prefix("+33".into()))
        );
        assert_eq!(
            PriceTable::new(vec![price("", "0.045")]),
            Err(PriceTableError::Prefix(String::new()))
        );
        let usd: Currency = "USD".parse().unwrap();
        let dollars = Price {
            prefix: "1".into(),
            per_segment: Money::new(amount("0.01"), usd),
        };
        assert_eq!(
            PriceTable::new(vec![price("33", "0.045"), dollars]),
            Err(PriceTableError::Currencies(eur(), usd))
        );
    }
}
