//! Accepting connections and serving their requests, one thread each: OSS
//! requests go to [`super::oss`], the ECS metadata paths and the
//! credentials URI to [`super::metadata`], the rest to the RPC API
//! ([`super::rpc`], STS included), with the injected RPC and credentials
//! faults played here.

use std::io::{self, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::fault::CredentialsService;
use super::http::{
    plain_error, read_head, read_small_body, write_filler, write_head, write_response,
};
use super::{lock, metadata, oss, rpc, sts, Fault, Shared};

const MAX_CONNECTIONS: usize = 128;
const IDLE_TIMEOUT: Duration = Duration::from_secs(15);

/// Accepts connections until the emulator stops, at most 128 served at once
/// (more are closed at once).
pub(super) fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else { continue };
        if shared.connections.load(Ordering::SeqCst) >= MAX_CONNECTIONS as u64 {
            let _ = stream.shutdown(Shutdown::Both);
            continue;
        }
        shared.connections.fetch_add(1, Ordering::SeqCst);
        let connection_id = shared.accepted.fetch_add(1, Ordering::SeqCst);
        let conn_shared = Arc::clone(&shared);
        let spawned = std::thread::Builder::new()
            .name("ens-emulator-conn".into())
            .spawn(move || {
                serve_connection(stream, connection_id, &conn_shared);
                conn_shared.connections.fetch_sub(1, Ordering::SeqCst);
            });
        if spawned.is_err() {
            shared.connections.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// Serves the requests of one keep-alive connection, in turn.
fn serve_connection(stream: TcpStream, connection_id: u64, shared: &Shared) {
    let _ = stream.set_read_timeout(Some(IDLE_TIMEOUT));
    let _ = stream.set_nodelay(true);
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    loop {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let mut request = match read_head(&mut reader) {
            Ok(Some(r)) => r,
            Ok(None) => return,
            Err(status) => {
                let resp = plain_error(status, "malformed HTTP request");
                let _ = write_response(&mut writer, &resp, false);
                return;
            }
        };
        let metadata_service = metadata::service_of(&request);
        if metadata_service.is_none() && oss::is_oss_request(&request) {
            match oss::serve(request, &mut reader, &mut writer, connection_id, shared) {
                Ok(true) => continue,
                _ => {
                    let _ = writer.shutdown(Shutdown::Both);
                    return;
                }
            }
        }
        if let Err(status) = read_small_body(&mut reader, &mut request) {
            let resp = plain_error(status, "request body refused");
            let _ = write_response(&mut writer, &resp, false);
            return;
        }
        let keep_alive = request.keep_alive;
        // The credentials services have their own fault queue.
        let credentials_service = metadata_service
            .or_else(|| sts::is_sts_request(&request).then_some(CredentialsService::Sts));
        let fault = match credentials_service {
            Some(service) => shared.credentials_fault(service),
            None => lock(&shared.faults).pop_front(),
        };
        let mut response = match metadata_service {
            Some(service) => {
                metadata::handle(service, &request, connection_id, shared, fault.as_ref())
            }
            None => rpc::handle(&request, connection_id, shared, fault.as_ref()),
        };
        if let Some(Fault::Slow(d)) = &fault {
            std::thread::sleep(*d);
        }
        let sent = match &fault {
            Some(Fault::ConnectionReset) => Err(io::ErrorKind::ConnectionReset.into()),
            Some(Fault::TruncatedBody) => {
                let full = response.body.len();
                response.body.truncate(full / 2);
                write_head(&mut writer, &response, full, false)
                    .and_then(|_| writer.write_all(&response.body))
                    .and_then(|_| Err(io::ErrorKind::UnexpectedEof.into()))
            }
            Some(Fault::HugeBody(n)) => write_head(&mut writer, &response, *n, false)
                .and_then(|_| write_filler(&mut writer, *n))
                .and_then(|_| Err(io::ErrorKind::Other.into())),
            _ => write_response(&mut writer, &response, keep_alive),
        };
        if sent.is_err() || !keep_alive {
            let _ = writer.shutdown(Shutdown::Both);
            return;
        }
    }
}
