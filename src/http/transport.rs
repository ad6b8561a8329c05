//! The agent's connector: ureq's default chain (proxy, TCP, TLS), with the
//! time left before a deadline rounded up to a coarse grain on its way to
//! the socket.
//!
//! With any timeout set, ureq hands the transport the exact time left on
//! every read and write, and the TCP transport re-arms the socket timeout
//! (a `setsockopt`) whenever that value changed since the last one, which
//! with a deadline is every time. On a loopback keep-alive call that was two
//! to three system calls, a tenth of the client's CPU. Rounded up to
//! [`TIMEOUT_GRAIN`], successive values are equal and the socket keeps its
//! timeout; a timeout then fires at most one grain late.

use std::time::Duration;

use ureq::unversioned::transport::time::Duration as TimeLeft;
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, DefaultConnector, NextTimeout, Transport,
};

/// How finely timeouts are kept: a deadline is met to within this.
pub(crate) const TIMEOUT_GRAIN: Duration = Duration::from_millis(10);

/// The connector the client's agent uses.
pub(crate) fn connector() -> impl Connector<(), Out = CoarseTimeouts> {
    DefaultConnector::default().chain(CoarseTimeoutsConnector)
}

/// Wraps whatever the default chain connected in [`CoarseTimeouts`].
#[derive(Debug)]
pub(crate) struct CoarseTimeoutsConnector;

impl Connector<Box<dyn Transport>> for CoarseTimeoutsConnector {
    type Out = CoarseTimeouts;

    fn connect(
        &self,
        _details: &ConnectionDetails,
        chained: Option<Box<dyn Transport>>,
    ) -> Result<Option<CoarseTimeouts>, ureq::Error> {
        Ok(chained.map(CoarseTimeouts))
    }
}

/// A transport that passes every call through with the time left rounded
/// up to [`TIMEOUT_GRAIN`].
#[derive(Debug)]
pub(crate) struct CoarseTimeouts(Box<dyn Transport>);

impl Transport for CoarseTimeouts {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.0.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.0.transmit_output(amount, coarse(timeout))
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.0.await_input(coarse(timeout))
    }

    fn is_open(&mut self) -> bool {
        self.0.is_open()
    }

    fn is_tls(&self) -> bool {
        self.0.is_tls()
    }
}

/// `timeout` with its time left rounded up to a whole number of grains.
/// Zero stays zero: an expired deadline is still reported at once.
fn coarse(mut timeout: NextTimeout) -> NextTimeout {
    if let TimeLeft::Exact(left) = timeout.after {
        timeout.after = TimeLeft::Exact(round_up(left));
    }
    timeout
}

fn round_up(left: Duration) -> Duration {
    let grain = TIMEOUT_GRAIN.as_nanos();
    let grains = left.as_nanos().div_ceil(grain);
    // Beyond u64 nanoseconds (585 years) the exact value is as good.
    u64::try_from(grains * grain)
        .map(Duration::from_nanos)
        .unwrap_or(left)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_left_rounds_up_to_the_grain_and_zero_stays_zero() {
        let ms = Duration::from_millis;
        assert_eq!(round_up(Duration::ZERO), Duration::ZERO);
        assert_eq!(round_up(Duration::from_nanos(1)), ms(10));
        assert_eq!(round_up(ms(10)), ms(10));
        assert_eq!(round_up(ms(9_999) + Duration::from_micros(1)), ms(10_000));
        // Two reads of one call, a few microseconds apart, see one value:
        // the socket timeout is not set again.
        let first = ms(10_000) - Duration::from_micros(3);
        let second = ms(10_000) - Duration::from_micros(41);
        assert_eq!(round_up(first), round_up(second));
        assert_eq!(round_up(Duration::MAX), Duration::MAX);
    }

    #[test]
    fn only_the_time_left_changes() {
        let t = NextTimeout {
            after: TimeLeft::Exact(Duration::from_micros(2_500)),
            reason: ureq::Timeout::RecvBody,
            per_read: Some(TimeLeft::from_millis(7)),
            per_write: None,
        };
        let c = coarse(t);
        assert_eq!(c.after, TimeLeft::Exact(Duration::from_millis(10)));
        assert_eq!(
            (c.reason, c.per_read, c.per_write),
            (t.reason, t.per_read, t.per_write)
        );
        let never = NextTimeout {
            after: TimeLeft::NotHappening,
            ..t
        };
        assert_eq!(coarse(never), never);
    }
}
