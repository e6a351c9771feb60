//! The token bucket, on a paused clock.
use super::*;

#[tokio::test(start_paused = true)]
async fn burst_then_qps() {
    let r = RateLimit::from_config(Some(2.0), Some(3)).unwrap();
    let t0 = Instant::now();
    for _ in 0..3 {
        r.acquire().await;
    }
    assert_eq!(t0.elapsed(), Duration::ZERO, "the burst goes at once");
    r.acquire().await;
    let d = t0.elapsed().as_secs_f64();
    assert!((0.49..0.51).contains(&d), "4th after 1/qps: {d}");
    for _ in 0..4 {
        r.acquire().await;
    }
    let d = t0.elapsed().as_secs_f64();
    assert!((2.49..2.51).contains(&d), "then qps: {d}");
}

#[test]
fn defaults_like_client_go() {
    assert!(RateLimit::from_config(None, None).is_none());
    let r = RateLimit::from_config(Some(20.0), None).unwrap();
    assert_eq!((r.qps, r.burst), (20.0, 10.0));
    let r = RateLimit::from_config(None, Some(50)).unwrap();
    assert_eq!((r.qps, r.burst), (5.0, 50.0));
}

/// A rate the parser refuses (a tiny one) still never panics: the wait is capped at an hour.
#[tokio::test(start_paused = true)]
async fn tiny_rate_waits_at_most_an_hour() {
    let r = RateLimit::from_config(Some(1e-30), Some(1)).unwrap();
    let t0 = Instant::now();
    r.acquire().await;
    r.acquire().await;
    assert_eq!(t0.elapsed(), MAX_WAIT);
}
