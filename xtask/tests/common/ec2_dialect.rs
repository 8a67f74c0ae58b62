//! EC2 as the fault proxy speaks it in front of moto: EC2's throttling and server errors
//! (XML `Response/Errors/Error`), a region that refuses every call (as a region denied by
//! policy does), and the client-token idempotency of RunInstances that moto lacks: AWS answers a
//! repeated token with the first request's instances, and a token reused with other parameters
//! with `IdempotentParameterMismatch` (EC2 API reference, "Ensuring idempotency").

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard},
};

use super::fault_proxy::{Answer, Dialect};

/// What the dialect saw and what it should do, shared with the test.
#[derive(Debug, Default)]
pub(crate) struct Ec2State {
    /// Every call signed for this region is refused with `UnauthorizedOperation`.
    pub failing_region: Option<String>,
    /// Instances moto was asked to create (the `MinCount` of every RunInstances forwarded
    /// and answered 200): the real creates, replays left out.
    pub instances_created: u64,
    /// RunInstances answered again from a token.
    pub replays: u64,
    /// Calls refused for the failing region.
    pub refused: u64,
    tokens: HashMap<String, (Vec<u8>, Vec<u8>)>,
}

/// The dialect; clones share their state.
#[derive(Clone, Debug, Default)]
pub(crate) struct Ec2Dialect {
    state: Arc<Mutex<Ec2State>>,
}

impl Ec2Dialect {
    /// The shared state.
    pub(crate) fn state(&self) -> MutexGuard<'_, Ec2State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// An EC2 error answer.
pub(crate) fn error(status: u16, code: &str, message: &str) -> Answer {
    (
        status,
        "text/xml",
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}\
             </Code><Message>{message}</Message></Error></Errors><RequestID>injected</RequestID>\
             </Response>"
        ),
    )
}

fn form(body: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

/// The region a request is signed for (`Credential=KEY/DATE/REGION/ec2/aws4_request`).
fn signed_region(head: &[String]) -> Option<String> {
    let authorization = head.iter().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim()
            .eq_ignore_ascii_case("authorization")
            .then_some(value)
    })?;
    let credential = authorization.split("Credential=").nth(1)?;
    credential.split('/').nth(2).map(str::to_string)
}

fn run_instances_token(body: &[u8]) -> Option<(String, HashMap<String, String>)> {
    let fields = form(body);
    if fields.get("Action").map(String::as_str) != Some("RunInstances") {
        return None;
    }
    let token = fields.get("ClientToken")?.clone();
    Some((token, fields))
}

impl Dialect for Ec2Dialect {
    fn throttled(&self) -> Answer {
        error(503, "RequestLimitExceeded", "Request limit exceeded.")
    }

    fn server_error(&self, status: u16) -> Answer {
        let code = match status {
            503 => "Unavailable",
            _ => "InternalError",
        };
        error(status, code, "An internal error has occurred.")
    }

    /// `POST / RunInstances eu-west-1`: faults in a row are bounded per call and region.
    fn key(&self, method_and_path: &str, head: &[String], body: &[u8]) -> String {
        let action = form(body).get("Action").cloned().unwrap_or_default();
        let region = signed_region(head).unwrap_or_default();
        format!("{method_and_path} {action} {region}")
    }

    fn refuse(&self, head: &[String], _body: &[u8]) -> Option<Answer> {
        let mut state = self.state();
        let failing = state.failing_region.clone()?;
        (signed_region(head)? == failing).then(|| {
            state.refused += 1;
            error(
                403,
                "UnauthorizedOperation",
                "You are not authorized to perform this operation.",
            )
        })
    }

    fn replay(&self, body: &[u8]) -> Option<Result<Vec<u8>, Answer>> {
        let (token, _) = run_instances_token(body)?;
        let mut state = self.state();
        let (first_body, first_answer) = state.tokens.get(&token)?.clone();
        if first_body != body {
            return Some(Err(error(
                400,
                "IdempotentParameterMismatch",
                "The client token you have provided is associated with a resource that is \
                 already deleted or has different parameters.",
            )));
        }
        state.replays += 1;
        Some(Ok(first_answer))
    }

    fn remember(&self, body: &[u8], answer: &[u8]) {
        let Some((token, fields)) = run_instances_token(body) else {
            return;
        };
        if !answer.starts_with(b"HTTP/1.1 200") {
            return;
        }
        let mut state = self.state();
        state.instances_created += fields
            .get("MinCount")
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0);
        state.tokens.insert(token, (body.to_vec(), answer.to_vec()));
    }
}
