//! Services registered at run time (through the admin API), kept in a JSON
//! file in the state directory: `{"version": 1, "services": [ENTRY, ...]}`,
//! each entry a `[[services]]` table as JSON, or `{"name": …,
//! "mcp_server": {…}}` — a third-party MCP server to run behind a bridge
//! (an `mcpServers` entry) — kept as it was given. The file
//! is replaced atomically (written beside it, synced, renamed over it, the
//! directory synced) before a registration is acknowledged, so a crash at
//! any point leaves either the old list or the new one (and perhaps a
//! staged copy, `.registrations.json.XXXXXX.tmp`, removed at the next start).

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::RawMcpServer;
use super::services::{RawService, valid_name};

/// How a staged copy's name ends.
const STAGING_SUFFIX: &str = ".tmp";

/// The version of the file's format this build writes and reads.
const FORMAT_VERSION: u64 = 1;

/// What a registration holds.
#[derive(Debug, Clone)]
pub enum Registered {
    /// A gRPC service (a `[[services]]` table).
    Service(Box<RawService>),
    /// A third-party MCP server run behind a bridge.
    McpServer(Box<RawMcpServer>),
}

/// One registered service: its name and its entry as given.
#[derive(Debug, Clone, PartialEq)]
pub struct Registration {
    pub name: String,
    pub entry: Map<String, Value>,
}

// === impl Registration ===

impl Registration {
    /// Reads an entry; the error names the field at fault.
    pub fn from_entry(entry: Value) -> Result<Self, String> {
        let Value::Object(entry) = entry else {
            return Err("a service registration is a JSON object with the keys of a [[services]] entry, or a name and an mcp_server".into());
        };
        let name = match parse(&entry)? {
            Registered::Service(raw) => raw.name,
            Registered::McpServer(_) => entry
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        };
        if !valid_name(&name) {
            return Err(format!("name: {name:?} must be 1-64 chars of A-Za-z0-9_-"));
        }
        Ok(Self { name, entry })
    }

    /// What the entry holds.
    pub fn parsed(&self) -> Result<Registered, String> {
        parse(&self.entry)
    }
}

fn parse(entry: &Map<String, Value>) -> Result<Registered, String> {
    let Some(server) = entry.get("mcp_server") else {
        return deserialize(Value::Object(entry.clone()), "")
            .map(|service| Registered::Service(Box::new(service)));
    };
    if let Some(other) = entry
        .keys()
        .find(|key| !matches!(key.as_str(), "name" | "mcp_server"))
    {
        return Err(format!(
            "{other}: an mcp_server registration has only \"name\" and \"mcp_server\""
        ));
    }
    if !entry.get("name").is_some_and(Value::is_string) {
        return Err("name: required".into());
    }
    deserialize(server.clone(), "mcp_server").map(|server| Registered::McpServer(Box::new(server)))
}

/// `value` as a `T`; the error names the field (under `prefix`).
fn deserialize<T: serde::de::DeserializeOwned>(value: Value, prefix: &str) -> Result<T, String> {
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let key = match (prefix, path.as_str()) {
            ("", ".") => return error.inner().to_string(),
            (prefix, ".") => prefix.to_owned(),
            ("", path) => path.to_owned(),
            (prefix, path) => format!("{prefix}.{path}"),
        };
        format!("{key}: {}", error.inner())
    })
}

/// The list of a file's entries (`{"version": 1, "services": [...]}`).
fn document_entries(bytes: &[u8]) -> Result<Vec<Value>, String> {
    let text = std::str::from_utf8(bytes).map_err(|error| format!("not UTF-8: {error}"))?;
    let document: Value = serde_json::from_str(text).map_err(|error| error.to_string())?;
    let version = document.get("version").and_then(Value::as_u64);
    if version != Some(FORMAT_VERSION) {
        return Err(format!(
            "version {version:?} is not {FORMAT_VERSION} (written by another release?)"
        ));
    }
    match document.get("services") {
        Some(Value::Array(entries)) => Ok(entries.clone()),
        _ => Err("\"services\" must be a list".into()),
    }
}

/// What a start read from the registrations file.
#[derive(Debug, Default)]
pub struct Loaded {
    pub registrations: Vec<Registration>,
    /// What was skipped or moved aside, and where the file went.
    pub warnings: Vec<String>,
}

/// The registrations file.
#[derive(Debug, Clone)]
pub struct RegistrationsFile {
    path: PathBuf,
}

// === impl RegistrationsFile ===

impl RegistrationsFile {
    pub fn new(path: PathBuf) -> Self {
        Self { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `.registrations.json.` for `registrations.json`: staged copies are
    /// `.registrations.json.XXXXXX.tmp` beside it.
    fn staging_prefix(&self) -> String {
        let name = self
            .path
            .file_name()
            .map_or_else(String::new, |name| name.to_string_lossy().into_owned());
        format!(".{name}.")
    }

    /// Removes the staged copies a process killed while saving left beside
    /// the file (at start, before anything saves); returns how many.
    pub fn remove_staged(&self) -> usize {
        let prefix = self.staging_prefix();
        let directory = match self.path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let Ok(entries) = std::fs::read_dir(&directory) else {
            return 0;
        };
        entries
            .filter_map(Result::ok)
            .filter(|entry| {
                let name = entry.file_name().to_string_lossy().into_owned();
                // Exactly tempfile's six random letters or digits.
                let random_opt = name
                    .strip_prefix(&prefix)
                    .and_then(|rest| rest.strip_suffix(STAGING_SUFFIX));
                random_opt.is_some_and(|random| {
                    random.len() == 6 && random.chars().all(|c| c.is_ascii_alphanumeric())
                }) && entry.file_type().is_ok_and(|kind| kind.is_file())
            })
            .filter(|entry| std::fs::remove_file(entry.path()).is_ok())
            .count()
    }

    /// The registrations kept (none when the file does not exist yet);
    /// anything wrong is an error.
    pub fn load(&self) -> Result<Vec<Registration>, String> {
        let shown = self.path.display();
        let Some(bytes) = self.read()? else {
            return Ok(Vec::new());
        };
        document_entries(&bytes)
            .map_err(|error| format!("{shown}: {error}"))?
            .into_iter()
            .enumerate()
            .map(|(index, entry)| {
                Registration::from_entry(entry)
                    .map_err(|error| format!("{shown}: services[{index}]: {error}"))
            })
            .collect()
    }

    /// The registrations kept, as a start reads them: nothing that was
    /// kept stops it. An entry that does not parse is skipped; a file that
    /// does not parse at all is moved aside (`NAME.broken-SECONDS`) and the
    /// start goes on with none; where an entry is skipped, the file is
    /// copied there first, so the next save loses nothing of the
    /// operator's. Each warning names the paths. Only a file that cannot
    /// be read, or moved aside, is an error.
    pub fn load_at_start(&self) -> Result<Loaded, String> {
        let shown = self.path.display();
        let Some(bytes) = self.read()? else {
            return Ok(Loaded::default());
        };
        let entries = match document_entries(&bytes) {
            Ok(entries) => entries,
            Err(why) => {
                let aside = self.aside_path();
                std::fs::rename(&self.path, &aside).map_err(|error| {
                    format!(
                        "{shown}: {why}; it could not be moved aside to {}: {error}",
                        aside.display()
                    )
                })?;
                return Ok(Loaded {
                    registrations: Vec::new(),
                    warnings: vec![format!(
                        "{shown}: {why}; moved aside to {} — starting with no registrations",
                        aside.display()
                    )],
                });
            }
        };
        let mut loaded = Loaded::default();
        for (index, entry) in entries.into_iter().enumerate() {
            let name = entry.get("name").map(Value::to_string).unwrap_or_default();
            match Registration::from_entry(entry) {
                // A file edited by hand naming one service twice: the
                // first is kept (a DELETE then removes the name for good).
                Ok(registration)
                    if loaded
                        .registrations
                        .iter()
                        .any(|kept| kept.name == registration.name) =>
                {
                    loaded.warnings.push(format!(
                        "{shown}: services[{index}] {name}: the name is kept already by an entry before it; skipped"
                    ));
                }
                Ok(registration) => loaded.registrations.push(registration),
                Err(error) => loaded.warnings.push(format!(
                    "{shown}: services[{index}] {name}: {error}; skipped"
                )),
            }
        }
        if !loaded.warnings.is_empty() {
            let aside = self.aside_path();
            std::fs::copy(&self.path, &aside).map_err(|error| {
                format!(
                    "{shown}: entries skipped; it could not be copied to {}: {error}",
                    aside.display()
                )
            })?;
            loaded.warnings.push(format!(
                "{shown}: the file as it was is kept in {}",
                aside.display()
            ));
        }
        Ok(loaded)
    }

    /// The file's bytes, or `None` when it does not exist.
    fn read(&self) -> Result<Option<Vec<u8>>, String> {
        use std::io::Read as _;
        let Some(mut file) =
            super::owned_file::open_read(&self.path).map_err(|error| error.to_string())?
        else {
            return Ok(None);
        };
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(|error| format!("{}: {error}", self.path.display()))?;
        Ok(Some(bytes))
    }

    /// `registrations.json.broken-SECONDS` beside the file (`-N` added
    /// when taken).
    fn aside_path(&self) -> PathBuf {
        let seconds = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_secs());
        let base = format!("{}.broken-{seconds}", self.path.display());
        let mut candidate = PathBuf::from(&base);
        let mut number = 1;
        while candidate.exists() {
            candidate = PathBuf::from(format!("{base}-{number}"));
            number += 1;
        }
        candidate
    }

    /// Replaces the file's list with `registrations`, durably.
    pub fn save(&self, registrations: &[Registration]) -> std::io::Result<()> {
        let services: Vec<Value> = registrations
            .iter()
            .map(|registration| Value::Object(registration.entry.clone()))
            .collect();
        let document = serde_json::json!({ "version": FORMAT_VERSION, "services": services });
        let mut text = serde_json::to_string_pretty(&document)?;
        text.push('\n');
        let directory = match self.path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let mut staged = tempfile::Builder::new()
            .prefix(&self.staging_prefix())
            .suffix(STAGING_SUFFIX)
            .tempfile_in(&directory)?;
        staged.write_all(text.as_bytes())?;
        staged.as_file().sync_all()?;
        staged.persist(&self.path).map_err(|error| error.error)?;
        std::fs::File::open(&directory)?.sync_all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(json: &str) -> Value {
        serde_json::from_str(json).expect("json")
    }

    #[test]
    fn an_entry_is_read_as_a_services_table() {
        let registration = Registration::from_entry(entry(
            r#"{"name": "wx", "endpoint": "http://127.0.0.1:7001"}"#,
        ))
        .expect("valid");
        assert_eq!(registration.name, "wx");
        let Ok(Registered::Service(raw)) = registration.parsed() else {
            panic!("a service");
        };
        assert_eq!(raw.endpoint.as_deref(), Some("http://127.0.0.1:7001"));
    }

    #[test]
    fn a_wrong_entry_names_its_field() {
        let unknown = Registration::from_entry(entry(r#"{"name": "wx", "endpont": "x"}"#))
            .expect_err("unknown field");
        assert!(unknown.contains("endpont"), "{unknown}");
        let wrong_type = Registration::from_entry(entry(r#"{"name": "wx", "endpoints": "x"}"#))
            .expect_err("wrong type");
        assert!(wrong_type.starts_with("endpoints:"), "{wrong_type}");
        assert!(Registration::from_entry(entry("[1]")).is_err());
        let bad_name =
            Registration::from_entry(entry(r#"{"name": "../x", "endpoint": "unix:/a"}"#))
                .expect_err("name");
        assert!(bad_name.starts_with("name:"), "{bad_name}");
    }

    #[test]
    fn an_mcp_server_entry_is_a_bridge() {
        let registration = Registration::from_entry(entry(
            r#"{"name": "wx", "mcp_server": {"url": "https://wx.example.com/mcp", "headers": {"Authorization": "Bearer k"}}}"#,
        ))
        .expect("valid");
        let Ok(Registered::McpServer(server)) = registration.parsed() else {
            panic!("a bridge");
        };
        assert_eq!(server.url.as_deref(), Some("https://wx.example.com/mcp"));
        let typo =
            Registration::from_entry(entry(r#"{"name": "wx", "mcp_server": {"comand": "x"}}"#))
                .expect_err("typo");
        assert!(
            typo.starts_with("mcp_server.comand") || typo.contains("comand"),
            "{typo}"
        );
        let mixed = Registration::from_entry(entry(
            r#"{"name": "wx", "endpoint": "unix:/a", "mcp_server": {"command": "x"}}"#,
        ))
        .expect_err("mixed");
        assert!(mixed.starts_with("endpoint:"), "{mixed}");
    }

    #[test]
    fn saved_registrations_load_back_and_a_missing_file_is_empty() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = RegistrationsFile::new(dir.path().join("registrations.json"));
        assert_eq!(file.load().expect("none yet"), Vec::new());
        let kept = vec![
            Registration::from_entry(entry(r#"{"name": "a", "endpoint": "unix:/a.sock"}"#))
                .expect("a"),
            Registration::from_entry(entry(
                r#"{"name": "b", "endpoints": ["http://127.0.0.1:1"]}"#,
            ))
            .expect("b"),
        ];
        file.save(&kept).expect("save");
        assert_eq!(file.load().expect("load"), kept);
        file.save(&kept[1..]).expect("save again");
        assert_eq!(file.load().expect("load"), kept[1..].to_vec());
        let leftovers = std::fs::read_dir(dir.path()).expect("dir").count();
        assert_eq!(leftovers, 1, "no staged file is left behind");
    }

    #[test]
    fn staged_copies_left_by_a_crash_are_removed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = RegistrationsFile::new(dir.path().join("registrations.json"));
        file.save(&[]).expect("save");
        for left in [
            ".registrations.json.a1B2c3.tmp",
            ".registrations.json.zZ9yY8.tmp",
        ] {
            std::fs::write(dir.path().join(left), "{").expect("write");
        }
        std::fs::write(dir.path().join("other.tmp"), "kept").expect("write");
        std::fs::write(dir.path().join(".registrations.json.mine.tmp"), "kept").expect("write");
        assert_eq!(file.remove_staged(), 2);
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .expect("dir")
            .map(|entry| {
                entry
                    .expect("entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                ".registrations.json.mine.tmp",
                "other.tmp",
                "registrations.json"
            ]
        );
    }

    #[test]
    fn a_damaged_file_is_moved_aside_and_a_bad_entry_skipped_at_start() {
        for damaged in [
            &b""[..],
            b"\0\0\0",
            b"{garbage",
            b"[]",
            br#"{"version": 1, "services": "x"}"#,
            br#"{"version": 99, "services": []}"#,
            b"{\"version\": 1, \"services\": [{\"name\": \"\xff\"}]}",
        ] {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join("registrations.json");
            std::fs::write(&path, damaged).expect("write");
            let loaded = RegistrationsFile::new(path.clone())
                .load_at_start()
                .expect("a start goes on");
            assert!(loaded.registrations.is_empty());
            assert!(!path.exists(), "moved aside");
            let aside: Vec<_> = std::fs::read_dir(dir.path())
                .expect("dir")
                .map(|entry| entry.expect("entry").path())
                .collect();
            assert_eq!(aside.len(), 1);
            assert_eq!(std::fs::read(&aside[0]).expect("kept"), damaged);
            let shown = aside[0].display().to_string();
            assert!(loaded.warnings[0].contains(&shown), "{:?}", loaded.warnings);
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("registrations.json");
        let text = r#"{"version": 1, "services": [{"name": "y", "endpoint": "http://127.0.0.1:1", "evil": 1}, {"name": "z", "endpoint": "http://127.0.0.1:2"}]}"#;
        std::fs::write(&path, text).expect("write");
        let loaded = RegistrationsFile::new(path.clone())
            .load_at_start()
            .expect("a start goes on");
        assert_eq!(loaded.registrations.len(), 1);
        assert_eq!(loaded.registrations[0].name, "z");
        assert!(loaded.warnings[0].contains("evil"), "{:?}", loaded.warnings);
        assert_eq!(std::fs::read_to_string(&path).expect("left"), text);
        assert_eq!(
            std::fs::read_dir(dir.path()).expect("dir").count(),
            2,
            "a copy kept"
        );
    }

    #[test]
    fn a_file_of_another_version_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("registrations.json");
        std::fs::write(&path, r#"{"version": 9, "services": []}"#).expect("write");
        let error = RegistrationsFile::new(path).load().expect_err("version");
        assert!(error.contains("version Some(9)"), "{error}");
    }
}
