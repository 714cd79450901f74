//! Field validation that collects every problem of a request body, so one answer names all the
//! fields a client must fix.

use serde::Serialize;
use utoipa::ToSchema;

/// One invalid field: a JSON-pointer-like dotted path and what is wrong with it.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub detail: String,
}

/// Collects field errors.
#[derive(Debug, Default)]
pub struct Errors(pub Vec<FieldError>);

/// Maximum length of names (streams, tokens, tenants), in characters.
pub const MAX_NAME_CHARS: usize = 100;

impl Errors {
    pub fn add(&mut self, field: impl Into<String>, detail: impl Into<String>) {
        self.0.push(FieldError {
            field: field.into(),
            detail: detail.into(),
        });
    }

    /// A human name: 1..=100 characters after trimming, no control characters.
    pub fn name(&mut self, field: &str, value: &str) {
        let trimmed = value.trim();
        if trimmed.is_empty() {
            self.add(field, "must not be empty");
        } else if trimmed.chars().count() > MAX_NAME_CHARS {
            self.add(
                field,
                format!("must be at most {MAX_NAME_CHARS} characters"),
            );
        } else if trimmed.chars().any(char::is_control) {
            self.add(field, "must not contain control characters");
        }
    }

    /// An email address: one `@`, something on both sides, at most 254 characters.
    pub fn email(&mut self, field: &str, value: &str) {
        let ok = value.len() <= 254
            && matches!(value.split_once('@'), Some((local, domain))
                if !local.is_empty() && domain.contains('.') && !domain.contains('@')
                    && !value.chars().any(|c| c.is_whitespace() || c.is_control()));
        if !ok {
            self.add(field, "must be an email address");
        }
    }

    /// A password: 10..=256 characters.
    pub fn password(&mut self, field: &str, value: &str) {
        let n = value.chars().count();
        if n < 10 {
            self.add(field, "must be at least 10 characters");
        } else if n > 256 {
            self.add(field, "must be at most 256 characters");
        }
    }

    /// An integer within bounds.
    pub fn range(&mut self, field: &str, value: i64, min: i64, max: i64) {
        if value < min || value > max {
            self.add(field, format!("must be between {min} and {max}"));
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Parses and normalises an allowlist: IPv4/IPv6 CIDRs or bare addresses (taken as /32 or /128),
/// host bits cleared, duplicates removed. Errors name the offending entry by index.
pub fn ip_allowlist(errors: &mut Errors, field: &str, entries: &[String]) -> Vec<String> {
    const MAX_ENTRIES: usize = 256;
    if entries.len() > MAX_ENTRIES {
        errors.add(field, format!("must have at most {MAX_ENTRIES} entries"));
        return Vec::new();
    }
    let mut out: Vec<String> = Vec::with_capacity(entries.len());
    for (i, raw) in entries.iter().enumerate() {
        let raw = raw.trim();
        let parsed = raw
            .parse::<ipnet::IpNet>()
            .or_else(|_| raw.parse::<std::net::IpAddr>().map(ipnet::IpNet::from));
        match parsed {
            Ok(net) => {
                let text = crate::domain::allowlist::canonical_net(net).trunc().to_string();
                if !out.contains(&text) {
                    out.push(text);
                }
            }
            Err(_) => errors.add(
                format!("{field}[{i}]"),
                format!("'{raw}' is not an IPv4 or IPv6 address or CIDR (e.g. 203.0.113.0/24, 2001:db8::/32)"),
            ),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowlist_is_normalised_and_errors_name_the_entry() {
        let mut e = Errors::default();
        let out = ip_allowlist(
            &mut e,
            "ip_allowlist",
            &[
                "10.1.2.3/8".into(),
                "2001:db8::1".into(),
                "10.0.0.0/8".into(),
                "nope".into(),
            ],
        );
        assert_eq!(out, vec!["10.0.0.0/8", "2001:db8::1/128"]);
        assert_eq!(e.0.len(), 1);
        assert_eq!(e.0[0].field, "ip_allowlist[3]");
    }

    #[test]
    fn names_and_emails() {
        let mut e = Errors::default();
        e.name("name", "  ");
        e.name("name", &"x".repeat(101));
        e.name("name", "ok");
        e.email("email", "a@b.example");
        e.email("email", "no-at");
        assert_eq!(e.0.len(), 3);
    }
}
