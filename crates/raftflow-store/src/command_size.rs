//! How large a command may be once encoded, without encoding it: the
//! proposer cuts log entries by it (command.rs holds the commands).

use crate::command::Command;

impl Command {
    /// An upper bound on the command's encoded size, without encoding it:
    /// its text and bytes, plus a fixed allowance for lengths and numbers.
    /// The proposer cuts log entries by it.
    pub fn size_bound(&self) -> usize {
        const FIXED_BYTES: usize = 128;
        // A schedule's other texts, at their bounds (the door and apply
        // hold them there): state machine, spec, zone, description.
        const TEXTS_BYTES: usize = 80 * 4
            + crate::schedules::MAX_SPEC_BYTES
            + crate::schedules::MAX_ZONE_BYTES
            + crate::schedules::MAX_TEXT_BYTES;
        let text: usize = match self {
            Command::Probe { key, value } => key.len() + value.len(),
            Command::BeginEpoch { .. }
            | Command::PurgeFinished { .. }
            | Command::SetApplyVersion { .. } => 0,
            Command::CreateStateMachine {
                name,
                definition,
                description,
                ..
            } => name.len() + definition.len() + description.len(),
            Command::DeleteStateMachine { name, .. } => name.len(),
            Command::StartExecution {
                state_machine,
                name,
                input,
                ..
            } => state_machine.len() + name.len() + input.len(),
            Command::StartExecutionTraced {
                state_machine,
                name,
                input,
                trace_parent,
                ..
            } => state_machine.len() + name.len() + input.len() + trace_parent.len(),
            Command::TaskDispatched { token, worker, .. } => token.len() + worker.len(),
            Command::TaskCompleted { token, output, .. } => token.len() + output.len(),
            Command::TaskFailed {
                token,
                error,
                cause,
                ..
            } => token.len() + error.len() + cause.len(),
            Command::TaskHeartbeat { token, .. } => token.len(),
            Command::TimerFired { execution_id, .. } => execution_id.len(),
            Command::StopExecution {
                execution_id,
                error,
                cause,
                ..
            } => execution_id.len() + error.len() + cause.len(),
            Command::DispatchNext {
                worker, activities, ..
            } => worker.len() + activities.iter().map(|a| a.len() + 10).sum::<usize>(),
            Command::TaskDispatchedForPoll {
                token,
                worker,
                poll_id,
                ..
            } => token.len() + worker.len() + poll_id.len(),
            Command::WithdrawPoll { poll_id, .. } => poll_id.len(),
            Command::AclBootstrap { token, .. } | Command::TokenCreated { token, .. } => {
                token_text(token)
            }
            Command::TokenRevoked { accessor, .. } => accessor.len(),
            Command::SetAlarm { detail, .. } => detail.len(),
            Command::SetClusterId { id } => id.len(),
            Command::PutSchedule { def, .. } => def.name.len() + def.input.len() + TEXTS_BYTES,
            Command::PutScheduleV2 { def, .. } => def.name.len() + def.input.len() + TEXTS_BYTES,
            Command::PutScheduleV3 { def, .. } => {
                def.name.len()
                    + def.input.len()
                    + TEXTS_BYTES
                    + def.specs.iter().map(|s| s.len() + 8).sum::<usize>()
                    + def.exclude_days.len() * 4
            }
            Command::BackfillSchedule { name, times, .. } => name.len() + times.len() * 8,
            Command::PutTrigger { def, .. } => {
                let crate::triggers::Target::StartExecution { state_machine, .. } = &def.target;
                def.name.len() + def.source.len() + state_machine.len() + def.description.len()
            }
            Command::DeleteTrigger { name, .. } => name.len(),
            Command::PutConnection { def, .. } => {
                let header = match &def.kind {
                    crate::connections::Kind::ApiKey { header } => header.len(),
                    _ => 0,
                };
                def.name.len()
                    + def.description.len()
                    + header
                    + def.sealed.key_id.len()
                    + def.sealed.bytes.len()
            }
            Command::DeleteConnection { name, .. } => name.len(),
            Command::PutSubscription { def, .. } => {
                def.name.len()
                    + def.description.len()
                    + def.source.len()
                    + def.url.len()
                    + def.connection.len()
                    + def.on.len()
                    + def.secret.key_id.len()
                    + def.secret.bytes.len()
            }
            Command::DeleteSubscription { name, .. } => name.len(),
            Command::EventsDelivered {
                subscription,
                delivered,
                failed,
                ..
            } => {
                subscription.len()
                    + delivered.len() * 8
                    + failed.iter().map(|(_, e)| 16 + e.len()).sum::<usize>()
            }
            Command::RedriveEvents {
                subscription, seqs, ..
            } => subscription.len() + seqs.len() * 8,
            Command::DeleteSchedule { name, .. }
            | Command::FireSchedule { name, .. }
            | Command::SkipMissed { name, .. } => name.len(),
            Command::PauseSchedule { name, note, .. } => name.len() + note.len(),
            Command::BackupRecorded { record, .. } => {
                record.destination.len() + record.content_sha256.len()
            }
            Command::TokenRotated {
                accessor,
                secret_hash,
                ..
            } => accessor.len() + secret_hash.len(),
            Command::DispatchNextForPoll {
                worker,
                activities,
                poll_id,
                ..
            } => {
                worker.len()
                    + poll_id.len()
                    + activities.iter().map(|a| a.len() + 10).sum::<usize>()
            }
        };
        FIXED_BYTES + text
    }
}

fn token_text(token: &crate::acl::TokenSpec) -> usize {
    const SESSION_KEY_AND_HASH_BYTES: usize = 64;
    token.accessor.len()
        + token.name.len()
        + SESSION_KEY_AND_HASH_BYTES
        + token.scopes.iter().map(|s| s.len() + 10).sum::<usize>()
}
