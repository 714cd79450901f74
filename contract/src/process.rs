//! Process plumbing every Inlet binary shares: the shutdown signal, and binding a listener with an
//! error that names the address, the port and the setting to change.

/// Resolves on SIGTERM or Ctrl-C (SIGINT).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown requested");
}

/// Binds a TCP listener for `setting` (e.g. `INLET_API_LISTEN`); an error names the address, the
/// port and the setting, so "address already in use" says what to do.
pub async fn bind(
    addr: std::net::SocketAddr,
    setting: &str,
) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), bind_error(addr, setting, &e)))
}

fn bind_error(addr: std::net::SocketAddr, setting: &str, e: &std::io::Error) -> String {
    let port = addr.port();
    match e.kind() {
        std::io::ErrorKind::AddrInUse => format!(
            "cannot listen on {addr} ({setting}): port {port} is already in use, probably by another Inlet or another server; stop it, or set {setting} to another address"
        ),
        std::io::ErrorKind::PermissionDenied => format!(
            "cannot listen on {addr} ({setting}): permission denied (ports below 1024 need privileges); set {setting} to a port above 1023"
        ),
        std::io::ErrorKind::AddrNotAvailable => format!(
            "cannot listen on {addr} ({setting}): this machine has no such address; set {setting} to one of its addresses (or 0.0.0.0)"
        ),
        _ => format!("cannot listen on {addr} ({setting}): {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_port_in_use_is_named_with_its_setting() {
        let taken = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = taken.local_addr().expect("addr");
        let e = bind(addr, "INLET_API_LISTEN").await.expect_err("in use");
        let text = e.to_string();
        assert!(text.contains(&format!("port {}", addr.port())), "{text}");
        assert!(
            text.contains("INLET_API_LISTEN") && text.contains("already in use"),
            "{text}"
        );
    }
}
