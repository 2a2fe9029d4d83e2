//! Mobile-originated messages to the peer: `--mo-every`'s periodic "ping N" (started by
//! [`Simulator::start`]) and [`SimulatorHandle::send_mo`], which tests call to inject one.

use super::{BindEntry, Error, Simulator, SimulatorHandle};
use smpp_proto::pdu::{Address, DeliverSm, ShortMessage};
use smpp_proto::Body;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

impl SimulatorHandle {
    /// Sends an MO deliver_sm (esm_class 0) to a receiver or transceiver bind of `system_id`
    /// (round robin) and waits for its deliver_sm_resp.
    pub async fn send_mo(
        &self,
        system_id: &str,
        from: &str,
        to: &str,
        text: &str,
    ) -> Result<(), Error> {
        self.send_mo_pdu(system_id, mo_deliver_sm(from, to, text)?)
            .await
    }

    /// Sends `deliver_sm` as it is (a part of a long MO, say) like [`Self::send_mo`].
    pub async fn send_mo_pdu(&self, system_id: &str, deliver_sm: DeliverSm) -> Result<(), Error> {
        let target = self
            .simulator
            .receiver(system_id)
            .ok_or_else(|| Error::NotBound(system_id.to_owned()))?;
        let response = target.handle.request(Body::DeliverSm(deliver_sm)).await?;
        if !response.command_status.is_ok() {
            return Err(Error::Refused(response.command_status));
        }
        self.simulator
            .shared
            .counters
            .mo_sent
            .fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// `--mo-every`: "ping N" to every receiver bind.
pub(super) async fn periodic_mo(simulator: Arc<Simulator>, period: Duration) {
    let mut ticker = tokio::time::interval_at(Instant::now() + period, period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    for n in 1u64.. {
        tokio::select! {
            () = simulator.closing.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let config = &simulator.config;
        let Ok(deliver_sm) = mo_deliver_sm(&config.mo_from, &config.mo_to, &format!("ping {n}"))
        else {
            // Checked at start: the addresses fit and the text is short ASCII.
            return;
        };
        let receivers: Vec<Arc<BindEntry>> = simulator
            .binds()
            .values()
            .filter(|b| b.kind.can_receive())
            .cloned()
            .collect();
        for target in receivers {
            let (shared, body) = (
                simulator.shared.clone(),
                Body::DeliverSm(deliver_sm.clone()),
            );
            // One task per bind: a slow peer does not hold up the others. Each waits at most
            // the response timeout, so at most that many periods' worth exist per bind.
            simulator.tasks.spawn(async move {
                match target.handle.request(body).await {
                    Ok(response) if response.command_status.is_ok() => {
                        shared.counters.mo_sent.fetch_add(1, Ordering::Relaxed);
                    }
                    outcome => {
                        tracing::debug!(session = target.session, ?outcome, "MO not accepted")
                    }
                }
            });
        }
    }
}

/// An MO deliver_sm: esm_class 0, GSM default coding for ASCII text, else UCS-2.
fn mo_deliver_sm(from: &str, to: &str, text: &str) -> Result<DeliverSm, Error> {
    let (data_coding, bytes) = if text.is_ascii() {
        (0, text.as_bytes().to_vec())
    } else {
        (8, text.encode_utf16().flat_map(u16::to_be_bytes).collect())
    };
    let short_message = ShortMessage::new(bytes)
        .ok_or_else(|| Error::Invalid("MO text longer than 254 octets".into()))?;
    let invalid = |what: &str| Error::Invalid(format!("{what} longer than 20 characters"));
    Ok(DeliverSm {
        source: Address::new(1, 1, from.try_into().map_err(|_| invalid("MO source"))?),
        destination: Address::new(0, 1, to.try_into().map_err(|_| invalid("MO destination"))?),
        esm_class: 0,
        data_coding,
        short_message,
        ..DeliverSm::default()
    })
}
