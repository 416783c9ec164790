//! What a Lambda function's host (`faasin __lambda`) returns to the service
//! for one invocation, as the instance's return value: the handler's result,
//! or the error in Lambda's shape with the HTTP status it deserves. The
//! service unwraps it, so that a report shows the handler's result itself.

use serde::{Deserialize, Serialize};

/// Lambda's limit on an event and on a result that is not streamed.
pub const PAYLOAD_LIMIT: usize = 6 << 20;

/// An error in Lambda's shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LambdaError {
    #[serde(rename = "errorType")]
    pub error_type: String,
    #[serde(rename = "errorMessage")]
    pub error_message: String,
    #[serde(
        rename = "stackTrace",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub stack_trace: Option<serde_json::Value>,
}

impl LambdaError {
    pub fn new(error_type: &str, error_message: impl Into<String>) -> LambdaError {
        LambdaError {
            error_type: error_type.into(),
            error_message: error_message.into(),
            stack_trace: None,
        }
    }

    /// What a runtime posted to `.../error` or `/init/error`: Lambda's shape
    /// when it parses as such, else its text as the message. `type_header`
    /// (`Lambda-Runtime-Function-Error-Type`) names the type when the body
    /// does not.
    pub fn from_runtime(body: &[u8], type_header: Option<&str>) -> LambdaError {
        let fallback = type_header.unwrap_or("Runtime.Unknown");
        match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(v) if v.is_object() => LambdaError {
                error_type: (v["errorType"].as_str()).unwrap_or(fallback).to_string(),
                error_message: (v["errorMessage"].as_str()).unwrap_or("").to_string(),
                stack_trace: v.get("stackTrace").cloned(),
            },
            _ => LambdaError::new(fallback, String::from_utf8_lossy(body)),
        }
    }
}

/// How one invocation of a Lambda function went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostOutcome {
    /// 200, or the status the failure deserves (502, 413).
    pub status: u16,
    /// The handler's result when it is the return value (JSON if it parses,
    /// else text); `None` when it went to the function's faasout or failed.
    pub result: Option<serde_json::Value>,
    pub error: Option<LambdaError>,
    /// The runtime cannot serve another invocation: the host exits.
    pub fatal: bool,
}

impl HostOutcome {
    pub fn ok(result: Option<serde_json::Value>) -> HostOutcome {
        HostOutcome {
            status: 200,
            result,
            error: None,
            fatal: false,
        }
    }

    pub fn failed(status: u16, error: LambdaError, fatal: bool) -> HostOutcome {
        HostOutcome {
            status,
            result: None,
            error: Some(error),
            fatal,
        }
    }

    /// The outcome in an instance's return value; `None` if it is not one
    /// (a host that broke off, or another kind of function).
    pub fn from_return_value(v: &serde_json::Value) -> Option<HostOutcome> {
        serde_json::from_value(v.clone()).ok()
    }
}

/// A handler's result as a report shows it: its JSON, else its text.
pub fn result_value(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_errors_keep_their_shape_or_become_one() {
        let e = LambdaError::from_runtime(
            br#"{"errorType": "ValueError", "errorMessage": "bad", "stackTrace": ["a"]}"#,
            Some("Ignored"),
        );
        assert_eq!(e.error_type, "ValueError");
        assert_eq!(e.stack_trace, Some(serde_json::json!(["a"])));
        let e = LambdaError::from_runtime(b"not json", Some("Runtime.Crash"));
        assert_eq!(
            (e.error_type.as_str(), e.error_message.as_str()),
            ("Runtime.Crash", "not json")
        );
        let o = HostOutcome::failed(502, e, true);
        let v = serde_json::to_value(&o).unwrap();
        assert_eq!(HostOutcome::from_return_value(&v), Some(o));
        assert_eq!(
            HostOutcome::from_return_value(&serde_json::json!({"x": 1})),
            None
        );
    }
}
