//! The Sematic server a launch script will submit its pipeline to, found as Sematic 0.41's
//! client finds it (`UserOverrideConfig.server_url` in `sematic/config/config.py`), and asked
//! whether it answers before anything is pushed: `GET <address>/api/v1/meta/versions`, the
//! route Sematic's client itself asks first (`validate_server_compatibility` in
//! `sematic/api_client.py`). Without a server, that client retries for about five minutes
//! before it fails.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use sematic_registry::transport::endpoint_agent;
use sematic_registry::transport::origin::Origin;
use serde::Deserialize;

use crate::settings;

/// The server's address as a URL, or a host (then `http://HOST:$PORT`, port 80 by default).
/// Outranks SEMATIC_API_ADDRESS, as in Sematic.
const SERVER_ADDRESS_VAR: &str = "SEMATIC_SERVER_ADDRESS";
/// The user setting naming the server; the variable outranks the settings file.
const API_ADDRESS_VAR: &str = "SEMATIC_API_ADDRESS";
/// A server slower than this to say its version is not one to submit a pipeline to.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The version answer is a few dozen bytes.
const ANSWER_LIMIT: u64 = 64 * 1024;

/// What to do about a server that does not answer, or does not look like Sematic.
const FIX: &str = "start one (sematic start) or point SEMATIC_API_ADDRESS at yours \
                   (sematic settings set SEMATIC_API_ADDRESS http://HOST:PORT, or export it); \
                   --no-server-check skips this check";

/// Where the address came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AddressSource {
    ServerAddressVar,
    ApiAddressVar,
    SettingsFile(PathBuf),
    Default,
}

impl fmt::Display for AddressSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddressSource::ServerAddressVar => write!(f, "from ${SERVER_ADDRESS_VAR}"),
            AddressSource::ApiAddressVar => write!(f, "from ${API_ADDRESS_VAR}"),
            AddressSource::SettingsFile(file) => {
                write!(f, "{API_ADDRESS_VAR} in {}", file.display())
            }
            AddressSource::Default => write!(f, "Sematic's default: {API_ADDRESS_VAR} is not set"),
        }
    }
}

/// Why the launch cannot go to a Sematic server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(
        "cannot read {API_ADDRESS_VAR} in {}: line {line}: {problem}: fix the file \
         (sematic settings set {API_ADDRESS_VAR} URL rewrites it) or set ${API_ADDRESS_VAR}",
        file.display()
    )]
    Settings {
        file: PathBuf,
        line: usize,
        problem: String,
    },
    #[error("cannot read {}: {cause}: fix its permissions or set ${API_ADDRESS_VAR}", file.display())]
    SettingsUnreadable { file: PathBuf, cause: String },
    #[error(
        "the Sematic server address {url:?} ({from}) is not an http:// or https:// URL: set \
         {API_ADDRESS_VAR} to one (sematic settings set {API_ADDRESS_VAR} http://HOST:PORT, or \
         export it)"
    )]
    NotAUrl { url: String, from: AddressSource },
    #[error("no Sematic server answers at {url} ({from}): {cause}: {FIX}")]
    Unreachable {
        url: String,
        from: AddressSource,
        cause: String,
    },
    #[error("{url} ({from}) is not a Sematic server: GET {versions} answered {answer}: {FIX}")]
    NotSematic {
        url: String,
        from: AddressSource,
        versions: String,
        answer: String,
    },
}

/// Where Sematic's client will send the pipeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Server {
    /// The server's URL, as Sematic's `server_url`.
    pub url: String,
    pub from: AddressSource,
}

/// The answer of `/meta/versions`.
#[derive(Deserialize)]
struct Versions {
    server: [u32; 3],
}

/// Finds the server the launch script will submit to and checks that it answers, saying
/// which on stderr: nothing is pushed for a launch no server takes.
pub fn check_reachable(program: &str) -> Result<(), ServerError> {
    let server = Server::find(&|name| std::env::var(name).ok())?;
    let version = server.check(&format!(
        "rules_sematic-{program}/{}",
        env!("CARGO_PKG_VERSION")
    ))?;
    let line = format!(
        "{program}: Sematic server {version} at {} ({})",
        server.url, server.from
    );
    eprintln!("{}", sematic_cli::terminal_safe(&line));
    Ok(())
}

impl Server {
    /// The server Sematic's client would use, given the environment (`var`): a
    /// SEMATIC_SERVER_ADDRESS variable, else SEMATIC_API_ADDRESS (variable, then settings
    /// file), else `http://127.0.0.1:$PORT` (5001 by default: `sematic start`'s).
    pub fn find(var: &dyn Fn(&str) -> Option<String>) -> Result<Self, ServerError> {
        let port = |default: &str| var("PORT").unwrap_or_else(|| default.to_owned());
        if let Some(address) = var(SERVER_ADDRESS_VAR) {
            let url = if address.starts_with("http://") || address.starts_with("https://") {
                address
            } else {
                format!("http://{address}:{}", port("80"))
            };
            return Self::new(url, AddressSource::ServerAddressVar);
        }
        if let Some(url) = var(API_ADDRESS_VAR) {
            return Self::new(url, AddressSource::ApiAddressVar);
        }
        if let Some(file) = settings::settings_file(var) {
            match std::fs::read_to_string(&file) {
                Ok(text) => {
                    let found =
                        settings::api_address(&text).map_err(|err| ServerError::Settings {
                            file: file.clone(),
                            line: err.line,
                            problem: err.problem,
                        })?;
                    if let Some(url) = found {
                        return Self::new(url, AddressSource::SettingsFile(file));
                    }
                }
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => {
                    return Err(ServerError::SettingsUnreadable {
                        file,
                        cause: err.to_string(),
                    })
                }
            }
        }
        Self::new(
            format!("http://127.0.0.1:{}", port("5001")),
            AddressSource::Default,
        )
    }

    fn new(url: String, from: AddressSource) -> Result<Self, ServerError> {
        let scheme = url.starts_with("http://") || url.starts_with("https://");
        if !scheme || Origin::of(&url).is_none() {
            return Err(ServerError::NotAUrl { url, from });
        }
        Ok(Server { url, from })
    }

    /// `urljoin(server_url, "api/v1") + "/meta/versions"`, as Sematic's client builds it: the
    /// last segment of the address's path is replaced, its query dropped.
    pub fn versions_url(&self) -> String {
        let (scheme, rest) = self.url.split_once("://").unwrap_or(("http", &self.url));
        let rest = rest.split(['?', '#']).next().unwrap_or_default();
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let directory = path.rfind('/').map_or("/", |slash| &path[..=slash]);
        format!("{scheme}://{authority}{directory}api/v1/meta/versions")
    }

    /// Asks the server its version (`0.41.0`), within a few seconds.
    pub fn check(&self, user_agent: &str) -> Result<String, ServerError> {
        let versions = self.versions_url();
        let unreachable = |cause: String| ServerError::Unreachable {
            url: self.url.clone(),
            from: self.from.clone(),
            cause,
        };
        let not_sematic = |answer: String| ServerError::NotSematic {
            url: self.url.clone(),
            from: self.from.clone(),
            versions: versions.clone(),
            answer,
        };
        let loopback = Origin::of(&versions).is_some_and(|origin| origin.is_loopback());
        let agent = endpoint_agent(user_agent, TIMEOUT, loopback)
            .map_err(|err| unreachable(err.to_string()))?;
        let mut response = agent
            .get(&versions)
            .header("Accept", "application/json")
            .call()
            .map_err(|err| unreachable(err.to_string()))?;
        let status = response.status();
        if status != 200 {
            return Err(not_sematic(format!("HTTP {status}")));
        }
        let body = response
            .body_mut()
            .with_config()
            .limit(ANSWER_LIMIT)
            .read_to_vec()
            .map_err(|err| unreachable(err.to_string()))?;
        let answer: Versions = serde_json::from_slice(&body)
            .map_err(|_| not_sematic("HTTP 200 without Sematic's version JSON".to_owned()))?;
        let [major, minor, patch] = answer.server;
        Ok(format!("{major}.{minor}.{patch}"))
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpListener;

    use super::*;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| {
            vars.iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.clone())
        }
    }

    fn found(vars: &[(&str, &str)]) -> Result<Server, ServerError> {
        Server::find(&env(vars))
    }

    #[test]
    fn address_precedence_is_sematics() {
        let home = tempfile::tempdir().unwrap();
        let config = home.path().join(".sematic");
        std::fs::create_dir(&config).unwrap();
        let home_var = home.path().to_str().unwrap();
        let default = found(&[("HOME", home_var)]).unwrap();
        assert_eq!(default.url, "http://127.0.0.1:5001");
        assert_eq!(default.from, AddressSource::Default);
        assert_eq!(
            found(&[("HOME", home_var), ("PORT", "6000")]).unwrap().url,
            "http://127.0.0.1:6000"
        );

        let file = config.join("settings.yaml");
        std::fs::write(
            &file,
            "profiles:\n  default:\n    settings:\n      sematic.config.user_settings.UserSettings:\n        SEMATIC_API_ADDRESS: https://sematic.example.com\n",
        )
        .unwrap();
        let from_file = found(&[("HOME", home_var)]).unwrap();
        assert_eq!(
            (from_file.url.as_str(), from_file.from),
            (
                "https://sematic.example.com",
                AddressSource::SettingsFile(file)
            )
        );
        let from_var = found(&[("HOME", home_var), (API_ADDRESS_VAR, "http://h:1")]).unwrap();
        assert_eq!(
            (from_var.url.as_str(), from_var.from),
            ("http://h:1", AddressSource::ApiAddressVar)
        );
        let server_var = found(&[
            ("HOME", home_var),
            (API_ADDRESS_VAR, "http://h:1"),
            (SERVER_ADDRESS_VAR, "10.0.0.1"),
        ])
        .unwrap();
        assert_eq!(
            (server_var.url.as_str(), server_var.from),
            ("http://10.0.0.1:80", AddressSource::ServerAddressVar)
        );
    }

    #[test]
    fn bad_addresses_and_files_are_one_line_errors() {
        let err = found(&[(API_ADDRESS_VAR, "localhost:5001")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the Sematic server address \"localhost:5001\" (from $SEMATIC_API_ADDRESS) is not an \
             http:// or https:// URL: set SEMATIC_API_ADDRESS to one (sematic settings set \
             SEMATIC_API_ADDRESS http://HOST:PORT, or export it)"
        );
        let config = tempfile::tempdir().unwrap();
        let file = config.path().join("settings.yaml");
        std::fs::write(
            &file,
            "profiles:\n  default:\n    settings:\n      sematic.config.user_settings.UserSettings:\n        SEMATIC_API_ADDRESS: &a http://x\n",
        )
        .unwrap();
        let err = found(&[("SEMATIC_CONFIG_DIR", config.path().to_str().unwrap())]).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "cannot read SEMATIC_API_ADDRESS in {}: line 5: a value starting with \"&\" is not \
                 read here: write a plain URL: fix the file (sematic settings set \
                 SEMATIC_API_ADDRESS URL rewrites it) or set $SEMATIC_API_ADDRESS",
                file.display()
            )
        );
    }

    #[test]
    fn versions_url_joins_like_urljoin() {
        let url = |address: &str| {
            Server::new(address.to_owned(), AddressSource::Default)
                .unwrap()
                .versions_url()
        };
        assert_eq!(url("http://h:1"), "http://h:1/api/v1/meta/versions");
        assert_eq!(url("http://h:1/"), "http://h:1/api/v1/meta/versions");
        assert_eq!(
            url("https://h/sematic/"),
            "https://h/sematic/api/v1/meta/versions"
        );
        assert_eq!(
            url("https://h/sematic?x=1"),
            "https://h/api/v1/meta/versions"
        );
    }

    /// Serves one request with `answer`; returns the server's URL.
    fn serve_once(answer: String) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = [0; 4096];
            let _ = stream.read(&mut request).unwrap();
            stream.write_all(answer.as_bytes()).unwrap();
        });
        url
    }

    #[test]
    fn a_sematic_server_says_its_version() {
        let body = r#"{"min_client_supported":[0,30,0],"server":[0,41,0]}"#;
        let answer = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        let url = serve_once(answer);
        let server = Server::new(url, AddressSource::ApiAddressVar).unwrap();
        assert_eq!(server.check("test").unwrap(), "0.41.0");
    }

    #[test]
    fn something_else_or_nothing_fails_naming_the_fix() {
        let url = serve_once("HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n".to_owned());
        let err = Server::new(url.clone(), AddressSource::Default)
            .unwrap()
            .check("test")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            format!(
                "{url} (Sematic's default: SEMATIC_API_ADDRESS is not set) is not a Sematic \
                 server: GET {url}/api/v1/meta/versions answered HTTP 404 Not Found: {FIX}"
            )
        );

        let closed = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", closed.local_addr().unwrap());
        drop(closed);
        let err = Server::new(url.clone(), AddressSource::ApiAddressVar)
            .unwrap()
            .check("test")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&format!(
                "no Sematic server answers at {url} (from $SEMATIC_API_ADDRESS): "
            )) && err.ends_with(FIX),
            "{err}"
        );
    }
}
