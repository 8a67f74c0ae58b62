//! Loading settings files: valid ones, and each error naming the field, path, line or column
//! at fault; the token never shown.

use std::path::Path;

use super::*;

/// A temporary directory with a key pair and a token file, as a cloud user would have.
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("token"), "  secret-token-value\n").expect("token");
        std::fs::write(dir.path().join("id"), "PRIVATE").expect("key");
        std::fs::write(dir.path().join("id.pub"), "ssh-ed25519 AAAA test").expect("pub");
        Self { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    /// Valid Vultr settings as JSON, with `edit` applied.
    fn settings(&self, edit: impl FnOnce(&mut serde_json::Value)) -> String {
        let mut value = serde_json::json!({
            "testbed_id": "bench-1",
            "cloud_provider": "vultr",
            "token_file": self.path("token"),
            "ssh_private_key_file": self.path("id"),
            "regions": ["ewr", "ams"],
            "specs": "vc2-2c-4gb",
        });
        edit(&mut value);
        value.to_string()
    }

    fn load(&self, text: &str) -> Result<LoadedSettings, SettingsError> {
        let path = self.dir.path().join("settings.json");
        std::fs::write(&path, text).expect("write settings");
        SettingsFile::load(&path)
    }
}

fn error_text(result: Result<LoadedSettings, SettingsError>) -> String {
    match result {
        Ok(s) => panic!("expected an error, got {s:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn example_settings_file_is_valid_apart_from_its_placeholder_files() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/settings.json");
    let text = std::fs::read_to_string(&example).expect("assets/settings.json");
    let settings = SettingsFile::parse(&text, &example).expect("example parses");
    assert_eq!(settings.cloud_provider, CloudProvider::Aws);
    assert!(!settings.regions.is_empty());
    // Point its files at real ones: then it validates.
    let fixture = Fixture::new();
    let mut value: serde_json::Value = serde_json::from_str(&text).expect("json");
    value["token_file"] = fixture.path("token").into();
    value["ssh_private_key_file"] = fixture.path("id").into();
    value
        .as_object_mut()
        .expect("object")
        .remove("ssh_public_key_file");
    let loaded = fixture.load(&value.to_string()).expect("valid");
    assert_eq!(
        loaded.token().expect("token").expose(),
        "secret-token-value"
    );
}

#[test]
fn valid_settings_load_the_trimmed_token() {
    let fixture = Fixture::new();
    let loaded = fixture.load(&fixture.settings(|_| {})).expect("valid");
    assert_eq!(
        loaded.token().map(Secret::expose),
        Some("secret-token-value")
    );
    assert_eq!(loaded.common.ports.base, 26000);
    assert_eq!(
        loaded.testbed.cloud().expect("cloud").ssh_public_key_file,
        Some(fixture.dir.path().join("id.pub"))
    );
}

#[test]
fn token_never_appears_in_debug_output() {
    let fixture = Fixture::new();
    let loaded = fixture.load(&fixture.settings(|_| {})).expect("valid");
    let debug = format!("{loaded:?}");
    assert!(!debug.contains("secret-token-value"), "{debug}");
    assert!(debug.contains("***"));
    assert_eq!(format!("{}", Secret::new("x")), "***");
}

#[test]
fn unknown_provider_names_the_accepted_values() {
    let fixture = Fixture::new();
    let err = error_text(fixture.load(&fixture.settings(|v| v["cloud_provider"] = "gcp".into())));
    for accepted in ["aws", "vultr", "local", "static"] {
        assert!(err.contains(accepted), "{err}");
    }
    assert!(err.contains("gcp"), "{err}");
}

#[test]
fn missing_token_file_names_path_and_field() {
    let fixture = Fixture::new();
    let missing = fixture.path("no-such-token");
    let err =
        error_text(fixture.load(&fixture.settings(|v| v["token_file"] = missing.clone().into())));
    assert!(err.contains("token_file"), "{err}");
    assert!(err.contains(&missing), "{err}");
}

#[test]
fn absent_token_file_field_is_reported_for_cloud_providers() {
    let fixture = Fixture::new();
    let err = error_text(fixture.load(&fixture.settings(|v| {
        v.as_object_mut().expect("object").remove("token_file");
    })));
    assert!(err.contains("`token_file` is required"), "{err}");
}

#[test]
fn empty_token_file_is_rejected() {
    let fixture = Fixture::new();
    std::fs::write(fixture.dir.path().join("token"), " \n").expect("write");
    let err = error_text(fixture.load(&fixture.settings(|_| {})));
    assert!(err.contains("token_file") && err.contains("empty"), "{err}");
}

/// Status, stop, start and destroy need only the token: cloud settings load without key
/// files; what uses SSH names the missing or unreadable key.
#[test]
fn cloud_settings_load_without_key_files_and_ssh_names_the_key() {
    let fixture = Fixture::new();
    let missing = fixture.path("nokey");
    let loaded = fixture
        .load(&fixture.settings(|v| v["ssh_private_key_file"] = missing.clone().into()))
        .expect("no key needed to load");
    let err = format!("{:#}", loaded.ssh_options().expect_err("unreadable key"));
    assert!(
        err.contains("ssh_private_key_file") && err.contains(&missing),
        "{err}"
    );
    let loaded = fixture
        .load(&fixture.settings(|v| {
            v.as_object_mut()
                .expect("object")
                .remove("ssh_private_key_file");
        }))
        .expect("no key needed to load");
    let err = format!("{:#}", loaded.ssh_options().expect_err("no key"));
    assert!(err.contains("`ssh_private_key_file` is required"), "{err}");
    // A static testbed always uses SSH: its key is checked when loading.
    let err = error_text(fixture.load(&fixture.settings(|v| {
        v["cloud_provider"] = "static".into();
        v["ssh_private_key_file"] = missing.clone().into();
        v["hosts"] = serde_json::json!([{"address": "127.0.0.1"}]);
    })));
    assert!(
        err.contains("ssh_private_key_file") && err.contains(&missing),
        "{err}"
    );
}

#[test]
fn api_endpoint_must_be_an_http_url() {
    let fixture = Fixture::new();
    for (endpoint, expected) in [
        ("", "not an http(s) URL"),
        ("127.0.0.1:5000", "not an http(s) URL"),
        ("ftp://example.com", "not an http(s) URL"),
        ("http://", "has no host"),
        ("https://:443/v2", "has no host"),
    ] {
        let err =
            error_text(fixture.load(&fixture.settings(|v| v["api_endpoint"] = endpoint.into())));
        assert!(
            err.contains("api_endpoint") && err.contains(expected),
            "{endpoint}: {err}"
        );
    }
    for endpoint in ["http://127.0.0.1:5000", "https://api.vultr.com/v2"] {
        fixture
            .load(&fixture.settings(|v| v["api_endpoint"] = endpoint.into()))
            .expect(endpoint);
    }
}

#[test]
fn empty_and_duplicate_regions_are_rejected() {
    let fixture = Fixture::new();
    let err = error_text(fixture.load(&fixture.settings(|v| v["regions"] = serde_json::json!([]))));
    assert!(
        err.contains("regions") && err.contains("at least one"),
        "{err}"
    );
    let err = error_text(
        fixture
            .load(&fixture.settings(|v| v["regions"] = serde_json::json!(["ewr", "ams", "ewr"]))),
    );
    assert!(
        err.contains("regions") && err.contains("\"ewr\" is listed twice"),
        "{err}"
    );
}

#[test]
fn testbed_id_with_characters_tags_reject_is_refused() {
    let fixture = Fixture::new();
    for bad in [
        "my testbed",
        "bench/1",
        "",
        "-lead",
        "ünicode",
        &"x".repeat(33),
    ] {
        let err = error_text(fixture.load(&fixture.settings(|v| v["testbed_id"] = bad.into())));
        assert!(err.contains("testbed_id"), "{bad:?}: {err}");
    }
}

#[test]
fn malformed_file_reports_line_and_column() {
    let fixture = Fixture::new();
    let err = error_text(fixture.load("{\n  \"testbed_id\": \"x\",\n  \"cloud_provider\": aws\n}"));
    assert!(err.contains("line 3"), "{err}");
    assert!(err.contains("column"), "{err}");
}

#[test]
fn unreadable_settings_file_names_its_path() {
    let err = SettingsFile::load(Path::new("/nonexistent/settings.json"))
        .expect_err("missing file")
        .to_string();
    assert!(err.contains("/nonexistent/settings.json"), "{err}");
}

#[test]
fn unknown_fields_are_rejected() {
    let fixture = Fixture::new();
    let err = error_text(fixture.load(&fixture.settings(|v| v["regionz"] = "x".into())));
    assert!(err.contains("regionz"), "{err}");
}

#[test]
fn tilde_is_expanded_in_paths() {
    let home = std::env::var("HOME").expect("HOME");
    assert_eq!(
        expand_tilde(Path::new("~/.ssh/id")),
        Path::new(&home).join(".ssh/id")
    );
    assert_eq!(expand_tilde(Path::new("/abs/~x")), Path::new("/abs/~x"));
}

#[test]
fn repository_token_is_masked() {
    let repo = Repository {
        url: "https://ghp_SECRET123@github.com/org/repo.git".into(),
        commit: "main".into(),
    };
    assert_eq!(repo.masked_url(), "https://***@github.com/org/repo.git");
    assert!(!format!("{repo:?} {repo}").contains("SECRET"));
    assert_eq!(
        mask_url_credentials("https://user:pw@host/x@y"),
        "https://***@host/x@y"
    );
    assert_eq!(
        mask_url_credentials("https://github.com/org/repo"),
        "https://github.com/org/repo"
    );
}

#[test]
fn local_default_needs_no_files() {
    let loaded = SettingsFile::local_default()
        .validate()
        .expect("local default is valid");
    assert!(loaded.token().is_none());
    assert!(loaded.testbed.is_local());
}

#[test]
fn static_provider_needs_hosts() {
    let fixture = Fixture::new();
    let err = error_text(fixture.load(&fixture.settings(|v| {
        v["cloud_provider"] = "static".into();
    })));
    assert!(err.contains("hosts"), "{err}");
    let loaded = fixture
        .load(&fixture.settings(|v| {
            v["cloud_provider"] = "static".into();
            v["hosts"] = serde_json::json!([{"address": "127.0.0.2", "port": 2222}]);
        }))
        .expect("valid static settings");
    let Testbed::Static(testbed) = &loaded.testbed else {
        panic!("a static testbed: {:?}", loaded.testbed);
    };
    assert_eq!(testbed.hosts[0].region, "static");
}

/// `plot`, `logs` and `compare` of result sets read the common block only: no key, token or
/// host is needed, while commands that use the testbed still check them.
#[test]
fn results_commands_need_no_key_token_or_hosts() {
    let fixture = Fixture::new();
    let path = fixture.dir.path().join("settings.json");
    let results = fixture.dir.path().join("my-results");
    for edit in [
        // A static testbed whose key is gone and whose hosts are not written yet.
        &(|v: &mut serde_json::Value| {
            v["cloud_provider"] = "static".into();
            v["ssh_private_key_file"] = "/nonexistent/key".into();
        }) as &dyn Fn(&mut serde_json::Value),
        // A cloud testbed whose token file is gone.
        &|v: &mut serde_json::Value| v["token_file"] = "/nonexistent/token".into(),
    ] {
        let text = fixture.settings(|v| {
            edit(v);
            v["results_directory"] = results.display().to_string().into();
        });
        std::fs::write(&path, text).expect("write settings");
        let location = Location::from_command_line(Some(&path)).expect("explicit settings");
        let common = location.common().expect("the common block loads");
        assert_eq!(common.results_directory().expect("absolute"), results);
        let err = format!(
            "{:#}",
            location.load().expect_err("the testbed needs its files")
        );
        assert!(err.contains("/nonexistent/"), "{err}");
    }
    // The common block is still checked.
    let text = fixture.settings(|v| v["testbed_id"] = "no spaces".into());
    std::fs::write(&path, text).expect("write settings");
    let err = format!(
        "{:#}",
        Location::from_command_line(Some(&path))
            .expect("explicit settings")
            .common()
            .expect_err("bad testbed_id")
    );
    assert!(err.contains("testbed_id"), "{err}");
}

/// A local testbed reaches its hosts without any key.
#[test]
fn local_testbed_needs_no_ssh_key() {
    let loaded = SettingsFile::local_default().validate().expect("valid");
    let options = loaded.ssh_options().expect("no key needed");
    assert!(options.private_key.is_none());
}

/// The example sim settings load as the sim testbed; a bandwidth that is not positive is
/// refused with the field named.
#[test]
fn the_sim_example_loads_and_a_bad_bandwidth_is_refused() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/settings-sim.json");
    let text = std::fs::read_to_string(&example).expect("assets/settings-sim.json");
    let loaded = SettingsFile::parse(&text, &example)
        .expect("parse")
        .validate()
        .expect("valid");
    assert_eq!(
        loaded.testbed.sim(),
        Some(SimTestbed {
            seed: 1,
            bandwidth_mbps: 1000.0
        })
    );
    assert!(loaded.testbed.on_this_machine());
    let bad = text.replace("\"sim_bandwidth_mbps\": 1000", "\"sim_bandwidth_mbps\": 0");
    let err = SettingsFile::parse(&bad, &example)
        .expect("parse")
        .validate()
        .expect_err("zero bandwidth");
    assert!(err.to_string().contains("`sim_bandwidth_mbps`"), "{err}");
}
