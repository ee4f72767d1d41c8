//! `Authorization: whm USER:TOKEN`.

/// The user name and secret of a WHM authorization header, or `None` when
/// the header is not one: another scheme, no colon, or anything but
/// printable ASCII anywhere (no control characters, no Unicode spaces that
/// a lenient trim would accept).
pub fn parse(raw: &[u8]) -> Option<(&str, &str)> {
    if !raw.iter().all(|b| (b' '..=b'~').contains(b)) {
        return None;
    }
    let value = std::str::from_utf8(raw).ok()?.trim_matches(' ');
    let (scheme, rest) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("whm") {
        return None;
    }
    let (user, secret) = rest.trim_start_matches(' ').split_once(':')?;
    Some((user, secret))
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn reads_user_and_token_with_any_case_scheme() {
        assert_eq!(parse(b"whm root:ABC"), Some(("root", "ABC")));
        assert_eq!(parse(b"WHM bob:X:Y"), Some(("bob", "X:Y")));
        assert_eq!(parse(b"Whm   bob:Z"), Some(("bob", "Z")));
    }

    #[test]
    fn refuses_other_schemes_and_control_characters() {
        for bad in [
            &b"Basic cm9vdDpwdw=="[..],
            b"whm rootABC",
            b"whm",
            b"whm root:AB\x01C",
            b"whm root:ABC\x7f",
            b"whm\troot:ABC",
            b"whm root:\nABC",
            "whm root:ABC\u{85}".as_bytes(),
            "\u{3000}whm root:ABC".as_bytes(),
            "whm r\u{f6}ot:ABC".as_bytes(),
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }
}
