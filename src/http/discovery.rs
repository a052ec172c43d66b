//! The `.http_port` discovery file (V2W-6, V2W-13, V2K-5): `<ip>:<port>\n`,
//! IPv6 without brackets, written atomically with mode 0600.

use std::io::{self, Write as _};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

/// A discovery file that could not be written, read or parsed.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    /// Writing, renaming or reading the file failed.
    #[error("discovery file {path}: {what}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done.
        what: &'static str,
        /// The cause.
        source: io::Error,
    },
    /// The content is not `<ip>:<port>` (V2K-5).
    #[error("discovery file content {content:?} is not <ip>:<port> (V2K-5)")]
    Unparsable {
        /// The content as read.
        content: String,
    },
}

/// V2W-6: the file's content for `addr`: `<ip>:<port>\n`, IPv6 unbracketed.
pub fn discovery_content(addr: SocketAddr) -> String {
    format!("{}:{}\n", addr.ip(), addr.port())
}

/// V2K-5: split at the last `:`, strip optional `[`…`]` around the address.
pub fn parse_discovery(content: &str) -> Result<SocketAddr, DiscoveryError> {
    let unparsable = || DiscoveryError::Unparsable {
        content: content.to_owned(),
    };
    let trimmed = content.trim();
    let (ip, port) = trimmed.rsplit_once(':').ok_or_else(unparsable)?;
    let ip = ip
        .strip_prefix('[')
        .and_then(|i| i.strip_suffix(']'))
        .unwrap_or(ip);
    let ip: IpAddr = ip.parse().map_err(|_| unparsable())?;
    let port: u16 = port.parse().map_err(|_| unparsable())?;
    Ok(SocketAddr::new(ip, port))
}

/// V2W-13: a temporary file in the same directory (created 0600), then a
/// rename over `path`, so a reader never sees a partial file.
pub fn write_discovery_file(path: &Path, addr: SocketAddr) -> Result<(), DiscoveryError> {
    let io_error = |what| {
        move |source| DiscoveryError::Io {
            path: path.to_owned(),
            what,
            source,
        }
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut temp = tempfile::Builder::new()
        .prefix(".http_port.")
        .tempfile_in(dir)
        .map_err(io_error("creating the temporary file"))?;
    temp.write_all(discovery_content(addr).as_bytes())
        .map_err(io_error("writing"))?;
    temp.persist(path)
        .map_err(|e| io_error("renaming into place")(e.error))?;
    Ok(())
}

/// V2K-5: the surface's address, `None` when the file is absent (no HTTP
/// surface is running).
pub fn read_discovery_file(path: &Path) -> Result<Option<SocketAddr>, DiscoveryError> {
    match std::fs::read_to_string(path) {
        Ok(content) => parse_discovery(&content).map(Some),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(DiscoveryError::Io {
            path: path.to_owned(),
            what: "reading",
            source,
        }),
    }
}

/// Removes the file on a clean exit (V2W-6); an absent file is fine.
pub fn remove_discovery_file(path: &Path) {
    if let Err(e) = std::fs::remove_file(path)
        && e.kind() != io::ErrorKind::NotFound
    {
        tracing::warn!(path = %path.display(), error = %e, "cannot remove the HTTP discovery file");
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    #[test]
    fn content_is_ip_colon_port_with_ipv6_unbracketed() {
        assert_eq!(
            discovery_content("127.0.0.1:8080".parse().unwrap()),
            "127.0.0.1:8080\n"
        );
        assert_eq!(
            discovery_content("[::1]:39129".parse().unwrap()),
            "::1:39129\n"
        );
    }

    #[test]
    fn parse_splits_at_the_last_colon_and_strips_brackets() {
        for (content, addr) in [
            ("127.0.0.1:8080\n", "127.0.0.1:8080"),
            ("::1:39129\n", "[::1]:39129"),
            ("[::1]:39129", "[::1]:39129"),
        ] {
            assert_eq!(
                parse_discovery(content).unwrap(),
                addr.parse().unwrap(),
                "{content:?}"
            );
        }
        for bad in ["", "8080", "localhost:80", "127.0.0.1:70000", "127.0.0.1:"] {
            assert!(
                matches!(parse_discovery(bad), Err(DiscoveryError::Unparsable { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn written_atomically_with_mode_0600_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock.http_port");
        assert!(read_discovery_file(&path).unwrap().is_none());
        let addr: SocketAddr = "127.0.0.1:4242".parse().unwrap();
        write_discovery_file(&path, addr).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "127.0.0.1:4242\n");
        assert_eq!(read_discovery_file(&path).unwrap(), Some(addr));
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "temporary file left"
        );
        remove_discovery_file(&path);
        assert!(!path.exists());
        remove_discovery_file(&path);
    }
}
