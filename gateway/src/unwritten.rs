//! Bytes the gateway holds for clients that do not take them: each HTTP
//! connection keeps a [`ConnectionLedger`] of the answers it was given to
//! write (charged when a handler returns a body of known size) less the
//! bytes its socket took (the front's stalled-writer reports them), and
//! the book [`UnwrittenAnswers`] adds them up per principal, together with
//! the request bodies a principal's requests are reading now. A request is
//! admitted ([`ConnectionLedger::admit`], before its body is read) only
//! while its connection holds at most
//! `limits.max_unwritten_bytes_per_connection` and its principal at most
//! `limits.max_unwritten_bytes_per_principal` — so a client that sends and
//! never reads pins a bounded amount of memory.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

/// Bytes held per principal, and the bounds.
#[derive(Debug)]
pub struct UnwrittenAnswers {
    per_principal: Mutex<HashMap<Arc<str>, usize>>,
    max_per_connection: usize,
    max_per_principal: usize,
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
}

fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

// === impl UnwrittenAnswers ===

impl UnwrittenAnswers {
    pub fn new(max_per_connection: usize, max_per_principal: usize) -> Arc<Self> {
        Arc::new(Self {
            per_principal: Mutex::default(),
            max_per_connection,
            max_per_principal,
        })
    }

    /// Bytes `principal` holds now.
    pub fn held_by(&self, principal: &str) -> usize {
        locked(&self.per_principal)
            .get(principal)
            .copied()
            .unwrap_or(0)
    }

    fn add(&self, principal: &Arc<str>, bytes: usize) {
        if bytes > 0 {
            *locked(&self.per_principal)
                .entry(principal.clone())
                .or_default() += bytes;
        }
    }

    fn take(&self, principal: &str, bytes: usize) {
        if bytes == 0 {
            return;
        }
        let mut per_principal = locked(&self.per_principal);
        if let Some(held) = per_principal.get_mut(principal) {
            *held = held.saturating_sub(bytes);
            if *held == 0 {
                per_principal.remove(principal);
            }
        }
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
        if self.book.held_by(&principal) > self.book.max_per_principal {
            return Err(Overdrawn::Principal(self.book.max_per_principal));
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
        state.held += bytes;
        state.charges.push_back((principal.clone(), bytes));
        drop(state);
        self.book.add(&principal, bytes);
    }

    /// `bytes` taken by the client's socket: the oldest charges are paid
    /// (headers and framing count too, so a ledger errs towards empty).
    pub fn written(&self, mut bytes: usize) {
        let mut state = locked(&self.state);
        if state.held == 0 {
            return;
        }
        state.held = state.held.saturating_sub(bytes);
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
        let book = UnwrittenAnswers::new(100, 150);
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
}
