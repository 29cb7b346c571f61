//! Applying the connection commands (crate::connections says what they
//! are). Apply stores the sealed bytes as the command carries them and
//! never opens them: it has no key, and needs none to agree on every
//! replica.

use super::apply::reject;
use super::Workflows;
use crate::command::{Command, CommandResult, Reject};
use crate::connections::*;
use crate::db::Db;
use crate::error::StoreError;

impl Workflows {
    pub(super) fn apply_connection(
        &mut self,
        db: &Db,
        command: &Command,
    ) -> Result<CommandResult, StoreError> {
        if self.apply_version < CONNECTIONS_FROM {
            return Ok(reject(
                Reject::FailedPrecondition,
                format!(
                    "connections need apply version {CONNECTIONS_FROM} (the cluster is at {})",
                    self.apply_version
                ),
            ));
        }
        match command {
            Command::PutConnection {
                def,
                create,
                expect_revision,
                now_ms,
            } => self.put_connection(db, def, (*create, *expect_revision), *now_ms),
            Command::DeleteConnection { name, .. } => {
                if self.connection(db, name)?.is_none() {
                    return Ok(not_found(name));
                }
                self.connection_count = self.connection_count.saturating_sub(1);
                self.delete(key(name));
                Ok(CommandResult::Deleted)
            }
            _ => unreachable!("only connection commands come here"),
        }
    }

    fn connection(&self, db: &Db, name: &str) -> Result<Option<Connection>, StoreError> {
        self.get(db, &key(name))?
            .map(|b| decode_stored(&b))
            .transpose()
    }

    /// Creates (`create`) or replaces a connection; an update with
    /// `expect_revision` other than 0 applies only at that revision (a
    /// re-key must not undo an update it did not see).
    fn put_connection(
        &mut self,
        db: &Db,
        def: &ConnectionDef,
        (create, expect_revision): (bool, u64),
        now_ms: u64,
    ) -> Result<CommandResult, StoreError> {
        if let Some(problem) = def_problem(def) {
            return Ok(reject(Reject::InvalidArgument, problem));
        }
        let connection = match (self.connection(db, &def.name)?, create) {
            (Some(c), true) if c.def == *def => {
                return Ok(CommandResult::ConnectionSaved {
                    revision: c.revision,
                    created: false,
                })
            }
            (Some(_), true) => {
                return Ok(reject(
                    Reject::AlreadyExists,
                    format!(
                        "connection `{}` already exists with other credentials; update it instead",
                        def.name
                    ),
                ))
            }
            (None, false) => return Ok(not_found(&def.name)),
            (None, true) if self.connection_count >= MAX_CONNECTIONS => {
                return Ok(reject(
                    Reject::FailedPrecondition,
                    format!("the cluster holds {MAX_CONNECTIONS} connections, the most it keeps"),
                ))
            }
            (None, true) => {
                self.connection_count += 1;
                Connection {
                    def: def.clone(),
                    revision: 1,
                    created_ms: now_ms,
                    updated_ms: now_ms,
                }
            }
            (Some(c), false) if expect_revision != 0 && c.revision != expect_revision => {
                return Ok(reject(
                    Reject::FailedPrecondition,
                    format!(
                        "connection `{}` is at revision {}, not {expect_revision}: it changed meanwhile",
                        def.name, c.revision
                    ),
                ))
            }
            (Some(mut c), false) => {
                c.def = def.clone();
                c.revision = c.revision.saturating_add(1);
                c.updated_ms = now_ms;
                c
            }
        };
        let revision = connection.revision;
        self.put(key(&def.name), &Stored::V1(connection))?;
        Ok(CommandResult::ConnectionSaved {
            revision,
            created: create,
        })
    }
}

fn not_found(name: &str) -> CommandResult {
    reject(
        Reject::NotFound,
        format!("connection `{name}` does not exist"),
    )
}
