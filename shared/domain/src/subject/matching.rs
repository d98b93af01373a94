//! Matching an event's subject against a stream's registered subject (`spec/subjects.md` §5).

use super::canonical::{canonical_ips, normalized};
use super::{ComplexSubject, Subject, SubjectId};

/// How subjects are compared. [`MatchPolicy::default`] is the hub's policy
/// (`spec/subjects.md` §5.2–5.3); [`MatchPolicy::ssf_literal`] is SSF's text taken literally.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MatchPolicy {
    /// Fold the case of an email's local part (RFC 9493 lets the recipient canonicalize; most
    /// providers ignore case). Per-tenant setting.
    pub email_local_part_case_insensitive: bool,
    /// Compare normalized values: email domains case-folded, phone separators dropped,
    /// IP addresses in canonical form (and `ip-addresses` match when the sets intersect),
    /// URI schemes lowercased.
    pub normalize_values: bool,
    /// Two complex subjects match only if they share at least one (identical) member; SSF's
    /// literal rule would let `{tenant: A}` match `{user: x}` of any tenant.
    pub require_shared_complex_member: bool,
    /// An `aliases` identifier matches when any of its identifiers matches.
    pub aliases_match_any: bool,
    /// A registered simple subject matches an event's complex subject having it as a member;
    /// a registered complex subject with a single member matches that simple subject.
    pub simple_matches_complex_member: bool,
}

impl Default for MatchPolicy {
    fn default() -> Self {
        Self {
            email_local_part_case_insensitive: true,
            normalize_values: true,
            require_shared_complex_member: true,
            aliases_match_any: true,
            simple_matches_complex_member: true,
        }
    }
}

impl MatchPolicy {
    /// SSF taken literally: simple subjects must be exactly identical, complex members are
    /// wildcards when absent on either side, and anything SSF leaves undefined does not match.
    pub fn ssf_literal() -> Self {
        Self {
            email_local_part_case_insensitive: false,
            normalize_values: false,
            require_shared_complex_member: false,
            aliases_match_any: false,
            simple_matches_complex_member: false,
        }
    }
}

pub(super) fn matches(registered: &Subject, event: &Subject, policy: &MatchPolicy) -> bool {
    match (registered, event) {
        (Subject::Simple(a), Subject::Simple(b)) => simple_matches(a, b, policy),
        (Subject::Complex(a), Subject::Complex(b)) => complex_matches(a, b, policy),
        (Subject::Simple(s), Subject::Complex(c)) => {
            policy.simple_matches_complex_member
                && c.members()
                    .any(|(_, member)| simple_matches(s, member, policy))
        }
        (Subject::Complex(c), Subject::Simple(s)) => {
            policy.simple_matches_complex_member
                && c.len() == 1
                && c.members()
                    .all(|(_, member)| simple_matches(member, s, policy))
        }
    }
}

fn simple_matches(a: &SubjectId, b: &SubjectId, policy: &MatchPolicy) -> bool {
    if policy.aliases_match_any {
        if let SubjectId::Aliases { identifiers } = a {
            return identifiers.iter().any(|x| simple_matches(x, b, policy));
        }
        if let SubjectId::Aliases { identifiers } = b {
            return identifiers.iter().any(|y| simple_matches(a, y, policy));
        }
    }
    if a.format() != b.format() {
        return false;
    }
    match (a, b) {
        (
            SubjectId::IpAddresses { ip_addresses: x },
            SubjectId::IpAddresses { ip_addresses: y },
        ) if policy.normalize_values => {
            let y = canonical_ips(y);
            canonical_ips(x).iter().any(|ip| y.contains(ip))
        }
        _ => normalized(a, policy) == normalized(b, policy),
    }
}

fn complex_matches(a: &ComplexSubject, b: &ComplexSubject, policy: &MatchPolicy) -> bool {
    let mut shared = false;
    for (name, va) in a.members() {
        if let Some(vb) = b.get(name) {
            if !simple_matches(va, vb, policy) {
                return false;
            }
            shared = true;
        }
    }
    shared || !policy.require_shared_complex_member
}
