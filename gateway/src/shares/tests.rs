use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use super::*;

/// Polls `future` once.
fn poll_once<F: Future>(future: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    future.poll(&mut Context::from_waker(Waker::noop()))
}

fn admitted(
    poll: Poll<Result<SharePermit, EarlyRefusal>>,
) -> Option<Result<SharePermit, EarlyRefusal>> {
    match poll {
        Poll::Ready(outcome) => Some(outcome),
        Poll::Pending => None,
    }
}

#[test]
fn past_its_share_a_principal_waits_in_its_own_line() {
    let shares = PrincipalShares::new(Some(2), None);
    let first = admitted(poll_once(pin!(shares.enter("flood", true)))).expect("first");
    let _second = admitted(poll_once(pin!(shares.enter("flood", true)))).expect("second");
    let mut third = pin!(shares.enter("flood", true));
    assert!(admitted(poll_once(third.as_mut())).is_none(), "third waits");
    let other = admitted(poll_once(pin!(shares.enter("calm", true))));
    assert!(
        matches!(other, Some(Ok(_))),
        "another principal never waits"
    );
    drop(first);
    assert!(
        matches!(admitted(poll_once(third.as_mut())), Some(Ok(_))),
        "the place went to the next in line"
    );
}

#[test]
fn a_place_handed_to_a_request_that_left_goes_to_the_next() {
    let shares = PrincipalShares::new(Some(1), None);
    let first = admitted(poll_once(pin!(shares.enter("p", true))))
        .expect("first")
        .expect("admitted");
    let mut gone = Box::pin(shares.enter("p", true));
    assert!(admitted(poll_once(gone.as_mut())).is_none());
    let mut next = pin!(shares.enter("p", true));
    assert!(admitted(poll_once(next.as_mut())).is_none());
    // The place is handed to `gone`, which leaves before taking it.
    drop(first);
    drop(gone);
    assert!(matches!(admitted(poll_once(next.as_mut())), Some(Ok(_))));
}

#[test]
fn without_a_share_only_refusals_are_tracked() {
    let shares = PrincipalShares::new(None, None);
    for _ in 0..3 {
        assert!(matches!(
            admitted(poll_once(pin!(shares.enter("p", true)))),
            Some(Ok(_))
        ));
    }
    assert_eq!(shares.tracked(), 0);
    shares.refused(
        "p",
        Duration::from_secs(5),
        "rate limit of principal p reached",
    );
    assert!(
        matches!(
            admitted(poll_once(pin!(shares.enter("p", false)))),
            Some(Ok(_))
        ),
        "a method no rate limit counts goes on"
    );
    let refused = admitted(poll_once(pin!(shares.enter("p", true))))
        .expect("ready")
        .err()
        .expect("early");
    assert_eq!(&*refused.message, "rate limit of principal p reached");
    assert!(refused.retry_after <= Duration::from_secs(5));
}

fn share_refused_until(retry_at: Instant) -> Share {
    Share {
        refusal_opt: Some(Refusal {
            retry_at,
            message: Arc::from("limited"),
            early: 0,
            last_early_opt: None,
        }),
        ..Share::default()
    }
}

#[test]
fn early_requests_are_held_longer_each_time_and_then_cut() {
    let start = Instant::now();
    let mut share = share_refused_until(start + Duration::from_millis(5));
    let first = share.early(start).expect("early");
    assert_eq!(first.retry_after, Duration::from_millis(5));
    assert_eq!(first.hold, HOLD_STEP, "held at least one step");
    assert!(!first.close);
    let mut share = share_refused_until(start + MAX_HOLD * 10);
    let long = share.early(start).expect("early");
    assert_eq!(long.hold, MAX_HOLD, "never held past MAX_HOLD");
    let mut share = share_refused_until(start + Duration::from_millis(500));
    let mut last = None;
    for step in 1..=CLOSE_AFTER + 1 {
        let now = start + Duration::from_millis(u64::from(step));
        last = share.early(now);
        let refusal = last.clone().expect("early");
        assert_eq!(refusal.close, step > CLOSE_AFTER, "step {step}");
    }
    assert!(last.expect("early").hold >= Duration::from_millis(400));
}

#[test]
fn a_principal_that_waits_is_let_through_and_then_forgiven() {
    let start = Instant::now();
    let retry_at = start + Duration::from_millis(50);
    let mut share = share_refused_until(retry_at);
    assert!(share.early(start).is_some());
    assert!(share.early(retry_at).is_none(), "on time: let through");
    assert!(
        share.refusal_opt.is_some(),
        "an early one a moment ago is remembered"
    );
    let later = retry_at + FORGIVE_AFTER + Duration::from_millis(1);
    assert!(share.early(later).is_none());
    assert!(share.refusal_opt.is_none(), "forgiven");
    assert!(share.is_idle(later));
}

#[test]
fn a_principal_alone_is_not_held_and_others_bring_the_fair_share() {
    let shares = PrincipalShares::new(None, Some(2));
    let mut flood: Vec<_> = (0..3)
        .map(|_| {
            admitted(poll_once(pin!(shares.enter("flood", true))))
                .expect("alone, never held")
                .expect("admitted")
        })
        .collect();
    let calm = admitted(poll_once(pin!(shares.enter("calm", true))));
    assert!(matches!(calm, Some(Ok(_))), "the other principal goes on");
    // Another principal came: the flood is held to its share (2), so its
    // next request waits while three are in flight, and after one ends.
    let mut next = pin!(shares.enter("flood", true));
    assert!(admitted(poll_once(next.as_mut())).is_none(), "held to 2");
    drop(flood.pop());
    assert!(
        admitted(poll_once(next.as_mut())).is_none(),
        "still at its share"
    );
    drop(flood.pop());
    assert!(
        matches!(admitted(poll_once(next.as_mut())), Some(Ok(_))),
        "below its share: served"
    );
}
