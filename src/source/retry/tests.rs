//! The retry policy as a pure function of faults and times, and the fault of real transport
//! errors: a port nobody listens on, a server that hangs up.
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

use super::*;

const MS: Duration = Duration::from_millis(1);

/// `n` failures of `fault`, `every` apart from `t`; returns the decisions.
fn run(r: &mut Retry, fault: Fault, t: &mut Instant, every: Duration, n: usize) -> Vec<Next> {
    (0..n)
        .map(|_| {
            let next = r.failed(fault, *t);
            *t += every;
            next
        })
        .collect()
}

fn within(d: Duration, base: Duration) -> bool {
    d >= base.mul_f64(0.8) && d <= base.mul_f64(1.2)
}

#[test]
fn unreachable_is_retried_within_half_a_second_however_long_it_lasts() {
    let mut r = Retry::default();
    let mut t = Instant::now();
    let nexts = run(&mut r, Fault::Unreachable, &mut t, 400 * MS, 200);
    assert!(nexts
        .iter()
        .all(|n| n.wait <= 480 * MS && n.wait >= 320 * MS));
    // Warned at once, then every 30 s: 80 s of it is three warnings.
    let warns = nexts.iter().filter(|n| n.log == Log::Warn).count();
    assert_eq!(nexts[0].log, Log::Warn);
    assert_eq!(warns, 3, "{nexts:?}");
}

#[test]
fn other_errors_back_off_exponentially_up_to_ten_seconds() {
    let mut r = Retry::default();
    let mut t = Instant::now();
    let mut base = FIRST;
    for n in run(&mut r, Fault::Other, &mut t, MS, 10) {
        assert!(within(n.wait, base), "{:?} around {base:?}", n.wait);
        base = (base * 2).min(MAX);
    }
    assert_eq!(r.backoff, MAX);
    // An outage starts the backoff over: a restarted server's first error is retried soon.
    r.failed(Fault::Unreachable, t);
    assert!(within(r.failed(Fault::Other, t).wait, FIRST));
    // So does an answer.
    run(&mut r, Fault::Other, &mut t, MS, 5);
    r.answered();
    assert!(within(r.failed(Fault::Other, t).wait, FIRST));
}

#[test]
fn a_denial_is_a_warming_server_for_the_grace_then_a_verdict() {
    let mut r = Retry::default();
    let mut t = Instant::now();
    // 4.75 s of denials at the warming cadence: quick, and no warning.
    let warming = run(&mut r, Fault::Denied, &mut t, 250 * MS, 20);
    for n in &warming {
        assert_eq!(n.log, Log::Warming);
        assert!(within(n.wait, WARMING), "{n:?}");
    }
    // Past the grace: warned once, then backing off like any other error, warned again
    // 30 s later.
    let after = run(&mut r, Fault::Denied, &mut t, 2 * 1000 * MS, 20);
    assert_eq!(after[0].log, Log::Warn);
    assert!(within(after[0].wait, FIRST), "{:?}", after[0]);
    assert!(within(after[1].wait, FIRST * 2), "{:?}", after[1]);
    assert_eq!(after[1].log, Log::Debug);
    let warns: Vec<usize> = (0..after.len())
        .filter(|&i| after[i].log == Log::Warn)
        .collect();
    assert_eq!(warns, [0, 15], "{after:?}");
}

#[test]
fn an_outage_or_an_answer_starts_a_new_grace() {
    let mut r = Retry::default();
    let mut t = Instant::now();
    run(&mut r, Fault::Denied, &mut t, 1000 * MS, 5);
    assert_eq!(
        r.failed(Fault::Denied, t).log,
        Log::Warn,
        "5 s: past the grace"
    );
    // The API server goes away and comes back: its denials are a warming server's again.
    assert_eq!(r.failed(Fault::Unreachable, t).log, Log::Warn);
    assert_eq!(r.failed(Fault::Denied, t).log, Log::Warming);
    t += 6000 * MS;
    assert_eq!(r.failed(Fault::Denied, t).log, Log::Warn);
    r.answered();
    assert_eq!(r.failed(Fault::Denied, t).log, Log::Warming);
    // Other errors in between do not restart the grace.
    t += 3000 * MS;
    assert_eq!(r.failed(Fault::Other, t).log, Log::Warn);
    t += 3000 * MS;
    assert_eq!(r.failed(Fault::Denied, t).log, Log::Warn);
}

#[test]
fn a_change_of_fault_is_warned_at_once() {
    let mut r = Retry::default();
    let t = Instant::now();
    assert_eq!(r.failed(Fault::Other, t).log, Log::Warn);
    assert_eq!(r.failed(Fault::Other, t).log, Log::Debug);
    assert_eq!(r.failed(Fault::Unreachable, t).log, Log::Warn);
    assert_eq!(r.failed(Fault::Unreachable, t).log, Log::Debug);
    assert_eq!(r.failed(Fault::Other, t).log, Log::Warn);
}

fn api(code: u16) -> kube::Error {
    kube::Error::Api(Box::new(kube::core::Status {
        code,
        ..Default::default()
    }))
}

#[test]
fn http_answers_are_denied_or_other() {
    assert_eq!(Fault::of(&api(403)), Fault::Denied);
    assert_eq!(Fault::of(&api(401)), Fault::Denied);
    assert_eq!(Fault::of(&api(500)), Fault::Other);
    assert_eq!(Fault::of(&api(429)), Fault::Other);
    let not_json = serde_json::from_str::<u8>("x").unwrap_err();
    assert_eq!(Fault::of(&kube::Error::SerdeError(not_json)), Fault::Other);
    let io = |kind| kube::Error::ReadEvents(std::io::Error::new(kind, "x"));
    assert_eq!(
        Fault::of(&io(ErrorKind::ConnectionReset)),
        Fault::Unreachable
    );
    assert_eq!(Fault::of(&io(ErrorKind::InvalidData)), Fault::Other);
    // hyper-rustls wraps a failed TLS handshake's io::Error in one of kind Other: a reset
    // during the handshake is an outage, a rejected certificate is not.
    let tls = |kind| {
        let handshake = std::io::Error::new(kind, "handshake");
        kube::Error::Service(Box::new(std::io::Error::other(handshake)))
    };
    assert_eq!(
        Fault::of(&tls(ErrorKind::ConnectionReset)),
        Fault::Unreachable
    );
    assert_eq!(
        Fault::of(&tls(ErrorKind::UnexpectedEof)),
        Fault::Unreachable
    );
    assert_eq!(Fault::of(&tls(ErrorKind::InvalidData)), Fault::Other);
}

/// A GET of `/version` from `port` on loopback with a kube client.
async fn get(port: u16) -> kube::Error {
    let config = kube::Config::new(format!("http://127.0.0.1:{port}").parse().unwrap());
    let client = kube::Client::try_from(config).unwrap();
    let req = http::Request::get("/version")
        .body(kube::client::Body::empty())
        .unwrap();
    client.send(req).await.expect_err("no answer")
}

#[tokio::test]
async fn a_closed_port_or_a_hang_up_is_unreachable() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    let e = get(port).await;
    assert_eq!(Fault::of(&e), Fault::Unreachable, "{e:?}");

    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let mut buf = [0u8; 1024];
        let _ = s.read(&mut buf).await; // the request, then the connection closes unanswered
    });
    let e = get(port).await;
    assert_eq!(Fault::of(&e), Fault::Unreachable, "{e:?}");
}
