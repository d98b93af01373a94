//! Subject identifiers (RFC 9493 and the SSF additions): the model, parsing with errors that
//! name the member, a canonical key for indexing, and matching as `spec/subjects.md` §5 says.

mod canonical;
mod matching;
mod parse;

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

pub use matching::MatchPolicy;
pub use parse::{ParseMode, SubjectError};

/// The most items any list inside a subject may have (`aliases` identifiers, `ip-addresses`,
/// arrays and objects inside a proprietary format, members of a complex subject), whatever
/// the quota: every parse applies it, so stored subjects always parse again. The tenant's
/// quota (`subject_list_items`, at most this) is applied with [`Subject::parse_limited`].
pub const MAX_LIST_ITEMS: usize = 1000;

/// The member names of a complex subject that SSF defines (others are allowed).
pub const COMPLEX_MEMBERS: [&str; 7] = [
    "user",
    "device",
    "session",
    "application",
    "tenant",
    "org_unit",
    "group",
];

/// A simple subject identifier: one RFC 9493 / SSF format, or a proprietary one kept as sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SubjectId {
    /// `account`: an `acct:` URI (RFC 7565).
    Account { uri: String },
    /// `email`: an RFC 5322 addr-spec.
    Email { email: String },
    /// `iss_sub`: an issuer and a subject as in a JWT.
    IssSub { iss: String, sub: String },
    /// `opaque`: an id with no other meaning.
    Opaque { id: String },
    /// `phone_number`: E.164, with the leading `+`.
    PhoneNumber { phone_number: String },
    /// `did`: a DID URL.
    Did { url: String },
    /// `uri`: any absolute RFC 3986 URI.
    Uri { uri: String },
    /// `aliases`: several identifiers of one entity (never nested).
    Aliases { identifiers: Vec<SubjectId> },
    /// `jwt_id` (SSF): a JWT's issuer and `jti`.
    JwtId { iss: String, jti: String },
    /// `saml_assertion_id` (SSF): a SAML assertion's issuer and `ID`.
    SamlAssertionId {
        issuer: String,
        assertion_id: String,
    },
    /// `ip-addresses` (SSF): one or more IP addresses in text form.
    IpAddresses { ip_addresses: Vec<String> },
    /// Any other format (proprietary, agreed between the parties, or SCIM's `scim`): the
    /// members other than `format`, kept as sent.
    Other {
        format: String,
        members: Map<String, Value>,
    },
}

/// A complex subject (`"format": "complex"`): named members that together describe one
/// principal, each a simple identifier. Members are kept sorted by name.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ComplexSubject {
    members: BTreeMap<String, SubjectId>,
}

/// The subject of an event: a simple identifier or a complex subject.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subject {
    Simple(SubjectId),
    Complex(ComplexSubject),
}

impl SubjectId {
    /// The `format` name, as on the wire.
    pub fn format(&self) -> &str {
        match self {
            Self::Account { .. } => "account",
            Self::Email { .. } => "email",
            Self::IssSub { .. } => "iss_sub",
            Self::Opaque { .. } => "opaque",
            Self::PhoneNumber { .. } => "phone_number",
            Self::Did { .. } => "did",
            Self::Uri { .. } => "uri",
            Self::Aliases { .. } => "aliases",
            Self::JwtId { .. } => "jwt_id",
            Self::SamlAssertionId { .. } => "saml_assertion_id",
            Self::IpAddresses { .. } => "ip-addresses",
            Self::Other { format, .. } => format,
        }
    }

    /// The JSON object, `format` first.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("format".into(), Value::from(self.format()));
        let s = |v: &str| Value::from(v);
        match self {
            Self::Account { uri } | Self::Uri { uri } => {
                m.insert("uri".into(), s(uri));
            }
            Self::Email { email } => {
                m.insert("email".into(), s(email));
            }
            Self::IssSub { iss, sub } => {
                m.insert("iss".into(), s(iss));
                m.insert("sub".into(), s(sub));
            }
            Self::Opaque { id } => {
                m.insert("id".into(), s(id));
            }
            Self::PhoneNumber { phone_number } => {
                m.insert("phone_number".into(), s(phone_number));
            }
            Self::Did { url } => {
                m.insert("url".into(), s(url));
            }
            Self::Aliases { identifiers } => {
                let ids = identifiers.iter().map(SubjectId::to_json).collect();
                m.insert("identifiers".into(), Value::Array(ids));
            }
            Self::JwtId { iss, jti } => {
                m.insert("iss".into(), s(iss));
                m.insert("jti".into(), s(jti));
            }
            Self::SamlAssertionId {
                issuer,
                assertion_id,
            } => {
                m.insert("issuer".into(), s(issuer));
                m.insert("assertion_id".into(), s(assertion_id));
            }
            Self::IpAddresses { ip_addresses } => {
                let ips = ip_addresses.iter().map(|ip| s(ip)).collect();
                m.insert("ip-addresses".into(), Value::Array(ips));
            }
            Self::Other { members, .. } => {
                for (k, v) in members {
                    m.insert(k.clone(), v.clone());
                }
            }
        }
        Value::Object(m)
    }
}

impl ComplexSubject {
    /// An empty complex subject; add members with [`ComplexSubject::with`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a member. Complex or alias values are refused by
    /// [`Subject::validate`], not here.
    pub fn with(mut self, name: impl Into<String>, id: SubjectId) -> Self {
        self.members.insert(name.into(), id);
        self
    }

    /// The member of that name.
    pub fn get(&self, name: &str) -> Option<&SubjectId> {
        self.members.get(name)
    }

    /// The members, sorted by name.
    pub fn members(&self) -> impl Iterator<Item = (&str, &SubjectId)> {
        self.members.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// How many members it has.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// True when it has no member (never true for a parsed subject).
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }
}

impl Subject {
    /// The subject of a stream's own events (verification, stream-updated): `opaque` with the
    /// stream id as shown to the receiver.
    pub fn for_stream(stream_id: impl Into<String>) -> Self {
        Self::Simple(SubjectId::Opaque {
            id: stream_id.into(),
        })
    }

    /// Parses a subject from JSON. `Receiving` is tolerant (legacy names normalized, unknown
    /// members ignored); `Issuing` is strict (RFC 9493's MUST NOTs enforced).
    pub fn parse(value: &Value, mode: ParseMode) -> Result<Self, SubjectError> {
        parse::parse_subject(value, mode, "subject", MAX_LIST_ITEMS)
    }

    /// As [`Subject::parse`], with errors naming members under `root` (e.g. `sub_id`).
    pub fn parse_at(value: &Value, mode: ParseMode, root: &str) -> Result<Self, SubjectError> {
        parse::parse_subject(value, mode, root, MAX_LIST_ITEMS)
    }

    /// As [`Subject::parse_at`], with every list inside at most `max_list_items` long (a
    /// tenant's `subject_list_items` quota; never more than [`MAX_LIST_ITEMS`]). The error
    /// names the list (`subject.identifiers: has 21 items; …`).
    pub fn parse_limited(
        value: &Value,
        mode: ParseMode,
        root: &str,
        max_list_items: usize,
    ) -> Result<Self, SubjectError> {
        parse::parse_subject(value, mode, root, max_list_items.min(MAX_LIST_ITEMS))
    }

    /// Checks a subject built in code against the same rules as a strictly parsed one.
    pub fn validate(&self) -> Result<(), SubjectError> {
        parse::parse_subject(
            &self.to_json(),
            ParseMode::Issuing,
            "subject",
            MAX_LIST_ITEMS,
        )
        .map(|_| ())
    }

    /// The `format` name (`complex` for a complex subject).
    pub fn format(&self) -> &str {
        match self {
            Self::Simple(id) => id.format(),
            Self::Complex(_) => "complex",
        }
    }

    /// The JSON object, as sent in `sub_id`.
    pub fn to_json(&self) -> Value {
        match self {
            Self::Simple(id) => id.to_json(),
            Self::Complex(c) => {
                let mut m = Map::new();
                m.insert("format".into(), Value::from("complex"));
                for (k, v) in &c.members {
                    m.insert(k.clone(), v.to_json());
                }
                Value::Object(m)
            }
        }
    }

    /// A stable string key for indexing: equal for subjects that are identical under the
    /// default [`MatchPolicy`] (emails case-folded, phone separators dropped, IPs in
    /// canonical form, members sorted). `aliases` and `ip-addresses` match on any shared
    /// element, so index them under [`Subject::lookup_keys`] too.
    pub fn canonical_key(&self) -> String {
        canonical::key(self, &MatchPolicy::default())
    }

    /// [`Subject::canonical_key`] under another policy.
    pub fn canonical_key_with(&self, policy: &MatchPolicy) -> String {
        canonical::key(self, policy)
    }

    /// The canonical keys of every simple identifier inside (each alias, each IP address,
    /// each complex member): the candidates to look up in an index of registered subjects.
    pub fn lookup_keys(&self) -> Vec<String> {
        canonical::lookup_keys(self, &MatchPolicy::default())
    }

    /// Whether this (registered) subject matches the subject of an event, under the hub's
    /// default policy.
    pub fn matches(&self, event: &Subject) -> bool {
        matching::matches(self, event, &MatchPolicy::default())
    }

    /// [`Subject::matches`] under an explicit policy.
    pub fn matches_with(&self, event: &Subject, policy: &MatchPolicy) -> bool {
        matching::matches(self, event, policy)
    }
}

impl From<SubjectId> for Subject {
    fn from(id: SubjectId) -> Self {
        Self::Simple(id)
    }
}

impl From<ComplexSubject> for Subject {
    fn from(c: ComplexSubject) -> Self {
        Self::Complex(c)
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_json())
    }
}

impl Serialize for Subject {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(serializer)
    }
}

/// Deserializes tolerantly ([`ParseMode::Receiving`]); use [`Subject::parse`] for strict input.
impl<'de> Deserialize<'de> for Subject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Subject::parse(&value, ParseMode::Receiving).map_err(serde::de::Error::custom)
    }
}

impl Serialize for SubjectId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for SubjectId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        match Subject::parse(&value, ParseMode::Receiving).map_err(serde::de::Error::custom)? {
            Subject::Simple(id) => Ok(id),
            Subject::Complex(_) => Err(serde::de::Error::custom(
                "expected a simple subject identifier, got complex",
            )),
        }
    }
}
