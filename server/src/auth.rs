//! Client authentication, the way Redis 6+ does it: named users with passwords and a
//! role, checked by the RESP port (`AUTH`, `HELLO ... AUTH`) and by the HTTP port
//! (`Authorization: Bearer <token>`).
//!
//! - No user configured: authentication is off; every connection acts as the
//!   `default` user with the admin role (what Redis does without `requirepass`).
//! - `requirepass`: the `default` user, admin, with that password (and that password as
//!   its HTTP token).
//! - `[[users]]`: `name`, `password`, `role` (`readonly`, `readwrite` or `admin`) and an
//!   optional `token` for HTTP (default: the password).
//!
//! Roles: `readonly` reads (RESP `GET`, `MGET`, `VGET`...; HTTP `GET`), `readwrite`
//! also writes, `admin` also changes membership (`/v1/admin/*`).
//!
//! Invariants: secrets are kept only as SHA-256 digests and compared in constant time
//! (every user's digest is compared, whatever matched before), so neither a password
//! nor which user a token belongs to leaks through timing; user names and tokens are
//! unique, so a credential names exactly one user.

use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The user `AUTH <password>` (one argument) authenticates, as in Redis.
pub const DEFAULT_USER: &str = "default";

/// What a user may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads only.
    ReadOnly,
    /// Reads and writes keys.
    ReadWrite,
    /// Everything, membership changes included.
    Admin,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::ReadOnly => "readonly",
            Role::ReadWrite => "readwrite",
            Role::Admin => "admin",
        }
    }

    pub fn may_write(self) -> bool {
        self >= Role::ReadWrite
    }

    pub fn may_administer(self) -> bool {
        self == Role::Admin
    }
}

/// One `[[users]]` entry of the configuration.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    pub name: String,
    pub password: String,
    pub role: Role,
    /// The HTTP bearer token; absent, the password.
    #[serde(default)]
    pub token: Option<String>,
}

impl std::fmt::Debug for UserConfig {
    // Never print a secret (settings are logged and shown in errors).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserConfig")
            .field("name", &self.name)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// Who a connection or request is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub name: String,
    pub role: Role,
}

impl Identity {
    /// Who everyone is when authentication is off.
    pub fn open() -> Self {
        Identity {
            name: DEFAULT_USER.into(),
            role: Role::Admin,
        }
    }
}

/// Why a user configuration was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthConfigError {
    #[error("user name {0:?} is empty or has spaces or control characters")]
    BadName(String),
    #[error("user {0:?} has an empty password or token")]
    EmptySecret(String),
    #[error("user {0:?} is configured twice (requirepass configures {DEFAULT_USER:?})")]
    DuplicateName(String),
    #[error("users {0:?} and {1:?} have the same token: a token must name one user")]
    DuplicateToken(String, String),
}

type Digest32 = [u8; 32];

fn digest(secret: &[u8]) -> Digest32 {
    Sha256::digest(secret).into()
}

#[derive(Clone)]
struct User {
    identity: Identity,
    password: Digest32,
    token: Digest32,
}

/// The configured users (possibly none: authentication off). Cheap to share in an `Arc`.
#[derive(Clone, Default)]
pub struct Users {
    users: Vec<User>,
}

impl std::fmt::Debug for Users {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self
            .users
            .iter()
            .map(|u| u.identity.name.as_str())
            .collect();
        f.debug_struct("Users").field("names", &names).finish()
    }
}

impl Users {
    /// Authentication off.
    pub fn open() -> Self {
        Users::default()
    }

    /// `configs` plus, with `requirepass`, the admin `default` user.
    pub fn new(configs: &[UserConfig], requirepass: Option<&str>) -> Result<Self, AuthConfigError> {
        let mut all: Vec<UserConfig> = configs.to_vec();
        if let Some(password) = requirepass {
            all.push(UserConfig {
                name: DEFAULT_USER.into(),
                password: password.into(),
                role: Role::Admin,
                token: None,
            });
        }
        let mut users: Vec<User> = Vec::with_capacity(all.len());
        for config in &all {
            let user = checked(config)?;
            if let Some(same) = users.iter().find(|u| u.identity.name == config.name) {
                return Err(AuthConfigError::DuplicateName(same.identity.name.clone()));
            }
            if let Some(same) = users.iter().find(|u| u.token == user.token) {
                let first = same.identity.name.clone();
                return Err(AuthConfigError::DuplicateToken(first, config.name.clone()));
            }
            users.push(user);
        }
        Ok(Users { users })
    }

    /// Whether clients must authenticate.
    pub fn required(&self) -> bool {
        !self.users.is_empty()
    }

    /// Whether a `default` user exists (what `AUTH <password>` authenticates).
    pub fn has_default(&self) -> bool {
        self.users.iter().any(|u| u.identity.name == DEFAULT_USER)
    }

    /// The user `name` if `password` is theirs. Constant time in the password and in
    /// which user matched.
    pub fn check_password(&self, name: &[u8], password: &[u8]) -> Option<Identity> {
        let candidate = digest(password);
        let mut found = None;
        for user in &self.users {
            let same_secret = bool::from(user.password.ct_eq(&candidate));
            if same_secret && user.identity.name.as_bytes() == name {
                found = Some(user.identity.clone());
            }
        }
        found
    }

    /// The user whose HTTP token is `token`. Constant time, as `check_password`.
    pub fn check_token(&self, token: &[u8]) -> Option<Identity> {
        let candidate = digest(token);
        let mut found = None;
        for user in &self.users {
            if bool::from(user.token.ct_eq(&candidate)) {
                found = Some(user.identity.clone());
            }
        }
        found
    }
}

fn checked(config: &UserConfig) -> Result<User, AuthConfigError> {
    let name = &config.name;
    if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(AuthConfigError::BadName(name.clone()));
    }
    let token = config.token.as_deref().unwrap_or(&config.password);
    if config.password.is_empty() || token.is_empty() {
        return Err(AuthConfigError::EmptySecret(name.clone()));
    }
    Ok(User {
        identity: Identity {
            name: name.clone(),
            role: config.role,
        },
        password: digest(config.password.as_bytes()),
        token: digest(token.as_bytes()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str, password: &str, role: Role, token: Option<&str>) -> UserConfig {
        UserConfig {
            name: name.into(),
            password: password.into(),
            role,
            token: token.map(String::from),
        }
    }

    #[test]
    fn passwords_and_tokens_name_their_user_and_nothing_else() {
        let configs = [
            user("app", "app-secret", Role::ReadWrite, Some("app-token")),
            user("ops", "ops-secret", Role::Admin, None),
        ];
        let users = Users::new(&configs, None).unwrap();
        assert!(users.required() && !users.has_default());
        let app = users.check_password(b"app", b"app-secret").unwrap();
        assert_eq!((app.name.as_str(), app.role), ("app", Role::ReadWrite));
        assert_eq!(users.check_password(b"app", b"ops-secret"), None);
        assert_eq!(users.check_password(b"ops", b"app-secret"), None);
        assert_eq!(users.check_password(b"app", b""), None);
        assert_eq!(users.check_token(b"app-token").unwrap().name, "app");
        assert_eq!(users.check_token(b"app-secret"), None, "app has a token");
        assert_eq!(users.check_token(b"ops-secret").unwrap().role, Role::Admin);
        assert!(!format!("{configs:?}{users:?}").contains("secret"));
    }

    #[test]
    fn requirepass_is_the_admin_default_user_and_bad_configs_are_refused() {
        let users = Users::new(&[], Some("pw")).unwrap();
        assert!(users.has_default());
        assert_eq!(
            users.check_password(DEFAULT_USER.as_bytes(), b"pw"),
            Some(Identity::open())
        );
        assert!(!Users::open().required());
        let twice = [
            user("a", "1", Role::Admin, None),
            user("a", "2", Role::Admin, None),
        ];
        assert!(matches!(
            Users::new(&twice, None),
            Err(AuthConfigError::DuplicateName(_))
        ));
        let same_token = [
            user("a", "1", Role::Admin, Some("t")),
            user("b", "2", Role::Admin, Some("t")),
        ];
        assert!(matches!(
            Users::new(&same_token, None),
            Err(AuthConfigError::DuplicateToken(..))
        ));
        let spaced = [user("a b", "1", Role::Admin, None)];
        assert!(matches!(
            Users::new(&spaced, None),
            Err(AuthConfigError::BadName(_))
        ));
        assert!(matches!(
            Users::new(&[user("a", "", Role::Admin, None)], None),
            Err(AuthConfigError::EmptySecret(_))
        ));
        assert!(Role::Admin.may_administer() && Role::ReadWrite.may_write());
        assert!(!Role::ReadOnly.may_write() && !Role::ReadWrite.may_administer());
    }
}
