//! How this machine reaches a host's metrics: directly, or through the host's SSH connection
//! (a local port forwarded there) when the port does not answer from here (a firewall, a
//! private network) or the settings ask for it.

use std::{
    net::{TcpListener, TcpStream, ToSocketAddrs},
    time::Duration,
};

use anyhow::{Context, Result};

/// The way to a host's metrics ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Route {
    /// `http://<host>:<port>` from here.
    Direct,
    /// A local port forwarded over SSH to the port on the host.
    Ssh,
}

crate::value_name::display_as_value_name!(Route);

/// Whether a TCP connection to `address:port` opens within `timeout`.
pub fn answers(address: &str, port: u16, timeout: Duration) -> bool {
    let Ok(addresses) = (address, port).to_socket_addrs() else {
        return false;
    };
    addresses
        .into_iter()
        .any(|a| TcpStream::connect_timeout(&a, timeout).is_ok())
}

/// A port on 127.0.0.1 free at the time of asking.
pub fn free_local_port() -> Result<u16> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).context("cannot find a free local port")?;
    Ok(listener.local_addr()?.port())
}

/// The metrics URL at `address:port` (IPv6 addresses in brackets).
pub fn metrics_url(address: &str, port: u16) -> String {
    if address.contains(':') {
        format!("http://[{address}]:{port}/metrics")
    } else {
        format!("http://{address}:{port}/metrics")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_reachability() {
        assert_eq!(
            metrics_url("10.0.0.1", 27000),
            "http://10.0.0.1:27000/metrics"
        );
        assert_eq!(metrics_url("::1", 9), "http://[::1]:9/metrics");
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind");
        let port = listener.local_addr().expect("addr").port();
        assert!(answers("127.0.0.1", port, Duration::from_secs(1)));
        drop(listener);
        assert!(!answers("127.0.0.1", port, Duration::from_secs(1)));
        assert_ne!(free_local_port().expect("port"), 0);
    }
}
