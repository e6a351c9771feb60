//! `$(VAR)` expansion, with the rules of the kubelet's `third_party/forked/golang/expansion`.

/// Expands `$(NAME)` references in `input` using `lookup`.
///
/// * `$(NAME)` becomes `lookup(NAME)`; when that is `None` the reference stays as written.
///   The name is everything up to the first `)`, so `$(A$(B))` asks for `A$(B`.
/// * `$$` is an escaped `$`: `$$(A)` gives `$(A)`.
/// * Anything else after a `$` (`$A`, `${A}`, `$?`), an unterminated `$(`, and a `$` at the
///   very end are copied unchanged.
pub fn expand<'a>(input: &str, lookup: impl Fn(&str) -> Option<&'a str>) -> String {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('(') {
            match body.find(')') {
                Some(close) => {
                    let name = &body[..close];
                    match lookup(name) {
                        Some(value) => out.push_str(value),
                        None => {
                            out.push_str("$(");
                            out.push_str(name);
                            out.push(')');
                        }
                    }
                    rest = &body[close + 1..];
                }
                None => {
                    // Incomplete reference: keep `$(` and go on scanning after it.
                    out.push_str("$(");
                    rest = body;
                }
            }
        } else {
            // A lone `$` (also at the end of the input) is copied; the next character is
            // scanned as ordinary text.
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}
