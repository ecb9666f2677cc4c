use super::*;
use crate::auth::{Identity, Role};

/// RESP's mapping of the service's failures: `ERR ` and exactly the message HTTP's
/// error body carries, so a failure reads the same through either port.
#[test]
fn service_failures_read_as_on_http() {
    use crate::service::{BadContext, ServiceError};
    use dynamo_core::message::Failure;
    let failures = [
        ServiceError::Failed(Failure::QuorumNotReached {
            needed: 2,
            received: 1,
        }),
        ServiceError::ValueTooLarge {
            size: Some(9),
            max: 8,
        },
        ServiceError::BadContext(BadContext::NotText),
        ServiceError::Unavailable,
    ];
    for failure in failures {
        let resp = CommandError::from(failure.clone()).reply();
        let http = crate::http::ApiError::from(failure).document();
        assert_eq!(resp, Value::Error(format!("ERR {}", http.error)));
    }
    let quorum = CommandError::from(ServiceError::Failed(Failure::QuorumNotReached {
        needed: 2,
        received: 1,
    }));
    let text = "ERR quorum not reached: needed 2, got 1";
    assert_eq!(quorum.reply(), Value::Error(text.into()));
    let arity = CommandError::Arity("get".into()).reply();
    let text = "ERR wrong number of arguments for 'get' command";
    assert_eq!(arity, Value::Error(text.into()));
}

/// Redis's own codes keep Redis's exact text (clients match on it).
#[test]
fn redis_coded_errors_keep_redis_text() {
    assert_eq!(
        CommandError::NoAuth.reply(),
        Value::error("NOAUTH Authentication required.")
    );
    assert_eq!(
        CommandError::WrongPass.reply(),
        Value::error("WRONGPASS invalid username-password pair or user is disabled.")
    );
    let refused = CommandError::NoPerm {
        user: "app".into(),
        command: "set".into(),
    };
    let text = "NOPERM User app has no permissions to run the 'set' command";
    assert_eq!(refused.reply(), Value::error(text));
}

/// A 100 KB command name came back whole in the error: now it is cut, and so are
/// the arguments quoted after it.
#[test]
fn an_unknown_command_is_quoted_in_bounded_length() {
    let args = vec![vec![b'x'; 100_000], vec![b'a'; 100_000], b"b".to_vec()];
    let Value::Error(text) = CommandError::unknown(&args).reply() else {
        panic!("an error")
    };
    assert!(
        text.len() < 2 * QUOTE_CHARS_MAX + 100,
        "{} bytes",
        text.len()
    );
    let name = "x".repeat(QUOTE_CHARS_MAX);
    let expected = format!("ERR unknown command '{name}', with args beginning with: '");
    assert!(text.starts_with(&expected), "{text}");
    let short = CommandError::unknown(&[b"FOO".to_vec(), b"bar".to_vec()]).reply();
    let text = "ERR unknown command 'FOO', with args beginning with: 'bar' ";
    assert_eq!(short, Value::error(text));
}

fn session(identity: Option<Identity>) -> Session {
    Session {
        id: 1,
        peer: String::new(),
        local: String::new(),
        protocol: Protocol::Resp2,
        name: None,
        lib_name: None,
        lib_ver: None,
        identity,
        created: std::time::Instant::now(),
        last_command: std::time::Instant::now(),
        in_multi: false,
    }
}

fn args(words: &[&str]) -> Vec<Vec<u8>> {
    words.iter().map(|w| w.as_bytes().to_vec()).collect()
}

fn refusal(step: Step) -> Option<Value> {
    match step {
        Step::Refused(error) => Some(error.reply()),
        _ => None,
    }
}

/// Before authentication only the connection handshake runs; a readonly user reads
/// but does not write; arity is checked before anything runs.
#[test]
fn commands_are_planned_by_authentication_role_and_arity() {
    let anonymous = session(None);
    let noauth = Some(CommandError::NoAuth.reply());
    assert_eq!(
        refusal(plan(&anonymous, "GET", &args(&["GET", "k"]))),
        noauth
    );
    assert_eq!(refusal(plan(&anonymous, "INFO", &args(&["INFO"]))), noauth);
    assert_eq!(refusal(plan(&anonymous, "NOPE", &args(&["NOPE"]))), noauth);
    for allowed in ["AUTH", "HELLO", "QUIT", "RESET", "PING"] {
        let step = plan(&anonymous, allowed, &args(&[allowed, "x"]));
        assert!(
            !matches!(step, Step::Refused(CommandError::NoAuth)),
            "{allowed}"
        );
    }
    let reader = session(Some(Identity {
        name: "reader".into(),
        role: Role::ReadOnly,
    }));
    assert!(matches!(
        plan(&reader, "GET", &args(&["GET", "k"])),
        Step::Keys(_)
    ));
    let refused = refusal(plan(&reader, "SET", &args(&["SET", "k", "v"])));
    let text = "NOPERM User reader has no permissions to run the 'set' command";
    assert_eq!(refused, Some(Value::error(text)));
    let open = session(Some(Identity::open()));
    let Step::Keys(keys) = plan(&open, "MSET", &args(&["MSET", "a", "1", "b", "2"])) else {
        panic!("MSET is keyed")
    };
    assert_eq!(keys, args(&["a", "b"]));
    assert!(matches!(
        plan(&open, "MGET", &args(&["MGET", "a"])),
        Step::Alone
    ));
    assert!(matches!(
        plan(&open, "HELLO", &args(&["HELLO"])),
        Step::Session
    ));
    let arity = refusal(plan(&open, "GET", &args(&["GET"])));
    assert_eq!(arity, Some(CommandError::Arity("get".into()).reply()));
    let Some(Value::Error(watch)) = refusal(plan(&open, "WATCH", &args(&["WATCH", "k"]))) else {
        panic!("WATCH is refused")
    };
    assert!(watch.contains("no transactions"), "{watch}");
}

/// MULTI is accepted only to refuse what follows: nothing queued runs, and EXEC
/// aborts as Redis aborts a transaction with a command that failed to queue, so no
/// client applies half a transaction (and none sees an unexpected MULTI error).
#[test]
fn a_transaction_runs_nothing_and_exec_aborts() {
    let mut open = session(Some(Identity::open()));
    assert_eq!(
        transaction_step(&mut open, "EXEC"),
        Some(CommandError::WithoutMulti("EXEC").reply())
    );
    assert_eq!(transaction_step(&mut open, "GET"), None);
    assert_eq!(transaction_step(&mut open, "MULTI"), Some(Value::ok()));
    let Some(Value::Error(queued)) = transaction_step(&mut open, "SET") else {
        panic!("SET inside MULTI is refused")
    };
    assert!(
        queued.contains("no transactions") && queued.contains("not run"),
        "{queued}"
    );
    let nested = transaction_step(&mut open, "MULTI");
    assert_eq!(
        nested,
        Some(Value::error("ERR MULTI calls can not be nested"))
    );
    let aborted = transaction_step(&mut open, "EXEC").unwrap();
    let text = "EXECABORT Transaction discarded because of previous errors.";
    assert_eq!(aborted, Value::error(text));
    assert!(!open.in_multi);
    assert_eq!(transaction_step(&mut open, "MULTI"), Some(Value::ok()));
    assert_eq!(transaction_step(&mut open, "DISCARD"), Some(Value::ok()));
    assert_eq!(transaction_step(&mut open, "SET"), None);
}
