//! Properties of the wire types: whatever bytes arrive, decoding never panics, and what the
//! types write they read back unchanged.

use agentry_protocol::subjects::{self, SubjectToken};
use agentry_protocol::{
    AgentReply, AgentRequest, Caller, ErrorCode, MAX_REQUEST_ID_LEN, Notification, RequestLimits,
    echoable_request_id, request_id_problem,
};
use proptest::prelude::*;

fn error_code() -> impl Strategy<Value = ErrorCode> {
    prop_oneof![
        Just(ErrorCode::BadRequest),
        Just(ErrorCode::Busy),
        Just(ErrorCode::Timeout),
        Just(ErrorCode::MaxTurns),
        Just(ErrorCode::MaxMessages),
        Just(ErrorCode::BudgetExceeded),
        Just(ErrorCode::ModelUnavailable),
        Just(ErrorCode::ModelRejected),
        Just(ErrorCode::DelegationCycle),
        Just(ErrorCode::DelegationDepth),
        Just(ErrorCode::ShuttingDown),
        Just(ErrorCode::TooLarge),
        Just(ErrorCode::Forbidden),
        Just(ErrorCode::Internal),
    ]
}

fn request() -> impl Strategy<Value = AgentRequest> {
    (
        any::<String>(),
        any::<String>(),
        proptest::option::of(any::<String>()),
        proptest::option::of(any::<u64>()),
        proptest::collection::vec("[a-z][a-z0-9-]{0,20}", 0..5),
        // Quarters are exact in binary, so the JSON text reads back as the same number.
        proptest::option::of((
            proptest::option::of((0u32..4_000_000).prop_map(|q| f64::from(q) / 4.0)),
            proptest::option::of(any::<u32>()),
        )),
        any::<bool>(),
    )
        .prop_map(|(id, input, from, deadline_ms, path, limits, stream)| AgentRequest {
            from,
            stream,
            deadline_ms,
            delegation_path: path,
            limits: limits.map(|(budget_usd, max_messages)| RequestLimits { budget_usd, max_messages }),
            ..AgentRequest::new(id, input)
        })
}

/// JSON-ish bytes: fragments of real requests shuffled with noise, more likely to reach deep
/// into the decoder than uniform random bytes.
fn jsonish() -> impl Strategy<Value = Vec<u8>> {
    let fragment = prop_oneof![
        Just(r#"{"requestId":"#.to_string()),
        Just(r#""input":"#.to_string()),
        Just(r#""delegationPath":["#.to_string()),
        Just(r#""history":[{"role":"user","content":"#.to_string()),
        Just(r#""version":"#.to_string()),
        Just(r#""error":{"code":"#.to_string()),
        Just("\"\\n\\u0000\"".to_string()),
        Just("]},".to_string()),
        any::<String>(),
        "[0-9eE.+-]{1,30}",
    ];
    proptest::collection::vec(fragment, 0..12).prop_map(|parts| parts.concat().into_bytes())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn decoding_any_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512), text in jsonish()) {
        for input in [&bytes, &text] {
            let _ = serde_json::from_slice::<AgentRequest>(input);
            let _ = serde_json::from_slice::<AgentReply>(input);
            let _ = serde_json::from_slice::<Notification>(input);
            if let Ok(request) = serde_json::from_slice::<AgentRequest>(input) {
                let _ = request.conversation_problem();
                let _ = request_id_problem(&request.request_id);
            }
        }
    }

    #[test]
    fn requests_round_trip(request in request()) {
        let bytes = serde_json::to_vec(&request).expect("serializes");
        let back: AgentRequest = serde_json::from_slice(&bytes).expect("reads back");
        prop_assert_eq!(back, request);
    }

    #[test]
    fn replies_round_trip(id in any::<String>(), code in error_code(), message in any::<String>(), output in proptest::option::of(any::<String>())) {
        let mut reply = AgentReply::failure(id, code, message);
        if output.is_some() {
            reply.error = None;
            reply.output = output;
        }
        let bytes = serde_json::to_vec(&reply).expect("serializes");
        let back: AgentReply = serde_json::from_slice(&bytes).expect("reads back");
        prop_assert_eq!(back, reply);
        prop_assert_eq!(serde_json::to_value(code).expect("code"), serde_json::json!(code.as_str()));
    }

    #[test]
    fn an_accepted_request_id_fits_a_header_and_is_echoed(id in any::<String>()) {
        match request_id_problem(&id) {
            None => {
                prop_assert!(!id.is_empty() && id.len() <= MAX_REQUEST_ID_LEN);
                prop_assert!(!id.contains(['\r', '\n', '\0']));
                prop_assert_eq!(echoable_request_id(&id), id.as_str());
            }
            Some(problem) => {
                prop_assert!(problem.len() < 200, "the problem never quotes the id: {}", problem);
                prop_assert_eq!(echoable_request_id(&id), "");
            }
        }
    }

    #[test]
    fn a_caller_is_read_back_from_the_subject_it_was_put_in(name in "[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", noise in any::<String>()) {
        let (ns, target) = (SubjectToken::new("fleet").expect("ns"), SubjectToken::new("worker").expect("agent"));
        let caller = Caller::agent(&name).expect("a DNS label is an agent name");
        let subject = subjects::query(&ns, &target, &caller);
        prop_assert_eq!(Caller::of_subject(&subject, &ns, &target), Ok(caller));
        // Anything else after the root either names a caller or is refused, never a panic.
        let _ = Caller::of_subject(&format!("agentry.fleet.agent.worker.query.{noise}"), &ns, &target);
        if let Ok(parsed) = Caller::parse(&noise) {
            prop_assert_eq!(parsed.token(), noise.as_str());
        }
    }
}
