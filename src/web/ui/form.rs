//! Where page input enters: forms and query strings read into typed structs
//! (`#[derive(Deserialize)]`, through serde_html_form, which takes repeated
//! keys such as `acl` as a list), and the messages that go back next to
//! each field when something in them is wrong.

use std::fmt::Display;
use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

use super::UiError;

/// A submitted form (`application/x-www-form-urlencoded`), read into `T`.
/// Fields the form did not send take their defaults: every form struct
/// marks itself `#[serde(default)]`, so a missing field is an empty one and
/// the form's own rules say what is wrong with it.
pub struct Form<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for Form<T> {
    type Error = UiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, UiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            let body = body
                .await
                .map_err(|e| UiError::BadRequest(format!("The form could not be read: {e}")))?;
            serde_html_form::from_bytes(&body)
                .map(Form)
                .map_err(|_| UiError::BadRequest("The form could not be read.".to_owned()))
        })
    }
}

/// A query string, read into `T`; what cannot be read counts as absent
/// (see [`lenient`]), so an odd link shows the default view, not an error.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned + Default + 'static> FromRequest for Query<T> {
    type Error = UiError;
    type Future = std::future::Ready<Result<Self, UiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let query = req.query_string();
        // A key given twice (`owner=a&owner=a`, as a form and a link may
        // both add it) for a field of one value: the last one counts,
        // rather than the whole query being dropped for the default view.
        // Exact repeats go first (a list such as `names=a&names=b` keeps
        // every name); then, if that is not enough, each key's last value.
        // Each step is one pass over the pairs (a stranger's query of
        // thousands of keys costs no more than reading it).
        let read = serde_html_form::from_str(query)
            .or_else(|_| serde_html_form::from_str(&without(query, Repeats::Exact)))
            .or_else(|_| serde_html_form::from_str(&without(query, Repeats::OfAKey)))
            .unwrap_or_default();
        std::future::ready(Ok(Query(read)))
    }
}

/// Which repeated pairs [`without`] leaves out.
enum Repeats {
    /// A pair given again, key and value: the first is kept.
    Exact,
    /// A key given again: its last pair is kept.
    OfAKey,
}

/// The query without its `repeats`, the other pairs in their order.
fn without(query: &str, repeats: Repeats) -> String {
    use std::collections::{HashMap, HashSet};
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let kept: Vec<bool> = match repeats {
        Repeats::Exact => {
            let mut seen = HashSet::with_capacity(pairs.len());
            pairs.iter().map(|pair| seen.insert(pair)).collect()
        }
        Repeats::OfAKey => {
            let last: HashMap<&str, usize> = pairs
                .iter()
                .enumerate()
                .map(|(i, (k, _))| (k.as_str(), i))
                .collect();
            pairs
                .iter()
                .enumerate()
                .map(|(i, (k, _))| last[k.as_str()] == i)
                .collect()
        }
    };
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(
            pairs
                .iter()
                .zip(kept)
                .filter(|(_, keep)| *keep)
                .map(|((k, v), _)| (k, v)),
        )
        .finish()
}

#[cfg(test)]
mod repeated_keys {
    use super::*;

    #[derive(serde::Deserialize, Default, Debug, PartialEq)]
    #[serde(default)]
    struct Picked {
        owner: String,
        sort: String,
        names: Vec<String>,
    }

    fn read(query: &str) -> Picked {
        let req = actix_web::test::TestRequest::with_uri(&format!("/x?{query}")).to_http_request();
        let mut payload = Payload::None;
        let Ok(Query(picked)) = futures_util::FutureExt::now_or_never(
            Query::<Picked>::from_request(&req, &mut payload),
        )
        .unwrap() else {
            unreachable!()
        };
        picked
    }

    #[test]
    fn a_key_given_twice_is_read_once_and_a_list_keeps_every_value() {
        let picked = read("owner=carol&names=a&names=b&owner=carol&sort=name");
        assert_eq!(picked.owner, "carol");
        assert_eq!(picked.sort, "name");
        assert_eq!(picked.names, ["a", "b"], "the list is whole");
        // Two different values: the last one counts.
        assert_eq!(read("sort=name&sort=created&names=a").sort, "created");
    }

    #[test]
    fn a_query_of_thousands_of_keys_with_one_given_twice_reads_its_last_value() {
        let mut query = String::from("sort=name&sort=created&names=a");
        for i in 0..8_000 {
            query.push_str(&format!("&k{i}"));
        }
        let picked = read(&query);
        assert_eq!(picked.sort, "created");
        assert_eq!(picked.names, ["a"]);
    }
}

/// For `#[serde(deserialize_with = "lenient")]` on an `Option` field of a
/// query: a value that does not parse is `None`, not a failed request.
pub fn lenient<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: std::str::FromStr,
{
    let raw: Option<String> = Option::deserialize(d)?;
    Ok(raw.and_then(|v| v.trim().parse().ok()))
}

/// The messages of a form that was not accepted, one per field at most, in
/// the order the form shows its fields.
#[derive(Debug, Default)]
pub struct FieldErrors(Vec<(&'static str, String)>);

impl FieldErrors {
    /// Notes a message for `field` (the first one stays).
    pub fn add(&mut self, field: &'static str, message: impl Display) {
        if self.get(field).is_none() {
            self.0.push((field, message.to_string()));
        }
    }

    /// One message, for a form that failed on one field.
    pub fn one(field: &'static str, message: impl Display) -> Self {
        let mut errors = Self::default();
        errors.add(field, message);
        errors
    }

    /// The value of a parse, or `None` with its error noted for `field`.
    pub fn check<T, E: Display>(&mut self, field: &'static str, parsed: Result<T, E>) -> Option<T> {
        parsed.map_err(|e| self.add(field, e)).ok()
    }

    pub fn get(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, m)| m.as_str())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every message with its field, for a summary at the top of a form.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.0.iter().map(|(f, m)| (*f, m.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Sample {
        name: String,
        acl: Vec<String>,
        #[serde(deserialize_with = "lenient")]
        page: Option<i64>,
    }

    #[test]
    fn repeated_keys_become_a_list_and_missing_fields_are_empty() {
        let s: Sample = serde_html_form::from_str("acl=a&acl=b&page=2").unwrap();
        assert_eq!(s.acl, ["a", "b"]);
        assert_eq!(s.name, "");
        assert_eq!(s.page, Some(2));
        let s: Sample = serde_html_form::from_str("name=x&page=two").unwrap();
        assert_eq!(s.page, None, "an unreadable number is absent");
        assert!(s.acl.is_empty());
    }

    #[test]
    fn field_errors_keep_the_first_message_per_field_in_order() {
        let mut e = FieldErrors::default();
        assert!(e.is_empty());
        e.add("name", "first");
        e.add("ips", "bad ip");
        e.add("name", "second");
        assert_eq!(e.get("name"), Some("first"));
        assert_eq!(
            e.iter().map(|(f, _)| f).collect::<Vec<_>>(),
            ["name", "ips"]
        );
        assert_eq!(e.check("x", "5".parse::<i32>()), Some(5));
        assert_eq!(e.check("y", "z".parse::<i32>()), None);
        assert!(e.get("y").is_some());
    }
}
