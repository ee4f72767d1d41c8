//! Request parameters (WHM API calls and page forms alike): from the query
//! string and a form-encoded body,
//! with lists written as `name`, `name-0`, `name-1`, …

pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn parse(query: &str, form_body: Option<&[u8]>) -> Self {
        let mut pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(query).unwrap_or_default();
        if let Some(body) = form_body {
            pairs.extend(
                serde_urlencoded::from_bytes::<Vec<(String, String)>>(body).unwrap_or_default(),
            );
        }
        Self(pairs)
    }

    pub fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        Self(pairs)
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value given as `name` or `name-N`, in order of N (plain `name`
    /// first); `None` when the parameter is absent altogether.
    pub fn list(&self, name: &str) -> Option<Vec<&str>> {
        let mut found: Vec<(i64, usize, &str)> = Vec::new();
        for (i, (k, v)) in self.0.iter().enumerate() {
            if k == name {
                found.push((i64::MIN, i, v));
            } else if let Some(n) = k
                .strip_prefix(name)
                .and_then(|rest| rest.strip_prefix('-'))
                .and_then(|n| n.parse::<i64>().ok())
            {
                found.push((n, i, v));
            }
        }
        if found.is_empty() {
            return None;
        }
        found.sort();
        Some(found.into_iter().map(|(_, _, v)| v).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_come_in_index_order_from_query_and_body() {
        let p = Params::parse("acl-2=c&acl-0=a&api.version=1", Some(b"acl-1=b&acl=z"));
        assert_eq!(p.list("acl"), Some(vec!["z", "a", "b", "c"]));
        assert_eq!(p.get("api.version"), Some("1"));
        assert_eq!(p.list("whitelist_ip"), None);
        assert_eq!(p.list("acl-x"), None);
    }

    #[test]
    fn indices_may_start_anywhere_and_unrelated_names_are_ignored() {
        let p = Params::parse(
            "token_name-5=b&token_name-3=a&token_names=x&token_name-x=y",
            None,
        );
        assert_eq!(p.list("token_name"), Some(vec!["a", "b"]));
    }
}
