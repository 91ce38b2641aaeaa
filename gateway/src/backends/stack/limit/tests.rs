use super::*;

const WAIT: Duration = Duration::from_secs(10);

/// A call of `principal` waiting for a place, as a task.
fn queue(
    limit: &Arc<Limit>,
    principal: &'static str,
) -> tokio::task::JoinHandle<Result<Place, Shed>> {
    let limit = limit.clone();
    tokio::spawn(async move { limit.acquire(principal, WAIT).await })
}

#[tokio::test(start_paused = true)]
async fn past_the_places_and_the_queue_calls_are_shed_at_once() {
    let limit = Arc::new(Limit::new(2, 1));
    let first = limit.acquire("a", WAIT).await.expect("first");
    let _second = limit.acquire("a", WAIT).await.expect("second");
    assert_eq!(limit.running(), 2);
    let queued = queue(&limit, "a");
    tokio::task::yield_now().await;
    assert_eq!(
        limit.acquire("a", WAIT).await.err(),
        Some(Shed::QueueFull {
            max_concurrent: 2,
            max_queued: 1
        })
    );
    drop(first);
    let _third = queued
        .await
        .expect("join")
        .expect("the queued call got the place");
    assert_eq!(limit.shed_total(), 1);
    assert_eq!(limit.running(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_queued_call_gives_up_after_its_wait() {
    let limit = Arc::new(Limit::new(1, 4));
    let _held = limit
        .acquire("a", Duration::from_secs(1))
        .await
        .expect("held");
    let shed = limit.acquire("a", Duration::from_secs(3)).await.err();
    assert_eq!(shed, Some(Shed::Waited(Duration::from_secs(3))));
    assert_eq!(limit.lock().queued, 0, "it left the queue");
}

#[tokio::test(start_paused = true)]
async fn a_full_queue_sheds_the_flooders_newest_call_for_another_principal() {
    let limit = Arc::new(Limit::new(1, 3));
    let held = limit.acquire("flood", WAIT).await.expect("held");
    let flooded: Vec<_> = (0..3).map(|_| queue(&limit, "flood")).collect();
    tokio::task::yield_now().await;
    assert_eq!(
        limit.acquire("flood", WAIT).await.err(),
        Some(limit.queue_full()),
        "the flooder's own excess is shed"
    );
    let calm = queue(&limit, "calm");
    tokio::task::yield_now().await;
    let mut flooded = flooded.into_iter();
    let (oldest, second, newest) = (
        flooded.next().expect("oldest"),
        flooded.next().expect("second"),
        flooded.next().expect("newest"),
    );
    // The flooder's newest waiting call made room for calm's.
    assert_eq!(newest.await.expect("join").err(), Some(limit.queue_full()));
    // Places go round: the flooder's oldest call (its line came first),
    // then calm's — before the flooder's second.
    drop(held);
    let oldest_place = oldest.await.expect("join").expect("oldest served");
    drop(oldest_place);
    let calm_place = calm.await.expect("join").expect("calm is served");
    tokio::task::yield_now().await;
    assert!(
        !second.is_finished(),
        "the flooder's second call still waits"
    );
    drop(calm_place);
    drop(second.await.expect("join").expect("served in its turn"));
    assert_eq!(limit.running(), 0);
}

#[tokio::test(start_paused = true)]
async fn places_go_round_between_the_principals_waiting() {
    let limit = Arc::new(Limit::new(1, 8));
    let held = limit.acquire("a", WAIT).await.expect("held");
    let (served_sender, mut served) = tokio::sync::mpsc::unbounded_channel();
    for principal in ["a", "a", "a", "b", "b"] {
        let (limit, served_sender) = (limit.clone(), served_sender.clone());
        tokio::spawn(async move {
            let place = limit.acquire(principal, WAIT).await.expect("place");
            served_sender.send(principal).expect("send");
            tokio::task::yield_now().await;
            drop(place);
        });
        tokio::task::yield_now().await;
    }
    drop(held);
    let mut order = Vec::new();
    for _ in 0..5 {
        order.push(served.recv().await.expect("served"));
    }
    assert_eq!(order, ["a", "b", "a", "b", "a"]);
}

#[tokio::test(start_paused = true)]
async fn a_call_that_left_its_line_passes_its_place_on() {
    let limit = Arc::new(Limit::new(1, 4));
    let held = limit.acquire("a", WAIT).await.expect("held");
    let gone = queue(&limit, "b");
    let next = queue(&limit, "c");
    tokio::task::yield_now().await;
    gone.abort();
    let _ = gone.await;
    drop(held);
    let place = next.await.expect("join").expect("the next call got it");
    assert_eq!(limit.running(), 1);
    drop(place);
    assert_eq!(limit.running(), 0);
    assert_eq!(limit.lock().queued, 0);
}
