//! EC2 errors as the user sees them: the region, what was being done, AWS's own code and
//! message, and what to do about it (a quota is not a capacity shortage, and neither is
//! transient).

use aws_sdk_ec2::{
    config::http::HttpResponse,
    error::{DisplayErrorContext, ProvideErrorMetadata, SdkError},
};
use thiserror::Error;

/// An error answered by EC2.
#[derive(Debug, Error)]
#[error("{action} in AWS region {region} failed: {code}: {message}{}", advice(.code))]
pub struct Ec2Error {
    /// Region the call went to.
    pub region: String,
    /// What was being done (`creating 4 instances`, ...).
    pub action: String,
    /// AWS's error code (`VcpuLimitExceeded`, ...).
    pub code: String,
    /// AWS's error message.
    pub message: String,
}

/// Codes of account quotas: waiting does not help.
const QUOTA_CODES: &[&str] = &[
    "VcpuLimitExceeded",
    "InstanceLimitExceeded",
    "MaxSpotInstanceCountExceeded",
    "VolumeLimitExceeded",
    "SecurityGroupLimitExceeded",
    "RulesPerSecurityGroupLimitExceeded",
    "ResourceLimitExceeded",
];

/// Codes of a capacity shortage at AWS: another region, type or time may work.
const CAPACITY_CODES: &[&str] = &[
    "InsufficientInstanceCapacity",
    "InsufficientCapacity",
    "InsufficientHostCapacity",
    "InsufficientReservedInstanceCapacity",
];

/// Codes of rejected credentials or permissions.
const CREDENTIAL_CODES: &[&str] = &[
    "AuthFailure",
    "UnauthorizedOperation",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "RequestExpired",
];

/// Codes of throttling: the SDK already retried these with backoff.
const THROTTLING_CODES: &[&str] = &["RequestLimitExceeded", "Throttling", "ThrottlingException"];

/// Whether `code` is an account quota.
pub fn is_quota(code: &str) -> bool {
    QUOTA_CODES.contains(&code)
}

/// Whether `code` is a capacity shortage.
pub fn is_capacity(code: &str) -> bool {
    CAPACITY_CODES.contains(&code)
}

fn advice(code: &str) -> &'static str {
    if is_quota(code) {
        " (an account quota in this region, not a transient error: ask AWS for more in the \
         Service Quotas console, or deploy fewer or smaller instances)"
    } else if is_capacity(code) {
        " (AWS has no free capacity for this instance type there now: retry later, or use \
         another region or instance type)"
    } else if CREDENTIAL_CODES.contains(&code) {
        " (check the AWS credentials in the settings' `token_file` and their IAM permissions)"
    } else if THROTTLING_CODES.contains(&code) {
        " (AWS kept throttling the requests through every retry: wait a little and run the \
         command again)"
    } else if code == "OptInRequired" {
        " (the region is not enabled for this AWS account: enable it in the AWS console)"
    } else if code == "VPCIdNotSpecified" {
        " (the region has no default VPC: create one, e.g. `aws ec2 create-default-vpc`)"
    } else {
        ""
    }
}

/// Turns an SDK error of a call to `region` while doing `action` into an error naming both,
/// with AWS's code and message ([`Ec2Error`]) when EC2 answered one.
pub fn api_error<E>(err: SdkError<E, HttpResponse>, region: &str, action: &str) -> anyhow::Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    if let Some(code) = err.code() {
        return Ec2Error {
            region: region.to_string(),
            action: action.to_string(),
            code: code.to_string(),
            message: err.message().unwrap_or("(no message)").to_string(),
        }
        .into();
    }
    let reason = match &err {
        SdkError::DispatchFailure(failure) => format!(
            "cannot reach EC2 ({}): check this machine's network access to AWS, and the \
             settings' `api_endpoint` if it is set",
            failure
                .as_connector_error()
                .map(|c| causes(c))
                .unwrap_or_else(|| "no connection".into())
        ),
        SdkError::TimeoutError(_) => "no answer from EC2 in time".to_string(),
        SdkError::ServiceError(service) => format!(
            "unexpected answer from EC2 (HTTP {})",
            service.raw().status().as_u16()
        ),
        SdkError::ResponseError(response) => format!(
            "unreadable answer from EC2 (HTTP {})",
            response.raw().status().as_u16()
        ),
        _ => DisplayErrorContext(&err).to_string(),
    };
    anyhow::anyhow!("{action} in AWS region {region} failed: {reason}")
}

/// The messages of `error` and its sources, each once, in words (never a Debug dump).
fn causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(error);
    while let Some(current) = next {
        let text = current.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = current.source();
    }
    parts.join(": ")
}
