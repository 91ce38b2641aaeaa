//! Bytes the gateway holds for clients that do not take them: each HTTP
//! connection keeps a [`ConnectionLedger`] of the answers it was given to
//! write (charged when a handler returns a body of known size) less the
//! bytes its socket took (the front's stalled-writer reports them), and
//! the book [`UnwrittenAnswers`] adds them up per principal, together with
//! the request bodies a principal's requests are reading now. A request is
//! admitted ([`ConnectionLedger::admit`], before its body is read) only
//! while its connection holds at most
//! `limits.max_unwritten_bytes_per_connection` and its principal at most
//! `limits.max_unwritten_bytes_per_principal`, and while all principals
//! together hold at most `limits.max_unwritten_bytes` or this one holds no
//! more than an equal share of it — so a client that sends and never reads
//! pins a bounded amount of memory, and many such clients cannot lock the
//! others out.
//!
//! On HTTP/1 the socket's progress pays the charges. On HTTP/2 the socket
//! keeps moving while one stream's answer waits for flow-control credit the
//! client never grants, so there the answer's body pays as hyper takes it
//! (in pieces of at most [`HTTP2_PIECE`], taken only when the stream has
//! credit — `front::http::paid_body`), and a connection holding answers
//! that no piece of has been taken for `limits.stalled_reader_timeout_secs`
//! is closed ([`ConnectionLedger::stalled`]).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

/// The largest piece of an answer handed to an HTTP/2 stream at once.
pub const HTTP2_PIECE: usize = 16 * 1024;

/// Bytes held per principal and in all, and the bounds.
#[derive(Debug)]
pub struct UnwrittenAnswers {
    held: Mutex<Held>,
    max_per_connection: usize,
    max_per_principal: usize,
    max_total: usize,
}

#[derive(Debug, Default)]
struct Held {
    per_principal: HashMap<Arc<str>, usize>,
    total: usize,
}

/// One connection's answers not yet written, in the order given.
#[derive(Debug)]
pub struct ConnectionLedger {
    book: Arc<UnwrittenAnswers>,
    state: Mutex<LedgerState>,
}

#[derive(Debug, Default)]
struct LedgerState {
    held: usize,
    charges: VecDeque<(Arc<str>, usize)>,
    /// The principal of the latest request admitted on the connection.
    principal_opt: Option<Arc<str>>,
    closed: bool,
    /// The connection speaks HTTP/2: answers' bodies pay, not the socket.
    http2: bool,
    /// When the connection last paid, or began to hold answers.
    last_paid_opt: Option<Instant>,
}

/// A request body's bytes held for its principal until its answer is
/// charged (dropped at the end of the handler).
#[derive(Debug)]
pub struct Reservation {
    book: Arc<UnwrittenAnswers>,
    principal: Arc<str>,
    bytes: usize,
}

/// Which bound refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overdrawn {
    Connection(usize),
    Principal(usize),
    /// All principals together hold more than the bound, and this one more
    /// than an equal share.
    Total(usize),
}

fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

// === impl UnwrittenAnswers ===

impl UnwrittenAnswers {
    pub fn new(max_per_connection: usize, max_per_principal: usize, max_total: usize) -> Arc<Self> {
        Arc::new(Self {
            held: Mutex::default(),
            max_per_connection,
            max_per_principal,
            max_total,
        })
    }

    /// Bytes `principal` holds now.
    pub fn held_by(&self, principal: &str) -> usize {
        locked(&self.held)
            .per_principal
            .get(principal)
            .copied()
            .unwrap_or(0)
    }

    /// Bytes all principals hold now.
    pub fn held_in_all(&self) -> usize {
        locked(&self.held).total
    }

    /// Which bound, if any, keeps `principal` from another request.
    fn overdrawn_by(&self, principal: &str) -> Option<Overdrawn> {
        let held = locked(&self.held);
        let own = held.per_principal.get(principal).copied().unwrap_or(0);
        if own > self.max_per_principal {
            return Some(Overdrawn::Principal(self.max_per_principal));
        }
        let equal_share = self.max_total / held.per_principal.len().max(1);
        (held.total > self.max_total && own > equal_share)
            .then_some(Overdrawn::Total(self.max_total))
    }

    fn add(&self, principal: &Arc<str>, bytes: usize) {
        if bytes > 0 {
            let mut held = locked(&self.held);
            *held.per_principal.entry(principal.clone()).or_default() += bytes;
            held.total += bytes;
        }
    }

    fn take(&self, principal: &str, bytes: usize) {
        if bytes == 0 {
            return;
        }
        let mut held = locked(&self.held);
        let Some(own) = held.per_principal.get_mut(principal) else {
            return;
        };
        let taken = bytes.min(*own);
        *own -= taken;
        if *own == 0 {
            held.per_principal.remove(principal);
        }
        held.total = held.total.saturating_sub(taken);
    }
}

// === impl ConnectionLedger ===

impl ConnectionLedger {
    pub fn new(book: Arc<UnwrittenAnswers>) -> Arc<Self> {
        Arc::new(Self {
            book,
            state: Mutex::default(),
        })
    }

    /// Admits a request of `principal` whose body declares
    /// `declared_bytes`, or says which bound is passed.
    pub fn admit(&self, principal: &str, declared_bytes: usize) -> Result<Reservation, Overdrawn> {
        let principal = {
            let mut state = locked(&self.state);
            if state.held > self.book.max_per_connection {
                return Err(Overdrawn::Connection(self.book.max_per_connection));
            }
            match &state.principal_opt {
                Some(known) if &**known == principal => known.clone(),
                _ => {
                    let named: Arc<str> = Arc::from(principal);
                    state.principal_opt = Some(named.clone());
                    named
                }
            }
        };
        if let Some(overdrawn) = self.book.overdrawn_by(&principal) {
            return Err(overdrawn);
        }
        self.book.add(&principal, declared_bytes);
        Ok(Reservation {
            book: self.book.clone(),
            principal,
            bytes: declared_bytes,
        })
    }

    /// An answer of `bytes` handed to the connection to write.
    pub fn charge(&self, bytes: usize) {
        let mut state = locked(&self.state);
        let Some(principal) = state.principal_opt.clone() else {
            return;
        };
        if state.closed || bytes == 0 {
            return;
        }
        if state.held == 0 {
            state.last_paid_opt = Some(Instant::now());
        }
        state.held += bytes;
        state.charges.push_back((principal.clone(), bytes));
        drop(state);
        self.book.add(&principal, bytes);
    }

    /// The connection speaks HTTP/2 (its answers' bodies pay from now on).
    pub fn speaks_http2(&self) {
        locked(&self.state).http2 = true;
    }

    /// Whether answers on this connection are paid by their bodies.
    pub fn is_http2(&self) -> bool {
        locked(&self.state).http2
    }

    /// `bytes` taken by the client's socket: on HTTP/1 the oldest charges
    /// are paid (headers and framing count too, so a ledger errs towards
    /// empty); on HTTP/2 nothing (see [`Self::taken_from_body`]).
    pub fn written(&self, bytes: usize) {
        let state = locked(&self.state);
        if state.http2 {
            return;
        }
        self.pay(state, bytes);
    }

    /// `bytes` of an answer's body taken by an HTTP/2 stream that had
    /// credit for them: the oldest charges are paid.
    pub fn taken_from_body(&self, bytes: usize) {
        let state = locked(&self.state);
        if !state.http2 {
            return;
        }
        self.pay(state, bytes);
    }

    fn pay(&self, mut state: MutexGuard<'_, LedgerState>, mut bytes: usize) {
        if state.held == 0 || bytes == 0 {
            return;
        }
        state.held = state.held.saturating_sub(bytes);
        state.last_paid_opt = Some(Instant::now());
        let mut paid = Vec::new();
        while bytes > 0 {
            let Some((principal, charge)) = state.charges.front_mut() else {
                break;
            };
            let part = bytes.min(*charge);
            *charge -= part;
            bytes -= part;
            paid.push((principal.clone(), part));
            if *charge == 0 {
                state.charges.pop_front();
            }
        }
        drop(state);
        for (principal, part) in paid {
            self.book.take(&principal, part);
        }
    }

    /// Resolves once this HTTP/2 connection has held answers and paid
    /// nothing for `after` (its client grants no flow-control credit);
    /// never on HTTP/1, whose socket writer times its own stalls.
    pub async fn stalled(&self, after: Duration) {
        loop {
            let deadline = {
                let state = locked(&self.state);
                match state.last_paid_opt {
                    Some(last_paid) if state.http2 && state.held > 0 && !state.closed => {
                        if last_paid.elapsed() >= after {
                            return;
                        }
                        last_paid + after
                    }
                    _ => Instant::now() + after,
                }
            };
            tokio::time::sleep_until(deadline).await;
        }
    }

    /// Bytes this connection holds now.
    pub fn held(&self) -> usize {
        locked(&self.state).held
    }

    /// The connection ended: what it held is freed, later charges ignored.
    pub fn close(&self) {
        let mut state = locked(&self.state);
        state.closed = true;
        state.held = 0;
        let charges = std::mem::take(&mut state.charges);
        drop(state);
        for (principal, bytes) in charges {
            self.book.take(&principal, bytes);
        }
    }
}

impl Drop for ConnectionLedger {
    fn drop(&mut self) {
        self.close();
    }
}

// === impl Reservation ===

impl Reservation {
    /// The body turned out `bytes` long (read without a declared length).
    pub fn grow_to(&mut self, bytes: usize) {
        if bytes > self.bytes {
            self.book.add(&self.principal, bytes - self.bytes);
            self.bytes = bytes;
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.book.take(&self.principal, self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_are_paid_by_writes_and_freed_on_close() {
        let book = UnwrittenAnswers::new(100, 150, 1000);
        let first = ConnectionLedger::new(book.clone());
        let reservation = first.admit("alice", 40).expect("admitted");
        assert_eq!(book.held_by("alice"), 40);
        drop(reservation);
        first.charge(120);
        assert_eq!((first.held(), book.held_by("alice")), (120, 120));
        assert_eq!(
            first.admit("alice", 0).err(),
            Some(Overdrawn::Connection(100))
        );
        let second = ConnectionLedger::new(book.clone());
        let _held = second.admit("alice", 0).expect("under the principal bound");
        second.charge(50);
        assert_eq!(
            second.admit("alice", 0).err(),
            Some(Overdrawn::Principal(150))
        );
        let _other = second.admit("bob", 0).expect("another principal");
        first.written(100);
        assert_eq!((first.held(), book.held_by("alice")), (20, 70));
        first.close();
        second.close();
        assert_eq!(book.held_by("alice"), 0);
        first.charge(10);
        assert_eq!(
            book.held_by("alice"),
            0,
            "a closed connection charges nothing"
        );
    }
    #[test]
    fn past_the_total_only_principals_above_an_equal_share_are_refused() {
        let book = UnwrittenAnswers::new(1000, 400, 600);
        let (flooder, other, newcomer) = (
            ConnectionLedger::new(book.clone()),
            ConnectionLedger::new(book.clone()),
            ConnectionLedger::new(book.clone()),
        );
        let _ = flooder.admit("mallory", 0).expect("admitted");
        flooder.charge(390);
        let _ = other.admit("trent", 0).expect("admitted");
        other.charge(250);
        assert_eq!(book.held_in_all(), 640);
        assert_eq!(
            flooder.admit("mallory", 0).err(),
            Some(Overdrawn::Total(600))
        );
        let _kept = other.admit("trent", 0).expect("under an equal share (300)");
        let _new = newcomer.admit("alice", 0).expect("holds nothing");
        flooder.close();
        assert_eq!(book.held_in_all(), 250);
        let again = ConnectionLedger::new(book.clone());
        assert!(again.admit("mallory", 0).is_ok(), "its answers were freed");
    }

    #[test]
    fn on_http2_the_bodies_pay_and_the_socket_does_not() {
        let book = UnwrittenAnswers::new(1000, 1000, 1000);
        let ledger = ConnectionLedger::new(book.clone());
        ledger.speaks_http2();
        let _ = ledger.admit("alice", 0).expect("admitted");
        ledger.charge(100);
        ledger.written(80);
        assert_eq!(ledger.held(), 100, "frames of other streams pay nothing");
        ledger.taken_from_body(60);
        assert_eq!((ledger.held(), book.held_by("alice")), (40, 40));
    }

    #[tokio::test(start_paused = true)]
    async fn an_http2_connection_that_pays_nothing_for_the_stall_time_is_stalled() {
        let book = UnwrittenAnswers::new(1000, 1000, 1000);
        let ledger = ConnectionLedger::new(book);
        ledger.speaks_http2();
        let _ = ledger.admit("alice", 0).expect("admitted");
        let after = Duration::from_secs(30);
        let started = Instant::now();
        ledger.charge(100);
        tokio::time::sleep(Duration::from_secs(20)).await;
        ledger.taken_from_body(10);
        ledger.stalled(after).await;
        assert_eq!(
            started.elapsed(),
            Duration::from_secs(50),
            "30 s after the last payment"
        );
    }
}
