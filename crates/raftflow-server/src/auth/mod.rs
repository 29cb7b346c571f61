//! Who may do what on the API and HTTP ports: API tokens with roles.
//!
//! ```text
//!  request ──AuthLayer──▶ Gate::identify (bearer secret → hash → the applied token table,
//!     │                   or a node certificate) ──▶ Caller ──rule(method)──▶ allowed?
//!     │                                                                       │ no: UNAUTHENTICATED / PERMISSION_DENIED
//!     └── handlers read the Caller from the request's extensions for scopes
//! ```
//! Tokens live in the replicated state (raftflow_store::acl); each node
//! checks against what it applied, so a revocation holds on a node as soon
//! as it applied it. With `insecure = true` nothing is checked.

pub mod audit;
mod caller;
pub mod config;
mod gate;
mod layer;
pub mod methods;
pub mod rate;
pub mod secret;
pub mod session;
pub mod tasks;

pub use audit::Target;
pub use caller::{scope_matches, Caller};
pub use config::AuthConfig;
pub use gate::{Denied, Gate};
pub use layer::AuthLayer;
pub use raftflow_store::acl::Role;

/// What a call needs. Each role holds a fixed set (`allows`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Permission {
    /// Cluster status, read probes, metrics.
    ReadCluster,
    /// Membership, the apply version, write probes.
    ManageCluster,
    /// Create, list, revoke and rotate tokens.
    ManageTokens,
    /// Describe, list, history and watch of state machines and executions.
    ReadWorkflows,
    /// Create and update state machines (within an operator's scopes).
    WriteStateMachines,
    DeleteStateMachines,
    StartExecutions,
    StopExecutions,
    /// Poll and report tasks (within a worker's scopes).
    RunTasks,
    /// Report a callback task (`.waitForTaskToken`) from outside a worker.
    ReportCallbacks,
    /// Create, update, pause, trigger and delete schedules (within an
    /// operator's scopes, by their target state machine).
    WriteSchedules,
    /// Create, update and delete triggers (within an operator's scopes, by
    /// both the watched and the started state machine).
    WriteTriggers,
    /// Create, update, delete and re-key connections (credentials; admins only).
    WriteConnections,
    /// Create, update and delete subscriptions and redrive their dead
    /// letters (they send execution data out; admins only).
    WriteSubscriptions,
}

impl Permission {
    pub const ALL: [Permission; 14] = [
        Permission::ReadCluster,
        Permission::ManageCluster,
        Permission::ManageTokens,
        Permission::ReadWorkflows,
        Permission::WriteStateMachines,
        Permission::DeleteStateMachines,
        Permission::StartExecutions,
        Permission::StopExecutions,
        Permission::RunTasks,
        Permission::ReportCallbacks,
        Permission::WriteSchedules,
        Permission::WriteTriggers,
        Permission::WriteConnections,
        Permission::WriteSubscriptions,
    ];

    /// The name errors and docs use.
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::ReadCluster => "cluster:read",
            Permission::ManageCluster => "cluster:manage",
            Permission::ManageTokens => "tokens:manage",
            Permission::ReadWorkflows => "workflows:read",
            Permission::WriteStateMachines => "state-machines:write",
            Permission::DeleteStateMachines => "state-machines:delete",
            Permission::StartExecutions => "executions:start",
            Permission::StopExecutions => "executions:stop",
            Permission::RunTasks => "tasks:run",
            Permission::ReportCallbacks => "callbacks:report",
            Permission::WriteSchedules => "schedules:write",
            Permission::WriteTriggers => "triggers:write",
            Permission::WriteConnections => "connections:write",
            Permission::WriteSubscriptions => "subscriptions:write",
        }
    }
}

impl std::fmt::Display for Permission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The role table (docs/security.md shows it).
pub fn allows(role: Role, permission: Permission) -> bool {
    use Permission::*;
    match role {
        Role::Admin => true,
        Role::Operator => matches!(
            permission,
            ReadCluster
                | ReadWorkflows
                | WriteStateMachines
                | StartExecutions
                | StopExecutions
                | ReportCallbacks
                | WriteSchedules
                | WriteTriggers
        ),
        Role::Worker => matches!(permission, RunTasks),
        Role::Reader => matches!(permission, ReadCluster | ReadWorkflows),
    }
}
