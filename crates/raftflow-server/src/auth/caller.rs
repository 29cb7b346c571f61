//! Who made a call, as the auth layer found it, and the scope checks the
//! handlers make with it (the layer sees only the method, not its target).

use raftflow_store::acl::{Role, TokenRecord};
use tonic::Status;

use super::{allows, Permission};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// `insecure = true`: nothing is checked.
    Insecure,
    /// No credential: open methods only.
    Anonymous,
    /// A peer node, by its certificate: it reads status (upgrades, console).
    Node(u64),
    /// The configured bootstrap token, before the cluster applied its
    /// bootstrap: the first admin, so that nothing waits for that commit.
    BootstrapPending,
    /// `[auth] recovery_token_file`'s token: an admin on this node only,
    /// for when every admin token is lost (docs/security.md).
    Recovery,
    Token {
        accessor: String,
        name: String,
        role: Role,
        scopes: Vec<String>,
    },
}

impl Caller {
    pub fn from_record(record: &TokenRecord) -> Self {
        Caller::Token {
            accessor: record.spec.accessor.clone(),
            name: record.spec.name.clone(),
            role: record.spec.role,
            scopes: record.spec.scopes.clone(),
        }
    }

    /// The caller the auth layer left on the request (anonymous without one).
    pub fn of<T>(request: &tonic::Request<T>) -> Caller {
        request
            .extensions()
            .get::<Caller>()
            .cloned()
            .unwrap_or(Caller::Anonymous)
    }

    pub fn may(&self, permission: Permission) -> bool {
        match self {
            Caller::Insecure | Caller::BootstrapPending | Caller::Recovery => true,
            Caller::Anonymous => false,
            Caller::Node(_) => permission == Permission::ReadCluster,
            Caller::Token { role, .. } => allows(*role, permission),
        }
    }

    pub fn role(&self) -> Option<Role> {
        match self {
            Caller::Token { role, .. } => Some(*role),
            Caller::BootstrapPending | Caller::Recovery => Some(Role::Admin),
            _ => None,
        }
    }

    /// How logs and errors name the caller (never the secret).
    pub fn label(&self) -> String {
        match self {
            Caller::Insecure => "anyone (insecure)".into(),
            Caller::Anonymous => "an anonymous caller".into(),
            Caller::Node(id) => format!("node {id}"),
            Caller::BootstrapPending => "the configured bootstrap token".into(),
            Caller::Recovery => "the recovery token of this node's config".into(),
            Caller::Token {
                accessor,
                name,
                role,
                ..
            } => format!("{role} token {accessor} ({name})"),
        }
    }

    /// Refuses a state machine outside an operator's scopes.
    pub fn check_state_machine(&self, name: &str) -> Result<(), Status> {
        self.check_scope(Role::Operator, "state machine", name)
    }

    /// Refuses an activity outside a worker's scopes.
    pub fn check_activity(&self, activity: &str) -> Result<(), Status> {
        self.check_scope(Role::Worker, "activity", activity)
    }

    /// Refuses an execution (`<state machine>:<name>`) of a state machine
    /// outside an operator's scopes.
    pub fn check_execution(&self, execution_id: &str) -> Result<(), Status> {
        let state_machine = execution_id
            .split_once(':')
            .map_or(execution_id, |(sm, _)| sm);
        self.check_state_machine(state_machine)
    }

    /// Whether a list shows this state machine to the caller.
    pub fn sees_state_machine(&self, name: &str) -> bool {
        self.check_state_machine(name).is_ok()
    }

    fn check_scope(&self, scoped: Role, what: &str, target: &str) -> Result<(), Status> {
        let Caller::Token { role, scopes, .. } = self else {
            return Ok(());
        };
        if *role != scoped || scopes.is_empty() || scopes.iter().any(|s| scope_matches(s, target)) {
            return Ok(());
        }
        Err(Status::permission_denied(format!(
            "{} may act on the {what}s its scopes name ({}); {what} `{target}` is outside them",
            self.label(),
            scopes.join(", ")
        )))
    }
}

/// Whether `name` matches `pattern`, where `*` matches any run of
/// characters (none included) and every other character itself.
pub fn scope_matches(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut i, mut j) = (0, 0);
    // Where the last `*` was, and the name position it covers up to.
    let mut star: Option<(usize, usize)> = None;
    while j < n.len() {
        if i < p.len() && p[i] != '*' && p[i] == n[j] {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some((i, j));
            i += 1;
        } else if let Some((si, sj)) = star {
            // Let the last `*` cover one more character and try again.
            i = si + 1;
            j = sj + 1;
            star = Some((si, sj + 1));
        } else {
            return false;
        }
    }
    p[i..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_as_documented() {
        let cases = [
            ("payments.*", "payments.charge", true),
            ("payments.*", "payments.", true),
            ("payments.*", "payment.charge", false),
            ("orders-*", "orders-eu", true),
            ("orders-*", "orders", false),
            ("*", "", true),
            ("*.charge", "payments.charge", true),
            ("a*b*c", "aXXbYYc", true),
            ("a*b*c", "aXXbYY", false),
            ("exact", "exact", true),
            ("exact", "exactly", false),
            ("**", "anything", true),
            ("a*a", "aaa", true),
            ("é*", "été", true),
        ];
        for (pattern, name, expected) in cases {
            assert_eq!(
                scope_matches(pattern, name),
                expected,
                "`{pattern}` against `{name}`"
            );
        }
    }

    #[test]
    fn scopes_narrow_only_their_own_role() {
        let worker = Caller::Token {
            accessor: "a".repeat(32),
            name: "w".into(),
            role: Role::Worker,
            scopes: vec!["payments.*".into()],
        };
        assert!(worker.check_activity("payments.charge").is_ok());
        let denied = worker.check_activity("shipping.label").unwrap_err();
        assert_eq!(denied.code(), tonic::Code::PermissionDenied);
        assert!(
            denied.message().contains("shipping.label"),
            "{}",
            denied.message()
        );
        // A worker's scopes are activities, not state machines.
        assert!(worker.check_state_machine("anything").is_ok());
        let unscoped = Caller::Token {
            accessor: "b".repeat(32),
            name: "o".into(),
            role: Role::Operator,
            scopes: vec![],
        };
        assert!(unscoped.check_state_machine("orders").is_ok());
    }
}
