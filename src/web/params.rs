//! Request parameters (WHM API calls and page forms alike): from the query
//! string and a form-encoded body,
//! with lists written as `name`, `name-0`, `name-1`, … (WHM's form), or
//! `name[]`, `name[0]`, `name[1]`, … (as PHP and JavaScript clients write
//! them).

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

    /// Every value given as `name`, `name[]`, `name-N` or `name[N]`, in
    /// order of N (unnumbered ones first, as given); `None` when the
    /// parameter is absent altogether.
    pub fn list(&self, name: &str) -> Option<Vec<&str>> {
        let mut found: Vec<(i64, usize, &str)> = Vec::new();
        for (i, (k, v)) in self.0.iter().enumerate() {
            let Some(rest) = k.strip_prefix(name) else {
                continue;
            };
            let index = match rest {
                "" | "[]" => Some(i64::MIN),
                _ => rest
                    .strip_prefix('-')
                    .or_else(|| rest.strip_prefix('[').and_then(|r| r.strip_suffix(']')))
                    .and_then(|n| n.parse::<i64>().ok()),
            };
            if let Some(n) = index {
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
    fn bracketed_lists_as_php_and_javascript_write_them_are_lists_too() {
        let p = Params::parse("acl[1]=b&acl[0]=a&whitelist_ip[]=x&whitelist_ip[]=y", None);
        assert_eq!(p.list("acl"), Some(vec!["a", "b"]));
        assert_eq!(p.list("whitelist_ip"), Some(vec!["x", "y"]));
        assert_eq!(Params::parse("acl[x]=a&acls=b", None).list("acl"), None);
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
