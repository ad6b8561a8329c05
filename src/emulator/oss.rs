//! The OSS side of the emulator: the object storage that `PrepareUpload`
//! points devices at. Not served yet: every OSS request gets 501.

use std::io::{self, BufReader};
use std::net::TcpStream;

use super::{write_response, HttpRequest, HttpResponse, Shared};

/// Whether a request is for the OSS side (anything but the RPC API at `/`).
pub(super) fn is_oss_request(req: &HttpRequest) -> bool {
    let path = req.target.split('?').next().unwrap_or("");
    path != "/"
}

/// Serves one OSS request, reading its body from `reader`. `Ok(true)` when
/// the connection may serve another request.
pub(super) fn serve(
    req: HttpRequest,
    _reader: &mut BufReader<TcpStream>,
    writer: &mut TcpStream,
    _connection_id: u64,
    _shared: &Shared,
) -> io::Result<bool> {
    let body = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NotImplemented</Code><Message>The OSS side of the emulator is not built yet.</Message></Error>".to_vec();
    let resp = HttpResponse {
        status: 501,
        headers: vec![("Content-Type", "application/xml".to_owned())],
        body,
    };
    write_response(writer, &resp, false)?;
    let _ = req;
    Ok(false)
}
