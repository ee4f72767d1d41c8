//! Forward auth's rules: which original requests a token may make, read
//! from the file `WHM_TOKENS_FORWARD_RULES` names (or the ready-made rules
//! for WHM-style backends). One rule a line:
//!
//! ```text
//! # methods   path                  what the token needs
//! GET,HEAD    /billing/invoices/**  list-accts
//! POST        /dns/zones/*          edit-dns,park-dns
//! *           /status               token
//! *           /admin/**             deny
//! *           /json-api/*           whm-api
//! ```
//!
//! - **methods**: `*`, or methods joined by commas;
//! - **path**: segments split by `/`; `*` in a segment matches any run of
//!   characters within it, a last segment `**` matches the rest (none or
//!   more segments); the query string is never part of the match;
//! - **what the token needs**: `token` (any valid token), `deny`,
//!   `whm-api` (the privilege of the `/json-api/<function>` the path names,
//!   from the API's own table), or privileges joined by commas (all of
//!   them).
//!
//! The first rule that matches decides; a request no rule matches is
//! refused. Paths that could be read two ways (dot segments, doubled
//! slashes, an escaped `/`, `\` or `.`) match nothing, so that the backend
//! cannot see a different path from the one checked.

use std::fmt;

use percent_encoding::percent_decode_str;

use super::privileges::PrivilegeSet;

/// What a token must have for a request a rule matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Need {
    /// Any valid token.
    Token,
    /// Every one of these privileges.
    Privileges(PrivilegeSet),
    /// The privilege of the WHM API function the path names.
    WhmApi,
    /// Refused, whatever the token.
    Deny,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Methods {
    Any,
    These(Vec<String>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    /// A segment with or without `*`s.
    Glob(String),
    /// `**`, last: the rest of the path.
    Rest,
}

/// One rule, with the line it came from (for the audit trail).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub line: usize,
    methods: Methods,
    path: Vec<Segment>,
    pub need: Need,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForwardRules {
    rules: Vec<Rule>,
    /// Where they came from, for messages: a file, or "ready-made".
    pub source: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for RuleError {}

/// The rules used when no file is given: WHM's API paths, with and
/// without a session segment, each needing its function's privilege.
pub const READY_MADE: &str = "*  /json-api/*           whm-api\n\
                              *  /cpsess*/json-api/*   whm-api\n";

/// The most rules a file may hold: each request walks them in order.
pub const MAX_RULES: usize = 1000;

impl ForwardRules {
    pub fn ready_made() -> Self {
        let mut rules = Self::parse(READY_MADE).expect("the ready-made rules parse");
        rules.source = "ready-made".to_owned();
        rules
    }

    pub fn parse(text: &str) -> Result<Self, RuleError> {
        let mut rules = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let err = |message: String| RuleError { line, message };
            let content = raw.split('#').next().unwrap_or_default().trim();
            if content.is_empty() {
                continue;
            }
            let fields: Vec<&str> = content.split_whitespace().collect();
            let [methods, path, need] = fields[..] else {
                return Err(err(format!(
                    "a rule is three fields (methods, path, what the token needs), not {}",
                    fields.len()
                )));
            };
            if rules.len() == MAX_RULES {
                return Err(err(format!("more than {MAX_RULES} rules")));
            }
            rules.push(Rule {
                line,
                methods: parse_methods(methods).map_err(err)?,
                path: parse_path(path).map_err(err)?,
                need: parse_need(need).map_err(err)?,
            });
        }
        Ok(Self {
            rules,
            source: "the rules file".to_owned(),
        })
    }

    /// The first rule matching the original request, if any. `uri` may
    /// carry a query string, which is not matched.
    pub fn find(&self, method: &str, uri: &str) -> Option<&Rule> {
        let path = canonical_path(uri)?;
        self.rules
            .iter()
            .find(|r| r.methods.allow(method) && matches(&r.path, &path))
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

impl Methods {
    fn allow(&self, method: &str) -> bool {
        match self {
            Self::Any => true,
            Self::These(list) => list.iter().any(|m| m.eq_ignore_ascii_case(method)),
        }
    }
}

fn parse_methods(field: &str) -> Result<Methods, String> {
    if field == "*" {
        return Ok(Methods::Any);
    }
    let list: Vec<String> = field.split(',').map(|m| m.to_ascii_uppercase()).collect();
    match list
        .iter()
        .find(|m| m.is_empty() || !m.bytes().all(|b| b.is_ascii_uppercase()))
    {
        Some(bad) => Err(format!("“{bad}” is not an HTTP method")),
        None => Ok(Methods::These(list)),
    }
}

fn parse_path(field: &str) -> Result<Vec<Segment>, String> {
    let Some(rest) = field.strip_prefix('/') else {
        return Err(format!("the path “{field}” does not start with /"));
    };
    let parts: Vec<&str> = rest.split('/').collect();
    let last = parts.len() - 1;
    parts
        .iter()
        .enumerate()
        .map(|(i, part)| match *part {
            "**" if i == last => Ok(Segment::Rest),
            p if p.contains("**") => Err(format!(
                "in “{field}”, ** may only be the whole last segment"
            )),
            p => Ok(Segment::Glob(p.to_owned())),
        })
        .collect()
}

fn parse_need(field: &str) -> Result<Need, String> {
    Ok(match field {
        "token" => Need::Token,
        "deny" => Need::Deny,
        "whm-api" => Need::WhmApi,
        keys => Need::Privileges(PrivilegeSet::parse([keys]).map_err(|e| e.to_string())?),
    })
}

/// The path of `uri`, decoded, split into segments; `None` for one that
/// could be read two ways.
fn canonical_path(uri: &str) -> Option<Vec<String>> {
    let raw = uri.split(['?', '#']).next().unwrap_or_default();
    let rest = raw.strip_prefix('/')?;
    let lower = rest.to_ascii_lowercase();
    if ["%2f", "%5c", "%2e", "%00"]
        .iter()
        .any(|e| lower.contains(e))
        || rest.contains('\\')
    {
        return None;
    }
    let decoded = percent_decode_str(rest).decode_utf8().ok()?;
    let segments: Vec<String> = decoded.split('/').map(str::to_owned).collect();
    let last = segments.len() - 1;
    let unclear = segments
        .iter()
        .enumerate()
        .any(|(i, s)| s == "." || s == ".." || (s.is_empty() && i != last));
    (!unclear).then_some(segments)
}

fn matches(pattern: &[Segment], path: &[String]) -> bool {
    match (pattern.first(), path.first()) {
        (Some(Segment::Rest), _) => true,
        (Some(Segment::Glob(glob)), Some(segment)) => {
            glob_matches(glob, segment) && matches(&pattern[1..], &path[1..])
        }
        (None, None) => true,
        _ => false,
    }
}

/// `*` matches any run of characters (none included) within a segment.
fn glob_matches(glob: &str, text: &str) -> bool {
    let mut pieces = glob.split('*');
    let first = pieces.next().unwrap_or_default();
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let pieces: Vec<&str> = pieces.collect();
    let Some((last, middle)) = pieces.split_last() else {
        return rest.is_empty();
    };
    for piece in middle {
        match rest.find(piece) {
            Some(at) => rest = &rest[at + piece.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(text: &str) -> ForwardRules {
        ForwardRules::parse(text).unwrap()
    }

    fn line_for(rules: &ForwardRules, method: &str, uri: &str) -> Option<usize> {
        rules.find(method, uri).map(|r| r.line)
    }

    #[test]
    fn the_first_matching_rule_decides_and_no_match_is_none() {
        let r = rules(
            "# comment\n\
             GET,HEAD /billing/invoices/** list-accts\n\
             POST /dns/zones/* edit-dns  # trailing comment\n\
             * /status token\n\
             * /admin/** deny\n\
             * /** token\n",
        );
        assert_eq!(
            line_for(&r, "GET", "/billing/invoices/2026/12?x=1"),
            Some(2)
        );
        assert_eq!(line_for(&r, "head", "/billing/invoices"), Some(2));
        assert_eq!(line_for(&r, "POST", "/billing/invoices/1"), Some(6));
        assert_eq!(line_for(&r, "POST", "/dns/zones/example.com"), Some(3));
        assert_eq!(line_for(&r, "POST", "/dns/zones/a/b"), Some(6));
        assert_eq!(line_for(&r, "DELETE", "/admin/x"), Some(5));
        let narrow = rules("GET /status token\n");
        assert_eq!(line_for(&narrow, "GET", "/status"), Some(1));
        assert_eq!(line_for(&narrow, "GET", "/status/"), None);
        assert_eq!(line_for(&narrow, "POST", "/status"), None);
        assert_eq!(line_for(&narrow, "GET", "/statuses"), None);
    }

    #[test]
    fn stars_match_within_a_segment_and_the_ready_made_rules_take_session_paths() {
        let r = ForwardRules::ready_made();
        assert_eq!(r.source, "ready-made");
        assert_eq!(
            line_for(&r, "GET", "/json-api/listaccts?api.version=1"),
            Some(1)
        );
        assert_eq!(
            line_for(&r, "POST", "/cpsess0123/json-api/version"),
            Some(2)
        );
        assert_eq!(line_for(&r, "GET", "/json-api/a/b"), None);
        assert_eq!(line_for(&r, "GET", "/other"), None);
        assert!(glob_matches("a*c*e", "abcde"));
        assert!(glob_matches("*", ""));
        assert!(glob_matches("ab*", "ab"));
        assert!(!glob_matches("ab*b", "ab"));
        assert!(!glob_matches("a*c", "abd"));
    }

    #[test]
    fn paths_that_read_two_ways_match_nothing() {
        let r = rules("* /** token\n");
        for uri in [
            "/json-api/../admin",
            "/a/./b",
            "/a//b",
            "/a%2Fb",
            "/a%2e%2e/b",
            "/a\\b",
            "/a%00",
            "relative",
        ] {
            assert_eq!(line_for(&r, "GET", uri), None, "{uri}");
        }
        assert_eq!(line_for(&r, "GET", "/a/b/"), Some(1));
        let escaped = rules("GET /json-api/version whm-api\n");
        assert_eq!(line_for(&escaped, "GET", "/json-api/ver%73ion"), Some(1));
    }

    #[test]
    fn a_bad_line_is_named_with_its_reason() {
        for (text, line, says) in [
            ("GET /a\n", 1, "three fields"),
            ("\nGET a token\n", 2, "does not start with /"),
            ("G3T /a token\n", 1, "not an HTTP method"),
            ("GET /a/**/b token\n", 1, "last segment"),
            ("GET /a no-such-privilege\n", 1, "not a known privilege"),
        ] {
            let e = ForwardRules::parse(text).unwrap_err();
            assert_eq!(e.line, line, "{text}");
            assert!(e.message.contains(says), "{text}: {e}");
        }
        let r = rules("GET /a list-accts,suspend-acct\n");
        assert_eq!(
            r.find("GET", "/a").unwrap().need,
            Need::Privileges(PrivilegeSet::parse(["list-accts suspend-acct"]).unwrap())
        );
    }
}
