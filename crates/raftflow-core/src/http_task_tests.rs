//! The HTTP Task's shapes: Parameters into a request, a response into the
//! result or Step Functions' error names.

use super::*;
use serde_json::json;

#[test]
fn a_get_with_query_parameters_and_headers() {
    let invoke = request(&json!({
        "ApiEndpoint": "https://api.example.com/v1/customers",
        "Method": "get",
        "Headers": {"Accept": "application/json", "X-Count": 3},
        "QueryParameters": {"limit": 10, "q": "a b&c", "tag": ["x", "y"]},
        "Authentication": {"ConnectionArn": "arn:aws:events:us-east-2:123456789012:connection/Stripe/81210c42-8af1"}
    }))
    .unwrap();
    assert_eq!(invoke.method, "GET");
    assert_eq!(
        invoke.url,
        "https://api.example.com/v1/customers?limit=10&q=a+b%26c&tag%5B0%5D=x&tag%5B1%5D=y"
    );
    assert_eq!(
        invoke.headers,
        vec![
            ("Accept".to_string(), "application/json".to_string()),
            ("X-Count".to_string(), "3".to_string())
        ]
    );
    assert_eq!(
        (invoke.body, invoke.connection.as_deref()),
        (None, Some("Stripe"))
    );
}

#[test]
fn bodies_json_text_and_url_encoded_in_every_array_format() {
    let json_body = request(&json!({"ApiEndpoint": "https://h/x", "Method": "POST",
        "RequestBody": {"order": 7, "items": [1, 2]}}))
    .unwrap();
    assert_eq!(
        json_body.body.unwrap(),
        br#"{"order":7,"items":[1,2]}"#.to_vec(),
        "the body as written"
    );
    assert!(json_body
        .headers
        .contains(&("Content-Type".into(), "application/json".into())));
    let text = request(&json!({"ApiEndpoint": "https://h/x", "Method": "PUT",
        "Headers": {"content-type": "text/csv"}, "RequestBody": "a,b"}))
    .unwrap();
    assert_eq!(text.body.unwrap(), b"a,b".to_vec());
    assert_eq!(text.headers.len(), 1, "a Content-Type given is kept");
    for (format, expected) in [
        ("INDICES", "a%5B0%5D=x&a%5B1%5D=y&n%5Bk%5D=v"),
        ("REPEAT", "a=x&a=y&n%5Bk%5D=v"),
        ("COMMAS", "a=x%2Cy&n%5Bk%5D=v"),
        ("BRACKETS", "a%5B%5D=x&a%5B%5D=y&n%5Bk%5D=v"),
    ] {
        let invoke = request(&json!({"ApiEndpoint": "https://h/x", "Method": "POST",
            "RequestBody": {"a": ["x", "y"], "n": {"k": "v"}},
            "Transform": {"RequestBodyEncoding": "URL_ENCODED",
                          "RequestEncodingOptions": {"ArrayFormat": format}}}))
        .unwrap();
        assert_eq!(
            String::from_utf8(invoke.body.unwrap()).unwrap(),
            expected,
            "{format}"
        );
        assert!(invoke.headers.contains(&(
            "Content-Type".into(),
            "application/x-www-form-urlencoded".into()
        )));
    }
}

#[test]
fn bad_parameters_fail_the_state_naming_the_field() {
    let cause = |p: Value| request(&p).unwrap_err();
    let missing = cause(json!({"Method": "GET"}));
    assert_eq!(missing.error, "States.Runtime");
    assert!(missing.cause.contains("ApiEndpoint"));
    assert!(
        cause(json!({"ApiEndpoint": "https://h", "Method": "TRACE"}))
            .cause
            .contains("`TRACE`")
    );
    assert!(
        cause(json!({"ApiEndpoint": "https://h", "Method": "GET", "Headers": "x"}))
            .cause
            .contains("Headers")
    );
    let format = cause(json!({"ApiEndpoint": "https://h", "Method": "GET",
        "Transform": {"RequestEncodingOptions": {"ArrayFormat": "SPACES"}}}));
    assert!(format.cause.contains("`SPACES`"));
    let plain = request(&json!({"ApiEndpoint": "https://h?x=1", "Method": "GET",
        "QueryParameters": {"y": 2}, "Authentication": {"ConnectionArn": "payments"}}))
    .unwrap();
    assert_eq!(plain.url, "https://h?x=1&y=2");
    assert_eq!(plain.connection.as_deref(), Some("payments"));
}

#[test]
fn responses_become_the_result_or_the_status_code_error() {
    let json_type = [("content-type".to_string(), "application/json".to_string())];
    let ok = outcome(200, "OK", &json_type, br#"{"id": 7}"#).unwrap();
    assert_eq!(ok["StatusCode"], 200);
    assert_eq!(ok["StatusText"], "OK");
    assert_eq!(ok["ResponseBody"]["id"], 7);
    assert_eq!(ok["Headers"]["content-type"], "application/json");
    let text = outcome(201, "Created", &[], b"{not json").unwrap();
    assert_eq!(text["ResponseBody"], "{not json");
    let failed = outcome(503, "Service Unavailable", &json_type, b"{}").unwrap_err();
    assert_eq!(failed.error, "States.Http.StatusCode.503");
    let cause: Value = serde_json::from_str(&failed.cause).unwrap();
    assert_eq!(cause["StatusCode"], 503);
    assert_eq!(socket("connection refused").error, "States.Http.Socket");
}

#[test]
fn definitions_hold_http_tasks_from_version_16_only() {
    let definition = r#"{"StartAt": "C", "States": {"C": {"Type": "Task",
        "Resource": "arn:aws:states:::http:invoke",
        "Parameters": {"ApiEndpoint": "https://h", "Method": "GET"},
        "Retry": [{"ErrorEquals": ["States.Http.StatusCode.503", "States.Http.Socket"]}],
        "End": true}}}"#;
    let before = crate::parse::parse_definition_at(definition, HTTP_TASKS_FROM - 1).unwrap_err();
    let codes: Vec<&str> = before.iter().map(|d| d.code.as_str()).collect();
    assert!(codes.contains(&"INVALID_RESOURCE"), "{before:?}");
    let machine = crate::parse::parse_definition_at(definition, HTTP_TASKS_FROM).unwrap();
    let crate::definition::StateKind::Task { activity, .. } =
        &machine.state("C").expect("state C").kind
    else {
        panic!("a Task");
    };
    assert_eq!(activity.name, ACTIVITY);
    let callback = definition.replace("http:invoke", "http:invoke.waitForTaskToken");
    let refused =
        crate::parse::parse_definition_at(&callback, HTTP_CALLBACKS_FROM - 1).unwrap_err();
    assert!(
        refused[0].message.contains("needs apply version 18"),
        "{refused:?}"
    );
    let machine = crate::parse::parse_definition_at(&callback, HTTP_CALLBACKS_FROM).unwrap();
    let crate::definition::StateKind::Task { activity, .. } =
        &machine.state("C").expect("state C").kind
    else {
        panic!("a Task");
    };
    assert_eq!(
        (activity.name.as_str(), activity.wait_for_token),
        (ACTIVITY, true)
    );
    assert!(is_error_name("States.Http.StatusCode.404"));
    assert!(!is_error_name("States.Http.StatusCode.4040") && !is_error_name("States.Http.Other"));
}
