//! Commands that ask a running gateway's admin API (`micromcp registry add`,
//! `micromcp tools`): which gateway ([`AdminTarget`]: `--admin`, else the
//! one `micromcp up` recorded in the state directory — only a loopback
//! address in a 0600 file of this user's, since the admin
//! token is sent there — else the default address), one request with its admin token (`MICROMCP_ADMIN_TOKEN`, else
//! the state directory's `admin-token`), the JSON answer, or an error with
//! the status and the answer's `error` text — on a 401, which variable to set.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// The file under `up`'s state directory naming its admin listener's URL.
pub const ADMIN_ADDRESS_FILE: &str = "admin-address";
/// The file under `up`'s state directory holding its admin token.
pub const ADMIN_TOKEN_FILE: &str = "admin-token";
/// The admin listener asked when nothing else names one.
const DEFAULT_ADMIN_URL: &str = "http://127.0.0.1:9464";

/// Flags naming the gateway whose admin API a command asks.
#[derive(clap::Args, Clone)]
pub struct AdminArgs {
    /// The gateway's admin listener (default: the one `micromcp up` recorded
    /// in --state-dir, else http://127.0.0.1:9464). Its token: MICROMCP_ADMIN_TOKEN,
    /// else --state-dir's admin-token file.
    #[arg(long, global = true)]
    admin: Option<String>,
    /// The state directory of the `micromcp up` to ask.
    #[arg(long, global = true, default_value = ".micromcp")]
    state_dir: PathBuf,
}

/// The admin API asked and the token sent.
pub struct AdminTarget {
    url: String,
    token_opt: Option<String>,
    /// Where the token was looked for, for the 401 message.
    token_file: PathBuf,
    /// The file the URL was read from, when it was.
    recorded_in_opt: Option<PathBuf>,
}

// === impl AdminTarget ===

impl AdminTarget {
    /// Resolves `args`: the URL named, else the state directory's, else the default.
    pub fn of(args: &AdminArgs) -> Self {
        let token_file = args.state_dir.join(ADMIN_TOKEN_FILE);
        let address_file = args.state_dir.join(ADMIN_ADDRESS_FILE);
        let recorded_opt = match &args.admin {
            Some(_) => None,
            None => match recorded_address(&address_file) {
                Ok(recorded_opt) => recorded_opt,
                Err(why) => {
                    eprintln!(
                        "warning: {} ignored: {why} (name the gateway with --admin)",
                        address_file.display()
                    );
                    None
                }
            },
        };
        let recorded_in_opt = recorded_opt.as_ref().map(|_| address_file);
        let url = args
            .admin
            .clone()
            .or(recorded_opt)
            .unwrap_or_else(|| DEFAULT_ADMIN_URL.to_owned());
        let token_opt = std::env::var("MICROMCP_ADMIN_TOKEN")
            .ok()
            .map(|token| token.trim().to_owned())
            .filter(|token| !token.is_empty())
            .or_else(|| read_trimmed(&token_file));
        Self {
            url,
            token_opt,
            token_file,
            recorded_in_opt,
        }
    }

    /// Whether a token will be sent.
    pub fn has_token(&self) -> bool {
        self.token_opt.is_some()
    }

    /// `method` (a JSON body when given) sent to this API's `path`.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body_opt: Option<&Value>,
    ) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.url.trim_end_matches('/'));
        let mut request = reqwest::Client::new().request(method, &url);
        if let Some(token) = &self.token_opt {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body_opt {
            request = request
                .header("Content-Type", "application/json")
                .body(body.to_string());
        }
        let response = request
            .send()
            .await
            .map_err(|error| match &self.recorded_in_opt {
                Some(file) if error.is_connect() => anyhow::anyhow!(
                    "no gateway answers at {url} (the address recorded in {}): is `micromcp up` running there? (or name the gateway with --admin)",
                    file.display()
                ),
                _ => anyhow::anyhow!("{url}: {error}"),
            })?;
        let status = response.status();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        if status == reqwest::StatusCode::UNAUTHORIZED {
            anyhow::bail!("{}", self.unauthorized());
        }
        if !status.is_success() {
            let message = answer
                .get("error")
                .and_then(Value::as_str)
                .map_or_else(|| answer.to_string(), str::to_owned);
            anyhow::bail!("{url}: {status}: {message}");
        }
        Ok(answer)
    }

    /// What to do about a 401.
    fn unauthorized(&self) -> String {
        let told = if self.token_opt.is_some() {
            "401: the admin token sent was refused"
        } else {
            "401: an admin token is needed"
        };
        format!(
            "{}: {told}: set MICROMCP_ADMIN_TOKEN to this gateway's admin token (`micromcp up` keeps it in {}; or name the gateway with --admin, its state directory with --state-dir)",
            self.url,
            self.token_file.display()
        )
    }
}

/// A small file's trimmed text, when it exists and is not empty.
/// The admin URL `micromcp up` recorded at `path`, if it is one to send
/// the admin token to: a file of this user's that only this user may read
/// and write
/// (a state directory from a clone or an archive is someone else's
/// choice), naming a loopback address (`up` listening on every address
/// is asked on loopback; any other host only with --admin).
fn recorded_address(path: &Path) -> Result<Option<String>, String> {
    use std::os::unix::fs::MetadataExt;
    let Ok(metadata) = std::fs::symlink_metadata(path) else {
        return Ok(None);
    };
    if !metadata.is_file() {
        return Err("not a regular file".into());
    }
    if metadata.uid() != crate::run_as::effective_uid() {
        return Err(format!("owned by uid {}, not by this user", metadata.uid()));
    }
    if metadata.mode() & 0o077 != 0 {
        // `up` writes it 0600; a clone or an archive leaves 0644.
        return Err(format!(
            "mode {:o}, open to other users (micromcp up writes it 0600)",
            metadata.mode() & 0o777
        ));
    }
    let Some(text) = read_trimmed(path) else {
        return Ok(None);
    };
    let refused = || format!("{text:?} is not the http:// loopback address `micromcp up` records");
    let Some(authority) = text.strip_prefix("http://") else {
        return Err(refused());
    };
    let authority = authority.trim_end_matches('/');
    let address: std::net::SocketAddr = authority.parse().map_err(|_| refused())?;
    let ip = address.ip();
    if ip.is_unspecified() {
        let loopback = match ip {
            std::net::IpAddr::V4(_) => std::net::IpAddr::from([127, 0, 0, 1]),
            std::net::IpAddr::V6(_) => std::net::IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        };
        return Ok(Some(format!(
            "http://{}",
            std::net::SocketAddr::new(loopback, address.port())
        )));
    }
    if !ip.is_loopback() {
        return Err(refused());
    }
    Ok(Some(format!("http://{address}")))
}

fn read_trimmed(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}
