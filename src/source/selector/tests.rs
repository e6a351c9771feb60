//! Label selectors: the syntax and the matching, as a table.
use super::*;

fn labels(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
    kv.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn table() {
    let l = labels(&[("app", "web"), ("tier", "front")]);
    for (sel, want) in [
        ("", true),
        ("app=web", true),
        ("app==web", true),
        ("app!=web", false),
        ("app=db", false),
        ("app in (web, db)", true),
        ("app notin (web)", false),
        ("env notin (prod)", true),
        ("tier", true),
        ("!tier", false),
        ("app=web,tier=front", true),
        ("app=web,tier=back", false),
    ] {
        assert_eq!(Selector::parse(sel).unwrap().matches(&l), want, "{sel}");
    }
    assert!(Selector::parse("app in web").is_err());
    assert!(Selector::parse("a b=c").is_err());
    assert!(Selector::parse("app=web,").is_err());
}
