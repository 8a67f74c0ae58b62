//! The machine image of a testbed: the newest Ubuntu 24.04 (noble) server AMI that Canonical
//! publishes for the instance type's architecture, found per region (AMIs are regional).

use anyhow::{bail, Result};
use aws_sdk_ec2::{
    error::ProvideErrorMetadata,
    types::{ArchitectureType, Filter, Image},
    Client,
};
use chrono::{DateTime, FixedOffset};

use super::errors::api_error;

/// Canonical's AWS account, the owner of the official Ubuntu images.
pub const CANONICAL_OWNER: &str = "099720109477";

/// CPU architecture of an instance type, as far as the image is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Architecture {
    /// x86-64 (`x86_64` on EC2, `amd64` in Ubuntu's image names).
    Amd64,
    /// 64-bit ARM (Graviton).
    Arm64,
}

impl Architecture {
    /// The architecture of an instance type supporting `supported`: x86-64 where it is
    /// supported (or nothing usable is listed), else ARM.
    pub fn from_supported(supported: &[ArchitectureType]) -> Self {
        let has = |a: &ArchitectureType| supported.contains(a);
        if !has(&ArchitectureType::X8664) && has(&ArchitectureType::Arm64) {
            Self::Arm64
        } else {
            Self::Amd64
        }
    }

    /// The name EC2 uses (`architecture` filter).
    pub fn ec2_name(self) -> &'static str {
        match self {
            Self::Amd64 => "x86_64",
            Self::Arm64 => "arm64",
        }
    }

    /// The name Ubuntu uses in image names.
    pub fn ubuntu_name(self) -> &'static str {
        match self {
            Self::Amd64 => "amd64",
            Self::Arm64 => "arm64",
        }
    }

    /// The DescribeImages name pattern of Ubuntu 24.04 server images (any SSD volume flavour).
    pub fn ubuntu_2404_pattern(self) -> String {
        format!(
            "ubuntu/images/hvm-ssd*/ubuntu-noble-24.04-{}-server-*",
            self.ubuntu_name()
        )
    }
}

/// An AMI chosen for a region.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MachineImage {
    /// AMI id (`ami-...`).
    pub id: String,
    /// Image name, e.g. `ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20250115`.
    pub name: String,
    /// When AWS registered it (ISO 8601).
    pub creation_date: String,
    /// Device name of its root volume (`/dev/sda1` on Ubuntu).
    pub root_device_name: String,
    /// Size of its root volume's snapshot in GB: the smallest root disk it accepts.
    pub root_volume_gb: Option<u32>,
}

/// The architecture of `instance_type` (settings `specs`); fails if EC2 does not know it.
pub async fn instance_architecture(
    client: &Client,
    region: &str,
    instance_type: &str,
) -> Result<Architecture> {
    let answer = client
        .describe_instance_types()
        .instance_types(instance_type.into())
        .send()
        .await;
    let answer = match answer {
        Err(err) if err.code() == Some("InvalidInstanceType") => bail!(
            "instance type \"{instance_type}\" (settings `specs`) does not exist in EC2 (AWS: {})",
            err.message().unwrap_or("invalid instance type")
        ),
        other => other.map_err(|err| {
            api_error(
                err,
                region,
                &format!("describing instance type {instance_type}"),
            )
        })?,
    };
    let Some(info) = answer.instance_types().first() else {
        bail!("instance type \"{instance_type}\" (settings `specs`) does not exist in EC2");
    };
    let supported = info
        .processor_info()
        .map(|p| p.supported_architectures())
        .unwrap_or_default();
    Ok(Architecture::from_supported(supported))
}

/// The newest Ubuntu 24.04 server image for `arch` in `region`.
pub async fn ubuntu_2404(
    client: &Client,
    region: &str,
    arch: Architecture,
) -> Result<MachineImage> {
    let pattern = arch.ubuntu_2404_pattern();
    let filter = |name: &str, value: &str| Filter::builder().name(name).values(value).build();
    let answer = client
        .describe_images()
        .owners(CANONICAL_OWNER)
        .filters(filter("name", &pattern))
        .filters(filter("architecture", arch.ec2_name()))
        .filters(filter("state", "available"))
        .send()
        .await
        .map_err(|err| api_error(err, region, "looking up the Ubuntu 24.04 image"))?;
    let Some(image) = newest(answer.images()) else {
        bail!(
            "no Ubuntu 24.04 image in AWS region {region}: no available AMI of owner \
             {CANONICAL_OWNER} matches \"{pattern}\""
        );
    };
    let root_device_name = image.root_device_name().unwrap_or("/dev/sda1");
    Ok(MachineImage {
        id: image.image_id().unwrap_or_default().to_string(),
        name: image.name().unwrap_or_default().to_string(),
        creation_date: image.creation_date().unwrap_or_default().to_string(),
        root_device_name: root_device_name.to_string(),
        root_volume_gb: image
            .block_device_mappings()
            .iter()
            .find(|m| m.device_name() == Some(root_device_name))
            .and_then(|m| m.ebs()?.volume_size())
            .and_then(|size| u32::try_from(size).ok()),
    })
}

/// The image with the newest creation date (ties: the greatest name, whose suffix is
/// Canonical's build serial). Images without an id are ignored.
pub fn newest(images: &[Image]) -> Option<&Image> {
    let created = |image: &Image| -> Option<DateTime<FixedOffset>> {
        image
            .creation_date()
            .and_then(|d| DateTime::parse_from_rfc3339(d).ok())
    };
    images
        .iter()
        .filter(|image| image.image_id().is_some())
        .max_by(|a, b| {
            created(a)
                .cmp(&created(b))
                .then_with(|| a.name().cmp(&b.name()))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(id: &str, name: &str, created: &str) -> Image {
        Image::builder()
            .image_id(id)
            .name(name)
            .creation_date(created)
            .build()
    }

    #[test]
    fn newest_goes_by_creation_date_not_by_order_or_name() {
        let images = [
            image(
                "ami-1",
                "ubuntu-noble-24.04-amd64-server-20250301",
                "2024-05-01T00:00:00.000Z",
            ),
            image(
                "ami-2",
                "ubuntu-noble-24.04-amd64-server-20240101",
                "2025-02-01T10:00:00.000Z",
            ),
            image(
                "ami-3",
                "ubuntu-noble-24.04-amd64-server-20240601",
                "2024-06-01T00:00:00.000Z",
            ),
            image("ami-4", "no date", "not a date"),
        ];
        assert_eq!(newest(&images).and_then(Image::image_id), Some("ami-2"));
        assert_eq!(newest(&[]).map(|_| ()), None);
    }

    #[test]
    fn equal_dates_fall_back_to_the_build_serial_in_the_name() {
        let images = [
            image(
                "ami-b",
                "ubuntu-noble-24.04-amd64-server-20250115",
                "2025-01-15T10:00:00.000Z",
            ),
            image(
                "ami-a",
                "ubuntu-noble-24.04-amd64-server-20250116",
                "2025-01-15T10:00:00.000Z",
            ),
        ];
        assert_eq!(newest(&images).and_then(Image::image_id), Some("ami-a"));
    }

    #[test]
    fn architecture_of_the_instance_type() {
        use ArchitectureType as A;
        assert_eq!(
            Architecture::from_supported(&[A::Arm64]),
            Architecture::Arm64
        );
        assert_eq!(
            Architecture::from_supported(&[A::I386, A::X8664]),
            Architecture::Amd64
        );
        assert_eq!(Architecture::from_supported(&[]), Architecture::Amd64);
        assert_eq!(
            Architecture::Arm64.ubuntu_2404_pattern(),
            "ubuntu/images/hvm-ssd*/ubuntu-noble-24.04-arm64-server-*"
        );
    }
}
