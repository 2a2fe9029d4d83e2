//! The MO keyword engine: what a person's reply asks for. A reply is normalised (Unicode NFKC,
//! so full-width `ＳＴＯＰ` is `STOP`; accents and other combining marks dropped, so `Arrêt` is
//! `ARRET`; upper case; punctuation and symbols at either end of each word dropped; spaces
//! collapsed) and matched on its first word (`STOP SMS`, `Stop merci`, `STOP 36123` all opt
//! out) or, with `match = "exact"`, as a whole.
//!
//! Called by the carrier intake on every MO while `[consent]` is on (`carrier/intake.rs`).
//! Never fails: text that matches nothing is `None`.

use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// The keywords of replies (`[consent] match`, `opt_out_keywords`, …), normalised as replies
/// are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keywords {
    /// `match`.
    pub matching: KeywordMatch,
    /// `opt_out_keywords`.
    pub opt_out: Vec<String>,
    /// `opt_in_keywords`.
    pub opt_in: Vec<String>,
    /// `help_keywords`.
    pub help: Vec<String>,
    /// `contact_keywords`.
    pub contact: Vec<String>,
}

/// Opt-out words of the French operators' charters and the usual English ones.
pub const OPT_OUT_KEYWORDS: [&str; 14] = [
    "STOP",
    "STOPALL",
    "ARRET",
    "ARRETER",
    "DESABONNER",
    "DESINSCRIRE",
    "DESINSCRIPTION",
    "UNSUBSCRIBE",
    "END",
    "QUIT",
    "CANCEL",
    "OPTOUT",
    "REVOKE",
    "STOPP",
];
/// Opt-in words.
pub const OPT_IN_KEYWORDS: [&str; 2] = ["START", "UNSTOP"];
/// Words asking who writes (the French charters' AIDE among them).
pub const HELP_KEYWORDS: [&str; 3] = ["HELP", "AIDE", "INFO"];
/// Words asking how to reach the sender.
pub const CONTACT_KEYWORDS: [&str; 1] = ["CONTACT"];

impl Default for Keywords {
    fn default() -> Self {
        Self {
            matching: KeywordMatch::FirstWord,
            opt_out: OPT_OUT_KEYWORDS.map(str::to_owned).to_vec(),
            opt_in: OPT_IN_KEYWORDS.map(str::to_owned).to_vec(),
            help: HELP_KEYWORDS.map(str::to_owned).to_vec(),
            contact: CONTACT_KEYWORDS.map(str::to_owned).to_vec(),
        }
    }
}

/// `[consent] match`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeywordMatch {
    /// `"first_word"`: the reply's first word (`STOP SMS`, `Stop merci`).
    FirstWord,
    /// `"exact"`: the whole reply.
    Exact,
}

/// What a reply asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Stop the messages (STOP, ARRET, UNSUBSCRIBE…).
    OptOut,
    /// Send them again (START, UNSTOP).
    OptIn,
    /// Who is writing to me? (HELP, AIDE, INFO): answered with the client's `help_text`.
    Help,
    /// How do I reach you? (CONTACT): answered with the client's `contact_text`.
    Contact,
}

impl Action {
    /// As relayed to the client (`smppd_consent_action` TLV) and shown by the admin API.
    pub const fn name(self) -> &'static str {
        match self {
            Self::OptOut => "opted_out",
            Self::OptIn => "opted_in",
            Self::Help => "help",
            Self::Contact => "contact",
        }
    }
}

/// A reply that matched a keyword.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Matched {
    /// What it asks for.
    pub action: Action,
    /// The keyword, normalised (`ARRET`).
    pub keyword: String,
    /// What followed it, normalised (`SMS`, `36123`): kept as evidence.
    pub rest: String,
}

/// The keyword in `text`, if it has one.
pub fn matched(keywords: &Keywords, text: &str) -> Option<Matched> {
    let normal = normalise(text);
    let (first, rest) = match keywords.matching {
        KeywordMatch::FirstWord => normal.split_once(' ').unwrap_or((normal.as_str(), "")),
        KeywordMatch::Exact => (normal.as_str(), ""),
    };
    let action = if keywords.opt_out.iter().any(|k| k == first) {
        Action::OptOut
    } else if keywords.opt_in.iter().any(|k| k == first) {
        Action::OptIn
    } else if keywords.help.iter().any(|k| k == first) {
        Action::Help
    } else if keywords.contact.iter().any(|k| k == first) {
        Action::Contact
    } else {
        return None;
    };
    Some(Matched {
        action,
        keyword: first.to_owned(),
        rest: rest.to_owned(),
    })
}

/// Phrases of people who want no more messages but wrote no keyword first ("je ne veux plus
/// de SMS", "désabonnez-moi"), normalised. Counted, never acted on: a person's intent from
/// free text is a guess.
const SUSPECT_PHRASES: [&str; 8] = [
    "NE VEUX PLUS",
    "NE PLUS RECEVOIR",
    "PLUS DE SMS",
    "DESABONNEZ",
    "DESINSCRIVEZ",
    "ARRETEZ",
    "UNSUBSCRIBE",
    "STOP",
];

/// Whether a reply that matched no keyword still reads like an opt-out (`SUSPECT_PHRASES`):
/// a phrase starting a word (`DESABONNEZ-MOI`), or `STOP` as a word of its own (not
/// `STOPPER`).
pub fn suspect(text: &str) -> bool {
    let normal = format!(" {} ", normalise(text));
    SUSPECT_PHRASES.iter().any(|phrase| {
        let at_word_start = format!(" {phrase}");
        if phrase.len() > 4 {
            normal.contains(&at_word_start)
        } else {
            normal.contains(&format!("{at_word_start} "))
        }
    })
}

/// A reply as keywords are compared with it: NFKC, no combining marks, upper case, each word
/// without punctuation or symbols around it, single spaces.
pub fn normalise(text: &str) -> String {
    let plain: String = text
        .nfkd()
        .filter(|c| !is_combining_mark(*c))
        .collect::<String>()
        .nfkc()
        .flat_map(char::to_uppercase)
        .collect();
    plain
        .split_whitespace()
        .map(|word| word.trim_matches(|c: char| !c.is_alphanumeric()))
        .filter(|word| !word.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keywords(matching: KeywordMatch) -> Keywords {
        Keywords {
            matching,
            ..Keywords::default()
        }
    }

    fn action(text: &str) -> Option<Action> {
        matched(&keywords(KeywordMatch::FirstWord), text).map(|m| m.action)
    }

    #[test]
    fn every_form_of_stop_opts_out() {
        for text in [
            "stop",
            " Stop. ",
            "STOP!!!",
            "ＳＴＯＰ",
            "Stop 🛑",
            "🛑 stop",
            "STOP SMS",
            "STOP au 36123",
            "Arrêt",
            "arreter",
            "ARRÊTER",
            "Désabonner",
            "désinscription",
            "STOPP",
            "Stop merci",
            "Unsubscribe",
            "stop\nplease",
            "Stop sending me the wrong size",
        ] {
            assert_eq!(action(text), Some(Action::OptOut), "{text:?}");
        }
    }

    #[test]
    fn start_opts_back_in_and_the_rest_matches_nothing() {
        for text in ["START", "start!", "Unstop", "ＳＴＡＲＴ please"] {
            assert_eq!(action(text), Some(Action::OptIn), "{text:?}");
        }
        for text in [
            "Non stop",
            "je ne veux plus",
            "stopper",
            "",
            "   ",
            "!!!",
            "Merci, bonne journée",
            "S T O P",
        ] {
            assert_eq!(action(text), None, "{text:?}");
        }
    }

    #[test]
    fn help_and_contact() {
        for text in ["HELP", "aide", "Aide ?", "info", "ＩＮＦＯ"] {
            assert_eq!(action(text), Some(Action::Help), "{text:?}");
        }
        assert_eq!(action("Contact svp"), Some(Action::Contact));
        assert_eq!(action("contacter"), None);
    }

    #[test]
    fn unmatched_opt_out_phrases_are_suspect() {
        for text in [
            "Je ne veux plus de vos messages",
            "désabonnez-moi svp",
            "Non stop",
            "Merci d'arrêter, plus de SMS",
            "please unsubscribe me",
        ] {
            assert!(suspect(text), "{text:?}");
        }
        for text in ["Merci, bonne journée", "Où est mon colis ?", "stopper"] {
            assert!(!suspect(text), "{text:?}");
        }
    }

    #[test]
    fn exact_matching_takes_the_whole_reply() {
        let exact = keywords(KeywordMatch::Exact);
        assert_eq!(
            matched(&exact, " stop! ").map(|m| m.action),
            Some(Action::OptOut)
        );
        assert_eq!(matched(&exact, "stop merci"), None);
    }

    #[test]
    fn the_keyword_and_what_follows_are_kept() {
        let m = matched(&keywords(KeywordMatch::FirstWord), "Stop, au 36123 !").unwrap();
        assert_eq!(m.keyword, "STOP");
        assert_eq!(m.rest, "AU 36123");
    }

    #[test]
    fn normal_forms() {
        assert_eq!(normalise("  Ça  coûte   très cher !"), "CA COUTE TRES CHER");
        assert_eq!(normalise("ＡＲＲÊＴ"), "ARRET");
        assert_eq!(normalise("«stop»"), "STOP");
    }
}
