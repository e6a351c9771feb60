//! `rewrite cname`: the answer's CNAME pointing at a matching target is pointed at the new
//! target, and what the server answers for the new target replaces the rest of the answer
//! (CoreDNS's `cnameTargetRule`).
use hickory_server::proto::rr::rdata::CNAME;
use hickory_server::proto::rr::{Name, RData};

use super::rule::Cname;
use crate::dns::query::{text, MAX_DEPTH};
use crate::dns::{Answer, Next, Query};

/// Rewrites the first CNAME of `a`'s answer section whose target `c` matches: the CNAMEs up
/// to it stay (it now points at the new target), followed by the server's answer for the new
/// target with `q`'s type; other records go.
pub(super) async fn apply(c: &Cname, q: &Query, next: &Next<'_>, a: &mut Answer) {
    let hit = a
        .answers
        .iter()
        .enumerate()
        .find_map(|(i, r)| match &r.data {
            RData::CNAME(t) => c.from.rewrite(&text(&t.0, false), &c.to).map(|to| (i, to)),
            _ => None,
        });
    let Some((at, to)) = hit else {
        return;
    };
    let Ok(target) = Name::from_ascii(&to) else {
        tracing::error!(target = %to, "rewrite: cname target is no domain name");
        return;
    };
    if q.depth >= MAX_DEPTH {
        return;
    }
    let sub = q.follow(target.clone(), q.qtype);
    let up = next.resolve(&sub).await;
    let mut out: Vec<_> = a.answers[..=at]
        .iter()
        .filter(|r| matches!(r.data, RData::CNAME(_)))
        .cloned()
        .collect();
    if let Some(last) = out.last_mut() {
        last.data = RData::CNAME(CNAME(target));
    }
    out.extend(up.answers);
    a.answers = out;
}
