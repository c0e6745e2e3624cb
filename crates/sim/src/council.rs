//! Council requests: now and then an officer asks about someone in care. The request, its
//! acknowledgement, the officer's read, the SLA warning and breach the timer would record,
//! and the provider's answer (early, late or never) are scheduled when it is made, each for
//! the day it falls on.

use careledger_care::event::*;
use careledger_care::types::*;
use careledger_care::CareEvent;
use careledger_ledger::Command;

use crate::day::Simulator;
use crate::world::{hours, ADMIN, MANAGER, OFFICERS};

/// The timer's actor, as the service's SLA task records it.
const SLA_ACTOR: &str = "careledger-sla";

struct Request {
    id: String,
    person: String,
    officer: &'static str,
    received: i64,
    /// How long the provider has to answer: 4 or 24 hours.
    window: i64,
    due: i64,
}

impl Simulator {
    /// On 15% of days after the first, one request about someone in care since before the
    /// day and for at least two days more.
    pub(crate) fn council_day(&mut self, d: u32, day_us: i64) {
        if d == 0 || !self.rng.chance(150) {
            return;
        }
        let Some(request) = self.new_request(d, day_us) else {
            return;
        };
        self.schedule_received(&request);
        let answered = self.answer_time(&request);
        self.schedule_sla(&request, answered);
        if let Some(at) = answered {
            self.schedule_response(request, at);
        }
    }

    /// Draws, in order: the person, the officer, the time received and the window.
    fn new_request(&mut self, d: u32, day_us: i64) -> Option<Request> {
        let candidates: Vec<String> = self
            .people
            .iter()
            .filter(|p| p.start_day < d && p.end_day.is_none_or(|e| e > d + 2))
            .map(|p| p.id.clone())
            .collect();
        if candidates.is_empty() {
            return None;
        }
        let person = self.rng.pick(&candidates).clone();
        self.requests += 1;
        let id = format!("request-{:05}", self.requests);
        let officer = *self.rng.pick(&OFFICERS);
        let received = day_us + hours(10) + self.rng.below(120) as i64 * MINUTE_US;
        let window = if self.rng.chance(200) {
            hours(4)
        } else {
            hours(24)
        };
        Some(Request {
            id,
            person,
            officer,
            received,
            window,
            due: received + window,
        })
    }

    /// Received, acknowledged 20 minutes later, read by the officer 20 minutes after that.
    fn schedule_received(&mut self, r: &Request) {
        self.schedule(
            r.received,
            Command::organisation(
                ADMIN,
                r.received,
                CareEvent::RequestReceived(RequestReceived {
                    request_id: r.id.clone(),
                    requester: r.officer.into(),
                    organisation: "Hertfordshire County Council".into(),
                    people: vec![r.person.clone()],
                    categories: vec![Category::CarePlan, Category::DailyNotes],
                    description:
                        "Statutory review: current care plan and the last month of daily notes."
                            .into(),
                    received_at_us: r.received,
                    due_at_us: r.due,
                }),
            ),
        );
        let acknowledged = r.received + 20 * MINUTE_US;
        self.schedule(
            acknowledged,
            Command::organisation(
                ADMIN,
                acknowledged,
                CareEvent::RequestAcknowledged(RequestAcknowledged {
                    request_id: r.id.clone(),
                }),
            ),
        );
        let role = if r.officer == OFFICERS[0] {
            Role::MonitoringOfficer
        } else {
            Role::SocialCareProfessional
        };
        let read = r.received + 40 * MINUTE_US;
        self.schedule(
            read,
            Command::about(
                r.officer,
                &r.person,
                read,
                CareEvent::RecordAccessed(RecordAccessed {
                    role,
                    categories: vec![Category::CarePlan],
                    purpose: Purpose::StatutoryReview,
                    items: 1,
                    // Not recorded: the simulator does not track which grant or event allows these reads.
                    basis: Vec::new(),
                }),
            ),
        );
    }

    /// 70% answered in the first half of the window (an hour at least), 20% late, 10%
    /// never.
    fn answer_time(&mut self, r: &Request) -> Option<i64> {
        match self.rng.below(100) {
            0..=69 => Some(
                r.received
                    + hours(1)
                    + self
                        .rng
                        .below((r.window - hours(1)) as u64 / MINUTE_US as u64 / 2)
                        as i64
                        * MINUTE_US,
            ),
            70..=89 => Some(r.due + hours(1) + self.rng.below(20 * 60) as i64 * MINUTE_US),
            _ => None,
        }
    }

    /// The warning (a quarter of the window before it ends, at most four hours) unless
    /// answered before it, and the breach a minute after the due time unless answered by
    /// then.
    fn schedule_sla(&mut self, r: &Request, answered: Option<i64>) {
        let warn = r.due - (r.window / 4).min(hours(4));
        if answered.is_none_or(|a| a >= warn) {
            self.schedule(
                warn,
                Command::organisation(
                    SLA_ACTOR,
                    warn,
                    CareEvent::SlaWarning(SlaWarning {
                        request_id: r.id.clone(),
                        due_at_us: r.due,
                    }),
                ),
            );
        }
        if answered.is_none_or(|a| a > r.due) {
            let breached = r.due + MINUTE_US;
            self.schedule(
                breached,
                Command::organisation(
                    SLA_ACTOR,
                    breached,
                    CareEvent::SlaBreached(SlaBreached {
                        request_id: r.id.clone(),
                        due_at_us: r.due,
                    }),
                ),
            );
        }
    }

    /// The provider's answer at `at`, with a digest of what was sent.
    fn schedule_response(&mut self, r: Request, at: i64) {
        let mut digest = [0u8; 32];
        digest[..8].copy_from_slice(&self.rng.next_u64().to_le_bytes());
        self.schedule(
            at,
            Command::organisation(
                MANAGER,
                at,
                CareEvent::RequestResponded(RequestResponded {
                    request_id: r.id,
                    digest,
                    channel: Channel::SecureEmail,
                    items: 2,
                }),
            ),
        );
    }
}
