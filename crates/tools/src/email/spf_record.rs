//! The grammar of an SPF record (RFC 7208 §4.6.1 and §12): terms, mechanisms, modifiers, CIDR lengths,
//! domain specs and macros.
//!
//! This file exists so that reading a record, which is pure and meets arbitrary input, is tested apart from
//! fetching records: it has table tests per term and property tests on arbitrary strings. Parsing never fails;
//! each problem is listed, naming the offending term.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::printable;
use super::spf::{SpfMechanism, SpfModifier, SpfQualifier};

pub(crate) fn is_spf_record(txt: &str) -> bool {
    match txt.get(..6) {
        Some(v) => v.eq_ignore_ascii_case("v=spf1") && matches!(txt.as_bytes().get(6), None | Some(b' ')),
        None => false,
    }
}

/// One parsed SPF record.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct SpfRecord {
    pub(super) mechanisms: Vec<SpfMechanism>,
    pub(super) modifiers: Vec<SpfModifier>,
    pub(super) redirect: Option<String>,
    pub(super) exp: Option<String>,
    /// The qualifier of the first `all`.
    pub(super) all: Option<SpfQualifier>,
    /// DNS-querying terms of this record (a redirect counts only when there is no `all`, as it is used only then).
    pub(super) lookups: u32,
    pub(super) uses_ptr: bool,
    /// Syntax errors, each naming the offending term.
    pub(super) errors: Vec<String>,
}

/// Parses a `v=spf1` record (RFC 7208 §4.6.1 and §12). Never fails: problems are listed in `errors`.
pub(crate) fn parse_spf(record: &str) -> SpfRecord {
    let mut rec = SpfRecord::default();
    let body = if is_spf_record(record) { record.get(6..).unwrap_or("") } else { record };
    if !is_spf_record(record) {
        rec.errors.push("the record does not start with `v=spf1`".to_string());
    }
    for term in body.split(' ').filter(|t| !t.is_empty()) {
        if let Err(e) = parse_term(term, &mut rec) {
            rec.errors.push(format!("`{}`: {e}", printable(term)));
        }
    }
    if rec.all.is_none() && rec.redirect.is_some() {
        rec.lookups += 1;
    }
    rec
}

fn parse_term(term: &str, rec: &mut SpfRecord) -> Result<(), String> {
    let (qualifier, explicit, body) = match term.as_bytes().first() {
        Some(b'+') => (SpfQualifier::Pass, true, &term[1..]),
        Some(b'-') => (SpfQualifier::Fail, true, &term[1..]),
        Some(b'~') => (SpfQualifier::Softfail, true, &term[1..]),
        Some(b'?') => (SpfQualifier::Neutral, true, &term[1..]),
        _ => (SpfQualifier::Pass, false, term),
    };
    if let Some(bad) = term.chars().find(|c| !c.is_ascii_graphic()) {
        return Err(format!("invalid character {bad:?}"));
    }
    let name_end = body.find([':', '/', '=']).unwrap_or(body.len());
    let (name, rest) = body.split_at(name_end);
    let lname = name.to_ascii_lowercase();

    if let Some(value) = rest.strip_prefix('=') {
        if explicit {
            return Err("a modifier takes no qualifier".into());
        }
        if !is_modifier_name(name) {
            return Err(format!("`{name}` is not a valid modifier name"));
        }
        match lname.as_str() {
            "redirect" | "exp" => {
                let slot = if lname == "redirect" { &mut rec.redirect } else { &mut rec.exp };
                if slot.is_some() {
                    return Err(format!("`{lname}=` appears more than once"));
                }
                check_domain_spec(value)?;
                *slot = Some(value.to_string());
            }
            _ => {}
        }
        rec.modifiers.push(SpfModifier { name: lname, value: value.to_string() });
        return Ok(());
    }

    let arg = rest.strip_prefix(':');
    match lname.as_str() {
        "all" => {
            if !rest.is_empty() {
                return Err("`all` takes no argument".into());
            }
            rec.all.get_or_insert(qualifier);
        }
        "include" | "exists" => {
            let spec = arg.ok_or_else(|| format!("`{lname}` needs a domain (`{lname}:example.com`)"))?;
            check_domain_spec(spec)?;
            rec.lookups += 1;
        }
        "a" | "mx" => {
            let spec = split_dual_cidr(arg.unwrap_or(rest))?;
            match arg {
                Some(_) => check_domain_spec(spec)?,
                None if !spec.is_empty() => return Err(format!("unexpected `{}`", printable(spec))),
                None => {}
            }
            rec.lookups += 1;
        }
        "ptr" => {
            if let Some(spec) = arg {
                check_domain_spec(spec)?;
            } else if !rest.is_empty() {
                return Err("`ptr` takes no prefix length".into());
            }
            rec.lookups += 1;
            rec.uses_ptr = true;
        }
        "ip4" => {
            let a = arg.ok_or("`ip4` needs an address (`ip4:192.0.2.0/24`)")?;
            let addr = split_prefix(a, 32)?;
            addr.parse::<Ipv4Addr>().map_err(|_| format!("`{addr}` is not an IPv4 address"))?;
        }
        "ip6" => {
            let a = arg.ok_or("`ip6` needs an address (`ip6:2001:db8::/32`)")?;
            let addr = split_prefix(a, 128)?;
            addr.parse::<Ipv6Addr>().map_err(|_| format!("`{addr}` is not an IPv6 address"))?;
        }
        "" => return Err("missing mechanism name".into()),
        _ => return Err(format!("unknown mechanism `{}`", printable(name))),
    }
    let value = match arg {
        Some(a) => Some(a.to_string()),
        None if !rest.is_empty() => Some(rest.to_string()),
        None => None,
    };
    rec.mechanisms.push(SpfMechanism { qualifier: qualifier.symbol().to_string(), name: lname, value });
    Ok(())
}

/// `name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." )`
fn is_modifier_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// `addr[/len]` with `len <= max`: the address.
fn split_prefix(s: &str, max: u8) -> Result<&str, String> {
    match s.split_once('/') {
        Some((addr, len)) => prefix_len(len, max).map(|_| addr),
        None => Ok(s),
    }
}

fn prefix_len(s: &str, max: u8) -> Result<u8, String> {
    let canonical = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && !(s.len() > 1 && s.starts_with('0'));
    match s.parse::<u8>() {
        Ok(n) if canonical && n <= max => Ok(n),
        _ => Err(format!("`/{}` is not a prefix length from 0 to {max}", printable(s))),
    }
}

/// Strips and checks the `[ "/" ip4-len ] [ "//" ip6-len ]` of `a` and `mx`, returning the domain spec before it.
/// A `/` inside a macro (`%{d/}`) is a delimiter, not a prefix length.
fn split_dual_cidr(s: &str) -> Result<&str, String> {
    let s = match s.rfind("//") {
        Some(i) if !s[i..].contains('}') => {
            prefix_len(&s[i + 2..], 128)?;
            &s[..i]
        }
        _ => s,
    };
    match s.rfind('/') {
        Some(i) if !s[i..].contains('}') => {
            prefix_len(&s[i + 1..], 32)?;
            Ok(&s[..i])
        }
        _ => Ok(s),
    }
}

/// Checks a `domain-spec` (RFC 7208 §7.1): a macro string ending in `.toplabel` or a macro expansion.
pub(crate) fn check_domain_spec(spec: &str) -> Result<(), String> {
    if spec.is_empty() {
        return Err("empty domain".into());
    }
    if let Some(bad) = spec.chars().find(|c| !c.is_ascii_graphic()) {
        return Err(format!("invalid character {bad:?} in domain"));
    }
    let bytes = spec.as_bytes();
    let mut i = 0;
    let mut ends_with_macro = false;
    let mut has_macro = false;
    while i < bytes.len() {
        ends_with_macro = false;
        if bytes[i] != b'%' {
            i += 1;
            continue;
        }
        match bytes.get(i + 1) {
            Some(b'%' | b'_' | b'-') => i += 2,
            Some(b'{') => {
                let close = spec[i..].find('}').map(|j| i + j).ok_or_else(|| format!("unclosed macro in `{spec}`"))?;
                let inner = &spec[i + 2..close];
                check_macro(inner).map_err(|e| format!("bad macro `%{{{inner}}}`: {e}"))?;
                has_macro = true;
                i = close + 1;
                ends_with_macro = i == bytes.len();
            }
            _ => return Err(format!("`%` must start a macro (`%{{d}}`, `%%`, `%_`, `%-`) in `{spec}`")),
        }
    }
    if ends_with_macro {
        return Ok(());
    }
    let trimmed = spec.strip_suffix('.').unwrap_or(spec);
    let Some((head, top)) = trimmed.rsplit_once('.') else {
        return Err(format!("`{spec}` is not a fully qualified domain"));
    };
    let top_ok = !top.is_empty()
        && top.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !top.starts_with('-')
        && !top.ends_with('-')
        && top.bytes().any(|b| b.is_ascii_alphabetic() || b == b'-');
    if !top_ok {
        return Err(format!("`{top}` is not a valid top-level label in `{spec}`"));
    }
    if !has_macro {
        if head.split('.').any(str::is_empty) {
            return Err(format!("empty label in `{spec}`"));
        }
        if trimmed.split('.').any(|l| l.len() > 63) || trimmed.len() > 253 {
            return Err(format!("`{spec}` is too long for a domain"));
        }
    }
    Ok(())
}

/// `macro-letter *DIGIT [ "r" ] *delimiter`
fn check_macro(inner: &str) -> Result<(), String> {
    let mut chars = inner.chars();
    match chars.next() {
        Some(c) if "slodipvh".contains(c.to_ascii_lowercase()) => {}
        Some(c) => return Err(format!("unknown macro letter `{c}`")),
        None => return Err("empty macro".into()),
    }
    let rest: String = chars.collect();
    let rest = rest.trim_start_matches(|c: char| c.is_ascii_digit());
    let rest = rest.strip_prefix(['r', 'R']).unwrap_or(rest);
    if let Some(c) = rest.chars().find(|c| !".-+,/_=".contains(*c)) {
        return Err(format!("`{c}` is not a delimiter"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mech(q: &str, name: &str, value: Option<&str>) -> SpfMechanism {
        SpfMechanism { qualifier: q.into(), name: name.into(), value: value.map(String::from) }
    }

    #[test]
    fn spf_records_are_recognised_by_their_version() {
        for (txt, is) in [
            ("v=spf1 -all", true),
            ("V=SPF1 -all", true),
            ("v=spf1", true),
            ("v=spf10 -all", false),
            ("v=spf1-all", false),
            (" v=spf1 -all", false),
            ("spf1", false),
            ("v=DMARC1; p=none", false),
            ("v=spé1 -all", false),
        ] {
            assert_eq!(is_spf_record(txt), is, "{txt}");
        }
    }

    #[test]
    fn spf_parses_mechanisms_modifiers_and_counts_lookups() {
        let r = parse_spf(
            "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 a mx:mail.example.com/24//64 -ptr ~include:_spf.example.net \
             ?exists:%{i}._spf.%{d} redirect=_spf.example.org exp=explain.example.com foo=bar -all",
        );
        assert_eq!(r.errors, Vec::<String>::new());
        assert_eq!(
            r.mechanisms,
            vec![
                mech("+", "ip4", Some("192.0.2.0/24")),
                mech("+", "ip6", Some("2001:db8::/32")),
                mech("+", "a", None),
                mech("+", "mx", Some("mail.example.com/24//64")),
                mech("-", "ptr", None),
                mech("~", "include", Some("_spf.example.net")),
                mech("?", "exists", Some("%{i}._spf.%{d}")),
                mech("-", "all", None),
            ]
        );
        assert_eq!(r.redirect.as_deref(), Some("_spf.example.org"));
        assert_eq!(r.exp.as_deref(), Some("explain.example.com"));
        assert_eq!(r.modifiers.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(), ["redirect", "exp", "foo"]);
        assert_eq!(r.all, Some(SpfQualifier::Fail));
        // a, mx, ptr, include, exists; the redirect is unused because of -all.
        assert_eq!(r.lookups, 5);
        assert!(r.uses_ptr);

        let r = parse_spf("v=spf1 include:a.example redirect=b.example");
        assert_eq!((r.lookups, r.all), (2, None));
        let r = parse_spf("v=spf1 a/24 mx//64 A:Example.COM -ALL");
        assert_eq!(r.errors, Vec::<String>::new());
        assert_eq!(r.mechanisms[0], mech("+", "a", Some("/24")));
        assert_eq!(r.mechanisms[3], mech("-", "all", None));
        assert_eq!(r.lookups, 3);
    }

    #[test]
    fn spf_first_all_wins() {
        assert_eq!(parse_spf("v=spf1 ?all -all").all, Some(SpfQualifier::Neutral));
        assert_eq!(parse_spf("v=spf1 all").all, Some(SpfQualifier::Pass));
        assert_eq!(parse_spf("v=spf1 +all").all, Some(SpfQualifier::Pass));
        assert_eq!(parse_spf("v=spf1 ~all").all, Some(SpfQualifier::Softfail));
        assert_eq!(parse_spf("v=spf1 mx").all, None);
    }

    #[test]
    fn spf_syntax_errors_name_the_offending_term() {
        for (record, term, why) in [
            ("v=spf1 ip4:192.0.2.300 -all", "`ip4:192.0.2.300`", "not an IPv4 address"),
            ("v=spf1 ip4:192.0.2.0/33 -all", "`ip4:192.0.2.0/33`", "prefix length from 0 to 32"),
            ("v=spf1 ip6:2001:db8::/129 -all", "`ip6:2001:db8::/129`", "0 to 128"),
            ("v=spf1 ip6:192.0.2.1 -all", "`ip6:192.0.2.1`", "not an IPv6 address"),
            ("v=spf1 ip4 -all", "`ip4`", "needs an address"),
            ("v=spf1 include -all", "`include`", "needs a domain"),
            ("v=spf1 include:nodot -all", "`include:nodot`", "not a fully qualified domain"),
            ("v=spf1 include:example..com -all", "`include:example..com`", "empty label"),
            ("v=spf1 include:example.123 -all", "`include:example.123`", "top-level label"),
            ("v=spf1 exists:%{z}.example.com -all", "`exists:%{z}.example.com`", "unknown macro letter"),
            ("v=spf1 exists:%{d.example.com -all", "`exists:%{d.example.com`", "unclosed macro"),
            ("v=spf1 a:%x.example.com -all", "`a:%x.example.com`", "must start a macro"),
            ("v=spf1 ipv4:192.0.2.1 -all", "`ipv4:192.0.2.1`", "unknown mechanism `ipv4`"),
            ("v=spf1 -all:foo", "`-all:foo`", "takes no argument"),
            ("v=spf1 a/40 -all", "`a/40`", "0 to 32"),
            ("v=spf1 mx//200 -all", "`mx//200`", "0 to 128"),
            ("v=spf1 ptr/24 -all", "`ptr/24`", "no prefix length"),
            ("v=spf1 -redirect=x.example", "`-redirect=x.example`", "no qualifier"),
            ("v=spf1 redirect=a.example redirect=b.example", "`redirect=b.example`", "more than once"),
            ("v=spf1 1bad=x -all", "`1bad=x`", "not a valid modifier name"),
            ("v=spf1 +", "`+`", "missing mechanism name"),
            ("v=spf1 a:exa\tmple.com", "`a:exa\tmple.com`", "invalid character"),
        ] {
            let r = parse_spf(record);
            assert_eq!(r.errors.len(), 1, "{record}: {:?}", r.errors);
            assert!(r.errors[0].starts_with(term) && r.errors[0].contains(why), "{record}: {}", r.errors[0]);
        }
    }

    #[test]
    fn domain_specs_follow_the_grammar() {
        for ok in [
            "example.com",
            "example.com.",
            "_spf.example.com",
            "%{d}",
            "%{ir}.%{v}._spf.%{d2}",
            "%{l1r-}.x.example",
            "a.b-c",
            "x.%{d}",
        ] {
            assert_eq!(check_domain_spec(ok), Ok(()), "{ok}");
        }
        for bad in ["", "com", ".", "example.com-", "exa mple.com", "%{d", "%{q}", "%{d3x}", "example.-x"] {
            assert!(check_domain_spec(bad).is_err(), "{bad}");
        }
    }

    mod robustness {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn spf_parser_never_panics(s in "\\PC{0,200}") {
                let r = parse_spf(&s);
                prop_assert!(r.lookups as usize <= s.len());
                let _ = parse_spf(&format!("v=spf1 {s}"));
            }

            #[test]
            fn spf_terms_made_of_grammar_pieces_parse_cleanly(
                terms in proptest::collection::vec(
                    (
                        proptest::sample::select(vec!["", "+", "-", "~", "?"]),
                        proptest::sample::select(vec![
                            "a", "mx", "ptr", "a:mail.example.com", "mx:example.net/24", "a//64",
                            "include:_spf.example.com", "exists:%{i}.in.%{d}", "ip4:192.0.2.0/24", "ip6:2001:db8::1",
                        ]),
                    ),
                    0..12,
                ),
                all in proptest::sample::select(vec!["", "-all", "~all", "?all", "+all"]),
            ) {
                let body: Vec<String> = terms.iter().map(|(q, t)| format!("{q}{t}")).collect();
                let record = format!("v=spf1 {} {all}", body.join(" "));
                let r = parse_spf(&record);
                prop_assert!(r.errors.is_empty(), "{}: {:?}", record, r.errors);
                let expected = terms.iter().filter(|(_, t)| !t.starts_with("ip")).count() as u32;
                prop_assert_eq!(r.lookups, expected);
                prop_assert_eq!(r.mechanisms.len(), terms.len() + usize::from(!all.is_empty()));
                prop_assert_eq!(r.all.is_some(), !all.is_empty());
            }
        }
    }
}
