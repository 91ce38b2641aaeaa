//! The fs tools: `list_dir`, `stat`, `read_file`, `search_files`. Each returns
//! a JSON value for `structuredContent` or an [`FsError`] that becomes an
//! `isError` result the model can read.

use std::path::Path;
use std::time::UNIX_EPOCH;

use globset::GlobBuilder;
use micromcp_sdk::open_regular_file;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::paths::{ResolvedPath, RootSet, display_relative};
use crate::{FsConfig, FsError};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PathArguments {
    #[serde(default)]
    pub path: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReadFileArguments {
    pub path: String,
    #[serde(default)]
    pub offset: Option<u64>,
    #[serde(default)]
    pub length: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SearchArguments {
    pub pattern: String,
    #[serde(default)]
    pub path: Option<String>,
}

fn kind_name(file_type: std::fs::FileType) -> &'static str {
    if file_type.is_dir() {
        "directory"
    } else if file_type.is_file() {
        "file"
    } else if file_type.is_symlink() {
        "symlink"
    } else {
        "other"
    }
}

/// `list_dir`: entries sorted by name, capped.
pub(crate) fn list_dir(
    roots: &RootSet,
    config: &FsConfig,
    arguments: &PathArguments,
) -> Result<Value, FsError> {
    let requested = arguments.path.as_deref().unwrap_or(".");
    let resolved = roots.resolve(requested)?;
    let entries = std::fs::read_dir(&resolved.canonical).map_err(|error| {
        if error.kind() == std::io::ErrorKind::NotADirectory {
            FsError::WrongKind(format!("not a directory: {requested}"))
        } else {
            FsError::io(requested, &error)
        }
    })?;
    let mut listed: Vec<(String, &'static str, Option<u64>)> = entries
        .filter_map(Result::ok)
        .filter(|entry| !roots.is_excluded(&entry.path()))
        .map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let kind = entry.file_type().map(kind_name).unwrap_or("other");
            let size = (kind == "file")
                .then(|| entry.metadata().ok().map(|metadata| metadata.len()))
                .flatten();
            (name, kind, size)
        })
        .collect();
    listed.sort();
    let total = listed.len();
    let truncated = total > config.max_list_entries;
    listed.truncate(config.max_list_entries);
    let entries: Vec<Value> = listed
        .into_iter()
        .map(|(name, kind, size)| match size {
            Some(size) => json!({"name": name, "type": kind, "size": size}),
            None => json!({"name": name, "type": kind}),
        })
        .collect();
    Ok(
        json!({"path": resolved.display, "entries": entries, "total": total, "truncated": truncated}),
    )
}

/// `stat`: type, size, mtime and read-only flag.
pub(crate) fn stat(roots: &RootSet, arguments: &PathArguments) -> Result<Value, FsError> {
    let requested = arguments
        .path
        .as_deref()
        .ok_or_else(|| FsError::InvalidArgument("missing argument: path".into()))?;
    let resolved = roots.resolve(requested)?;
    let metadata =
        std::fs::metadata(&resolved.canonical).map_err(|error| FsError::io(requested, &error))?;
    let modified_unix = metadata
        .modified()
        .ok()
        .and_then(|time| time.duration_since(UNIX_EPOCH).ok())
        .map(|duration| duration.as_secs());
    Ok(json!({
        "path": resolved.display,
        "type": kind_name(metadata.file_type()),
        "size": metadata.len(),
        "modified_unix": modified_unix,
        "readonly": metadata.permissions().readonly(),
    }))
}

/// `read_file`: a UTF-8 slice of a file.
pub(crate) fn read_file(
    roots: &RootSet,
    config: &FsConfig,
    arguments: &ReadFileArguments,
) -> Result<(String, Value), FsError> {
    use std::io::{Read, Seek, SeekFrom};
    let resolved: ResolvedPath = roots.resolve(&arguments.path)?;
    let mut file = open_regular_file(&resolved.canonical)
        .map_err(|error| FsError::open(&arguments.path, &error))?;
    let metadata = file
        .metadata()
        .map_err(|error| FsError::io(&arguments.path, &error))?;
    let total_size = metadata.len();
    let offset = arguments.offset.unwrap_or(0).min(total_size);
    let wanted = arguments.length.unwrap_or(config.max_read_bytes);
    let length = wanted.min(config.max_read_bytes).min(total_size - offset);
    file.seek(SeekFrom::Start(offset))
        .map_err(|error| FsError::io(&arguments.path, &error))?;
    let mut buffer = Vec::with_capacity(usize::try_from(length).unwrap_or(0));
    file.take(length)
        .read_to_end(&mut buffer)
        .map_err(|error| FsError::io(&arguments.path, &error))?;
    if buffer.contains(&0) {
        return Err(FsError::NotText(arguments.path.clone()));
    }
    let text = match String::from_utf8(buffer) {
        Ok(text) => text,
        Err(error) => {
            // A range may cut a multi-byte character at either end; keep the valid middle.
            let bytes = error.into_bytes();
            let lossy = String::from_utf8_lossy(&bytes);
            if lossy.matches('\u{FFFD}').count() > 2 {
                return Err(FsError::NotText(arguments.path.clone()));
            }
            lossy.into_owned()
        }
    };
    let end = offset + length;
    let info = json!({
        "path": resolved.display,
        "offset": offset,
        "length": length,
        "total_size": total_size,
        "truncated": end < total_size,
    });
    Ok((text, info))
}

/// `search_files`: glob over the tree below `path`, symlinks not followed.
pub(crate) fn search_files(
    roots: &RootSet,
    config: &FsConfig,
    arguments: &SearchArguments,
) -> Result<Value, FsError> {
    let glob = compile_glob(&arguments.pattern)?;
    let requested = arguments.path.as_deref().unwrap_or(".");
    let base = roots.resolve(requested)?;
    if !base.canonical.is_dir() {
        return Err(FsError::WrongKind(format!("not a directory: {requested}")));
    }
    let mut matches = Vec::new();
    let mut visited = 0usize;
    let mut pending = vec![base.canonical.clone()];
    let mut complete = true;
    'walk: while let Some(directory) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&directory) else {
            continue;
        };
        let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
        entries.sort_by_key(std::fs::DirEntry::file_name);
        for entry in entries.into_iter().rev() {
            visited += 1;
            if visited > config.max_search_visits || matches.len() >= config.max_search_results {
                complete = false;
                break 'walk;
            }
            let Ok(file_type) = entry.file_type() else {
                continue;
            };
            let path = entry.path();
            if roots.is_excluded(&path) {
                continue;
            }
            if file_type.is_dir() {
                pending.push(path.clone());
            }
            let relative = display_relative(&base.canonical, &path);
            if glob.is_match(Path::new(&relative)) {
                matches.push(relative);
            }
        }
    }
    matches.sort();
    Ok(
        json!({"path": base.display, "pattern": arguments.pattern, "matches": matches, "complete": complete}),
    )
}

/// Longest glob pattern accepted, in bytes.
const MAX_GLOB_BYTES: usize = 1024;

/// Compiles a client's glob; every malformed one is an invalid argument.
/// Nested or unbalanced braces are refused before globset sees them (it
/// panicked on deep ones), and a panic inside globset is caught as a last
/// guard so a pattern can never take the worker down.
fn compile_glob(pattern: &str) -> Result<globset::GlobMatcher, FsError> {
    let invalid = |reason: &str| FsError::InvalidArgument(format!("invalid glob: {reason}"));
    if pattern.len() > MAX_GLOB_BYTES {
        return Err(invalid(&format!(
            "pattern is {} bytes; at most {MAX_GLOB_BYTES} are accepted",
            pattern.len()
        )));
    }
    let mut depth = 0usize;
    let mut escaped = false;
    for character in pattern.chars() {
        match character {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '{' => {
                depth += 1;
                if depth > 1 {
                    return Err(invalid("nested alternates ({…{…}…}) are not supported"));
                }
            }
            '}' if depth == 0 => return Err(invalid("unopened alternate group: }")),
            '}' => depth -= 1,
            _ => {}
        }
    }
    if depth > 0 {
        return Err(invalid("unclosed alternate group: {"));
    }
    let built = std::panic::catch_unwind(|| {
        GlobBuilder::new(pattern)
            .literal_separator(true)
            .build()
            .map(|glob| glob.compile_matcher())
    })
    .map_err(|_| invalid("the pattern could not be compiled"))?;
    built.map_err(|error| invalid(&error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_globs_are_invalid_arguments() {
        assert!(compile_glob("**/*.{rs,toml}").is_ok());
        let hostile = format!("{}{}", "{a,".repeat(1000), "}".repeat(1000));
        for pattern in [hostile.as_str(), "{a,{b,c}}", "{a,b", "a}", "[z-a]"] {
            let error = compile_glob(pattern).expect_err(pattern);
            assert!(
                matches!(&error, FsError::InvalidArgument(message) if message.starts_with("invalid glob: ")),
                "{pattern}: {error:?}"
            );
        }
    }
}
