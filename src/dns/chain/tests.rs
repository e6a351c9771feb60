//! The chain's contract with directives made for the test (pure logic: no zone, no wire).
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;

/// Answers NOERROR when `answers`, else passes on; counts the questions it saw.
struct Step {
    name: &'static str,
    answers: bool,
    later: bool,
    seen: AtomicUsize,
}

impl Directive for Step {
    fn name(&self) -> &'static str {
        self.name
    }

    fn serve<'a>(&'a self, q: &'a Query, next: Next<'a>) -> Served<'a> {
        self.seen.fetch_add(1, Ordering::Relaxed);
        if !self.answers {
            return next.answer(q);
        }
        let a = Answer::code(ResponseCode::NoError).by(self.name);
        if self.later {
            Served::later(async move {
                tokio::task::yield_now().await;
                a
            })
        } else {
            Served::ready(a)
        }
    }
}

/// Marks the answer on its way back (AD set) and forbids replays.
struct Stamp;

impl Directive for Stamp {
    fn name(&self) -> &'static str {
        "stamp"
    }

    fn serve<'a>(&'a self, q: &'a Query, next: Next<'a>) -> Served<'a> {
        next.answer(q).map(|mut a| {
            a.authentic_data = true;
            a
        })
    }

    fn replayable(&self, _a: &Answer) -> bool {
        false
    }
}

fn step(name: &'static str, answers: bool, later: bool) -> Arc<Step> {
    Arc::new(Step {
        name,
        answers,
        later,
        seen: AtomicUsize::new(0),
    })
}

fn router(zones: &[&str], chain: Vec<Arc<dyn Directive>>) -> Arc<Router> {
    let mut r = Router::default();
    r.ports.entry(53).or_default().push(Arc::new(Block::new(
        zones.iter().map(|z| z.to_string()).collect(),
        chain,
    )));
    Arc::new(r)
}

fn q(name: &str) -> Query {
    Query::internal(Name::from_ascii(name).unwrap(), RecordType::A)
}

#[tokio::test]
async fn the_first_directive_that_answers_ends_the_chain() {
    let (a, b, c) = (
        step("a", false, false),
        step("b", true, true),
        step("c", true, false),
    );
    let r = router(&["."], vec![a.clone(), b.clone(), c.clone()]);
    let got = r.answer(53, &q("x.example.")).await;
    assert_eq!((got.rcode, got.plugin), (ResponseCode::NoError, "b"));
    let seen = |s: &Step| s.seen.load(Ordering::Relaxed);
    assert_eq!((seen(&a), seen(&b), seen(&c)), (1, 1, 0));
}

#[tokio::test]
async fn past_the_last_directive_is_servfail_in_its_name() {
    let r = router(
        &["."],
        vec![step("a", false, false), step("z", false, false)],
    );
    let got = r.answer(53, &q("x.example.")).await;
    assert_eq!(got.rcode, ResponseCode::ServFail);
    assert_eq!(got.error.as_deref(), Some("plugin/z: no next plugin found"));
    let empty = router(&["."], vec![]);
    assert_eq!(
        empty.answer(53, &q("x.example.")).await.rcode,
        ResponseCode::Refused
    );
}

#[tokio::test]
async fn map_acts_on_the_way_back_for_ready_and_later_answers() {
    for later in [false, true] {
        let r = router(&["."], vec![Arc::new(Stamp), step("b", true, later)]);
        let got = r.answer(53, &q("x.example.")).await;
        assert!(got.authentic_data, "later={later}");
        assert!(!r.ports[&53][0].replayable(&got));
    }
}

#[test]
fn a_ready_answer_needs_no_runtime() {
    let r = router(&["example."], vec![step("a", true, false)]);
    let query = q("x.example.");
    let mut fut = r.answer(53, &query);
    let waker = futures::task::noop_waker();
    let mut cx = Context::from_waker(&waker);
    match Pin::new(&mut fut).poll(&mut cx) {
        Poll::Ready(a) => assert_eq!(a.plugin, "a"),
        Poll::Pending => panic!("a ready answer must not wait"),
    }
    // Polled again after it finished: SERVFAIL, not a panic.
    match Pin::new(&mut fut).poll(&mut cx) {
        Poll::Ready(a) => assert_eq!(a.rcode, ResponseCode::ServFail),
        Poll::Pending => panic!("finished"),
    }
    let other = q("x.other.");
    let refused = futures::executor::block_on(r.answer(53, &other));
    assert_eq!(refused.rcode, ResponseCode::Refused, "no block covers it");
}
